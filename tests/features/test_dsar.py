"""Bindings of dsar.feature: data-subject requests through the real app over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, scenarios, then, when
from sqlalchemy import select

from consent.service import record_consent, subject_consents
from dsar.requests import Outbox
from kernel.db import transaction
from records.restrictions import active_flags
from records.store import read_subject
from tests.support import make_app, staff_header

scenarios("dsar.feature")


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path)) as test_client:
        yield test_client


@pytest.fixture
def answers() -> list[dict[str, Any]]:
    """What each requester of a scenario was told, in order."""
    return []


def _state(client: TestClient) -> Any:
    return client.app.state  # type: ignore[attr-defined]


def _staff(client: TestClient, role: str) -> dict[str, str]:
    return staff_header(client.app, role)


# ── Given ────────────────────────────────────────────────────────────────────────────────────


@given(parsers.parse('the customer consented to "{use}"'))
def consented(client: TestClient, subject_id: str, use: str) -> None:
    state = _state(client)
    with transaction(state.sessions) as session:
        record_consent(
            session,
            state.strategy,
            signer=state.consent_signer,
            subject_id=subject_id,
            use=use,
            state="given",
            source="booking-form",
            notice="privacy-notice-2026-01",
        )


# ── When ─────────────────────────────────────────────────────────────────────────────────────


def _open(client: TestClient, email: str, kind: str, **extra: Any) -> dict[str, Any]:
    response = client.post("/v1/dsar", json={"type": kind, "identity": {"email": email}, **extra})
    assert response.status_code == 202, response.text
    return dict(response.json())


@when(parsers.parse('"{email}" asks for "{kind}" on {day}'), target_fixture="opened")
def asks_on(client: TestClient, email: str, kind: str, day: str) -> dict[str, Any]:
    received = datetime.fromisoformat(day).replace(hour=10, tzinfo=UTC)
    requests = _state(client).requests
    requests._clock = lambda: received
    try:
        return _open(client, email, kind)
    finally:
        requests._clock = lambda: datetime.now(UTC)


@when(parsers.parse('"{email}" asks for "{kind}"'), target_fixture="opened")
def asks(
    client: TestClient, email: str, kind: str, answers: list[dict[str, Any]]
) -> dict[str, Any]:
    opened = _open(client, email, kind)
    answers.append(opened)
    return opened


@when(parsers.parse('"{email}" asks to rectify "{ref}" to "{value}"'), target_fixture="opened")
def asks_rectify(client: TestClient, email: str, ref: str, value: str) -> dict[str, Any]:
    return _open(client, email, "rectification", details={"changes": {ref: value}})


@when("the requester verifies with the code sent to them", target_fixture="requester")
def verifies(client: TestClient, opened: dict[str, Any]) -> dict[str, str]:
    with _state(client).sessions() as session:
        body = (
            session.execute(select(Outbox.body).where(Outbox.request_id == opened["id"]))
            .scalars()
            .first()
        )
    code = re.search(r"\b(\d{6})\b", body or "")
    assert code, "no code was sent"
    response = client.post(f"/v1/dsar/{opened['id']}/verify", json={"code": code.group(1)})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@when("the requester downloads the export", target_fixture="export")
def downloads(
    client: TestClient, opened: dict[str, Any], requester: dict[str, str]
) -> dict[str, Any]:
    response = client.get(f"/v1/dsar/{opened['id']}/export", headers=requester)
    assert response.status_code == 200, response.text
    return dict(response.json())


@when("privacy staff fulfil the request", target_fixture="result")
def fulfil(client: TestClient, opened: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        f"/v1/dsar/{opened['id']}/complete", headers=_staff(client, "service-advisor")
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["result"])


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


@then(parsers.parse("the request is due on {day}"))
def due_on(opened: dict[str, Any], day: str) -> None:
    assert opened["due_at"] == date.fromisoformat(day).isoformat()


@then("both answers look alike")
def alike(answers: list[dict[str, Any]]) -> None:
    first, second = answers
    assert first.keys() == second.keys() and first["status"] == second["status"]
    assert first["due_at"] == second["due_at"]


@then(parsers.parse('a code was sent only to "{email}"'))
def sent_only_to(client: TestClient, email: str) -> None:
    with _state(client).sessions() as session:
        recipients = session.execute(select(Outbox.to)).scalars().all()
    assert recipients == [email]


@then(parsers.parse('the export holds "{a}", "{b}" and "{c}" records'))
def export_holds(export: dict[str, Any], a: str, b: str, c: str) -> None:
    assert {a, b, c} <= set(export["data"])


@then("every purpose in the export names its legal basis and retention")
def purposes_named(export: dict[str, Any]) -> None:
    purposes = export["processing"]["purposes"]
    assert purposes and all(p["legal_basis"] and p["retention"] for p in purposes)


@then(parsers.parse('the customer\'s "{field}" reads "{value}"'))
def reads(client: TestClient, subject_id: str, field: str, value: str) -> None:
    state = _state(client)
    with state.sessions() as session:
        data = read_subject(session, state.store, subject_id)
    assert data["customer"][0].values[field] == value


@then("the result lists recipients to notify")
def recipients_listed(result: dict[str, Any]) -> None:
    assert result["recipients_to_notify"]


@then(parsers.parse('the result erased the "{entity}" records'))
def erased(result: dict[str, Any], entity: str) -> None:
    assert result["erased"].get(entity, 0) >= 1


@then(parsers.parse('the result kept "{entity}" records because of "{law}"'))
def kept(result: dict[str, Any], entity: str, law: str) -> None:
    entry = next(k for k in result["kept"] if k["entity"] == entity)
    assert law in " ".join(entry["why"])


@then("the subject's key is destroyed")
def key_destroyed(client: TestClient, subject_id: str, result: dict[str, Any]) -> None:
    assert result["crypto_shredded"] is True
    assert _state(client).crypto.keystore.is_erased(subject_id)


@then(parsers.parse('a "{kind}" stands against the customer'))
@then(parsers.parse('an "{kind}" stands against the customer'))
def stands(client: TestClient, subject_id: str, kind: str) -> None:
    with _state(client).sessions() as session:
        kinds = [f.kind for f in active_flags(session, subject_id)]
    assert kind in kinds


@then(parsers.parse('consent to "{use}" is "{state}"'))
def consent_is(client: TestClient, subject_id: str, use: str, state: str) -> None:
    app_state = _state(client)
    with app_state.sessions() as session:
        current = subject_consents(session, app_state.strategy, subject_id).current
    assert {c.use: c.state for c in current}[use] == state
