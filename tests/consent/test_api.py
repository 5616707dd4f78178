"""The consent API as staff and subjects meet it: POST /v1/consents and GET …/consents."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from consent.receipts import verify_receipt
from kernel.keys import Keyring
from tests.consent.support import new_customer, staff_headers

pytestmark = pytest.mark.consent

GIVE = {
    "use": "seasonal-reminders",
    "state": "given",
    "source": "booking-form",
    "notice": "privacy-notice-2026-01",
    "evidence": {"form": "booking-v3", "checkbox": "unticked"},
}


def _keyring(client: TestClient) -> Keyring:
    app: Any = client.app
    keyring: Keyring = app.state.crypto.pseudonymiser.keyring
    return keyring


def test_staff_records_consent_given_and_gets_a_receipt_signed_by_the_controller(
    api: TestClient,
) -> None:
    """201 with the event and a receipt that verifies against the controller's keyring."""
    subject = new_customer(api)
    answer = api.post(
        "/v1/consents", headers=staff_headers(api), json={**GIVE, "subject": {"id": subject}}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["state"] == "given" and body["use"] == "seasonal-reminders"
    assert body["subject_id"] == subject
    assert body["expires_at"] is not None
    check = verify_receipt(body["receipt"], keyring=_keyring(api))
    assert check.valid, check.reason
    assert check.claims is not None and check.claims["piiPrincipalId"] == subject
    assert "anna@example.fi" not in body["receipt"] + str(body["receipt_claims"])
    assert body["gpc"] == {
        "signal": False,
        "refused": [],
        "already_refused": [],
        "not_consent_based": [],
        "events": [],
    }


def test_staff_may_name_the_subject_by_an_identifier(api: TestClient) -> None:
    """{"email": …} finds the subject for a staff caller."""
    subject = new_customer(api)
    answer = api.post(
        "/v1/consents",
        headers=staff_headers(api),
        json={**GIVE, "subject": {"email": "anna@example.fi"}},
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["subject_id"] == subject


def test_the_subject_withdraws_with_the_same_single_call_without_a_login(api: TestClient) -> None:
    """Art. 7(3): one POST with state withdrawn, the subject id and the receipt they hold."""
    subject = new_customer(api)
    given = api.post(
        "/v1/consents", headers=staff_headers(api), json={**GIVE, "subject": {"id": subject}}
    )
    withdrawn = api.post(
        "/v1/consents",
        json={
            "subject": {"id": subject},
            "use": "seasonal-reminders",
            "state": "withdrawn",
            "source": "booking-form",
            "receipt": given.json()["receipt"],
        },
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert withdrawn.json()["method"] == "subject"
    view = api.get(f"/v1/subjects/{subject}/consents", headers=staff_headers(api)).json()
    current = {c["use"]: c for c in view["current"]}
    assert current["seasonal-reminders"]["state"] == "withdrawn"
    assert current["seasonal-reminders"]["lawful"] is False
    assert current["accessibility-service"]["state"] is None
    assert [e["state"] for e in view["history"]] == ["given", "withdrawn"]


def test_giving_consent_without_a_staff_token_is_refused(api: TestClient) -> None:
    """An unauthenticated `given` is 401: nobody could show who gave it."""
    subject = new_customer(api)
    answer = api.post("/v1/consents", json={**GIVE, "subject": {"id": subject}})
    assert answer.status_code == 401
    assert "staff token" in answer.json()["detail"]


def test_a_subject_without_a_token_cannot_look_people_up_by_email(api: TestClient) -> None:
    """An anonymous withdrawal naming an email is 401, so nobody can probe who is a customer."""
    new_customer(api)
    answer = api.post(
        "/v1/consents",
        json={
            "subject": {"email": "anna@example.fi"},
            "use": "seasonal-reminders",
            "state": "withdrawn",
            "source": "booking-form",
        },
    )
    assert answer.status_code == 401
    assert "subject id" in answer.json()["detail"]


def test_consent_through_a_source_that_cannot_capture_it_is_refused(api: TestClient) -> None:
    """phone-booking does not list accessibility-service in consent_for: 422 naming both."""
    subject = new_customer(api)
    answer = api.post(
        "/v1/consents",
        headers=staff_headers(api),
        json={
            "subject": {"id": subject},
            "use": "accessibility-service",
            "state": "given",
            "source": "phone-booking",
        },
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["error"] == "consent_refused"
    assert "phone-booking" in body["detail"] and "accessibility-service" in body["detail"]
    assert body["source"] == "phone-booking" and body["use"] == "accessibility-service"


def test_a_use_on_another_basis_takes_no_consent(api: TestClient) -> None:
    """service-history rests on contract: consent events for it are refused with the basis."""
    subject = new_customer(api)
    answer = api.post(
        "/v1/consents",
        headers=staff_headers(api),
        json={
            "subject": {"id": subject},
            "use": "service-history",
            "state": "given",
            "source": "booking-form",
        },
    )
    assert answer.status_code == 422
    assert "contract" in answer.json()["detail"]


def test_gpc_header_refuses_direct_marketing_and_says_so(api: TestClient) -> None:
    """Sec-GPC: 1 on a refusal of accessibility-service also refuses seasonal-reminders."""
    subject = new_customer(api)
    given = api.post(
        "/v1/consents", headers=staff_headers(api), json={**GIVE, "subject": {"id": subject}}
    )
    answer = api.post(
        "/v1/consents",
        headers={"Sec-GPC": "1"},
        json={
            "subject": {"id": subject},
            "use": "accessibility-service",
            "state": "refused",
            "source": "booking-form",
            "receipt": given.json()["receipt"],
        },
    )
    assert answer.status_code == 201, answer.text
    gpc = answer.json()["gpc"]
    assert gpc["signal"] is True and gpc["refused"] == ["seasonal-reminders"]
    assert gpc["events"][0]["method"] == "gpc_signal"
    assert verify_receipt(gpc["events"][0]["receipt"], keyring=_keyring(api)).valid
    view = api.get(f"/v1/subjects/{subject}/consents", headers=staff_headers(api)).json()
    current = {c["use"]: c["state"] for c in view["current"]}
    assert current == {"seasonal-reminders": "refused", "accessibility-service": "refused"}


def test_gpc_header_with_consent_to_direct_marketing_is_ambiguous(api: TestClient) -> None:
    """Giving consent to marketing while the browser says no to it is refused (Art. 4(11))."""
    subject = new_customer(api)
    answer = api.post(
        "/v1/consents",
        headers={**staff_headers(api), "Sec-GPC": "1"},
        json={**GIVE, "subject": {"id": subject}},
    )
    assert answer.status_code == 422
    assert "Sec-GPC" in answer.json()["detail"]
    view = api.get(f"/v1/subjects/{subject}/consents", headers=staff_headers(api)).json()
    assert view["history"] == []


def test_reading_consents_needs_staff_and_an_existing_subject(api: TestClient) -> None:
    """GET …/consents is 401 without a token and 404 for an unknown subject."""
    subject = new_customer(api)
    assert api.get(f"/v1/subjects/{subject}/consents").status_code == 401
    unknown = api.get("/v1/subjects/" + "0" * 32 + "/consents", headers=staff_headers(api))
    assert unknown.status_code == 404


def test_an_unknown_subject_cannot_be_given_consent(api: TestClient) -> None:
    """A subject id the system of record does not hold is 404."""
    answer = api.post(
        "/v1/consents", headers=staff_headers(api), json={**GIVE, "subject": {"id": "f" * 32}}
    )
    assert answer.status_code == 404


def test_the_service_database_refuses_to_rewrite_the_ledger(api: TestClient) -> None:
    """Tables made by the migration get the append-only trigger before the first write."""
    subject = new_customer(api)
    api.post("/v1/consents", headers=staff_headers(api), json={**GIVE, "subject": {"id": subject}})
    app: Any = api.app
    engine = app.state.engine
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM consent_event"))
    view = api.get(f"/v1/subjects/{subject}/consents", headers=staff_headers(api)).json()
    assert len(view["history"]) == 1
