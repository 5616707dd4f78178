"""The HTTP service: health, storing records, finding and reading subjects through the policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dsar.auth import issue_token
from kernel.crypto import Pseudonymiser
from kernel.db import transaction
from kernel.errors import StrategyError
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.store import FieldCrypto
from tests.records.support import BUNDLED, MINIMAL
from tietotie.app import create_app
from tietotie.settings import Settings


def _settings(tmp_path: Path, strategy: Path = BUNDLED) -> Settings:
    return Settings(
        strategy=strategy,
        database_url=f"sqlite:///{tmp_path / 'api.db'}",
        var_dir=tmp_path,
        key_file=tmp_path / "master.key",
        environment="test",
    )


@pytest.fixture
def crypto(tmp_path: Path) -> Iterator[FieldCrypto]:
    keyring = Keyring.ephemeral()
    keystore = SubjectKeyStore(tmp_path / "keystore.db", keyring=keyring)
    yield FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
    keystore.close()


@pytest.fixture
def client(tmp_path: Path, crypto) -> Iterator[TestClient]:
    app = create_app(_settings(tmp_path), crypto=crypto)
    with TestClient(app) as test_client:
        yield test_client


def _token(client: TestClient, role: str) -> dict[str, str]:
    app = client.app
    with transaction(app.state.sessions) as session:  # type: ignore[attr-defined]
        token = issue_token(session, app.state.strategy, role=role)  # type: ignore[attr-defined]
    return {"Authorization": f"Bearer {token}"}


ANNA: dict[str, Any] = {
    "source": "booking-form",
    "values": {
        "name": "Anna Virtanen",
        "email": "anna@example.fi",
        "phone": "0401234567",
        "branch": "espoo",
    },
}


def test_health_names_the_loaded_strategy(client: TestClient) -> None:
    """GET /health answers with the controller and what the strategy declares."""
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["controller"] == "Renkaat & Huolto Virtanen Oy"
    assert body["counts"]["entities"] == 4


def test_posting_a_record_stores_and_then_merges_it(client: TestClient) -> None:
    """POST /v1/records/customer answers 201; the same person again is merged."""
    owner = _token(client, "owner")
    first = client.post("/v1/records/customer", json=ANNA, headers=owner)
    assert first.status_code == 201
    again = client.post(
        "/v1/records/customer",
        headers=owner,
        json={
            "source": "phone-booking",
            "values": {"name": "Anna", "phone": "+358401234567", "branch": "espoo"},
        },
    )
    assert again.status_code == 201
    assert again.json() == {
        "subject_id": first.json()["subject_id"],
        "record_id": first.json()["subject_id"],
        "merged": True,
    }


def test_errors_are_json_with_a_code_and_detail(client: TestClient) -> None:
    """No token is 401, an undeclared field 422, a malformed body 422: all one JSON shape."""
    assert client.post("/v1/records/customer", json=ANNA).json()["error"] == "unauthorised"
    owner = _token(client, "owner")
    bad = client.post(
        "/v1/records/customer",
        headers=owner,
        json={**ANNA, "values": {**ANNA["values"], "shoe_size": 38}},
    )
    assert bad.status_code == 422 and bad.json()["error"] == "record_refused"
    assert "customer.shoe_size" in bad.json()["detail"]
    malformed = client.post("/v1/records/customer", headers=owner, json={"values": {}})
    assert malformed.status_code == 422 and malformed.json()["error"] == "invalid_request"
    unknown = client.post("/v1/records/spaceship", headers=owner, json=ANNA)
    assert unknown.status_code == 422 and "unknown entity" in unknown.json()["detail"]


def test_a_role_without_write_access_cannot_store(client: TestClient) -> None:
    """marketing has no write grant on customers: 403 naming the fields."""
    response = client.post("/v1/records/customer", json=ANNA, headers=_token(client, "marketing"))
    assert response.status_code == 403 and response.json()["error"] == "access_denied"


def test_reads_are_filtered_by_role_and_purpose(client: TestClient) -> None:
    """The owner reads in clear for service history; marketing sees the name masked."""
    owner = _token(client, "owner")
    subject = client.post("/v1/records/customer", json=ANNA, headers=owner).json()["subject_id"]
    found = client.get(
        "/v1/subjects",
        headers=owner,
        params={"email": "ANNA@example.fi", "purpose": "service-history"},
    )
    assert found.json()["subject_id"] == subject
    full = client.get(
        f"/v1/subjects/{subject}", headers=owner, params={"purpose": "service-history"}
    ).json()
    assert full["records"]["customer"][0]["values"]["name"] == "Anna Virtanen"
    marketing = client.get(
        f"/v1/subjects/{subject}",
        headers=_token(client, "marketing"),
        params={"purpose": "seasonal-reminders"},
    ).json()
    name = marketing["records"]["customer"][0]["values"]["name"]
    assert name["masked"] is True and name["value"] != "Anna Virtanen"
    assert "customer.name" in marketing["masked"]
    refused = client.get(
        f"/v1/subjects/{subject}",
        headers=_token(client, "marketing"),
        params={"purpose": "bookkeeping"},
    )
    assert refused.status_code == 403


def test_the_app_refuses_to_start_on_strategy_errors(tmp_path: Path, crypto) -> None:
    """create_app raises with the errors when the strategy does not validate."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(MINIMAL, broken)
    uses = broken / "2-use.yaml"
    uses.write_text(uses.read_text().replace("retention: P3Y", "retention: forever"))
    with pytest.raises(StrategyError, match="error"):
        create_app(_settings(tmp_path, broken), crypto=crypto)
