"""`GET /v1/policy/matrix` and `POST /v1/policy/decide` over HTTP, for the audit duty only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dsar.auth import issue_token
from kernel.crypto import Pseudonymiser
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.store import FieldCrypto
from tietotie.app import create_app
from tietotie.settings import Environment, Settings

from .conftest import BUNDLED


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The service on the bundled strategy with a SQLite file, and a token per role."""
    keyring = Keyring.ephemeral()
    keystore = SubjectKeyStore(tmp_path / "keystore.db", keyring=keyring)
    settings = Settings(
        strategy=BUNDLED,
        database_url=f"sqlite:///{tmp_path / 't.db'}",
        environment=Environment.TEST,
        var_dir=tmp_path,
    )
    app = create_app(
        settings, crypto=FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
    )
    with app.state.sessions() as session:
        tokens = {
            role: issue_token(session, app.state.strategy, role=role)
            for role in ("auditor", "marketing", "owner")
        }
        session.commit()
    with TestClient(app) as http:
        yield http, tokens
    keystore.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_auditor_gets_the_whole_matrix_as_json(client):
    http, tokens = client
    response = http.get("/v1/policy/matrix", headers=bearer(tokens["auditor"]))
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["default"] == "deny"
    assert {
        "role": "marketing",
        "use": "seasonal-reminders",
        "field": "customer.name",
        "read": "mask",
        "write": "deny",
    } in doc["rows"]
    assert {
        "role": "mechanic",
        "use": "service-history",
        "conditions": [{"field": "customer.branch", "op": "eq", "value": "espoo"}],
    } in doc["row_filters"]


def test_the_matrix_comes_as_csv_or_markdown_when_asked(client):
    http, tokens = client
    csv = http.get("/v1/policy/matrix?format=csv", headers=bearer(tokens["owner"]))
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.startswith("role,use,field,read,write\n")
    md = http.get("/v1/policy/matrix", params={"format": "md"}, headers=bearer(tokens["owner"]))
    assert "### marketing for seasonal-reminders" in md.text


def test_one_decision_comes_with_its_reason_and_row_filters(client):
    http, tokens = client
    response = http.post(
        "/v1/policy/decide",
        headers=bearer(tokens["auditor"]),
        json={
            "role": "mechanic",
            "field": "visit.amount_eur",
            "use": "service-history",
            "action": "read",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "role": "mechanic",
        "field": "visit.amount_eur",
        "use": "service-history",
        "action": "read",
        "decision": "deny",
        "reason": "no grant of mechanic for service-history lists visit.amount_eur under read "
        "or masked",
        "row_filters": [{"field": "customer.branch", "op": "eq", "value": "espoo"}],
    }
    masked = http.post(
        "/v1/policy/decide",
        headers=bearer(tokens["auditor"]),
        json={"role": "marketing", "field": "customer.email", "use": "customer-feedback"},
    )
    assert masked.json()["decision"] == "mask"


def test_an_unknown_name_in_a_question_is_a_422_naming_it(client):
    http, tokens = client
    response = http.post(
        "/v1/policy/decide",
        headers=bearer(tokens["auditor"]),
        json={"role": "marketer", "field": "customer.email", "use": "seasonal-reminders"},
    )
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "unknown_reference"
    assert "unknown role 'marketer'; did you mean 'marketing'?" in body["detail"]


def test_roles_without_the_audit_duty_and_strangers_are_refused(client):
    http, tokens = client
    forbidden = http.get("/v1/policy/matrix", headers=bearer(tokens["marketing"]))
    assert forbidden.status_code == 403
    assert "audit" in forbidden.json()["detail"]
    decide = http.post(
        "/v1/policy/decide",
        headers=bearer(tokens["marketing"]),
        json={"role": "marketing", "field": "customer.email", "use": "seasonal-reminders"},
    )
    assert decide.status_code == 403
    assert http.get("/v1/policy/matrix").status_code == 401
