"""Bindings of erasure.feature: an erasure across the system of record and a webshop, over HTTP."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, scenarios, then, when

from tests.dsar.erasure_support import (
    ORDERS,
    WEBSHOP_ENV,
    create_orders,
    orders_of,
    webshop_strategy,
)
from tests.support import make_app, staff_header

scenarios("erasure.feature")


@pytest.fixture
def shop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The webshop's database URL, set in the environment the app reads it from."""
    url = f"sqlite:///{tmp_path / 'shop' / 'shop.db'}"
    monkeypatch.setenv(WEBSHOP_ENV, url)
    return url


@pytest.fixture
def client(tmp_path: Path, shop: str) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path, strategy=webshop_strategy(tmp_path))) as test_client:
        yield test_client


def _state(client: TestClient) -> Any:
    return client.app.state  # type: ignore[attr-defined]


# ── Given ────────────────────────────────────────────────────────────────────────────────────


@given(parsers.parse('the webshop holds 2 orders of "{first}" and 1 of "{second}"'))
def webshop_orders(shop: str, first: str, second: str) -> None:
    create_orders(shop)
    assert sorted(orders_of(shop)) == sorted([first, first, second])


@given("the webshop cannot be reached", target_fixture="hidden")
def unreachable(tmp_path: Path) -> Path:
    hidden = tmp_path / "shop-away"
    shutil.move(tmp_path / "shop", hidden)
    return hidden


# ── When ─────────────────────────────────────────────────────────────────────────────────────


@when(
    parsers.parse('"{email}" asks for erasure and staff verify them in person'),
    target_fixture="request_id",
)
def asks_for_erasure(client: TestClient, email: str) -> str:
    opened = client.post("/v1/dsar", json={"type": "erasure", "identity": {"email": email}})
    assert opened.status_code == 202, opened.text
    rid = str(opened.json()["id"])
    verified = client.post(
        f"/v1/dsar/{rid}/verify",
        json={"method": "in_person", "note": "saw a passport"},
        headers=staff_header(client.app, "owner"),
    )
    assert verified.status_code == 200, verified.text
    return rid


@when("privacy staff fulfil the erasure", target_fixture="answer")
def fulfil(client: TestClient, request_id: str) -> dict[str, Any]:
    response = client.post(
        f"/v1/dsar/{request_id}/complete", headers=staff_header(client.app, "owner")
    )
    assert response.status_code in {200, 202}, response.text
    return dict(response.json())


@when("the webshop can be reached again")
def reachable(tmp_path: Path, hidden: Path) -> None:
    # SQLite made an empty database where the webshop was looked for; the real one returns.
    shutil.rmtree(tmp_path / "shop", ignore_errors=True)
    shutil.move(hidden, tmp_path / "shop")


@when("privacy staff retry the erasure", target_fixture="answer")
def retry(client: TestClient, request_id: str) -> dict[str, Any]:
    response = client.post(
        f"/v1/dsar/{request_id}/retry", headers=staff_header(client.app, "owner")
    )
    assert response.status_code in {200, 202}, response.text
    return dict(response.json())


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


@then(parsers.parse('the request is "{status}"'))
def request_is(client: TestClient, request_id: str, answer: dict[str, Any], status: str) -> None:
    assert answer["status"] == status
    shown = client.get(f"/v1/dsar/{request_id}", headers=staff_header(client.app, "owner"))
    assert shown.json()["status"] == status


@then(parsers.parse('the result says the "{system}" was not reached'))
def not_reached(answer: dict[str, Any], system: str) -> None:
    entry = next(e for e in answer["result"]["external"] if e["system"] == system)
    assert entry["reached"] is False and entry["problem"]
    assert f"external:{system}" in answer["result"]["pending"]


@then(parsers.parse('the result says the "{first}" and the "{second}" are done'))
def systems_done(answer: dict[str, Any], first: str, second: str) -> None:
    states = {s["system"]: s for s in answer["result"]["steps"]}
    for system in (first, second):
        assert states[system]["state"] == "done" and states[system]["at"]


@then(parsers.parse('the result says the "{system}" erased {count:d} rows'))
def erased_rows(answer: dict[str, Any], system: str, count: int) -> None:
    entry = next(e for e in answer["result"]["external"] if e["system"] == system)
    assert entry["reached"] is True and entry["counts"] == {ORDERS: count} and entry["at"]


@then(parsers.parse('the webshop holds orders only of "{email}"'))
def only_orders_of(shop: str, email: str) -> None:
    assert orders_of(shop) == [email]


@then("the audit log holds the plan and every step of the erasure")
def audited(client: TestClient, request_id: str, answer: dict[str, Any]) -> None:
    state = _state(client)
    with state.sessions() as session:
        entries = state.audit.entries(session, request_id=request_id, limit=1000)
    steps = {json.loads(e.details)["step"] for e in entries if e.action == "dsar.erasure_step"}
    assert "dsar.erasure_planned" in {e.action for e in entries}
    assert steps == {s["step"] for s in answer["result"]["steps"]}
