"""What staff roles may do at the edges (DESIGN §11): pseudonymise, record consent, name subjects.

Each test drives the real app over HTTP, on SQLite and on PostgreSQL where lookups, row
filters and the audit log run in the database.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from audit import actor_role
from kernel.crypto import Pseudonymiser
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.store import FieldCrypto
from tests.support import BUNDLED, backend_database, make_app, staff_header
from tietotie.app import create_app
from tietotie.settings import Settings

BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
STRANGER_EMAIL = "nobody@example.fi"
STRANGER_PHONE = "0509998877"
STRANGER_ID = "0" * 32
GIVE = {
    "use": "seasonal-reminders",
    "state": "given",
    "source": "booking-form",
    "evidence": {"form": "booking-v3"},
}


@pytest.fixture(params=BACKENDS)
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    """The service on the bundled strategy: make_app on SQLite, the same app on a schema of its
    own on the PostgreSQL server."""
    if request.param == "sqlite":
        with TestClient(make_app(tmp_path)) as test_client:
            yield test_client
        return
    pg_url = request.getfixturevalue("pg_url")
    with backend_database("postgres", tmp_path, pg_url, prefix="tt_edges") as engine:
        keyring = Keyring.ephemeral()
        keystore = SubjectKeyStore(tmp_path / "keystore.db", keyring=keyring)
        settings = Settings(
            strategy=BUNDLED,
            var_dir=tmp_path,
            environment="test",
            database_url="sqlite://",  # unused: the engine below is the database
            key_file=tmp_path / "master.key",
        )
        crypto = FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
        with TestClient(create_app(settings, crypto=crypto, engine=engine)) as test_client:
            yield test_client
        keystore.close()


def _staff(client: TestClient, role: str) -> dict[str, str]:
    return staff_header(client.app, role)


def _customer(client: TestClient, *, email: str, phone: str, branch: str) -> str:
    """A customer stored by the service desk, with a summer-tyred car seen last month."""
    desk = _staff(client, "service-advisor")
    answer = client.post(
        "/v1/records/customer",
        headers=desk,
        json={
            "source": "booking-form",
            "values": {"name": "Anna Virtanen", "email": email, "phone": phone, "branch": branch},
        },
    )
    assert answer.status_code == 201, answer.text
    subject: str = answer.json()["subject_id"]
    vehicle = client.post(
        "/v1/records/vehicle",
        headers=desk,
        json={
            "source": "booking-form",
            "subject": {"id": subject},
            "values": {"plate": "ABC-123", "tyre_type": "summer"},
        },
    )
    assert vehicle.status_code == 201, vehicle.text
    visit = client.post(
        "/v1/records/visit",
        headers=desk,
        json={
            "source": "booking-form",
            "subject": {"id": subject},
            "values": {
                "visited_at": (datetime.now(UTC) - timedelta(days=30)).isoformat(),
                "service_type": "tyre_change",
            },
        },
    )
    assert visit.status_code == 201, visit.text
    return subject


@pytest.fixture
def espoo(client: TestClient) -> str:
    """A customer of the Espoo branch."""
    return _customer(client, email="anna@example.fi", phone="0401234567", branch="espoo")


@pytest.fixture
def vantaa(client: TestClient) -> str:
    """A customer of the Vantaa branch, outside the Espoo mechanic's row filter."""
    return _customer(client, email="ville@example.fi", phone="0407654321", branch="vantaa")


def _audit(client: TestClient, action: str) -> list[dict[str, Any]]:
    log = client.get("/v1/audit", headers=_staff(client, "auditor")).json()
    return [e for e in log if e["action"] == action]


def _history(client: TestClient, subject: str) -> list[dict[str, Any]]:
    answer = client.get(f"/v1/subjects/{subject}/consents", headers=_staff(client, "owner"))
    assert answer.status_code == 200, answer.text
    events: list[dict[str, Any]] = answer.json()["history"]
    return events


# ── finding 5: pseudonymised outputs stay pseudonymous ──────────────────────────────────────


def test_marketing_cannot_compute_the_tokens_of_the_report_it_receives(
    client: TestClient, espoo: str
) -> None:
    """Marketing reads churn-report, pseudonymised in 'reporting': its tokens are refused (403)
    and the attempt is audited with the count, never the values."""
    marketing = _staff(client, "marketing")
    report = client.get("/v1/reports/churn-report", headers=marketing)
    assert report.status_code == 200, report.text
    answer = client.post(
        "/v1/pseudonymise", headers=marketing, json={"domain": "reporting", "values": [espoo]}
    )
    assert answer.status_code == 403
    assert answer.json()["error"] == "forbidden" and "pseudonymise" in answer.json()["detail"]
    (refused,) = _audit(client, "pseudonymise.refused")
    assert actor_role(refused["actor"]) == "marketing"
    assert refused["details"] == {
        "domain": "reporting",
        "mode": "hmac",
        "count": 1,
        "reason": "no_duty",
    }
    assert espoo not in str(refused) and _audit(client, "pseudonymise") == []


def test_the_owner_pseudonymises_only_into_the_domains_its_duty_names(client: TestClient) -> None:
    """mailer-suppression answers tokens; reporting, which the owner receives, is refused; both
    calls are audited by count."""
    owner = _staff(client, "owner")
    values = ["anna@example.fi", "ville@example.fi"]
    tokens = client.post(
        "/v1/pseudonymise", headers=owner, json={"domain": "mailer-suppression", "values": values}
    )
    assert tokens.status_code == 200, tokens.text
    assert len(set(tokens.json()["tokens"])) == 2
    refused = client.post(
        "/v1/pseudonymise", headers=owner, json={"domain": "reporting", "values": values}
    )
    assert refused.status_code == 403
    assert refused.json()["domain"] == "reporting"
    assert "mailer-suppression" in refused.json()["detail"]
    (done,) = _audit(client, "pseudonymise")
    assert done["details"] == {"domain": "mailer-suppression", "mode": "hmac", "count": 2}
    (attempt,) = _audit(client, "pseudonymise.refused")
    assert attempt["details"]["reason"] == "domain_not_named"
    assert "anna@example.fi" not in str(done) + str(attempt)


# ── finding 6: who may record consent ───────────────────────────────────────────────────────


@pytest.mark.parametrize("role", ["mechanic", "auditor", "marketing"])
@pytest.mark.parametrize("use", ["seasonal-reminders", "accessibility-service"])
def test_roles_that_collect_for_no_consent_source_cannot_record_consent(
    client: TestClient, espoo: str, role: str, use: str
) -> None:
    """Staff of a role that does not collect for booking-form, without the consents duty, are
    refused (403) for a plain and an Art. 9 use alike, and nothing is recorded."""
    answer = client.post(
        "/v1/consents",
        headers=_staff(client, role),
        json={**GIVE, "use": use, "subject": {"id": espoo}},
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == "forbidden" and "booking-form" in answer.json()["detail"]
    assert _history(client, espoo) == []


def test_marketing_cannot_put_a_customer_into_a_campaign_audience(
    client: TestClient, espoo: str
) -> None:
    """A consent marketing tries to record leaves the November audience empty; the one the
    service desk records through its own source brings the customer in."""
    marketing = _staff(client, "marketing")

    def final() -> int:
        answer = client.get("/v1/activations/november-tyre-campaign/audience", headers=marketing)
        assert answer.status_code == 200, answer.text
        count: int = answer.json()["final"]
        return count

    assert final() == 0
    tried = client.post("/v1/consents", headers=marketing, json={**GIVE, "subject": {"id": espoo}})
    assert tried.status_code == 403
    assert final() == 0
    desk = client.post(
        "/v1/consents",
        headers=_staff(client, "service-advisor"),
        json={**GIVE, "subject": {"id": espoo}},
    )
    assert desk.status_code == 201, desk.text
    assert final() == 1


def test_the_service_desk_and_the_owner_keep_recording_consent(
    client: TestClient, espoo: str
) -> None:
    """The advisor records through its own source, the owner through its consents duty."""
    for role in ("service-advisor", "owner"):
        answer = client.post(
            "/v1/consents",
            headers=_staff(client, role),
            json={**GIVE, "source": "service-desk", "subject": {"email": "anna@example.fi"}},
        )
        assert answer.status_code == 201, answer.text
    assert [e["recorded_by"] for e in _history(client, espoo)] == ["service-advisor", "owner"]


def test_consent_outside_the_row_filter_is_not_found_like_a_stranger(
    client: TestClient, espoo: str, vantaa: str
) -> None:
    """The Espoo mechanic records a refusal through its own source for an Espoo customer; for a
    Vantaa customer the answer is the same 404 as for an id nobody has."""
    mechanic = _staff(client, "mechanic")
    refusal = {**GIVE, "state": "refused", "source": "workshop-inspection"}
    own = client.post("/v1/consents", headers=mechanic, json={**refusal, "subject": {"id": espoo}})
    assert own.status_code == 201, own.text
    other = client.post(
        "/v1/consents", headers=mechanic, json={**refusal, "subject": {"id": vantaa}}
    )
    unknown = client.post(
        "/v1/consents", headers=mechanic, json={**refusal, "subject": {"id": STRANGER_ID}}
    )
    assert other.status_code == unknown.status_code == 404
    assert other.json() == unknown.json()
    assert _history(client, vantaa) == []


def test_consent_history_is_read_within_the_row_filter(
    client: TestClient, espoo: str, vantaa: str
) -> None:
    """The Espoo mechanic reads an Espoo customer's consents; a Vantaa customer's history is
    the same 404 as an unknown subject's, with the id as the only difference."""
    mechanic = _staff(client, "mechanic")
    assert client.get(f"/v1/subjects/{espoo}/consents", headers=mechanic).status_code == 200
    other = client.get(f"/v1/subjects/{vantaa}/consents", headers=mechanic)
    unknown = client.get(f"/v1/subjects/{STRANGER_ID}/consents", headers=mechanic)
    assert other.status_code == unknown.status_code == 404
    assert other.json()["detail"].replace(vantaa, "ID") == unknown.json()["detail"].replace(
        STRANGER_ID, "ID"
    )
    assert other.json().keys() == unknown.json().keys()


def test_the_subject_withdraws_only_with_a_receipt_of_their_own(
    client: TestClient, espoo: str, vantaa: str
) -> None:
    """Without a token, a withdrawal naming the subject id needs that subject's receipt: none
    or another customer's is 401; their own is recorded as the subject's."""
    desk = _staff(client, "service-advisor")
    receipts = {
        s: client.post("/v1/consents", headers=desk, json={**GIVE, "subject": {"id": s}}).json()[
            "receipt"
        ]
        for s in (espoo, vantaa)
    }
    withdraw = {**GIVE, "state": "withdrawn", "subject": {"id": espoo}}
    bare = client.post("/v1/consents", json=withdraw)
    borrowed = client.post("/v1/consents", json={**withdraw, "receipt": receipts[vantaa]})
    assert bare.status_code == borrowed.status_code == 401
    assert "receipt" in bare.json()["detail"] and "another subject" in borrowed.json()["detail"]
    own = client.post("/v1/consents", json={**withdraw, "receipt": receipts[espoo]})
    assert own.status_code == 201, own.text
    assert own.json()["method"] == "subject"
    assert [e["state"] for e in _history(client, espoo)] == ["given", "withdrawn"]


def test_anonymous_consent_calls_are_rate_limited_per_client_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 2/minute, the third call without a token from one address is 429 with Retry-After,
    whatever it names, while staff calls are not counted."""
    monkeypatch.setenv("TIETOTIE_RATE_LIMITS__CONSENT_PER_CLIENT", "2/minute")
    with TestClient(make_app(tmp_path)) as client:
        subject = _customer(client, email="anna@example.fi", phone="0401234567", branch="espoo")
        desk = _staff(client, "service-advisor")
        for _ in range(3):
            given = client.post(
                "/v1/consents", headers=desk, json={**GIVE, "subject": {"id": subject}}
            )
            assert given.status_code == 201, given.text
        withdraw = {
            **GIVE,
            "state": "withdrawn",
            "subject": {"id": subject},
            "receipt": given.json()["receipt"],
        }
        answers = [client.post("/v1/consents", json=withdraw) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 429]
    assert answers[2].json()["error"] == "rate_limited"
    assert int(answers[2].headers["Retry-After"]) >= 1


# ── finding 7: no identifier oracle ─────────────────────────────────────────────────────────


def test_a_record_write_naming_an_unreadable_email_says_nothing_about_it(
    client: TestClient, espoo: str
) -> None:
    """The mechanic may not read emails: naming a customer's email and a stranger's is the
    same 403, before anything is looked up."""
    mechanic = _staff(client, "mechanic")

    def write(email: str) -> Any:
        return client.post(
            "/v1/records/visit",
            headers=mechanic,
            json={
                "source": "workshop-inspection",
                "subject": {"email": email},
                "values": {"mileage_km": 120000},
            },
        )

    member, stranger = write("anna@example.fi"), write(STRANGER_EMAIL)
    assert member.status_code == stranger.status_code == 403
    assert member.json() == stranger.json()
    assert member.json()["field"] == "customer.email"


def test_a_record_write_outside_the_row_filter_is_not_found_like_a_stranger(
    client: TestClient, espoo: str, vantaa: str
) -> None:
    """By phone (which the mechanic reads) or by id, a Vantaa customer and nobody at all get
    the same 404 body; only an Espoo customer gets past the lookup."""
    mechanic = _staff(client, "mechanic")

    def write(subject: dict[str, str]) -> Any:
        return client.post(
            "/v1/records/visit",
            headers=mechanic,
            json={
                "source": "workshop-inspection",
                "subject": subject,
                "values": {"mileage_km": 120000},
            },
        )

    answers = [
        write({"phone": "0407654321"}),
        write({"phone": STRANGER_PHONE}),
        write({"id": vantaa}),
        write({"id": STRANGER_ID}),
    ]
    assert {a.status_code for a in answers} == {404}
    assert all(a.json() == answers[0].json() for a in answers)
    own = write({"phone": "0401234567"})
    assert own.status_code != 404  # a visit needs fields the mechanic cannot write: 422
    assert own.status_code == 422, own.text


def test_a_consent_call_naming_an_unreadable_email_says_nothing_about_it(
    client: TestClient, espoo: str
) -> None:
    """The mechanic's refusal naming a customer's email and a stranger's is one 403 body, with
    no subject id in it."""
    mechanic = _staff(client, "mechanic")
    refusal = {**GIVE, "state": "refused", "source": "workshop-inspection"}
    member = client.post(
        "/v1/consents", headers=mechanic, json={**refusal, "subject": {"email": "anna@example.fi"}}
    )
    stranger = client.post(
        "/v1/consents", headers=mechanic, json={**refusal, "subject": {"email": STRANGER_EMAIL}}
    )
    assert member.status_code == stranger.status_code == 403
    assert member.json() == stranger.json() and espoo not in member.text


def test_finding_by_an_identifier_needs_it_in_clear_for_the_purpose(
    client: TestClient, espoo: str, vantaa: str
) -> None:
    """Marketing sees emails masked for customer-feedback, so finding by email for it is one
    403 for member and stranger; the mechanic finding a Vantaa phone gets the stranger's 404."""
    marketing = _staff(client, "marketing")
    answers = [
        client.get(
            "/v1/subjects",
            headers=marketing,
            params={"email": email, "purpose": "customer-feedback"},
        )
        for email in ("anna@example.fi", STRANGER_EMAIL)
    ]
    assert [a.status_code for a in answers] == [403, 403]
    assert answers[0].json() == answers[1].json()
    found = client.get(
        "/v1/subjects",
        headers=marketing,
        params={"email": "anna@example.fi", "purpose": "seasonal-reminders"},
    )
    assert found.json()["subject_id"] == espoo
    mechanic = _staff(client, "mechanic")
    phones = [
        client.get(
            "/v1/subjects", headers=mechanic, params={"phone": p, "purpose": "service-history"}
        )
        for p in ("0407654321", STRANGER_PHONE)
    ]
    assert [p.status_code for p in phones] == [404, 404]
    assert phones[0].json() == phones[1].json()
