"""`tietotie keys` and `tietotie pseudonymise` as an operator meets them."""

from __future__ import annotations

import base64
import csv
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
import uvicorn
from typer.testing import CliRunner

from kernel.crypto import Pseudonymiser
from kernel.keys import Keyring, load_master_key
from tests.conftest import ServiceEnv
from tietotie.cli import get_app
from tietotie.commands import keys, pseudonymise
from tietotie.settings import get_settings

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test root."""

    keys.register(app)
    pseudonymise.register(app)
    return app


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh var directory in development, no master key in the environment."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "development")
    monkeypatch.setenv("TIETOTIE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TIETOTIE_KEY_FILE", str(tmp_path / "var" / "master.key"))
    monkeypatch.delenv("TIETOTIE_MASTER_KEY", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _keyring(root: Path) -> Keyring:
    master = load_master_key(
        value=None, key_file=root / "var" / "master.key", environment="production"
    )
    return Keyring.load(root / "var" / "keyring.json", master)


def test_the_main_app_lists_keys_and_pseudonymise() -> None:
    """Both command groups are registered in the tietotie CLI."""
    result = runner.invoke(get_app(), ["--help"])
    assert result.exit_code == 0, result.output
    assert "keys" in result.output and "pseudonymise" in result.output


def test_init_rotate_status_show_versions_but_never_keys(env: Path) -> None:
    """init makes version 1, rotate version 2; status lists both and no key material."""
    init = runner.invoke(_app(), ["keys", "init"])
    assert init.exit_code == 0, init.output
    assert "data key version 1" in init.output
    rotate = runner.invoke(_app(), ["keys", "rotate"])
    assert rotate.exit_code == 0, rotate.output
    assert "version 2 is now current" in rotate.output
    status = runner.invoke(_app(), ["keys", "status"])
    assert status.exit_code == 0, status.output
    lines = status.output.splitlines()
    assert any("development" in line for line in lines)
    assert any("1" in line and "current" not in line for line in lines if "│" in line)
    assert any("2" in line and "current" in line for line in lines if "│" in line)

    master_b64 = (env / "var" / "master.key").read_text().strip()
    document = json.loads((env / "var" / "keyring.json").read_text())
    everything = init.output + rotate.output + status.output
    assert master_b64 not in everything
    assert base64.b64decode(master_b64).hex() not in everything
    for entry in document["versions"]:
        assert entry["wrapped_key"] not in everything


def test_init_twice_is_refused(env: Path) -> None:
    """A second init exits 1 and points at rotate."""
    assert runner.invoke(_app(), ["keys", "init"]).exit_code == 0
    again = runner.invoke(_app(), ["keys", "init"])
    assert again.exit_code == 1
    assert "keys rotate" in again.output


def test_production_refuses_a_placeholder_master_key(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With TIETOTIE_MASTER_KEY=change-me in production, init exits 1 and creates nothing."""
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "production")
    monkeypatch.setenv("TIETOTIE_MASTER_KEY", "change-me")
    get_settings.cache_clear()
    result = runner.invoke(_app(), ["keys", "init"])
    assert result.exit_code == 1
    assert "not a usable master key" in result.output
    assert not (env / "var" / "keyring.json").exists()


def test_production_init_can_generate_the_master_key_file(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`keys init --generate-master-key` writes a 0600 key file, then the keyring."""
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "production")
    get_settings.cache_clear()
    missing = runner.invoke(_app(), ["keys", "status"])
    assert missing.exit_code == 1 and "no master key" in missing.output
    result = runner.invoke(_app(), ["keys", "init", "--generate-master-key"])
    assert result.exit_code == 0, result.output
    assert (env / "var" / "master.key").stat().st_mode & 0o777 == 0o600
    assert _keyring(env).current_version == 1


def test_status_does_not_create_a_master_key(env: Path) -> None:
    """Only init creates keys: status in a fresh development checkout just says what is missing."""
    result = runner.invoke(_app(), ["keys", "status"])
    assert result.exit_code == 1
    assert not (env / "var" / "master.key").exists()


def test_pseudonymise_writes_tokens_of_the_domain(env: Path) -> None:
    """The command replaces the named columns, with a per-field mode, and reports the rows."""
    assert runner.invoke(_app(), ["keys", "init"]).exit_code == 0
    src = env / "customers.csv"
    src.write_text("email,plate,city\na@x.fi,ABC-1,Espoo\nb@x.fi,XYZ-2,Vantaa\n")
    result = runner.invoke(
        _app(),
        [
            "pseudonymise",
            str(src),
            "--domain",
            "reporting",
            "--fields",
            "email,plate:encrypt",
            "--out",
            str(env / "out.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Pseudonymised 2 rows" in result.output
    with (env / "out.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    pseudo = Pseudonymiser(_keyring(env))
    assert [r["email"] for r in rows] == pseudo.hmac_many("reporting", ["a@x.fi", "b@x.fi"])
    assert pseudo.reidentify_many("reporting", [r["plate"] for r in rows]) == ["ABC-1", "XYZ-2"]
    assert [r["city"] for r in rows] == ["Espoo", "Vantaa"]


def test_pseudonymise_names_a_missing_column_and_exits_one(env: Path) -> None:
    """A column the file does not have is an error message, exit 1, and no output file."""
    assert runner.invoke(_app(), ["keys", "init"]).exit_code == 0
    src = env / "customers.csv"
    src.write_text("email\na@x.fi\n")
    result = runner.invoke(
        _app(),
        ["pseudonymise", str(src), "-d", "reporting", "-f", "phone", "-o", str(env / "o.csv")],
    )
    assert result.exit_code == 1
    assert "no column 'phone'" in result.output
    assert not (env / "o.csv").exists()


def test_pseudonymise_without_a_keyring_says_to_run_keys_init(env: Path) -> None:
    """Before `keys init`, pseudonymise explains what to do first."""
    src = env / "c.csv"
    src.write_text("email\na@x.fi\n")
    result = runner.invoke(
        _app(),
        ["pseudonymise", str(src), "-d", "reporting", "-f", "email", "-o", str(env / "o.csv")],
    )
    assert result.exit_code == 1
    assert "keys init" in result.output


def test_generate_prints_only_a_key_that_production_accepts(env: Path) -> None:
    """`keys generate` prints one base64 key and nothing else, and writes no file."""
    result = runner.invoke(_app(), ["keys", "generate"])
    assert result.exit_code == 0, result.output
    printed = result.output.strip()
    assert result.output == printed + "\n"
    master = load_master_key(value=printed, key_file=None, environment="production")
    assert master.source == "TIETOTIE_MASTER_KEY"
    assert not (env / "var").exists()


def test_production_refuses_the_base64_of_a_placeholder_phrase(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key that is only an encoded phrase is refused with how to make a real one."""
    phrase = base64.b64encode(b"this is a placeholder key change me!").decode()
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "production")
    monkeypatch.setenv("TIETOTIE_MASTER_KEY", phrase)
    get_settings.cache_clear()
    result = runner.invoke(_app(), ["keys", "init"])
    assert result.exit_code == 1
    assert "TIETOTIE_MASTER_KEY is not a usable master key" in result.output
    assert "tietotie keys generate" in result.output
    assert phrase not in result.output
    assert not (env / "var").exists()


@pytest.mark.parametrize(
    "weak",
    ["change-me", base64.b64encode(b"our production key, keep it safe").decode()],
    ids=["placeholder", "phrase"],
)
def test_serve_in_production_exits_with_a_clear_message_on_a_weak_key(
    weak: str, service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After `db upgrade`, `serve` refuses a weak key: exit 1 with the reason, and no server."""
    root = service_env()
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "production")
    get_settings.cache_clear()
    upgraded = runner.invoke(get_app(), ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    monkeypatch.setenv("TIETOTIE_MASTER_KEY", weak)
    get_settings.cache_clear()

    def no_server(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the server must not start on a weak key")

    monkeypatch.setattr(uvicorn, "run", no_server)
    result = runner.invoke(get_app(), ["serve", "--port", "0"])
    assert result.exit_code == 1, result.output
    assert "error: TIETOTIE_MASTER_KEY is not a usable master key" in result.output
    assert "tietotie keys init --generate-master-key" in result.output
    assert weak not in result.output
    assert not (root / "master.key").exists()
    assert stat.S_IMODE((root / "tietotie.db").stat().st_mode) == 0o600
