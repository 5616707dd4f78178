"""The request endpoints at their edges over HTTP (DESIGN §11), on SQLite and PostgreSQL: no
oracle with a failing mail server, rate limits answered 429, a new code after spent attempts,
expiring tokens, answers kept at completion, and no identifier left after closing."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event, select, text

from dsar.requests import MessageStatus, Outbox, SmtpNotifier
from kernel.crypto import Pseudonymiser
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.store import FieldCrypto, find_subject
from tests.support import BUNDLED, backend_database, make_app, staff_header
from tietotie.app import create_app
from tietotie.settings import Settings

LIISA = "liisa@example.fi"
STRANGER = "stranger@example.fi"
CUSTOMER = {
    "source": "booking-form",
    "values": {"name": "Liisa Virtanen", "email": LIISA, "phone": "0401234567", "branch": "espoo"},
}


def _app_on(engine: Engine, folder: Path) -> FastAPI:
    """The real app on ``engine`` (``make_app`` is SQLite-only), with an in-memory keyring."""
    keyring = Keyring.ephemeral()
    crypto = FieldCrypto(
        keystore=SubjectKeyStore(folder / "keystore.db", keyring=keyring),
        pseudonymiser=Pseudonymiser(keyring),
    )
    settings = Settings(
        strategy=BUNDLED,
        var_dir=folder,
        environment="test",
        database_url=engine.url.render_as_string(hide_password=False),
        key_file=folder / "master.key",
    )
    return create_app(settings, crypto=crypto, engine=engine)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database: a SQLite file, or a schema of its own on the PostgreSQL server."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with backend_database(request.param, tmp_path, url, prefix="tt_edges") as engine:
        yield engine


class Clock:
    """The request service's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _client(app: FastAPI, clock: Clock) -> TestClient:
    app.state.requests._clock = clock  # the service reads its clock on every call
    return TestClient(app)


@pytest.fixture
def client(backend: Engine, tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    with _client(_app_on(backend, tmp_path), clock) as test_client:
        yield test_client


def _state(client: TestClient) -> Any:
    return client.app.state  # type: ignore[attr-defined]


def _customer(client: TestClient, app: Any = None) -> str:
    owner = staff_header(app or client.app, "owner")
    posted = client.post("/v1/records/customer", json=CUSTOMER, headers=owner)
    assert posted.status_code == 201, posted.text
    return str(posted.json()["subject_id"])


def _open(client: TestClient, email: str, kind: str = "access") -> Any:
    return client.post("/v1/dsar", json={"type": kind, "identity": {"email": email}})


def _code(client: TestClient, request_id: str) -> str | None:
    with _state(client).sessions() as session:
        body = session.scalars(
            select(Outbox.body).where(Outbox.request_id == request_id).order_by(Outbox.id.desc())
        ).first()
    found = re.search(r"\b(\d{6})\b", body or "")
    return found.group(1) if found else None


def _verified(client: TestClient, kind: str = "access") -> tuple[str, dict[str, str]]:
    rid = _open(client, LIISA, kind).json()["id"]
    verified = client.post(f"/v1/dsar/{rid}/verify", json={"code": _code(client, rid)})
    assert verified.status_code == 200, verified.text
    return rid, {"Authorization": f"Bearer {verified.json()['access_token']}"}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ── No oracle ────────────────────────────────────────────────────────────────────────────────


def test_with_the_mail_server_down_a_customer_and_a_stranger_get_the_same_answer(
    backend: Engine, tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SMTP at a closed port: 202 and the same body for both; the code waits queued to retry."""
    monkeypatch.setenv("TIETOTIE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("TIETOTIE_SMTP_PORT", str(_closed_port()))
    with _client(_app_on(backend, tmp_path), clock) as client:
        _customer(client)
        known, stranger = _open(client, LIISA), _open(client, STRANGER)
        assert known.status_code == stranger.status_code == 202
        assert {**known.json(), "id": ""} == {**stranger.json(), "id": ""}
        with _state(client).sessions() as session:
            rows = list(session.scalars(select(Outbox)))
        (message,) = rows
        assert message.request_id == known.json()["id"]
        assert message.status == MessageStatus.QUEUED and message.attempts == 1
        assert "SMTP 127.0.0.1" in (message.last_error or "")


def test_nothing_depends_on_who_is_asking_until_the_answer_is_sent(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before the response the same statements run for both; lookup and delivery come after."""
    monkeypatch.setenv("TIETOTIE_SMTP_HOST", "127.0.0.1")
    events: list[str] = []
    monkeypatch.setattr(SmtpNotifier, "deliver", lambda self, **m: events.append("deliver"))

    def looked_up(*args: Any, **kwargs: Any) -> str | None:
        events.append("lookup")
        return find_subject(*args, **kwargs)

    monkeypatch.setattr("tietotie.wiring.find_subject", looked_up)  # the service's lookup
    app = make_app(tmp_path)
    app.state.requests._clock = clock

    async def recorded(scope: Any, receive: Any, send: Any) -> None:
        async def sending(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                events.append("answered")

        await app(scope, receive, sending)

    def statement(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        events.append(sql)

    with TestClient(recorded) as client:
        _customer(client, app)
        event.listen(app.state.engine, "before_cursor_execute", statement)
        seen = {}
        for email in (LIISA, STRANGER):
            events.clear()
            assert _open(client, email).status_code == 202
            seen[email] = list(events)
        event.remove(app.state.engine, "before_cursor_execute", statement)

    def before(trace: list[str]) -> list[str]:
        return trace[: trace.index("answered")]

    assert before(seen[LIISA]) == before(seen[STRANGER])
    assert "lookup" not in before(seen[LIISA]) and "deliver" not in before(seen[LIISA])
    assert seen[LIISA].count("lookup") == 1 and seen[LIISA].count("deliver") == 1
    assert seen[STRANGER].count("lookup") == 1 and "deliver" not in seen[STRANGER]


# ── Rate limits ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("email", [LIISA, STRANGER])
def test_opening_over_the_identifier_limit_is_429_with_retry_after_for_anyone(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch, email: str
) -> None:
    """The third request in a minute for one identifier is refused alike, customer or not."""
    monkeypatch.setenv("TIETOTIE_RATE_LIMITS__OPEN_PER_IDENTIFIER", "2/minute")
    with _client(make_app(tmp_path), clock) as client:
        _customer(client)
        answers = [_open(client, email) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 429]
    refused = answers[2]
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["error"] == "rate_limited"
    assert refused.json()["limit"] == "open_per_identifier"


def test_opening_over_the_client_limit_is_429(
    tmp_path: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One client address opening requests for many identifiers is stopped."""
    monkeypatch.setenv("TIETOTIE_RATE_LIMITS__OPEN_PER_CLIENT", "2/minute")
    with _client(make_app(tmp_path), clock) as client:
        codes = [_open(client, f"p{n}@example.fi").status_code for n in range(3)]
    assert codes == [202, 202, 429]


# ── Verification: spent attempts and a new code ───────────────────────────────────────────────


def test_after_five_wrong_codes_the_right_one_is_refused_until_a_new_code_is_asked_for(
    client: TestClient,
) -> None:
    """401 naming /resend; resend answers like opening, and its code verifies."""
    _customer(client)
    rid = _open(client, LIISA).json()["id"]
    right = _code(client, rid)
    wrong = "000000" if right != "000000" else "111111"
    answers = [client.post(f"/v1/dsar/{rid}/verify", json={"code": wrong}) for _ in range(5)]
    assert [a.status_code for a in answers] == [401] * 5
    assert "resend" in answers[-1].json()["detail"]
    refused = client.post(f"/v1/dsar/{rid}/verify", json={"code": right})
    assert refused.status_code == 401 and "no longer" in refused.json()["detail"]
    again = client.post(f"/v1/dsar/{rid}/resend")
    assert again.status_code == 202 and again.json().keys() == {"id", "status", "due_at"}
    verified = client.post(f"/v1/dsar/{rid}/verify", json={"code": _code(client, rid)})
    assert verified.status_code == 200, verified.text
    assert datetime.fromisoformat(verified.json()["expires_at"]) > datetime.now(UTC)


def test_a_new_code_for_a_stranger_is_answered_the_same(client: TestClient) -> None:
    """Resend reveals nothing either: the same status and shape for a stranger's request."""
    _customer(client)
    known = client.post(f"/v1/dsar/{_open(client, LIISA).json()['id']}/resend")
    stranger = client.post(f"/v1/dsar/{_open(client, STRANGER).json()['id']}/resend")
    assert known.status_code == stranger.status_code == 202
    assert {**known.json(), "id": ""} == {**stranger.json(), "id": ""}


# ── Tokens and the answer kept at completion ──────────────────────────────────────────────────


def test_a_requester_token_is_refused_a_week_after_verification(
    client: TestClient, clock: Clock
) -> None:
    """401 saying the token expired, while the request is still open."""
    _customer(client)
    rid, requester = _verified(client)
    assert client.get(f"/v1/dsar/{rid}", headers=requester).status_code == 200
    clock.now += timedelta(days=8)
    expired = client.get(f"/v1/dsar/{rid}", headers=requester)
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]


def test_the_export_after_completion_is_the_answer_of_then_until_it_is_gone(
    client: TestClient, clock: Clock
) -> None:
    """Later records never show; after 30 days the export is 410 with a clear message."""
    subject = _customer(client)
    rid, requester = _verified(client)
    first = client.get(f"/v1/dsar/{rid}/export", headers=requester)
    assert first.status_code == 200 and "vehicle" not in first.json()["data"]
    added = client.post(
        "/v1/records/vehicle",
        json={
            "source": "service-desk",
            "subject": {"id": subject},
            "values": {"plate": "XYZ-999", "tyre_type": "winter"},
        },
        headers=staff_header(client.app, "owner"),
    )
    assert added.status_code == 201, added.text
    clock.now += timedelta(days=20)
    again = client.get(f"/v1/dsar/{rid}/export", headers=requester)
    assert again.status_code == 200 and again.json() == first.json()
    zipped = client.get(f"/v1/dsar/{rid}/export?format=zip", headers=requester)
    assert zipped.status_code == 200 and b"XYZ-999" not in zipped.content
    clock.now += timedelta(days=11)
    gone = client.get(f"/v1/dsar/{rid}/export", headers=requester)
    assert gone.status_code == 410 and gone.json()["error"] == "gone"
    assert "kept until" in gone.json()["detail"]


def test_staff_completion_keeps_the_answer_the_requester_then_downloads(
    client: TestClient,
) -> None:
    """An access request fulfilled by staff serves the answer produced at that moment."""
    subject = _customer(client)
    rid, requester = _verified(client)
    owner = staff_header(client.app, "owner")
    assert client.post(f"/v1/dsar/{rid}/complete", headers=owner).status_code == 200
    client.post(
        "/v1/records/vehicle",
        json={
            "source": "service-desk",
            "subject": {"id": subject},
            "values": {"plate": "XYZ-999", "tyre_type": "winter"},
        },
        headers=owner,
    )
    export = client.get(f"/v1/dsar/{rid}/export", headers=requester)
    assert export.status_code == 200 and export.json()["subject"] == subject
    assert "vehicle" not in export.json()["data"]


# ── Identifiers after closing ────────────────────────────────────────────────────────────────


def _request_tables_text(client: TestClient) -> str:
    tables = ("dsar_requests", "dsar_outbox", "dsar_request_events", "dsar_request_exports")
    with _state(client).engine.connect() as conn:
        return " ".join(
            str(tuple(r)) for t in tables for r in conn.execute(text(f"SELECT * FROM {t}"))
        )


def test_after_an_erasure_the_email_is_kept_nowhere_in_clear(client: TestClient) -> None:
    """The request's identity and its outbox keep only keyed hashes; its status still reads."""
    _customer(client)
    rid, requester = _verified(client, "erasure")
    assert LIISA in _request_tables_text(client)
    done = client.post(f"/v1/dsar/{rid}/complete", headers=staff_header(client.app, "owner"))
    assert done.status_code == 200, done.text
    assert LIISA not in _request_tables_text(client)
    status = client.get(f"/v1/dsar/{rid}", headers=requester)
    assert status.status_code == 200 and status.json()["status"] == "completed"
