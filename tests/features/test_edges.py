"""Bindings of edges.feature: the public request endpoints under attack, through the real app."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, scenarios, then, when
from sqlalchemy import select

from dsar.requests import Outbox
from kernel.db import transaction
from records.store import ingest
from tests.support import make_app

scenarios("edges.feature")


class Clock:
    """The request service's clock, moved by the scenario."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(tmp_path: Path, clock: Clock) -> Iterator[TestClient]:
    """The app, made when a step first needs it (so a limit set by an earlier step holds)."""
    app = make_app(tmp_path)
    app.state.requests._clock = clock
    with TestClient(app) as test_client:
        yield test_client


def _state(client: TestClient) -> Any:
    return client.app.state  # type: ignore[attr-defined]


def _code(client: TestClient, request_id: str) -> str:
    with _state(client).sessions() as session:
        body = session.scalars(
            select(Outbox.body).where(Outbox.request_id == request_id).order_by(Outbox.id.desc())
        ).first()
    found = re.search(r"\b(\d{6})\b", body or "")
    assert found, "no code was sent"
    return found.group(1)


def _open(client: TestClient, email: str, kind: str) -> Any:
    return client.post("/v1/dsar", json={"type": kind, "identity": {"email": email}})


def _vehicle(client: TestClient, subject_id: str, plate: str) -> None:
    state = _state(client)
    with transaction(state.sessions) as session:
        ingest(
            session,
            state.store,
            "vehicle",
            source="service-desk",
            subject={"id": subject_id},
            values={"plate": plate, "tyre_type": "summer"},
        )


# ── Given ────────────────────────────────────────────────────────────────────────────────────


@given(parsers.parse("opening is limited to {count:d} requests per identifier a minute"))
def opening_limited(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setenv("TIETOTIE_RATE_LIMITS__OPEN_PER_IDENTIFIER", f"{count}/minute")


@given(parsers.parse('"{email}" asked for "{kind}"'), target_fixture="request_id")
def asked(client: TestClient, email: str, kind: str) -> str:
    opened = _open(client, email, kind)
    assert opened.status_code == 202, opened.text
    return str(opened.json()["id"])


@given(parsers.parse('"{email}" asked for "{kind}" and verified'), target_fixture="requester")
def asked_and_verified(client: TestClient, email: str, kind: str) -> dict[str, Any]:
    rid = asked(client, email, kind)
    verified = client.post(f"/v1/dsar/{rid}/verify", json={"code": _code(client, rid)})
    assert verified.status_code == 200, verified.text
    return {"id": rid, "headers": {"Authorization": f"Bearer {verified.json()['access_token']}"}}


@given("the requester downloaded the export", target_fixture="export")
def downloaded(client: TestClient, requester: dict[str, Any]) -> dict[str, Any]:
    response = client.get(f"/v1/dsar/{requester['id']}/export", headers=requester["headers"])
    assert response.status_code == 200, response.text
    return dict(response.json())


# ── When ─────────────────────────────────────────────────────────────────────────────────────


@when(parsers.parse("{count:d} wrong codes are sent at once"), target_fixture="guesses")
def wrong_codes_at_once(client: TestClient, request_id: str, count: int) -> list[Any]:
    right = _code(client, request_id)
    wrong = "000000" if right != "000000" else "111111"
    start = threading.Barrier(count, timeout=30)

    def guess() -> Any:
        start.wait()
        return client.post(f"/v1/dsar/{request_id}/verify", json={"code": wrong})

    with ThreadPoolExecutor(count) as pool:
        return [f.result(timeout=120) for f in [pool.submit(guess) for _ in range(count)]]


@when("the requester asks for a new code")
def new_code(client: TestClient, request_id: str) -> None:
    answer = client.post(f"/v1/dsar/{request_id}/resend")
    assert answer.status_code == 202, answer.text


@when(parsers.parse('"{email}" asks for "{kind}" {times:d} times'), target_fixture="answers")
def asks_repeatedly(client: TestClient, email: str, kind: str, times: int) -> list[Any]:
    return [_open(client, email, kind) for _ in range(times)]


@when(parsers.parse("{days:d} days pass"))
def days_pass(clock: Clock, days: int) -> None:
    clock.now += timedelta(days=days)


@when("the company records another vehicle for the customer")
def another_vehicle(client: TestClient, subject_id: str) -> None:
    _vehicle(client, subject_id, "XYZ-999")


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


@then(parsers.parse("{count:d} of them were counted as wrong"))
def counted(guesses: list[Any], count: int) -> None:
    assert all(g.status_code == 401 for g in guesses)
    assert sum(g.json()["detail"].startswith("wrong code") for g in guesses) == count


@then("the right code is refused, pointing to a new code")
def right_code_refused(client: TestClient, request_id: str) -> None:
    answer = client.post(f"/v1/dsar/{request_id}/verify", json={"code": _code(client, request_id)})
    assert answer.status_code == 401
    assert "no longer" in answer.json()["detail"] and "resend" in answer.json()["detail"]


@then("the new code verifies the request")
def new_code_verifies(client: TestClient, request_id: str) -> None:
    answer = client.post(f"/v1/dsar/{request_id}/verify", json={"code": _code(client, request_id)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "verified"


@then(
    parsers.parse("the first {count:d} answers are 202 and the last one is 429 with a Retry-After")
)
def limited(answers: list[Any], count: int) -> None:
    assert [a.status_code for a in answers] == [202] * count + [429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert answers[-1].json()["error"] == "rate_limited"


@then("the requester's token is refused as expired")
def token_refused(client: TestClient, requester: dict[str, Any]) -> None:
    answer = client.get(f"/v1/dsar/{requester['id']}", headers=requester["headers"])
    assert answer.status_code == 401 and "expired" in answer.json()["detail"]


@then(parsers.parse('the export holds {count:d} "{entity}" record'))
def export_holds(
    client: TestClient, requester: dict[str, Any], export: dict[str, Any], count: int, entity: str
) -> None:
    answer = client.get(f"/v1/dsar/{requester['id']}/export", headers=requester["headers"])
    assert answer.status_code == 200, answer.text
    assert answer.json() == export and len(answer.json()["data"][entity]) == count


@then("the export is gone with 410")
def export_gone(client: TestClient, requester: dict[str, Any]) -> None:
    answer = client.get(f"/v1/dsar/{requester['id']}/export", headers=requester["headers"])
    assert answer.status_code == 410 and answer.json()["error"] == "gone"
    assert "no longer available" in answer.json()["detail"]
