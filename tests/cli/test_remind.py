"""`tietotie dsar remind`: the requests duty's mailboxes hear of what is due, and nothing else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from dsar.requests import Outbox, RequestRow
from dsar.requests.reminders import reminder_recipients
from tests.conftest import ServiceEnv
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.settings import get_settings

pytestmark = pytest.mark.dsar

runner = CliRunner()
RECEPTION = "huolto@rengasvirtanen.fi"


@pytest.fixture
def env(service_env: ServiceEnv) -> Path:
    return service_env()


def _open(email: str, *, due_in: int) -> str:
    services = open_services(get_settings())
    with services.sessions() as session:
        opened = services.requests.open(session, type="erasure", identity={"email": email})
        session.execute(
            update(RequestRow)
            .where(RequestRow.id == opened.request.id)
            .values(due_at=datetime.now(UTC).date() + timedelta(days=due_in))
        )
        session.commit()
    services.engine.dispose()
    return opened.request.id


def _mail_to(address: str) -> list[Outbox]:
    services = open_services(get_settings())
    with services.sessions() as session:
        rows = list(session.scalars(select(Outbox).where(Outbox.to == address)))
        for row in rows:
            session.expunge(row)
    services.engine.dispose()
    return rows


def test_the_mailboxes_of_the_requests_duty_receive_the_reminder(env: Path) -> None:
    """The bundled strategy's reception mailbox gets one message naming the overdue and the
    soon-due request, by reference and with the desk's link; the one due later is left out,
    and no requester's identifier is in it."""
    services = open_services(get_settings())
    assert reminder_recipients(services.strategy) == [RECEPTION]
    services.engine.dispose()
    late = _open("late@example.fi", due_in=-2)
    soon = _open("soon@example.fi", due_in=3)
    later = _open("later@example.fi", due_in=20)
    result = runner.invoke(get_app(), ["dsar", "remind", "--within", "7"])
    assert result.exit_code == 0, result.output
    assert "2 request(s) due within 7 days" in result.output and RECEPTION in result.output
    (mail,) = _mail_to(RECEPTION)
    assert "1 overdue" in mail.subject
    assert late[:8].upper() in mail.body and soon[:8].upper() in mail.body
    assert later[:8].upper() not in mail.body
    assert mail.body.index(late[:8].upper()) < mail.body.index(soon[:8].upper())
    assert f"/desk/requests/{late}" in mail.body
    assert "@example.fi" not in mail.body


def test_nothing_due_sends_nothing_and_says_so(env: Path) -> None:
    _open("far@example.fi", due_in=30)
    result = runner.invoke(get_app(), ["dsar", "remind", "--within", "7"])
    assert result.exit_code == 0
    assert "no open request is due within 7 days; no reminder sent" in result.output
    assert _mail_to(RECEPTION) == []
