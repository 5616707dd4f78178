"""Bindings of breach.feature: the auditor works the register over real HTTP, as in production;
only the customers the company holds and the audit log are reached through the database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pytest_bdd import given, parsers, scenarios, then, when

from dsar.auth import issue_token
from kernel.db import transaction
from records.store import ingest
from tests.support import make_app
from tests.web.conftest import serve

scenarios("breach.feature")


@pytest.fixture
def breach_app(tmp_path: Path) -> FastAPI:
    """A fresh service for each scenario: the counts are the scenario's own."""
    return make_app(tmp_path)


@pytest.fixture
def api(breach_app: FastAPI) -> Iterator[httpx.Client]:
    """The service over real HTTP on a loopback port."""
    for base in serve(breach_app):
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client


# ── Given ────────────────────────────────────────────────────────────────────────────────────


@given(
    parsers.parse(
        "the car-service company holds {count:d} customers with a car, {needs:d} of them "
        "with an accessibility need"
    )
)
def customers(breach_app: FastAPI, count: int, needs: int) -> None:
    state = breach_app.state
    with transaction(state.sessions) as session:
        for n in range(count):
            values: dict[str, Any] = {
                "name": f"Asiakas {n}",
                "phone": f"04030000{n:02d}",
                "branch": "espoo",
            }
            source = "phone-booking"
            if n < needs:  # told us online, on the booking form's own consent box
                values.update(email=f"asiakas{n}@example.fi", accessibility_need="pyörätuoli")
                source = "booking-form"
            sid = ingest(session, state.store, "customer", source=source, values=values)
            ingest(
                session,
                state.store,
                "vehicle",
                source="phone-booking",
                subject={"id": sid.subject_id},
                values={"plate": f"ABC-{n}", "tyre_type": "winter"},
            )


@given(parsers.parse('the auditor "{name}" has a staff token'), target_fixture="auditor")
def auditor(breach_app: FastAPI, name: str) -> dict[str, str]:
    with transaction(breach_app.state.sessions) as session:
        token = issue_token(session, breach_app.state.strategy, role="auditor", name=name)
    return {"Authorization": f"Bearer {token}"}


def _record(
    api: httpx.Client, auditor: dict[str, str], scopes: str, **extra: Any
) -> dict[str, Any]:
    body = {
        "what": "Found during the scenario.",
        "kind": "confidentiality",
        "scope": [s.strip() for s in scopes.split(",")],
        **extra,
    }
    answer = api.post("/v1/breaches", json=body, headers=auditor)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


@given(
    parsers.parse(
        'the auditor recorded a confidentiality breach of "{scopes}" discovered {days:d} days ago'
    ),
    target_fixture="breach",
)
def recorded_days_ago(
    api: httpx.Client, auditor: dict[str, str], scopes: str, days: int
) -> dict[str, Any]:
    discovered = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="minutes")
    return _record(api, auditor, scopes, discovered_at=discovered)


# ── When ─────────────────────────────────────────────────────────────────────────────────────


@when(
    parsers.parse('the auditor records a confidentiality breach of "{scopes}"'),
    target_fixture="breach",
)
def records_breach(api: httpx.Client, auditor: dict[str, str], scopes: str) -> dict[str, Any]:
    return _record(api, auditor, scopes)


@when(
    parsers.parse(
        'the auditor records a confidentiality breach of "{scopes}" with the keys compromised'
    ),
    target_fixture="breach",
)
def records_breach_keys(api: httpx.Client, auditor: dict[str, str], scopes: str) -> dict[str, Any]:
    return _record(api, auditor, scopes, keys_compromised=True)


@when("the auditor records that the authority was notified", target_fixture="answer")
def notifies(api: httpx.Client, auditor: dict[str, str], breach: dict[str, Any]) -> httpx.Response:
    return api.post(
        f"/v1/breaches/{breach['id']}/notifications", json={"to": "authority"}, headers=auditor
    )


@when(
    parsers.parse('the auditor records that the authority was notified, because "{reason}"'),
    target_fixture="breach",
)
def notifies_late(
    api: httpx.Client, auditor: dict[str, str], breach: dict[str, Any], reason: str
) -> dict[str, Any]:
    answer = api.post(
        f"/v1/breaches/{breach['id']}/notifications",
        json={"to": "authority", "delay_reason": reason},
        headers=auditor,
    )
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


@then(parsers.parse("the breach touched {subjects:d} customers and {records:d} records"))
def touched(breach: dict[str, Any], subjects: int, records: int) -> None:
    found = breach["assessment"]
    assert (found["subjects"], found["records"]) == (subjects, records)


@then(parsers.parse('the fields held only encrypted are "{fields}"'))
def encrypted(breach: dict[str, Any], fields: str) -> None:
    assert breach["assessment"]["encrypted_fields"] == [f.strip() for f in fields.split(",")]


@then(parsers.parse('the risk is "{risk}"'))
def risk_is(breach: dict[str, Any], risk: str) -> None:
    assert breach["risk"] == risk, breach["assessment"]["reasons"]


@then("the authority need not be notified")
def authority_not_needed(breach: dict[str, Any]) -> None:
    assert breach["notify_authority"] is False and breach["status"] == "registered only"


@then("the authority must be notified within 72 hours of the discovery")
def authority_within_72(breach: dict[str, Any]) -> None:
    assert breach["notify_authority"] is True and breach["status"] == "authority due"
    due = datetime.fromisoformat(breach["authority_due_at"])
    assert due - datetime.fromisoformat(breach["discovered_at"]) == timedelta(hours=72)


@then("the customers need not be told")
def subjects_not_told(breach: dict[str, Any]) -> None:
    assert breach["tell_subjects"] is False and breach["drafts"]["subjects"] is None


@then("the customers must be told")
def subjects_told(breach: dict[str, Any]) -> None:
    assert breach["tell_subjects"] is True and "subjects to tell" in breach["status"]


@then(parsers.parse('the message to the customers names "{text}"'))
def message_names(breach: dict[str, Any], text: str) -> None:
    assert text in breach["drafts"]["subjects"]


@then(parsers.parse('the notification to the authority names "{text}"'))
def notification_names(breach: dict[str, Any], text: str) -> None:
    assert text in breach["drafts"]["authority"]


@then("the register refuses, asking for the reasons for the delay")
def refused(answer: httpx.Response) -> None:
    assert answer.status_code == 422
    assert answer.json()["field"] == "delay_reason"
    assert "give the reasons for the delay" in answer.json()["detail"]


@then("the register shows the authority notified")
def shows_notified(api: httpx.Client, auditor: dict[str, str], breach: dict[str, Any]) -> None:
    shown = api.get(f"/v1/breaches/{breach['id']}", headers=auditor).json()
    assert shown["authority_notified_at"] is not None and shown["status"] == "notified"


@then(parsers.parse('the audit log names "{name}" for each step of the breach'))
def audited(breach_app: FastAPI, breach: dict[str, Any], name: str) -> None:
    with breach_app.state.sessions() as session:
        entries = [
            e
            for e in breach_app.state.audit.entries(session, limit=1000)
            if e.action.startswith("breach.")
        ]
        assert breach_app.state.audit.verify(session).ok
    assert [e.action for e in entries] == ["breach.opened", "breach.notified"]
    assert {e.actor for e in entries} == {f"person:{name} (role:auditor)"}
