"""The master key and the keyring: where keys come from, how they are kept, when they refuse."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from kernel.crypto import Pseudonymiser
from kernel.errors import KeyConfigError
from kernel.keys import (
    Keyring,
    MasterKey,
    generate_master_key,
    load_master_key,
    write_master_key_file,
)

# Drawn once from secrets.token_bytes(32): fixed, so that every run checks the same key, and
# random, so that it passes the weak-key rules (a counting pattern such as 07 08 09… would not).
KEY = bytes.fromhex("eec46a900a54a6efe51b44bbb6749a997e3becc87612f89595fdd759edc6b51b")
KEY_B64 = base64.b64encode(KEY).decode()


def _hkdf(key: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=SHA256(), length=length, salt=None, info=info).derive(key)


def _key_file(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


# master key -----------------------------------------------------------------------------------


def test_an_explicit_base64_key_is_used_as_is() -> None:
    """A 32-byte base64 value (standard or URL-safe, padded or not) is the master key."""
    for text in (KEY_B64, base64.urlsafe_b64encode(KEY).decode().rstrip("=")):
        master = load_master_key(value=text, key_file=None, environment="production")
        assert master.source == "TIETOTIE_MASTER_KEY"
        assert master.check_value == _hkdf(KEY, b"tietotie/v1/master-check", 8).hex()


@pytest.mark.parametrize(
    "value",
    [
        "change-me",
        "CHANGEME",
        "secret",
        "xxxxxxxx",
        "<your key here>",
        "${MASTER_KEY}",
        base64.b64encode(bytes(32)).decode(),  # all zero bytes
        base64.b64encode(b"\x01" * 32).decode(),
        base64.b64encode(os.urandom(16)).decode(),  # too short
        "not base64 at all!",
    ],
)
def test_placeholder_keys_refuse_to_start_outside_development(value: str, tmp_path: Path) -> None:
    """In production a placeholder, all-zero, short or malformed key is a KeyConfigError."""
    with pytest.raises(KeyConfigError, match="TIETOTIE_MASTER_KEY is not a usable master key"):
        load_master_key(value=value, key_file=tmp_path / "m.key", environment="production")
    assert not (tmp_path / "m.key").exists()


def test_a_missing_key_refuses_to_start_outside_development(tmp_path: Path) -> None:
    """No value and no key file in production or test: refused, and no file is made."""
    for environment in ("production", "test"):
        with pytest.raises(KeyConfigError, match="no master key") as caught:
            load_master_key(value=None, key_file=tmp_path / "m.key", environment=environment)
        assert "keys init --generate-master-key" in caught.value.message
    assert not (tmp_path / "m.key").exists()


def test_development_creates_a_missing_key_file_readable_only_by_its_owner(tmp_path: Path) -> None:
    """In development a missing key file is created, mode 0600, and then reused."""
    path = tmp_path / "var" / "master.key"
    first = load_master_key(value=None, key_file=path, environment="development")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_master_key(value=None, key_file=path, environment="development")
    assert first.check_value == again.check_value


def test_development_ignores_a_placeholder_value_and_uses_the_key_file(tmp_path: Path) -> None:
    """A placeholder TIETOTIE_MASTER_KEY in development falls back to the key file."""
    path = _key_file(tmp_path / "m.key", KEY_B64 + "\n")
    master = load_master_key(value="change-me", key_file=path, environment="development")
    assert master.source == str(path)


def test_a_key_file_others_can_read_is_refused_with_the_chmod_to_run(tmp_path: Path) -> None:
    """A key file with group or other permission bits is refused everywhere, naming the fix."""
    for mode in (0o640, 0o604, 0o644):
        path = _key_file(tmp_path / "m.key", KEY_B64, mode)
        for environment in ("development", "production"):
            with pytest.raises(KeyConfigError) as caught:
                load_master_key(value=None, key_file=path, environment=environment)
            assert f"chmod 600 {path}" in caught.value.message
            assert caught.value.context["file"] == str(path)


def test_a_placeholder_key_file_is_refused(tmp_path: Path) -> None:
    """A key file holding 'change-me' is not a key, in production or development."""
    path = _key_file(tmp_path / "m.key", "change-me\n")
    for environment in ("development", "production"):
        with pytest.raises(KeyConfigError, match="does not hold a usable key"):
            load_master_key(value=None, key_file=path, environment=environment)


def test_keys_never_appear_in_errors_logs_or_repr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither a rejected value nor a real key is quoted in an error, a log line or a repr."""
    short = base64.b64encode(b"short-but-secret").decode()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(KeyConfigError) as caught:
        load_master_key(value=short, key_file=None, environment="production")
    path = _key_file(tmp_path / "m.key", KEY_B64)
    master = load_master_key(value=short, key_file=path, environment="development")
    keyring = Keyring.create(tmp_path / "keyring.json", master)
    shown = " ".join(
        [str(caught.value.to_dict()), caplog.text, repr(master), str(master), repr(keyring)]
    )
    for secret in (short, KEY_B64, KEY.hex()):
        assert secret not in shown
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(master)


def test_write_master_key_file_never_overwrites(tmp_path: Path) -> None:
    """The generated key file is 0600 and a second write is refused."""
    path = tmp_path / "m.key"
    written = write_master_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_master_key(value=None, key_file=path, environment="production").check_value == (
        written.check_value
    )
    with pytest.raises(KeyConfigError, match="refusing to overwrite"):
        write_master_key_file(path)
    assert len(base64.b64decode(generate_master_key())) == 32


# keyring --------------------------------------------------------------------------------------


def test_init_writes_a_private_keyring_whose_keys_unwrap_with_the_documented_kek(
    tmp_path: Path,
) -> None:
    """keyring.json (0600) holds version 1, AES-GCM-wrapped under HKDF(master), version as AD."""
    master = MasterKey(KEY, source="test")
    path = tmp_path / "keyring.json"
    Keyring.create(path, master)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    document = json.loads(path.read_text())
    assert document["current"] == 1
    assert document["master_check"] == master.check_value
    wrapped = base64.b64decode(document["versions"][0]["wrapped_key"])
    kek = AESGCM(_hkdf(KEY, b"tietotie/v1/keyring-kek"))
    data_key = kek.decrypt(wrapped[:12], wrapped[12:], b"tietotie/keyring/v1/data-key/1")
    assert len(data_key) == 32
    # The subkeys other modules get are HKDF of that data key.
    loaded = Keyring.load(path, master)
    assert loaded.derive("hmac/reporting") == _hkdf(data_key, b"tietotie/v1/hmac/reporting")


def test_init_refuses_to_replace_an_existing_keyring(tmp_path: Path) -> None:
    """A second init would orphan every token made so far, so it is refused."""
    master = MasterKey(KEY, source="test")
    Keyring.create(tmp_path / "k.json", master)
    with pytest.raises(KeyConfigError, match="already exists"):
        Keyring.create(tmp_path / "k.json", master)


def test_rotate_adds_a_current_version_and_keeps_the_old_ones(tmp_path: Path) -> None:
    """rotate makes version 2 current on disk; version-1 tokens still reverse after reloading."""
    master = MasterKey(KEY, source="test")
    path = tmp_path / "k.json"
    keyring = Keyring.create(path, master)
    token = Pseudonymiser(keyring).encrypt("reporting", "anna")
    assert keyring.rotate() == 2
    reloaded = Keyring.load(path, master)
    assert reloaded.current_version == 2
    assert [(v.version, v.current) for v in reloaded.versions] == [(1, False), (2, True)]
    assert Pseudonymiser(reloaded).reidentify("reporting", token) == "anna"


def test_a_rotation_by_another_process_is_picked_up_and_never_lost(tmp_path: Path) -> None:
    """Two handles on one keyring: each rotation lands, and tokens of the newer version are read."""
    master = MasterKey(KEY, source="test")
    path = tmp_path / "k.json"
    first = Keyring.create(path, master)
    second = Keyring.load(path, master)
    assert first.rotate() == 2
    assert second.rotate() == 3  # re-read under the lock: version 2 is kept
    token = Pseudonymiser(second).encrypt("reporting", "anna")
    assert Pseudonymiser(first).reidentify("reporting", token) == "anna"
    assert [v.version for v in Keyring.load(path, master).versions] == [1, 2, 3]


def test_a_keyring_under_another_master_key_is_refused_clearly(tmp_path: Path) -> None:
    """Opening a keyring with the wrong master key names the mismatch, not a crypto failure."""
    Keyring.create(tmp_path / "k.json", MasterKey(KEY, source="test"))
    other = MasterKey(os.urandom(32), source="other")
    with pytest.raises(KeyConfigError, match="different master key"):
        Keyring.load(tmp_path / "k.json", other)


def test_a_tampered_keyring_is_refused(tmp_path: Path) -> None:
    """A wrapped key that was changed or moved to another version does not load."""
    master = MasterKey(KEY, source="test")
    path = tmp_path / "k.json"
    Keyring.create(path, master).rotate()
    document = json.loads(path.read_text())
    first, second = document["versions"]
    first["wrapped_key"], second["wrapped_key"] = second["wrapped_key"], first["wrapped_key"]
    path.write_text(json.dumps(document))
    with pytest.raises(KeyConfigError, match="does not authenticate"):
        Keyring.load(path, master)
    path.write_text("{not json")
    with pytest.raises(KeyConfigError, match="damaged"):
        Keyring.load(path, master)


def test_a_missing_keyring_says_to_run_keys_init(tmp_path: Path) -> None:
    """Loading a keyring that does not exist points at `tietotie keys init`."""
    with pytest.raises(KeyConfigError, match="keys init"):
        Keyring.load(tmp_path / "nope.json", MasterKey(KEY, source="test"))
