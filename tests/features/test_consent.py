"""Bindings of consent.feature: the consent ledger through the HTTP API, on each database."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from dateutil.relativedelta import relativedelta
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, scenarios, then, when

from consent.checks import check
from consent.receipts import KeySource, ReceiptSigner, decode_claims, verify_receipt
from consent.service import record_consent
from kernel.db import transaction
from kernel.keys import Keyring
from tests.consent.support import api, backend_engine, keyring, new_customer, staff_headers

__all__ = ["api", "backend_engine", "keyring"]

scenarios("consent.feature")


@pytest.fixture(autouse=True)
def _on_each_database(api: TestClient) -> TestClient:
    """Every scenario runs on SQLite and on PostgreSQL (the api fixture's parameters)."""
    return api


EMAIL = "anna@example.fi"


def _app(client: TestClient) -> Any:
    return client.app


def _consents(client: TestClient, subject: str) -> dict[str, Any]:
    answer = client.get(f"/v1/subjects/{subject}/consents", headers=staff_headers(client))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


# ── Given ────────────────────────────────────────────────────────────────────────────────────


@given("a customer in the system of record", target_fixture="customer")
def a_customer(api: TestClient) -> str:
    return new_customer(api, EMAIL)


@given(parsers.parse('the customer consented to "{use}"'), target_fixture="answer")
def consented(api: TestClient, customer: str, use: str) -> Any:
    answer = api.post(
        "/v1/consents",
        headers=staff_headers(api),
        json={
            "subject": {"id": customer},
            "use": use,
            "state": "given",
            "source": "booking-form",
            "evidence": {"form": "booking-v3"},
        },
    )
    assert answer.status_code == 201, answer.text
    return answer


@given(parsers.parse('the customer consented to "{use}" {months:d} months ago'))
def consented_long_ago(api: TestClient, customer: str, use: str, months: int) -> None:
    app = _app(api)
    with transaction(app.state.sessions) as session:
        record_consent(
            session,
            app.state.strategy,
            signer=ReceiptSigner(keyring_of(api)),
            subject_id=customer,
            use=use,
            state="given",
            source="booking-form",
            recorded_by="service-advisor",
            at=datetime.now(UTC) - relativedelta(months=months),
        )


def keyring_of(client: TestClient) -> Keyring:
    """The controller's keyring the app signs with."""
    found: Keyring = _app(client).state.crypto.pseudonymiser.keyring
    return found


# ── When ─────────────────────────────────────────────────────────────────────────────────────


@when(
    parsers.parse('the service advisor records consent "{state}" to "{use}" through "{source}"'),
    target_fixture="answer",
)
def staff_records(api: TestClient, customer: str, state: str, use: str, source: str) -> Any:
    return api.post(
        "/v1/consents",
        headers=staff_headers(api),
        json={
            "subject": {"id": customer},
            "use": use,
            "state": state,
            "source": source,
            "evidence": {"recorded_at_desk": True},
        },
    )


@when(
    parsers.parse('the customer withdraws consent to "{use}" by the id on the receipt'),
    target_fixture="answer",
)
def customer_withdraws(api: TestClient, answer: Any, use: str) -> Any:
    receipt = answer.json()["receipt"]
    subject = decode_claims(receipt)["piiPrincipalId"]
    return api.post(
        "/v1/consents",
        json={
            "subject": {"id": subject},
            "use": use,
            "state": "withdrawn",
            "source": "booking-form",
            "receipt": receipt,
        },
    )


@when(
    parsers.parse('the customer gives consent to "{use}" without a staff token'),
    target_fixture="answer",
)
def customer_gives(api: TestClient, customer: str, use: str) -> Any:
    return api.post(
        "/v1/consents",
        json={"subject": {"id": customer}, "use": use, "state": "given", "source": "booking-form"},
    )


@when(
    parsers.parse('the customer refuses "{use}" with the header "Sec-GPC: 1"'),
    target_fixture="answer",
)
def customer_refuses_with_gpc(api: TestClient, customer: str, answer: Any, use: str) -> Any:
    return api.post(
        "/v1/consents",
        headers={"Sec-GPC": "1"},
        json={
            "subject": {"id": customer},
            "use": use,
            "state": "refused",
            "source": "booking-form",
            "receipt": answer.json()["receipt"],
        },
    )


@when(
    parsers.parse('someone changes the state in the receipt to "{state}"'), target_fixture="forged"
)
def forge(answer: Any, state: str) -> str:
    header, payload, signature = answer.json()["receipt"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["extensions"]["state"] = state
    changed = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{changed}.{signature}"


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


@then("the consent is recorded")
def recorded(answer: Any) -> None:
    assert answer.status_code == 201, answer.text


@then("the receipt is signed by the controller's key")
def signed(api: TestClient, answer: Any) -> None:
    result = verify_receipt(answer.json()["receipt"], keyring=keyring_of(api))
    assert result.valid, result.reason
    assert result.key_source is KeySource.KEYRING


@then("the receipt names the customer only by the pseudonymous id")
def pseudonymous(answer: Any, customer: str) -> None:
    claims = decode_claims(answer.json()["receipt"])
    assert claims["piiPrincipalId"] == customer
    text = json.dumps(claims, ensure_ascii=False)
    for value in (EMAIL, "Anna", "0401234567"):
        assert value not in text


@then("the receipt does not verify")
def forged_fails(api: TestClient, forged: str) -> None:
    result = verify_receipt(forged, keyring=keyring_of(api))
    assert not result.valid and "signature" in result.reason


@then(parsers.parse('the consent to "{use}" is "{state}"'))
def consent_is(api: TestClient, customer: str, use: str, state: str) -> None:
    current = {c["use"]: c for c in _consents(api, customer)["current"]}
    assert current[use]["state"] == state, current[use]
    assert current[use]["lawful"] is (state == "given")


@then(parsers.parse('"{use}" may be applied to the customer'))
def may_be_applied(api: TestClient, customer: str, use: str) -> None:
    app = _app(api)
    with transaction(app.state.sessions) as session:
        assert check(session, app.state.strategy, use, customer) is True


@then(parsers.parse('"{use}" may not be applied to the customer'))
def may_not_be_applied(api: TestClient, customer: str, use: str) -> None:
    app = _app(api)
    with transaction(app.state.sessions) as session:
        assert check(session, app.state.strategy, use, customer) is False


@then(parsers.parse('the call is refused naming "{first}" and "{second}"'))
def refused_naming(answer: Any, first: str, second: str) -> None:
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == "consent_refused"
    assert first in body["detail"] and second in body["detail"]


@then("the call is refused as unauthorised")
def unauthorised(answer: Any) -> None:
    assert answer.status_code == 401, answer.text


@then("the customer has no consent history")
def no_history(api: TestClient, customer: str) -> None:
    assert _consents(api, customer)["history"] == []


@then(parsers.parse('the history of "{use}" reads "{states}"'))
def history_reads(api: TestClient, customer: str, use: str, states: str) -> None:
    history = [e["state"] for e in _consents(api, customer)["history"] if e["use"] == use]
    assert history == [s.strip() for s in states.split(",")]


@then("every receipt in the history verifies")
def history_verifies(api: TestClient, customer: str) -> None:
    events = _consents(api, customer)["history"]
    assert events
    for event in events:
        result = verify_receipt(event["receipt"], keyring=keyring_of(api))
        assert result.valid, result.reason
        assert decode_claims(event["receipt"])["consentReceiptID"] == event["id"]


@then(parsers.parse('the answer says the signal refused "{use}"'))
def gpc_refused(answer: Any, use: str) -> None:
    gpc = answer.json()["gpc"]
    assert gpc["signal"] is True
    assert gpc["refused"] == [use]
