"""`tietotie audit verify`, `dsar outbox` and `retention run` from a shell."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from tests.cli.support import cli_token
from tests.conftest import ServiceEnv
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


@pytest.fixture
def env(service_env: ServiceEnv) -> Path:
    """A fresh var/ directory and database for the bundled strategy."""
    return service_env()


def _open_request(email: str) -> str:
    services = open_services(get_settings())
    with services.sessions() as session:
        opened = services.requests.open(session, type="access", identity={"email": email})
        session.commit()
        return opened.request.id


def test_audit_verify_passes_then_catches_an_edited_entry(env: Path) -> None:
    """Exit 0 on an intact log; exit 1 naming the entry after someone edits it."""
    _open_request("nobody@example.fi")
    ok = runner.invoke(get_app(), ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "audit log intact: 2 entries" in ok.output
    services = open_services(get_settings())
    with services.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET action = 'dsar.completed' WHERE seq = 1"))
    broken = runner.invoke(get_app(), ["audit", "verify"])
    assert broken.exit_code == 1
    assert "entry 1:" in broken.output and "edited" in broken.output


def test_the_outbox_shows_the_code_sent_to_a_known_customer(env: Path) -> None:
    """Without SMTP the verification code waits in the outbox for staff to read."""
    services = open_services(get_settings())
    with services.sessions() as session:
        from records.store import ingest

        ingest(
            session,
            services.store,
            "customer",
            source="booking-form",
            values={
                "name": "Aino",
                "email": "aino@example.fi",
                "phone": "0401112223",
                "branch": "espoo",
            },
        )
        session.commit()
    rid = _open_request("aino@example.fi")
    token = cli_token("owner", "Kari Virtanen")
    out = runner.invoke(get_app(), ["dsar", "outbox", "--json", "--request", rid, "--token", token])
    assert out.exit_code == 0, out.output
    assert '"to": "aino@example.fi"' in out.output
    assert re.search(r"\b\d{6}\b", out.output)  # the code, in whatever language the mail is


def test_retention_dry_run_deletes_nothing(env: Path) -> None:
    """A dry run reports counts and leaves the data alone."""
    result = runner.invoke(get_app(), ["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("retention would delete: nothing")
