"""Shared fixtures of the consent tests: a ledger per backend, signing keys, strategies, an app."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from consent.receipts import ReceiptSigner
from consent.service import record_consent
from consent.tables import create_tables
from dsar.auth import issue_token
from kernel.crypto import Pseudonymiser
from kernel.db import transaction
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.store import FieldCrypto
from schemas import Strategy, load_strategy
from schemas.models import Strategy as StrategyModel
from tests.support import backend_database
from tietotie.app import create_app
from tietotie.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "strategy"
MINIMAL = ROOT / "tests" / "schemas" / "minimal"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def say(session: Session, signer: ReceiptSigner, subject: str, state: str, at: datetime) -> None:
    """Record ``subject``'s statement about the minimal strategy's ``reminders`` at ``at``."""
    record_consent(
        session,
        minimal(),
        signer=signer,
        subject_id=subject,
        use="reminders",
        state=state,
        source="booking-form",
        at=at,
    )


@cache
def minimal() -> Strategy:
    """The minimal strategy: consent use `reminders`, captured by `booking-form` only."""
    strategy = load_strategy(MINIMAL).strategy
    assert strategy is not None
    return strategy


@cache
def bundled() -> Strategy:
    """The bundled car-service strategy."""
    strategy = load_strategy(BUNDLED).strategy
    assert strategy is not None
    return strategy


@cache
def with_profiling() -> Strategy:
    """The minimal strategy plus a consent-based profiling use and a legitimate-interests
    direct-marketing use, both of the kinds a GPC signal concerns."""
    data: dict[str, Any] = minimal().model_dump(mode="json", by_alias=True, exclude_none=True)
    data["uses"] += [
        {
            "id": "tyre-profile",
            "description": "Profile of driving.",
            "serves": ["keep-customers"],
            "kind": "profiling",
            "legal_basis": "consent",
            "consent_valid_for": "P1Y",
            "data_subjects": ["customer"],
            "fields": ["vehicle.tyre_type"],
            "retention": "P1Y",
        },
        {
            "id": "postal-offers",
            "description": "Offers by post.",
            "serves": ["keep-customers"],
            "kind": "direct_marketing",
            "legal_basis": "legitimate_interests",
            "legitimate_interest_assessment": "Balanced.",
            "data_subjects": ["customer"],
            "fields": ["customer.name"],
            "retention": "P1Y",
        },
    ]
    for source in data["sources"]:
        if source["id"] == "booking-form":
            source["consent_for"] = ["reminders", "tyre-profile"]
    return StrategyModel.model_validate(data)


@pytest.fixture(params=BACKENDS)
def backend_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database: a SQLite file, or a schema of its own on the PostgreSQL server."""
    pg_url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with backend_database(request.param, tmp_path, pg_url, prefix="tt_consent") as engine:
        yield engine


@pytest.fixture
def ledger(backend_engine: Engine) -> Engine:
    """The consent ledger's table with its append-only guard, on each backend."""
    create_tables(backend_engine)
    return backend_engine


@pytest.fixture
def keyring() -> Keyring:
    """An in-memory keyring: the controller's keys for one test."""
    return Keyring.ephemeral()


@pytest.fixture
def signer(keyring: Keyring) -> ReceiptSigner:
    """The controller's receipt signer over the test keyring."""
    return ReceiptSigner(keyring)


@pytest.fixture
def api(backend_engine: Engine, tmp_path: Path, keyring: Keyring) -> Iterator[TestClient]:
    """The whole service on the bundled strategy, on each backend."""
    keystore = SubjectKeyStore(tmp_path / "keystore.db", keyring=keyring)
    crypto = FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
    settings = Settings(
        strategy=BUNDLED,
        database_url="sqlite://",
        var_dir=tmp_path,
        key_file=tmp_path / "master.key",
        environment="test",
    )
    app = create_app(settings, crypto=crypto, engine=backend_engine)
    with TestClient(app) as client:
        yield client
    keystore.close()


def staff_headers(client: TestClient, role: str = "service-advisor") -> dict[str, str]:
    """A bearer token header for ``role``."""
    app: Any = client.app
    with transaction(app.state.sessions) as session:
        token = issue_token(session, app.state.strategy, role=role)
    return {"Authorization": f"Bearer {token}"}


def new_customer(client: TestClient, email: str = "anna@example.fi") -> str:
    """Store a customer through the records API; its subject id."""
    answer = client.post(
        "/v1/records/customer",
        headers=staff_headers(client, "owner"),
        json={
            "source": "booking-form",
            "values": {
                "name": "Anna Virtanen",
                "email": email,
                "phone": "0401234567",
                "branch": "espoo",
            },
        },
    )
    assert answer.status_code == 201, answer.text
    subject_id: str = answer.json()["subject_id"]
    return subject_id
