"""`tietotie consent verify-receipt FILE`: exit 0 for a genuine receipt, 1 with a reason if not."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from consent.receipts import ReceiptSigner, build_claims, decode_claims
from kernel.keys import Keyring
from tests.consent.support import bundled
from tests.consent.test_receipts import FACTS
from tietotie.commands import consent as consent_command
from tietotie.keys import keyring_path, master_key
from tietotie.settings import get_settings

pytestmark = pytest.mark.consent

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    consent_command.register(app)
    return app


@pytest.fixture
def controller_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Keyring]:
    """A development master key and keyring in a var directory of the test's own."""
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "development")
    monkeypatch.setenv("TIETOTIE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TIETOTIE_KEY_FILE", str(tmp_path / "var" / "master.key"))
    monkeypatch.delenv("TIETOTIE_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    yield Keyring.create(keyring_path(settings), master_key(settings))
    get_settings.cache_clear()


def _write(tmp_path: Path, signer: ReceiptSigner, name: str = "receipt.jws") -> Path:
    path = tmp_path / name
    path.write_text(signer.sign(build_claims(bundled(), FACTS, public_key=signer.public_key_b64())))
    return path


def test_a_genuine_receipt_verifies_against_the_keyring(
    controller_keyring: Keyring, tmp_path: Path
) -> None:
    """Exit 0, naming the controller's key version and what the receipt records."""
    path = _write(tmp_path, ReceiptSigner(controller_keyring))
    result = runner.invoke(_app(), ["consent", "verify-receipt", str(path)])
    assert result.exit_code == 0, result.output
    assert "valid: signed by the controller's receipt key v1 (keyring)" in result.output
    assert "accessibility-service: given" in result.output


def test_the_json_answer_of_the_api_verifies_too(
    controller_keyring: Keyring, tmp_path: Path
) -> None:
    """The POST /v1/consents answer saved to a file is a receipt file."""
    jws = _write(tmp_path, ReceiptSigner(controller_keyring)).read_text()
    path = tmp_path / "answer.json"
    path.write_text(json.dumps({"receipt": jws, "receipt_claims": decode_claims(jws)}))
    assert runner.invoke(_app(), ["consent", "verify-receipt", str(path)]).exit_code == 0


def test_a_tampered_receipt_exits_1_with_the_reason(
    controller_keyring: Keyring, tmp_path: Path
) -> None:
    """One changed claim: exit 1 and 'the signature does not match'."""
    header, payload, signature = (
        _write(tmp_path, ReceiptSigner(controller_keyring)).read_text().split(".")
    )
    claims = decode_claims(f"{header}.{payload}.{signature}")
    claims["extensions"]["state"] = "withdrawn"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    path = tmp_path / "forged.jws"
    path.write_text(f"{header}.{forged_payload}.{signature}")
    result = runner.invoke(_app(), ["consent", "verify-receipt", str(path)])
    assert result.exit_code == 1
    assert "invalid: the signature does not match" in result.output


def test_a_receipt_from_another_controller_is_invalid(
    controller_keyring: Keyring, tmp_path: Path
) -> None:
    """Signed by a key outside the keyring: exit 1, though it is self-consistent."""
    path = _write(tmp_path, ReceiptSigner(Keyring.ephemeral()))
    result = runner.invoke(_app(), ["consent", "verify-receipt", str(path)])
    assert result.exit_code == 1
    assert "not the controller's receipt key" in result.output
    embedded = runner.invoke(_app(), ["consent", "verify-receipt", "--embedded", str(path)])
    assert embedded.exit_code == 0 and "integrity only" in embedded.output


def test_a_pinned_public_key_is_used_instead_of_the_keyring(
    controller_keyring: Keyring, tmp_path: Path
) -> None:
    """`consent public-key` prints the key; --public-key pins it."""
    printed = runner.invoke(_app(), ["consent", "public-key"])
    assert printed.exit_code == 0
    key = printed.output.split()[0]
    path = _write(tmp_path, ReceiptSigner(controller_keyring))
    pinned = runner.invoke(_app(), ["consent", "verify-receipt", "--public-key", key, str(path)])
    assert pinned.exit_code == 0 and "pinned" in pinned.output
    other = ReceiptSigner(Keyring.ephemeral()).public_key_b64()
    wrong = runner.invoke(_app(), ["consent", "verify-receipt", "--public-key", other, str(path)])
    assert wrong.exit_code == 1


def test_without_a_keyring_it_says_only_integrity_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No master key anywhere: a note on stderr, then the embedded key's verdict."""
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "production")
    monkeypatch.setenv("TIETOTIE_VAR_DIR", str(tmp_path / "nothing"))
    monkeypatch.setenv("TIETOTIE_KEY_FILE", str(tmp_path / "nothing" / "master.key"))
    monkeypatch.delenv("TIETOTIE_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    try:
        path = _write(tmp_path, ReceiptSigner(Keyring.ephemeral()))
        result = runner.invoke(_app(), ["consent", "verify-receipt", str(path)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0
    assert "checking against the embedded key only" in result.output
    assert "integrity only" in result.output


def test_garbage_is_invalid_not_a_crash(controller_keyring: Keyring, tmp_path: Path) -> None:
    """A file that is no receipt: exit 1 with a reason."""
    path = tmp_path / "junk.txt"
    path.write_text("hello")
    result = runner.invoke(_app(), ["consent", "verify-receipt", str(path)])
    assert result.exit_code == 1 and result.output.startswith("invalid:")
