"""Bindings of activation.feature: audiences and reports through the real app over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, scenarios, then, when

from activation.reporting import REPORTING_DOMAIN
from consent.service import record_consent
from dsar.auth import issue_token
from kernel.crypto import Pseudonymiser
from kernel.db import transaction
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.store import FieldCrypto, ingest
from tietotie.app import create_app
from tietotie.settings import Settings

ROOT = Path(__file__).resolve().parents[2]

scenarios("activation.feature")

ROLES = {"marketing": "marketing", "the mechanic": "mechanic"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    keyring = Keyring.ephemeral()
    keystore = SubjectKeyStore(tmp_path / "keystore.db", keyring=keyring)
    crypto = FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
    settings = Settings(
        strategy=ROOT / "strategy",
        var_dir=tmp_path,
        environment="test",
        database_url=f"sqlite:///{tmp_path / 'activation.db'}",
        key_file=tmp_path / "master.key",
    )
    with TestClient(create_app(settings, crypto=crypto)) as test_client:
        yield test_client
    keystore.close()


def _state(client: TestClient) -> Any:
    return client.app.state  # type: ignore[attr-defined]


def _staff(client: TestClient, role: str) -> dict[str, str]:
    with transaction(_state(client).sessions) as session:
        token = issue_token(session, _state(client).strategy, role=role)
    return {"Authorization": f"Bearer {token}"}


def _ago(text: str) -> datetime:
    number, unit, _ = text.split()
    days = int(number) * (365 if unit.startswith("year") else 1)
    return datetime.now(UTC) - timedelta(days=days)


# ── Given ────────────────────────────────────────────────────────────────────────────────────


@given("the car-service company holds these customers", target_fixture="customers")
def these_customers(client: TestClient, datatable: list[list[str]]) -> dict[str, str]:
    state = _state(client)
    header, *rows = datatable
    out: dict[str, str] = {}
    with transaction(state.sessions) as session:
        for n, values in enumerate(rows):
            row = dict(zip(header, values, strict=True))
            email = row["email"]
            sid = ingest(
                session,
                state.store,
                "customer",
                source="service-desk",
                values={
                    "name": email.split("@")[0].title() + " Virtanen",
                    "email": email,
                    "phone": f"04055500{n:02d}",
                    "branch": "espoo",
                },
            ).subject_id
            subject = {"id": sid}
            ingest(
                session,
                state.store,
                "vehicle",
                source="service-desk",
                subject=subject,
                values={"plate": f"ABC-{n + 100}", "tyre_type": row["tyres"]},
            )
            ingest(
                session,
                state.store,
                "visit",
                source="service-desk",
                subject=subject,
                values={
                    "visited_at": _ago(row["last visit"]).isoformat(),
                    "service_type": "tyre_change",
                },
            )
            ingest(
                session,
                state.store,
                "tyre_storage",
                source="workshop-inspection",
                subject=subject,
                values={"season": "winter", "tread_depth_mm": "3"},
            )
            statement = row["seasonal reminders"]
            if statement != "none":
                record_consent(
                    session,
                    state.strategy,
                    signer=state.consent_signer,
                    subject_id=sid,
                    use="seasonal-reminders",
                    state=statement,
                    source="booking-form",
                    at=_ago("60 days ago"),
                )
            out[email] = sid
    return out


@given(parsers.parse('"{email}" withdraws consent to "{use}"'))
def withdraws(client: TestClient, customers: dict[str, str], email: str, use: str) -> None:
    answer = client.post(
        "/v1/consents",
        headers=_staff(client, "service-advisor"),
        json={
            "subject": {"id": customers[email]},
            "use": use,
            "state": "withdrawn",
            "source": "booking-form",
        },
    )
    assert answer.status_code == 201, answer.text


@given(parsers.parse('"{email}" objects to direct marketing'))
def objects(client: TestClient, customers: dict[str, str], email: str) -> None:
    state = _state(client)
    with transaction(state.sessions) as session:
        result = state.fulfiller.object(session, customers[email])
    assert result["objection_recorded"] is True


@given(parsers.parse('"{email}" has restricted the processing of their data'))
def restricted(client: TestClient, customers: dict[str, str], email: str) -> None:
    state = _state(client)
    with transaction(state.sessions) as session:
        result = state.fulfiller.restrict(session, customers[email])
    assert result["restricted"] is True


# ── When ─────────────────────────────────────────────────────────────────────────────────────


def _audience(client: TestClient, who: str, activation: str, *, record: bool) -> Any:
    return client.get(
        f"/v1/activations/{activation}/audience",
        params={"record_send": "true"} if record else None,
        headers=_staff(client, ROLES[who]),
    )


@when(parsers.parse('{who} asks for the audience of "{activation}"'), target_fixture="answer")
def asks(client: TestClient, who: str, activation: str) -> Any:
    return _audience(client, who, activation, record=False)


@when(parsers.parse('{who} sends "{activation}" and records the send'))
def sends(client: TestClient, who: str, activation: str) -> None:
    answer = _audience(client, who, activation, record=True)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["sends_recorded"] == body["final"] > 0


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


def _body(answer: Any) -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@then(parsers.parse('the audience is exactly "{emails}"'))
def exactly(answer: Any, emails: str) -> None:
    reached = sorted(s["email"] for s in _body(answer)["subjects"])
    assert reached == sorted(e.strip() for e in emails.split(","))


@then("the audience is empty")
def empty(answer: Any) -> None:
    assert _body(answer)["subjects"] == []


_COUNT = re.compile(r"(\d+) (matched|without consent|restricted|capped|objected|reached)")
_REASON = {
    "without consent": "no_consent",
    "restricted": "restricted",
    "capped": "capped",
    "objected": "objected",
}


@then(parsers.parse("the run counts {counts}"))
def run_counts(answer: Any, counts: str) -> None:
    body = _body(answer)
    said = {what: int(n) for n, what in _COUNT.findall(counts)}
    assert said, f"no counts in {counts!r}"
    for what, n in said.items():
        if what == "matched":
            assert body["matched"] == n
        elif what == "reached":
            assert body["final"] == n
        else:
            assert body["excluded"][_REASON[what]] == n, body["excluded"]
    assert body["matched"] == body["final"] + sum(body["excluded"].values())


@then("the audience shows the email in clear and the name masked")
def email_clear_name_masked(answer: Any) -> None:
    for subject in _body(answer)["subjects"]:
        assert "@" in subject["email"]
        assert subject["name"]["masked"] is True
        assert re.fullmatch(r"[A-Z]\. V\.", subject["name"]["value"])
        assert "street_address" not in subject


@then(parsers.parse('"{email}" appears in none of the reports "{reports}"'))
def in_no_report(client: TestClient, customers: dict[str, str], email: str, reports: str) -> None:
    sid = customers[email]
    token = _state(client).crypto.pseudonymiser.hmac(REPORTING_DOMAIN, sid)
    for report in (r.strip() for r in reports.split(",")):
        answer = client.get(f"/v1/reports/{report}", headers=_staff(client, "owner"))
        body = _body(answer)
        assert body["data"], f"{report} is empty: the check would prove nothing"
        text = answer.text
        assert sid not in text and token not in text and email not in text


@then(parsers.parse('"{email}" is not counted in "{report}"'))
def not_counted(client: TestClient, customers: dict[str, str], email: str, report: str) -> None:
    body = _body(
        client.get(f"/v1/reports/{report}", params={"k": 1}, headers=_staff(client, "owner"))
    )
    assert sum(g["subjects"] for g in body["data"]) == len(customers) - 1


@then(parsers.parse('the request is refused naming "{use}"'))
def refused(answer: Any, use: str) -> None:
    assert answer.status_code == 403, answer.text
    assert use in answer.json()["detail"]
