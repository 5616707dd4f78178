"""Steps shared by the feature files, grouped by area and then Given / When / Then."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, then, when

from access_policy import DecisionEvent, Policy, compile_policy, view_record
from access_policy.steps import define_access_steps
from kernel.db import transaction
from kernel.errors import PolicyError
from records.store import ingest
from schemas import Strategy, load_strategy

# The privacy center's server and browser, shared with tests/web (one app per binding module).
from tests.web.conftest import base_url, browser, web_app  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]

# ══ data-subject requests ═══════════════════════════════════════════════════════════════════
# One customer the request features share; each binding module provides its own ``client``
# (the app its scenarios need), which this step uses.


def hold_customer(
    client: TestClient, email: str, *, visit: bool = False, phone: str = "0401234567"
) -> str:
    """Store a customer ``email`` with a summer-tyred car (and a visit); the subject id.

    Customers sharing one database need a ``phone`` each: the strategy matches on it.
    """
    state = client.app.state  # type: ignore[attr-defined]
    with transaction(state.sessions) as session:
        sid = ingest(
            session,
            state.store,
            "customer",
            source="service-desk",
            values={
                "name": "Liisa Virtanen",
                "email": email,
                "phone": phone,
                "branch": "espoo",
                "street_address": "Kivitie 3",
                "postal_code": "02100",
                "city": "Espoo",
            },
        ).subject_id
        ingest(
            session,
            state.store,
            "vehicle",
            source="service-desk",
            subject={"id": sid},
            values={"plate": "ABC-123", "tyre_type": "summer"},
        )
        if visit:
            ingest(
                session,
                state.store,
                "visit",
                source="service-desk",
                subject={"id": sid},
                values={
                    "visited_at": "2026-10-01T10:00:00+03:00",
                    "service_type": "tyre_change",
                    "amount_eur": "89",
                    "invoice_number": "INV-1",
                },
            )
    return sid


@given(
    parsers.parse('the car-service company holds the customer "{email}"'),
    target_fixture="subject_id",
)
def dsar_customer(client: TestClient, email: str) -> str:
    return hold_customer(client, email)


@given(
    parsers.parse(
        'the car-service company holds the customer "{email}" with a vehicle and a visit'
    ),
    target_fixture="subject_id",
)
def dsar_customer_with_visit(client: TestClient, email: str) -> str:
    return hold_customer(client, email, visit=True)


# ══ access policy ═══════════════════════════════════════════════════════════════════════════
# The auditors' vocabulary of DESIGN §6 (Given the role / When it reads|writes / Then access
# is …) comes from access_policy.steps, so these features and `tietotie policy check` speak
# the same language. The steps below add reading whole records through the policy.

define_access_steps()

ACCESS_SAMPLES: dict[str, dict[str, Any]] = {
    "customer": {
        "id": "c-0001",
        "name": "Kari Virtanen",
        "email": "kari.virtanen@example.fi",
        "phone": "+358 40 123 4567",
        "street_address": "Koskelontie 21",
        "postal_code": "02920",
        "branch": "espoo",
        "accessibility_need": "pyörätuoli",
    },
    "visit": {
        "id": "v-0001",
        "visited_at": "2026-03-14T09:30:00+00:00",
        "amount_eur": "237.50",
        "invoice_number": "INV-2026-0042",
        "payment_method": "card",
        "work_notes": "Talvirenkaat vaihdettu",
    },
}


@pytest.fixture(scope="session")
def access_strategy() -> Strategy:
    """The bundled example strategy, which the access features speak about."""
    result = load_strategy(ROOT / "strategy")
    assert result.strategy is not None, [str(f) for f in result.findings]
    return result.strategy


@pytest.fixture(scope="session")
def access_policy(access_strategy: Strategy) -> Policy:
    """The bundled strategy's compiled access policy."""
    return compile_policy(access_strategy)


@pytest.fixture
def access_audit() -> list[DecisionEvent]:
    """The audit log's inbox: every deny or mask decision a read produced."""
    return []


# ── When ─────────────────────────────────────────────────────────────────────────────────────


@when(
    parsers.parse('it views the sample {entity} record for "{use}"'), target_fixture="access_view"
)
def access_view_sample(
    access_policy: Policy,
    access_strategy: Strategy,
    access_role: str,
    entity: str,
    use: str,
    access_audit: list[DecisionEvent],
) -> Any:
    try:
        return view_record(
            access_policy,
            ACCESS_SAMPLES[entity],
            role=access_role,
            use=use,
            entity=entity,
            specs=access_strategy.index.fields,
            sink=access_audit.append,
            subject_id="c-0001",
        )
    except PolicyError as exc:
        return exc


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


def _seen(view: Any) -> dict[str, Any]:
    assert isinstance(view, dict), f"the read was refused: {view}"
    return view


@then(parsers.parse('"{name}" is shown in clear'))
def access_shown_clear(access_view: Any, name: str) -> None:
    seen = _seen(access_view)
    assert name in seen, f"{name} is not shown at all"
    assert not isinstance(seen[name], dict), f"{name} is shown masked: {seen[name]}"


@then(parsers.parse('"{name}" is shown masked as "{value}"'))
def access_shown_masked(access_view: Any, name: str, value: str) -> None:
    seen = _seen(access_view)
    assert seen.get(name) == {"masked": True, "value": value}, seen.get(name)


@then(parsers.parse('"{name}" is not shown'))
def access_not_shown(access_view: Any, name: str) -> None:
    assert name not in _seen(access_view)


@then(parsers.parse('the read is refused naming the purpose "{use}"'))
def access_refused(access_view: Any, use: str) -> None:
    assert isinstance(access_view, PolicyError), f"the read was not refused: {access_view}"
    assert use in str(access_view)


@then(parsers.parse('the audit log holds a "{decision}" event for "{field}"'))
def access_audited(access_audit: list[DecisionEvent], decision: str, field: str) -> None:
    said = [(str(e.decision), e.field) for e in access_audit]
    assert (decision, field) in said, said


@then("no audit event holds a value of the record")
def access_audit_without_values(access_audit: list[DecisionEvent]) -> None:
    assert access_audit, "no event was audited"
    text = json.dumps([e.model_dump(mode="json") for e in access_audit], ensure_ascii=False)
    for record in ACCESS_SAMPLES.values():
        for name, value in record.items():
            if name != "id":
                assert str(value) not in text, f"the audit log holds the value of {name}"
