"""Weak and placeholder master keys: refused outside development, in the variable and in a file."""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import stat
from pathlib import Path

import pytest

from kernel.errors import KeyConfigError
from kernel.keys import generate_master_key, load_master_key

# A key drawn once from secrets.token_bytes(32), written down so every run checks the same one.
REAL = base64.b64encode(
    bytes.fromhex("3f9a1c5be07d24816cf2a94e0b7753d8e1a6fc2d9b04873e5a1fc62d980be471")
).decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


WEAK = {
    "a placeholder word": "change-me",
    "the base64 of a placeholder phrase": _b64(b"this is a placeholder key change me!"),
    "the base64 of a 32-byte placeholder phrase": _b64(b"this is a placeholder key change"),
    "the URL-safe base64 of a phrase": base64.urlsafe_b64encode(b"our production key, keep it safe")
    .decode()
    .rstrip("="),
    "the base64 of a phrase padded with NUL": _b64(b"prod master key 2024".ljust(32, b"\0")),
    "the base64 of 'change-me'": _b64(b"change-me"),
    "all-zero bytes": _b64(bytes(32)),
    "counting bytes": _b64(bytes(range(32))),
    "counting down in steps of three": _b64(bytes((200 - 3 * i) % 256 for i in range(32))),
    "a 16-byte block twice": _b64(bytes.fromhex("9c41e2d07a5b38f61e0d4c97b2a85f33") * 2),
    "four distinct bytes": _b64(bytes([0xDE, 0xAD, 0xBE, 0xEF] * 8)),
    "a 64-digit hex key": "3f9a1c5be07d24816cf2a94e0b7753d8e1a6fc2d9b04873e5a1fc62d980be471",
    "too short": _b64(bytes.fromhex("3f9a1c5be07d24816cf2a94e0b7753d8")),
    "too long": _b64(hashlib.sha512(b"too long").digest()),
    "typed letters that happen to be base64": "correcthorsebatterystaplecorrecthorsebatter",
    "typed base64 holding a placeholder word": "Xq7TIETOTIEmasterKEYchangeME0prod9Zk4LwB2vR",
    "not base64": "this is not a key at all!",
    "a template slot": "${TIETOTIE_MASTER_KEY}",
}


@pytest.mark.parametrize("environment", ["production", "test"])
@pytest.mark.parametrize("value", list(WEAK.values()), ids=list(WEAK))
def test_a_weak_variable_is_refused_outside_development_and_no_key_file_is_made(
    value: str, environment: str, tmp_path: Path
) -> None:
    """Outside development each weak value is a KeyConfigError naming the variable and the fix."""
    key_file = tmp_path / "var" / "master.key"
    with pytest.raises(KeyConfigError) as caught:
        load_master_key(value=value, key_file=key_file, environment=environment)
    message = caught.value.message
    assert message.startswith("TIETOTIE_MASTER_KEY is not a usable master key: ")
    assert "tietotie keys init --generate-master-key" in message
    assert "tietotie keys generate" in message
    assert value not in message
    assert caught.value.context["setting"] == "TIETOTIE_MASTER_KEY"
    assert not key_file.exists() and not key_file.parent.exists()


@pytest.mark.parametrize("environment", ["production", "development"])
@pytest.mark.parametrize("value", list(WEAK.values()), ids=list(WEAK))
def test_a_weak_key_file_is_refused_naming_the_file(
    value: str, environment: str, tmp_path: Path
) -> None:
    """A key file holding a weak value is refused, naming its path, and left as it was."""
    key_file = tmp_path / "master.key"
    key_file.write_text(value + "\n")
    key_file.chmod(0o600)
    with pytest.raises(KeyConfigError) as caught:
        load_master_key(value=None, key_file=key_file, environment=environment)
    message = caught.value.message
    assert message.startswith(f"master key file {key_file} does not hold a usable key: ")
    assert value not in message
    if environment == "production":
        assert "tietotie keys generate" in message
    else:
        assert "delete it to have a development key created" in message
    assert key_file.read_text() == value + "\n"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (WEAK["the base64 of a placeholder phrase"], "base64 of a placeholder phrase"),
        (WEAK["the URL-safe base64 of a phrase"], "decodes to text (a phrase)"),
        (WEAK["counting bytes"], "not random"),
        (WEAK["a 16-byte block twice"], "not random"),
        (WEAK["a 64-digit hex key"], "it is hex"),
        (WEAK["too short"], "decodes to 16 bytes"),
        (WEAK["typed letters that happen to be base64"], "typed text"),
    ],
    ids=["placeholder-phrase", "phrase", "counting", "block", "hex", "short", "typed"],
)
def test_the_refusal_says_what_is_wrong_with_the_value(value: str, reason: str) -> None:
    """The reason names the kind of weakness, so the operator knows what to change."""
    with pytest.raises(KeyConfigError, match=re.escape(reason)):
        load_master_key(value=value, key_file=None, environment="production")


def test_development_ignores_a_weak_variable_with_a_warning_and_uses_the_key_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """In development a weak variable is set aside, said so in a warning, and the key file used."""
    key_file = tmp_path / "var" / "master.key"
    caplog.set_level(logging.WARNING, logger="kernel.keys")
    value = WEAK["the base64 of a placeholder phrase"]
    master = load_master_key(value=value, key_file=key_file, environment="development")
    assert master.source == str(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert "TIETOTIE_MASTER_KEY is not a usable master key" in caplog.text
    assert str(key_file) in caplog.text
    assert value not in caplog.text


def test_a_weak_variable_without_a_key_file_says_it_was_ignored_not_unset(tmp_path: Path) -> None:
    """Where no key file may be made, the error says the variable was ignored, not missing."""
    key_file = tmp_path / "master.key"
    with pytest.raises(KeyConfigError) as caught:
        load_master_key(
            value="change-me", key_file=key_file, environment="development", create=False
        )
    message = caught.value.message
    assert "TIETOTIE_MASTER_KEY is ignored in development" in message
    assert "is not set" not in message
    assert not key_file.exists()


def test_a_real_key_is_accepted_in_production_from_the_variable_and_from_a_file(
    tmp_path: Path,
) -> None:
    """A random 32-byte key passes, standard or URL-safe, in the variable or in a key file."""
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(REAL)).decode().rstrip("=")
    from_variable = load_master_key(value=REAL, key_file=None, environment="production")
    assert load_master_key(value=urlsafe, key_file=None, environment="production").check_value == (
        from_variable.check_value
    )
    key_file = tmp_path / "master.key"
    key_file.write_text(REAL + "\n")
    key_file.chmod(0o600)
    from_file = load_master_key(value=None, key_file=key_file, environment="production")
    assert from_file.check_value == from_variable.check_value


def test_generated_keys_are_always_accepted_in_production() -> None:
    """generate_master_key never hands out a key that the weak-key rules refuse."""
    for _ in range(200):
        load_master_key(value=generate_master_key(), key_file=None, environment="production")


def test_keys_that_look_random_pass_the_rules() -> None:
    """Ten thousand fixed pseudo-random keys (SHA-256 of a counter) are all accepted.

    The rules refuse a random key less than once in 10^9, so none of these fixed ones may be.
    """
    for counter in range(10_000):
        key = hashlib.sha256(b"tietotie weak-key rules %d" % counter).digest()
        load_master_key(value=_b64(key), key_file=None, environment="production")
