"""Per-subject keys: fields encrypted at rest, and crypto-shredding that reaches every copy."""

from __future__ import annotations

import base64
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from sqlalchemy import create_engine, inspect, text

from kernel.errors import CryptoError, SubjectErased, TokenError
from kernel.keys import Keyring, MasterKey
from kernel.keystore import ERASED, SubjectKeyStore

MASTER = MasterKey(bytes(range(50, 82)), source="test")
DATA_KEY = bytes(range(200, 232))
FIELD = "customer.health_note"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.from_keys(MASTER, {1: DATA_KEY})


@pytest.fixture
def store(tmp_path: Path, keyring: Keyring) -> Iterator[SubjectKeyStore]:
    with SubjectKeyStore(tmp_path / "keystore.db", keyring=keyring) as ks:
        yield ks


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text)


def test_a_field_round_trips_and_never_shows_its_plaintext(store: SubjectKeyStore) -> None:
    """encrypt_field gives an f1. ciphertext without the plaintext; decrypt_field gives it back."""
    sealed = store.encrypt_field("subject-1", FIELD, "asthma, allergic to latex")
    assert sealed.startswith("f1.") and "asthma" not in sealed
    assert store.decrypt_field("subject-1", FIELD, sealed) == "asthma, allergic to latex"
    assert store.encrypt_field("subject-1", FIELD, "asthma, allergic to latex") != sealed


def test_ciphertexts_follow_the_documented_construction(
    tmp_path: Path, store: SubjectKeyStore
) -> None:
    """The stored subject key unwraps under HKDF(data key, subject-kek) and opens the field."""
    sealed = store.encrypt_field("subject-1", FIELD, "diabetes")
    with closing(sqlite3.connect(tmp_path / "keystore.db")) as db:
        version, wrapped = db.execute(
            "SELECT key_version, wrapped_key FROM subject_keys WHERE subject_id = 'subject-1'"
        ).fetchone()
    kek = HKDF(algorithm=SHA256(), length=32, salt=None, info=b"tietotie/v1/subject-kek")
    subject_key = AESGCM(kek.derive(DATA_KEY)).decrypt(
        wrapped[:12], wrapped[12:], b"tietotie/subject-key/v1/subject-1"
    )
    raw = _b64(sealed[3:])
    ad = b"tietotie/f1/9:subject-1/" + FIELD.encode()
    assert version == 1
    assert AESGCM(subject_key).decrypt(raw[:12], raw[12:], ad) == b"diabetes"


def test_ciphertexts_cannot_move_between_fields_or_subjects(store: SubjectKeyStore) -> None:
    """A ciphertext read as another field or another subject's is refused, not mis-decrypted."""
    sealed = store.encrypt_field("subject-1", FIELD, "asthma")
    store.encrypt_field("subject-2", FIELD, "other")
    with pytest.raises(TokenError, match="another subject or field"):
        store.decrypt_field("subject-1", "vehicle.plate", sealed)
    with pytest.raises(TokenError, match="another subject or field"):
        store.decrypt_field("subject-2", FIELD, sealed)


@pytest.mark.parametrize("position", [3, 10, 20, -5, -2, -1])
def test_a_tampered_ciphertext_is_refused(store: SubjectKeyStore, position: int) -> None:
    """Changing any character of a stored ciphertext gives TokenError, never garbage."""
    sealed = store.encrypt_field("subject-1", FIELD, "asthma")
    index = position % len(sealed)
    swapped = "A" if sealed[index] != "A" else "B"
    tampered = sealed[:index] + swapped + sealed[index + 1 :]
    with pytest.raises(TokenError):
        store.decrypt_field("subject-1", FIELD, tampered)


def test_shred_is_idempotent_and_reading_after_it_says_erased(store: SubjectKeyStore) -> None:
    """shred destroys the key once; then reading any protected field raises SubjectErased."""
    sealed = store.encrypt_field("subject-1", FIELD, "asthma")
    assert store.shred("subject-1") is True
    assert store.shred("subject-1") is False
    assert store.is_erased("subject-1") and not store.has_key("subject-1")
    with pytest.raises(SubjectErased) as caught:
        store.decrypt_field("subject-1", FIELD, sealed)
    assert caught.value.to_dict()["error"] == "erased"
    assert caught.value.context["subject_id"] == "subject-1"


def test_nothing_more_can_be_stored_for_an_erased_subject(store: SubjectKeyStore) -> None:
    """After erasure a new key is not silently made: encrypting for the subject is refused."""
    store.encrypt_field("subject-1", FIELD, "asthma")
    store.shred("subject-1")
    with pytest.raises(SubjectErased):
        store.encrypt_field("subject-1", FIELD, "new data")


def test_a_batch_marks_erased_subjects_and_reads_the_rest(store: SubjectKeyStore) -> None:
    """decrypt_fields(on_erased="mark") gives ERASED for shredded subjects, values for others."""
    ids = [f"subject-{i}" for i in range(1200)]
    sealed = store.encrypt_fields([(sid, FIELD, f"note {sid}") for sid in ids])
    assert store.shred_many([*ids[:600:2], "never-seen"]) == set(ids[:600:2])
    out = store.decrypt_fields(
        [(sid, FIELD, c) for sid, c in zip(ids, sealed, strict=True)], on_erased="mark"
    )
    for i, (sid, value) in enumerate(zip(ids, out, strict=True)):
        assert value == (ERASED if i < 600 and i % 2 == 0 else f"note {sid}")
    assert not ERASED and repr(ERASED) == "ERASED"
    with pytest.raises(SubjectErased):
        store.decrypt_fields([(ids[0], FIELD, sealed[0])])


def test_a_backup_of_the_main_database_is_unreadable_after_erasure(
    tmp_path: Path, store: SubjectKeyStore, keyring: Keyring
) -> None:
    """A copy of the main database taken before erasure holds only ciphertext nobody can open."""
    main = tmp_path / "tietotie.db"
    with closing(sqlite3.connect(main)) as db, db:
        db.execute("CREATE TABLE customer (id TEXT PRIMARY KEY, name TEXT, health_note TEXT)")
        for sid, note in (("subject-1", "asthma"), ("subject-2", "diabetes")):
            db.execute(
                "INSERT INTO customer VALUES (?, ?, ?)",
                (sid, "Anna", store.encrypt_field(sid, FIELD, note)),
            )
    backup = tmp_path / "backup-of-tietotie.db"
    shutil.copy2(main, backup)

    assert store.shred("subject-1")

    with closing(sqlite3.connect(backup)) as db:
        rows = dict(db.execute("SELECT id, health_note FROM customer").fetchall())
    assert b"asthma" not in backup.read_bytes()
    with pytest.raises(SubjectErased):
        store.decrypt_field("subject-1", FIELD, rows["subject-1"])
    # Even a fresh process holding the master key and keyring cannot read it.
    with SubjectKeyStore(tmp_path / "keystore.db", keyring=keyring) as again:
        with pytest.raises(SubjectErased):
            again.decrypt_field("subject-1", FIELD, rows["subject-1"])
        assert again.decrypt_field("subject-2", FIELD, rows["subject-2"]) == "diabetes"


def test_the_shredded_key_is_overwritten_in_the_keystore_file(tmp_path: Path) -> None:
    """With secure_delete the wrapped key's bytes are gone from the SQLite file itself."""
    path = tmp_path / "keystore.db"
    keyring = Keyring.from_keys(MASTER, {1: DATA_KEY})
    with SubjectKeyStore(path, keyring=keyring) as store:
        store.encrypt_field("subject-1", FIELD, "asthma")
        with closing(sqlite3.connect(path)) as db:
            (wrapped,) = db.execute("SELECT wrapped_key FROM subject_keys").fetchone()
        assert wrapped in path.read_bytes()
        store.shred("subject-1")
    assert wrapped not in path.read_bytes()


def test_the_keystore_file_is_private_and_holds_no_other_tables(tmp_path: Path) -> None:
    """The SQLite keystore is created mode 0600 with only its two tables."""
    path = tmp_path / "var" / "keystore.db"
    with SubjectKeyStore(path, keyring=Keyring.from_keys(MASTER, {1: DATA_KEY})) as store:
        store.encrypt_field("s", FIELD, "x")
        assert sorted(inspect(store.engine).get_table_names()) == [
            "erased_subjects",
            "subject_keys",
        ]
    assert path.stat().st_mode & 0o077 == 0


def test_rewrap_moves_subject_keys_to_the_current_version(tmp_path: Path) -> None:
    """After rotation, rewrap re-wraps old subject keys and their fields still decrypt."""
    path = tmp_path / "keystore.db"
    old = Keyring.from_keys(MASTER, {1: DATA_KEY})
    with SubjectKeyStore(path, keyring=old) as store:
        sealed = store.encrypt_fields([(f"s{i}", FIELD, f"v{i}") for i in range(1100)])
    rotated = Keyring.from_keys(MASTER, {1: DATA_KEY, 2: bytes(range(32))})
    with SubjectKeyStore(path, keyring=rotated) as store:
        assert store.rewrap() == 1100
        assert store.rewrap() == 0
        assert store.decrypt_field("s7", FIELD, sealed[7]) == "v7"
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("SELECT DISTINCT key_version FROM subject_keys").fetchall() == [(2,)]


def test_a_keystore_under_another_keyring_is_refused(tmp_path: Path) -> None:
    """Subject keys do not unwrap with another data key: a CryptoError, not garbage."""
    path = tmp_path / "keystore.db"
    with SubjectKeyStore(path, keyring=Keyring.from_keys(MASTER, {1: DATA_KEY})) as store:
        sealed = store.encrypt_field("s", FIELD, "x")
    other = Keyring.from_keys(MASTER, {1: bytes(32)})
    with (
        SubjectKeyStore(path, keyring=other) as store,
        pytest.raises(CryptoError, match="does not unwrap"),
    ):
        store.decrypt_field("s", FIELD, sealed)


def test_a_subject_never_seen_by_this_keystore_is_not_called_erased(
    tmp_path: Path, keyring: Keyring
) -> None:
    """Without a key or a tombstone the keystore says it has no key (wrong keystore?)."""
    with SubjectKeyStore(tmp_path / "a.db", keyring=keyring) as first:
        sealed = first.encrypt_field("s", FIELD, "x")
    with SubjectKeyStore(tmp_path / "b.db", keyring=keyring) as second:
        with pytest.raises(CryptoError, match="no data key") as caught:
            second.decrypt_field("s", FIELD, sealed)
        assert not isinstance(caught.value, SubjectErased)


@pytest.mark.postgres
def test_the_keystore_works_on_postgresql(pg_url: str, keyring: Keyring) -> None:
    """Keys, fields and shredding behave the same on PostgreSQL."""
    _exercise_server(pg_url, keyring)


@pytest.mark.mariadb
def test_the_keystore_works_on_mariadb(mariadb_url: str, keyring: Keyring) -> None:
    """Keys, fields and shredding behave the same on MariaDB."""
    _exercise_server(mariadb_url, keyring)


def _exercise_server(url: str, keyring: Keyring) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS subject_keys"))
        conn.execute(text("DROP TABLE IF EXISTS erased_subjects"))
    engine.dispose()
    try:
        with SubjectKeyStore(url, keyring=keyring) as store:
            sealed = store.encrypt_fields([(f"s{i}", FIELD, f"v{i}") for i in range(700)])
            assert store.decrypt_field("s3", FIELD, sealed[3]) == "v3"
            assert store.shred_many(["s3", "s4"]) == {"s3", "s4"}
            with pytest.raises(SubjectErased):
                store.decrypt_field("s3", FIELD, sealed[3])
            assert store.decrypt_field("s5", FIELD, sealed[5]) == "v5"
    finally:
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS subject_keys"))
            conn.execute(text("DROP TABLE IF EXISTS erased_subjects"))
        engine.dispose()
