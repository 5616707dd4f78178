"""Per-subject data keys in a database of their own: field encryption at rest and crypto-shredding.

Special-category fields and fields with ``protect: encrypt`` are stored in the system of record
as ``f1.<base64url(nonce(12) || AES-256-GCM ciphertext || tag(16))>``, encrypted under a random
key that belongs to one data subject. The associated data binds each ciphertext to its subject
and field name, so a ciphertext moved to another field or subject does not decrypt.

The subject keys live here, in the *keystore*, never in the main database: a copy of the main
database (a backup, a dump, an export) then holds only ciphertext. Each subject key is wrapped
(AES-256-GCM, subject id as associated data) by a key-encryption key HKDF-derived from a keyring
data key version, so the keystore alone reveals nothing without the master key either.

Erasure calls :meth:`SubjectKeyStore.shred`: the subject's key row is deleted and a tombstone
row remembers that the subject was erased. From then on every copy of that subject's protected
fields, wherever it is, is unreadable, and reading one raises :class:`SubjectErased` rather than
returning garbage. On SQLite the keystore runs with ``PRAGMA secure_delete`` so the deleted key
is overwritten in the file, not merely unlinked from the b-tree. Two operational rules keep the
promise: the keystore's own backups must be kept no longer than the erasure deadline (restoring
an older keystore would bring erased keys back), and on PostgreSQL the table must be vacuumed
after erasures (``VACUUM subject_keys``) so dead row versions are reclaimed.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, final, overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    event,
    insert,
    select,
)
from sqlalchemy import create_engine as _create_engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from kernel.errors import CryptoError, SubjectErased, TokenError
from kernel.keys import KEY_BYTES, Keyring

__all__ = ["ERASED", "Erased", "ErasedSubjectRow", "SubjectKeyRow", "SubjectKeyStore"]

_NONCE_BYTES: Final = 12
_PREFIX: Final = "f1."
_KEK_PURPOSE: Final = "subject-kek"
_WRAP_AD: Final = b"tietotie/subject-key/v1/"
_FIELD_AD: Final = b"tietotie/f1/"
_CHUNK: Final = 500  # ids per IN (...) query: well under every database's parameter limit
_INSERT_CHUNK: Final = 10_000  # key rows per executemany
_SUBJECT_ID_MAX: Final = 128

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class _KeystoreBase(DeclarativeBase):
    """Its own metadata: ``create_all`` on the main database must never create these tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SubjectKeyRow(_KeystoreBase):
    """One data subject's wrapped data key."""

    __tablename__ = "subject_keys"

    subject_id: Mapped[str] = mapped_column(String(_SUBJECT_ID_MAX), primary_key=True)
    key_version: Mapped[int] = mapped_column(Integer, doc="keyring version of the wrapping KEK")
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary(64), doc="nonce || AES-GCM(key)")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ErasedSubjectRow(_KeystoreBase):
    """A tombstone: this subject's key was destroyed, so its protected fields are erased."""

    __tablename__ = "erased_subjects"

    subject_id: Mapped[str] = mapped_column(String(_SUBJECT_ID_MAX), primary_key=True)
    erased_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


@final
class Erased:
    """The value of a protected field whose subject was crypto-shredded (falsy, one instance)."""

    __slots__ = ()
    _instance: Erased | None = None

    def __new__(cls) -> Erased:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "ERASED"


ERASED: Final = Erased()
"""What :meth:`SubjectKeyStore.decrypt_fields` gives, with ``on_erased="mark"``, when erased."""

Item = tuple[str, str, str]
"""``(subject_id, field_name, plaintext or ciphertext)``."""


def _check_subject(subject_id: str) -> str:
    if not isinstance(subject_id, str) or not 0 < len(subject_id) <= _SUBJECT_ID_MAX:
        raise CryptoError(f"a subject id is a string of 1 to {_SUBJECT_ID_MAX} characters")
    return subject_id


def _field_ad(subject_id: str, field_name: str) -> bytes:
    if not isinstance(field_name, str) or not field_name:
        raise CryptoError("a field name is a non-empty string")
    # Length-prefixed so that ("ab", "c") and ("a", "bc") give different associated data.
    framed = f"{len(subject_id)}:{subject_id}/{field_name}"
    return _FIELD_AD + framed.encode("utf-8", "surrogatepass")


def _to_url(location: str | Path) -> str:
    if isinstance(location, str) and "://" in location:
        return location
    path = Path(location).expanduser().resolve()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        # Create it private; SQLite would create it with the umask's (usually 0644) mode.
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    return f"sqlite:///{path}"


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


@final
class SubjectKeyStore:
    """Per-subject data keys in a database apart from the main one (e.g. ``var/keystore.db``).

    ``location`` is a file path (SQLite) or any SQLAlchemy URL. With ``create=True`` the two
    tables are created if missing. Use it as a context manager, or call :meth:`close`.
    """

    __slots__ = ("_engine", "_keks", "_keyring")

    def __init__(self, location: str | Path, *, keyring: Keyring, create: bool = True) -> None:
        self._keyring = keyring
        self._keks: dict[int, AESGCM] = {}
        self._engine: Engine = _create_engine(_to_url(location))
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _sqlite_secure_delete)
        if create:
            _KeystoreBase.metadata.create_all(self._engine)

    @property
    def engine(self) -> Engine:
        """The keystore's engine (its own: never the main database's)."""
        return self._engine

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def __enter__(self) -> SubjectKeyStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SubjectKeyStore({self._engine.url.render_as_string(hide_password=True)})"

    # single values ----------------------------------------------------------------------

    def encrypt_field(self, subject_id: str, field_name: str, plaintext: str) -> str:
        """``plaintext`` encrypted under the subject's key (created on first use) for this field.

        Raises :class:`SubjectErased` for a subject that was already erased.
        """
        return self.encrypt_fields([(subject_id, field_name, plaintext)])[0]

    def decrypt_field(self, subject_id: str, field_name: str, ciphertext: str) -> str:
        """The plaintext of ``ciphertext`` from :meth:`encrypt_field`.

        Raises :class:`SubjectErased` when the subject's key was shredded, and
        :class:`TokenError` when the ciphertext was changed or belongs to another subject or field.
        """
        return self.decrypt_fields([(subject_id, field_name, ciphertext)])[0]

    def shred(self, subject_id: str) -> bool:
        """Destroy the subject's key (crypto-shredding); ``True`` if a key existed. Idempotent."""
        return bool(self.shred_many([subject_id]))

    # batches ----------------------------------------------------------------------------

    def encrypt_fields(self, items: Iterable[Item]) -> list[str]:
        """Encrypt many ``(subject_id, field_name, plaintext)`` at once, in order."""
        batch = list(items)
        keys = self._keys({_check_subject(sid) for sid, _, _ in batch}, create=True)
        out = []
        for subject_id, field_name, plaintext in batch:
            nonce = secrets.token_bytes(_NONCE_BYTES)
            sealed = keys[subject_id].encrypt(
                nonce,
                plaintext.encode("utf-8", "surrogatepass"),
                _field_ad(subject_id, field_name),
            )
            out.append(_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii"))
        return out

    @overload
    def decrypt_fields(
        self, items: Iterable[Item], *, on_erased: Literal["raise"] = ...
    ) -> list[str]: ...

    @overload
    def decrypt_fields(
        self, items: Iterable[Item], *, on_erased: Literal["mark"]
    ) -> list[str | Erased]: ...

    def decrypt_fields(
        self, items: Iterable[Item], *, on_erased: Literal["raise", "mark"] = "raise"
    ) -> list[str] | list[str | Erased]:
        """Decrypt many ``(subject_id, field_name, ciphertext)`` at once, in order.

        For an erased subject: raise :class:`SubjectErased` (``on_erased="raise"``) or give
        :data:`ERASED` in its place (``on_erased="mark"``, e.g. for an export of many subjects).
        """
        batch = list(items)
        subject_ids = {_check_subject(sid) for sid, _, _ in batch}
        keys = self._keys(subject_ids, create=False)
        erased = self._erased(subject_ids - keys.keys())
        out: list[Any] = []
        for subject_id, field_name, ciphertext in batch:
            key = keys.get(subject_id)
            if key is None:
                if subject_id not in erased:
                    raise CryptoError(
                        "no data key for this subject in the keystore: wrong keystore, or the "
                        "value was never encrypted here",
                        subject_id=subject_id,
                    )
                if on_erased == "raise":
                    raise SubjectErased(
                        "the subject was erased: its protected fields were crypto-shredded "
                        "and cannot be read from any copy",
                        subject_id=subject_id,
                        field=field_name,
                        article="Art. 17",
                    )
                out.append(ERASED)
                continue
            out.append(_open(key, subject_id, field_name, ciphertext))
        return out

    def shred_many(self, subject_ids: Iterable[str]) -> set[str]:
        """Destroy the keys of ``subject_ids``; return those that had one. Idempotent."""
        ids = sorted({_check_subject(sid) for sid in subject_ids})
        destroyed: set[str] = set()
        now = datetime.now(UTC)
        with Session(self._engine) as session, session.begin():
            for chunk in _chunks(ids):
                rows = session.scalars(
                    select(SubjectKeyRow).where(SubjectKeyRow.subject_id.in_(chunk))
                ).all()
                for row in rows:
                    destroyed.add(row.subject_id)
                    session.delete(row)
                known = set(
                    session.scalars(
                        select(ErasedSubjectRow.subject_id).where(
                            ErasedSubjectRow.subject_id.in_(chunk)
                        )
                    )
                )
                session.add_all(
                    ErasedSubjectRow(subject_id=sid, erased_at=now)
                    for sid in chunk
                    if sid not in known
                )
        return destroyed

    # state ------------------------------------------------------------------------------

    def is_erased(self, subject_id: str) -> bool:
        """Whether the subject's key was shredded."""
        return bool(self._erased({_check_subject(subject_id)}))

    def has_key(self, subject_id: str) -> bool:
        """Whether the subject currently has a data key."""
        with Session(self._engine) as session:
            return session.get(SubjectKeyRow, _check_subject(subject_id)) is not None

    def rewrap(self) -> int:
        """Re-wrap every subject key under the keyring's current version; return how many.

        After ``keys rotate`` this lets an old data key version stop protecting anything.
        """
        current = self._keyring.current_version
        count = 0
        while True:  # in batches, each its own transaction, so memory stays flat
            with Session(self._engine) as session, session.begin():
                rows = session.scalars(
                    select(SubjectKeyRow)
                    .where(SubjectKeyRow.key_version != current)
                    .order_by(SubjectKeyRow.subject_id)
                    .limit(_CHUNK)
                ).all()
                for row in rows:
                    key = self._unwrap(row)
                    row.wrapped_key = self._wrap(row.subject_id, key, current)
                    row.key_version = current
            count += len(rows)
            if len(rows) < _CHUNK:
                return count

    # internals --------------------------------------------------------------------------

    def _kek(self, version: int) -> AESGCM:
        kek = self._keks.get(version)
        if kek is None:
            kek = self._keks[version] = AESGCM(self._keyring.derive(_KEK_PURPOSE, version=version))
        return kek

    def _wrap(self, subject_id: str, key: bytes, version: int) -> bytes:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        ad = _WRAP_AD + subject_id.encode("utf-8", "surrogatepass")
        return nonce + self._kek(version).encrypt(nonce, key, ad)

    def _unwrap(self, row: SubjectKeyRow) -> bytes:
        ad = _WRAP_AD + row.subject_id.encode("utf-8", "surrogatepass")
        nonce, body = row.wrapped_key[:_NONCE_BYTES], row.wrapped_key[_NONCE_BYTES:]
        try:
            return self._kek(row.key_version).decrypt(nonce, body, ad)
        except InvalidTag:
            raise CryptoError(
                "a subject key does not unwrap: this keystore belongs to another keyring or "
                "master key, or the row was altered",
                subject_id=row.subject_id,
            ) from None

    def _erased(self, subject_ids: set[str]) -> set[str]:
        found: set[str] = set()
        if not subject_ids:
            return found
        with Session(self._engine) as session:
            for chunk in _chunks(sorted(subject_ids)):
                found.update(
                    session.scalars(
                        select(ErasedSubjectRow.subject_id).where(
                            ErasedSubjectRow.subject_id.in_(chunk)
                        )
                    )
                )
        return found

    def _keys(self, subject_ids: set[str], *, create: bool) -> dict[str, AESGCM]:
        """AES-GCM objects for the subjects' keys, creating missing ones if ``create``."""
        ordered = sorted(subject_ids)
        keys: dict[str, AESGCM] = {}
        with Session(self._engine) as session:
            for chunk in _chunks(ordered):
                for row in session.scalars(
                    select(SubjectKeyRow).where(SubjectKeyRow.subject_id.in_(chunk))
                ):
                    keys[row.subject_id] = AESGCM(self._unwrap(row))
        missing = subject_ids - keys.keys()
        if not create or not missing:
            return keys
        erased = self._erased(missing)
        if erased:
            raise SubjectErased(
                "the subject was erased; nothing can be stored under its key again",
                subject_id=min(erased),
                article="Art. 17",
            )
        version = self._keyring.current_version
        fresh = {sid: secrets.token_bytes(KEY_BYTES) for sid in sorted(missing)}
        now = datetime.now(UTC)
        rows = [
            {
                "subject_id": sid,
                "key_version": version,
                "wrapped_key": self._wrap(sid, key, version),
                "created_at": now,
            }
            for sid, key in fresh.items()
        ]
        try:
            # One transaction, one executemany per chunk: a batch of new subjects (an import,
            # a seeding run) gets its keys without an ORM object per key.
            with self._engine.begin() as connection:
                for start in range(0, len(rows), _INSERT_CHUNK):
                    connection.execute(insert(SubjectKeyRow), rows[start : start + _INSERT_CHUNK])
        except IntegrityError:
            # Another writer created some of these keys first: use theirs.
            return self._keys(subject_ids, create=True)
        keys.update((sid, AESGCM(key)) for sid, key in fresh.items())
        return keys


def _open(key: AESGCM, subject_id: str, field_name: str, ciphertext: str) -> str:
    if not isinstance(ciphertext, str) or not ciphertext.startswith(_PREFIX):
        raise TokenError("not an encrypted field value (expected f1.…)", subject_id=subject_id)
    text = ciphertext[len(_PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw or base64.urlsafe_b64encode(raw).decode("ascii") != text:
        # urlsafe_b64decode skips stray characters; only the canonical spelling is accepted.
        raise TokenError("encrypted field value is not base64url", subject_id=subject_id)
    nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
    try:
        data = key.decrypt(nonce, body, _field_ad(subject_id, field_name))
    except (InvalidTag, ValueError):
        raise TokenError(
            "encrypted field value does not authenticate: it was changed, or it belongs to "
            "another subject or field",
            subject_id=subject_id,
            field=field_name,
        ) from None
    return data.decode("utf-8", "surrogatepass")


def _sqlite_secure_delete(dbapi_connection: Any, _record: Any) -> None:
    """Overwrite deleted content in the file, so a shredded key is gone from the disk pages."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA secure_delete = ON")
    finally:
        cursor.close()
