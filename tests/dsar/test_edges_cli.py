"""`tietotie dsar outbox` and `tietotie dsar send-outbox`: the queue's states from a shell."""

from __future__ import annotations

import json
import socket

import pytest
from typer.testing import CliRunner

from records.store import ingest
from tests.cli.support import cli_token
from tests.conftest import ServiceEnv
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.settings import get_settings

runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_failing_mail_server_shows_as_a_message_to_retry_with_its_reason(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """send-outbox reports the retry; the outbox lists the queued message and its last error."""
    service_env()
    monkeypatch.setenv("TIETOTIE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TIETOTIE_SMTP_PORT", str(_closed_port()))
    get_settings.cache_clear()
    services = open_services(get_settings())
    with services.sessions() as session:
        values = {"name": "Aino", "email": "aino@example.fi", "phone": "0401112223"}
        ingest(
            session,
            services.store,
            "customer",
            source="booking-form",
            values=values | {"branch": "espoo"},
        )
        rid = services.requests.open(
            session, type="access", identity={"email": "aino@example.fi"}
        ).request.id
        session.commit()
    sent = runner.invoke(get_app(), ["dsar", "send-outbox"])
    assert sent.exit_code == 0, sent.output
    assert "sent 0, to retry later 1, failed 0" in sent.output
    owner = cli_token("owner", "Kari Virtanen")
    listed = runner.invoke(
        get_app(), ["dsar", "outbox", "--json", "--status", "queued", "--token", owner]
    )
    assert listed.exit_code == 0, listed.output
    (line,) = listed.stdout.splitlines()
    message = json.loads(line)
    assert message["request_id"] == rid and message["attempts"] == 1
    assert "SMTP 127.0.0.1" in message["last_error"] and message["next_attempt_at"]
    again = runner.invoke(get_app(), ["dsar", "send-outbox"])
    assert "sent 0, to retry later 0, failed 0" in again.output  # not due yet


def test_retention_also_reports_answers_past_their_lifetime(service_env: ServiceEnv) -> None:
    """`retention run` names the kept answers, lapsed sign-ins and ended desk sessions it
    deletes and the held addresses it forgets (none on a fresh database)."""
    service_env()
    result = runner.invoke(get_app(), ["retention", "run", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "answers of closed requests past their lifetime: would delete 0" in result.output
    assert "privacy-center sign-ins lapsed or ended over a day ago: would delete 0" in result.output
    assert "request-desk sessions that have ended: would delete 0" in result.output
    assert "messages of no request, held over a day: would forget 0" in result.output
