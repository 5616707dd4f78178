"""The breach register over real HTTP: staff with the audit duty record, update, notify and
read breaches; nobody else may; bad input is a 4xx naming what to fix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from audit import AuditEntry
from dsar.auth import issue_token
from dsar.web.authorities import EDPB_MEMBERS
from kernel.db import transaction
from records.store import ingest
from schemas import load_strategy
from tests.support import BUNDLED, make_app
from tests.web.conftest import serve

AUDITOR = "Mikko Lehtinen"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    """The real app with two customers, one of whom told us an accessibility need."""
    app = make_app(tmp_path_factory.mktemp("breaches"))
    with transaction(app.state.sessions) as session:
        for n, need in ((1, "pyörätuoli"), (2, None)):
            values = {
                "name": f"Asiakas {n}",
                "email": f"asiakas{n}@example.fi",
                "phone": f"040100000{n}",
                "branch": "espoo",
            }
            if need:
                values["accessibility_need"] = need
            ingest(session, app.state.store, "customer", source="booking-form", values=values)
    return app


@pytest.fixture(scope="module")
def api(app: FastAPI) -> Iterator[httpx.Client]:
    """An HTTP client of the app served by uvicorn on a loopback port."""
    for base in serve(app):
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client


def _bearer(app: FastAPI, role: str, name: str) -> dict[str, str]:
    with transaction(app.state.sessions) as session:
        token = issue_token(session, app.state.strategy, role=role, name=name)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def auditor(app: FastAPI) -> dict[str, str]:
    return _bearer(app, "auditor", AUDITOR)


def _create(api: httpx.Client, headers: dict[str, str], **body) -> httpx.Response:
    body.setdefault("what", "The booking form's server was reached from outside.")
    body.setdefault("kind", "confidentiality")
    body.setdefault("scope", ["source:booking-form"])
    return api.post("/v1/breaches", json=body, headers=headers)


def test_only_staff_with_the_audit_duty_reach_the_register(api, app) -> None:
    """No token: 401; a service advisor (duty requests only): 403; for every route."""
    advisor = _bearer(app, "service-advisor", "Sanna Salo")
    for method, path in (
        ("GET", "/v1/breaches"),
        ("POST", "/v1/breaches"),
        ("GET", "/v1/breaches/1"),
        ("POST", "/v1/breaches/1/updates"),
        ("POST", "/v1/breaches/1/notifications"),
    ):
        assert api.request(method, path, json={}).status_code == 401, path
        refused = api.request(method, path, json={}, headers=advisor)
        assert refused.status_code == 403, path
        assert refused.json()["error"] == "forbidden"


def test_a_breach_is_recorded_with_what_it_touched_and_its_drafts(api, auditor) -> None:
    """The web form leaked health data in clear: high risk, 72 hours, both drafts in Finnish."""
    answer = _create(api, auditor, discovered_at="2026-03-02T09:15+02:00")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["risk"] == "high" and body["tell_subjects"] is True
    assert body["assessment"]["subjects"] == 2
    assert body["assessment"]["special_categories"] == ["health"]
    assert body["assessment"]["exposed_subjects"] == 2
    assert body["discovered_at"].startswith("2026-03-02T07:15")
    assert body["authority_due_at"].startswith("2026-03-05T07:15")
    assert body["status"] == "authority overdue, subjects to tell"
    assert body["authority"]["name"].startswith("Tietosuojavaltuutetun toimisto")
    assert body["recorded_by"] == f"person:{AUDITOR} (role:auditor)"
    assert "Ilmoitus henkilötietojen tietoturvaloukkauksesta" in body["drafts"]["authority"]
    assert body["drafts"]["subjects"].startswith("Aihe: Tietojasi koskeva tietoturvaloukkaus")
    shown = api.get(f"/v1/breaches/{body['id']}", headers=auditor).json()
    assert shown["assessment"] == body["assessment"]
    listed = api.get("/v1/breaches", headers=auditor).json()
    assert body["id"] in [b["id"] for b in listed] and "drafts" not in listed[0]


def test_updates_and_notifications_are_kept_and_audited_by_name(api, app, auditor) -> None:
    """Late: the first notification needs its reasons (422 naming delay_reason); then a phase
    with measures; each step is an audit entry naming the person."""
    breach = _create(
        api,
        auditor,
        scope=["field:customer.email"],
        kind="availability",
        discovered_at="2026-01-05T08:00Z",
    ).json()
    path = f"/v1/breaches/{breach['id']}"
    late = api.post(f"{path}/notifications", json={"to": "authority"}, headers=auditor)
    assert late.status_code == 422
    assert (
        late.json()["field"] == "delay_reason" and "reasons for the delay" in late.json()["detail"]
    )
    told = api.post(
        f"{path}/notifications",
        json={"to": "authority", "delay_reason": "The hosting firm told us on 9 January."},
        headers=auditor,
    )
    assert told.status_code == 201 and told.json()["authority_notified_at"] is not None
    update = api.post(
        f"{path}/updates",
        json={"note": "Restored from backup.", "measures": "Restore tested.", "risk": "unlikely"},
        headers=auditor,
    )
    assert update.status_code == 201
    after = update.json()
    assert after["risk"] == "unlikely" and after["assessment"]["risk"] == "risk"
    assert [e["action"] for e in after["events"]] == ["opened", "notified", "update"]
    assert after["status"] == "notified"
    with app.state.sessions() as session:
        entries = [
            e
            for e in app.state.audit.entries(session, limit=1000)
            if e.action.startswith("breach.") and f'"breach":{breach["id"]}' in e.details
        ]
    assert [e.action for e in entries] == ["breach.opened", "breach.notified", "breach.updated"]
    assert {e.actor for e in entries} == {f"person:{AUDITOR} (role:auditor)"}
    assert all(isinstance(e, AuditEntry) for e in entries)


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"scope": ["processor:postman"]}, 422, "declares no processor 'postman'"),
        ({"scope": []}, 422, "scope"),
        ({"kind": "leak"}, 422, "kind"),
        ({"discovered_at": "2026-03-02T09:15"}, 422, "no time zone"),
        ({"since": "2026-03-10", "until": "2026-03-01"}, 422, "before it starts"),
        ({"discovered_at": "2999-01-01T00:00Z"}, 422, "in the future"),
        ({"until": "9999-12-31"}, 422, "out of range"),
        ({"surprise": 1}, 422, "surprise"),
        ({"what": ""}, 422, "what"),
    ],
)
def test_bad_input_is_refused_naming_the_field(api, auditor, body, status, says) -> None:
    """Each refusal is a 4xx whose detail says what is wrong."""
    answer = _create(api, auditor, **body)
    assert answer.status_code == status, answer.text
    assert says in answer.json()["detail"]


def test_an_unknown_or_impossible_breach_id_is_a_4xx(api, auditor) -> None:
    """404 for a number not in the register; 422 for one no column holds."""
    missing = api.get("/v1/breaches/999999", headers=auditor)
    assert missing.status_code == 404 and "no breach 999999" in missing.json()["detail"]
    assert api.get("/v1/breaches/99999999999", headers=auditor).status_code == 422
    assert api.get("/v1/breaches/abc", headers=auditor).status_code == 422
    update = api.post("/v1/breaches/999999/updates", json={"note": "x"}, headers=auditor)
    assert update.status_code == 404


def test_a_jurisdiction_without_an_authority_entry_points_to_the_edpb_list() -> None:
    """Outside the table, the notification names the authority and the EDPB's list."""
    from dsar.api.breaches import controller_authority

    loaded = load_strategy(BUNDLED).strategy
    assert loaded is not None
    elsewhere = loaded.model_copy(
        update={"controller": loaded.controller.model_copy(update={"jurisdiction": "pt"})}
    )
    found = controller_authority(elsewhere)
    assert found.name == "the supervisory authority of PT" and found.url == EDPB_MEMBERS


def test_the_app_serves_the_register_routes_in_its_api_description(tmp_path: Path) -> None:
    """The routes are in the OpenAPI document, so the API reference lists them."""
    paths = make_app(tmp_path).openapi()["paths"]
    assert {"/v1/breaches", "/v1/breaches/{breach_id}", "/v1/breaches/{breach_id}/updates"} <= set(
        paths
    )
    assert "/v1/breaches/{breach_id}/notifications" in paths
