"""Refused attempts, consent events and file pseudonymisation all reach the audit log.

Each refusal is committed although the request fails, and no entry holds personal data: the
log names roles, declared ids, counts and pseudonymous subject ids only.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from access_policy import compile_policy
from activation.reporting import build_report
from audit import AuditLog, actor_role
from kernel.db import make_engine
from kernel.errors import AccessDenied
from tests.conftest import ServiceEnv
from tests.support import make_app, staff_header
from tietotie.cli import get_app
from tietotie.keys import open_keyring
from tietotie.settings import get_settings
from tietotie.wiring import AUDIT_KEY_PURPOSE

# What the customer is: none of it may appear in any audit entry.
LIISA = {"name": "Liisa Virtanen", "email": "liisa@example.fi", "phone": "0401234567"}
PERSONAL = (*LIISA.values(), "ABC-123")
WHY = "DSAR 42 asks which plate the suppression list held"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path)) as test_client:
        yield test_client


def staff(client: TestClient, role: str) -> dict[str, str]:
    return staff_header(client.app, role)


@pytest.fixture
def liisa(client: TestClient) -> str:
    """A customer of the Espoo branch."""
    answer = client.post(
        "/v1/records/customer",
        headers=staff(client, "owner"),
        json={"source": "booking-form", "values": {**LIISA, "branch": "espoo"}},
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["subject_id"])


def log(client: TestClient) -> list[dict[str, Any]]:
    answer = client.get("/v1/audit", params={"limit": 1000}, headers=staff(client, "auditor"))
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()
    return entries


def entries(client: TestClient, action: str) -> list[dict[str, Any]]:
    return [e for e in log(client) if e["action"] == action]


def assert_no_personal_data(client: TestClient) -> None:
    text = json.dumps(log(client), ensure_ascii=False)
    assert not [value for value in PERSONAL if value in text]


def encrypt_token(client: TestClient) -> list[str]:
    answer = client.post(
        "/v1/pseudonymise",
        headers=staff(client, "owner"),
        json={"domain": "mailer-suppression", "values": ["ABC-123"], "mode": "encrypt"},
    )
    assert answer.status_code == 200, answer.text
    tokens: list[str] = answer.json()["tokens"]
    return tokens


# ── re-identification: a stated reason, and refusals in the log ──────────────────────────────


def test_reidentifying_stores_the_stated_reason_and_no_token_or_value(client: TestClient):
    """A successful re-identification logs domain, count and the stated reason, nothing reversed."""
    tokens = encrypt_token(client)
    back = client.post(
        "/v1/reidentify",
        headers=staff(client, "owner"),
        json={"domain": "mailer-suppression", "tokens": tokens, "reason": f"  {WHY}\n"},
    )
    assert back.status_code == 200, back.text
    (entry,) = entries(client, "reidentify")
    assert actor_role(entry["actor"]) == "owner"
    assert entry["details"] == {"domain": "mailer-suppression", "count": 1, "stated_reason": WHY}
    assert tokens[0] not in json.dumps(log(client))
    assert_no_personal_data(client)


@pytest.mark.parametrize(
    ("reason", "problem"),
    [
        (None, "Field required"),
        ("because", "in 10 to 500 characters (it is 7)"),
        ("x" * 501, "in 10 to 500 characters (it is 501)"),
        ("asked by liisa@example.fi on the phone", "leave out email addresses"),
        ("DSAR 42 asks\x07 for it", "control characters"),
    ],
)
def test_reidentifying_needs_a_reason_without_personal_data(
    client: TestClient, reason: str | None, problem: str
):
    """A missing, too short, too long, email-bearing or control-character reason is a 422."""
    tokens = encrypt_token(client)
    body: dict[str, Any] = {"domain": "mailer-suppression", "tokens": tokens}
    if reason is not None:
        body["reason"] = reason
    answer = client.post("/v1/reidentify", headers=staff(client, "owner"), json=body)
    assert answer.status_code == 422, answer.text
    assert "body.reason" in answer.json()["detail"]
    assert problem in answer.json()["detail"]
    assert entries(client, "reidentify") == []


def test_reidentifying_without_the_duty_is_refused_and_the_refusal_committed(client: TestClient):
    """A role without the reidentify duty gets 403; the attempt is logged with its reason."""
    tokens = encrypt_token(client)
    denied = client.post(
        "/v1/reidentify",
        headers=staff(client, "marketing"),
        json={"domain": "mailer-suppression", "tokens": tokens, "reason": WHY},
    )
    assert denied.status_code == 403, denied.text
    (entry,) = entries(client, "reidentify.refused")
    assert actor_role(entry["actor"]) == "marketing"
    assert entry["details"] == {
        "domain": "mailer-suppression",
        "count": 1,
        "stated_reason": WHY,
        "reason": "no_duty",
    }


def test_tokens_of_another_domain_are_a_refused_reidentification(client: TestClient):
    """Tokens that do not open in the named domain are a 422 and a `reidentify.refused` entry."""
    tokens = encrypt_token(client)
    wrong = client.post(
        "/v1/reidentify",
        headers=staff(client, "owner"),
        json={"domain": "marketing-export", "tokens": tokens, "reason": WHY},
    )
    assert wrong.status_code == 422, wrong.text
    (entry,) = entries(client, "reidentify.refused")
    assert entry["details"]["reason"] == "invalid_token"
    assert entry["details"]["domain"] == "marketing-export"


# ── refused reads of personal data ───────────────────────────────────────────────────────────


def test_a_report_for_a_role_outside_its_audience_is_refused_in_the_log(client: TestClient):
    """GET /v1/reports/{id} by a role outside the audience is 403 and a `report.refused` entry."""
    answer = client.get("/v1/reports/tyre-hotel-calls", headers=staff(client, "marketing"))
    assert answer.status_code == 403, answer.text
    (entry,) = entries(client, "report.refused")
    assert actor_role(entry["actor"]) == "marketing"
    assert entry["details"] == {
        "report": "tyre-hotel-calls",
        "identity": "identified",
        "reason": "not_in_audience",
    }
    chart = client.get("/v1/reports/tyre-hotel-calls/chart.png", headers=staff(client, "marketing"))
    assert chart.status_code == 403
    assert len(entries(client, "report.refused")) == 2


def test_build_report_appends_its_refusal_to_the_callers_session(client: TestClient):
    """build_report refuses a role outside the audience and leaves the entry for the caller."""
    state = client.app.state  # type: ignore[attr-defined]
    audit: AuditLog = state.audit
    with state.sessions() as session:
        before = len(audit.entries(session, limit=1000))
        with pytest.raises(AccessDenied, match="not in the audience"):
            build_report(
                session,
                state.store,
                compile_policy(state.strategy),
                "customer-value-report",
                role="marketing",
                audit=audit,
            )
        session.commit()
        after = audit.entries(session, limit=1000)
    assert len(after) == before + 1
    assert (after[-1].action, after[-1].actor) == ("report.refused", "role:marketing")


def test_an_audience_for_a_use_not_held_is_refused_in_the_log(client: TestClient):
    """An activation's audience asked by a role without its use is 403 and an audited refusal."""
    answer = client.get(
        "/v1/activations/worn-tyre-notice/audience", headers=staff(client, "marketing")
    )
    assert answer.status_code == 403, answer.text
    (entry,) = entries(client, "activation.audience.refused")
    assert entry["details"] == {
        "activation": "worn-tyre-notice",
        "use": "tyre-hotel",
        "reason": "purpose_not_held",
    }


def test_refused_subject_reads_are_audited_with_pseudonymous_ids_only(
    client: TestClient, liisa: str
):
    """A purpose not held, a subject outside the row filter and an unknown id are each audited."""
    vantaa = staff(client, "mechanic-vantaa")
    marketing = staff(client, "marketing")
    assert (
        client.get(
            f"/v1/subjects/{liisa}", params={"purpose": "bookkeeping"}, headers=marketing
        ).status_code
        == 403
    )
    assert (
        client.get(
            f"/v1/subjects/{liisa}", params={"purpose": "service-history"}, headers=vantaa
        ).status_code
        == 404
    )
    typed = client.get(
        "/v1/subjects/liisa@example.fi", params={"purpose": "service-history"}, headers=vantaa
    )
    assert typed.status_code == 404
    refused = entries(client, "subject.read.refused")
    assert [(actor_role(e["actor"]), e["subject_id"], e["details"]) for e in refused] == [
        ("marketing", liisa, {"purpose": "bookkeeping", "reason": "purpose_not_held"}),
        (
            "mechanic-vantaa",
            liisa,
            {"purpose": "service-history", "reason": "outside_row_filter"},
        ),
        (
            "mechanic-vantaa",
            None,
            {"purpose": "service-history", "reason": "no_such_subject"},
        ),
    ]
    assert_no_personal_data(client)


def test_finding_by_an_identifier_the_role_may_not_read_is_audited_without_the_value(
    client: TestClient, liisa: str
):
    """A find by an unreadable identifier or for a purpose not held is logged by field only."""
    mechanic = staff(client, "mechanic")
    by_email = client.get(
        "/v1/subjects",
        params={"purpose": "service-history", "email": LIISA["email"]},
        headers=mechanic,
    )
    assert by_email.status_code == 403, by_email.text
    not_held = client.get(
        "/v1/subjects", params={"purpose": "bookkeeping", "phone": LIISA["phone"]}, headers=mechanic
    )
    assert not_held.status_code == 403, not_held.text
    found = entries(client, "subject.find.refused")
    assert [e["details"] for e in found] == [
        {
            "purpose": "service-history",
            "field": "customer.email",
            "reason": "identifier_not_readable",
        },
        {"purpose": "bookkeeping", "reason": "purpose_not_held"},
    ]
    assert all(e["subject_id"] is None for e in found)
    assert_no_personal_data(client)


def test_a_refused_read_of_consent_history_is_audited(client: TestClient, liisa: str):
    """The consent history of a subject outside the role's rows is a 404 and an audited refusal."""
    answer = client.get(f"/v1/subjects/{liisa}/consents", headers=staff(client, "mechanic-vantaa"))
    assert answer.status_code == 404
    (entry,) = entries(client, "consents.read.refused")
    assert (entry["subject_id"], entry["details"]) == (liisa, {"reason": "outside_row_filter"})


# ── consent events ───────────────────────────────────────────────────────────────────────────


def test_every_consent_event_is_an_audit_entry_with_its_receipt_id(client: TestClient, liisa: str):
    """A recorded consent and each refusal a GPC signal adds is one entry, without the evidence."""
    answer = client.post(
        "/v1/consents",
        headers={**staff(client, "owner"), "Sec-GPC": "1"},
        json={
            "subject": {"id": liisa},
            "use": "accessibility-service",
            "state": "refused",
            "source": "booking-form",
            "evidence": {"form": "booking-v3"},
        },
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    ids = [body["id"], *(e["id"] for e in body["gpc"]["events"])]
    assert len(ids) == 2
    recorded = entries(client, "consent.recorded")
    assert [e["details"]["event_id"] for e in recorded] == ids
    assert [(e["actor"], e["subject_id"]) for e in recorded] == [("role:owner", liisa)] * 2
    assert recorded[0]["details"] == {
        "use": "accessibility-service",
        "state": "refused",
        "source": "booking-form",
        "method": "staff",
        "event_id": ids[0],
    }
    assert recorded[1]["details"]["method"] == "gpc_signal"
    assert recorded[1]["details"]["use"] == "seasonal-reminders"
    assert "booking-v3" not in json.dumps(recorded)


def test_refused_consent_calls_are_audited(client: TestClient, liisa: str):
    """A role outside the source, an unreadable identifier, a call without receipt: all logged."""
    give = {"use": "seasonal-reminders", "state": "given", "source": "booking-form"}
    marketing = client.post(
        "/v1/consents", headers=staff(client, "marketing"), json={**give, "subject": {"id": liisa}}
    )
    assert marketing.status_code == 403, marketing.text
    mechanic_by_email = client.post(
        "/v1/consents",
        headers=staff(client, "mechanic"),
        json={
            **give,
            "source": "workshop-inspection",
            "state": "withdrawn",
            "subject": {"email": LIISA["email"]},
        },
    )
    assert mechanic_by_email.status_code == 403, mechanic_by_email.text
    anonymous = client.post(
        "/v1/consents", json={**give, "state": "withdrawn", "subject": {"id": liisa}}
    )
    assert anonymous.status_code == 401, anonymous.text
    refused = entries(client, "consent.record.refused")
    assert [(e["actor"], e["subject_id"], e["details"]["reason"]) for e in refused] == [
        ("role:marketing", None, "source_not_collected"),
        ("role:mechanic", None, "identifier_not_readable"),
        ("subject", None, "not_proven"),
    ]
    assert refused[1]["details"]["field"] == "customer.email"
    assert entries(client, "consent.recorded") == []
    assert_no_personal_data(client)


# ── the CLI's file pseudonymisation ──────────────────────────────────────────────────────────

runner = CliRunner()


def _audit_entries(root: Path) -> tuple[list[Any], bool]:
    audit = AuditLog(open_keyring(get_settings()).derive(AUDIT_KEY_PURPOSE, version=1))
    engine = make_engine(f"sqlite:///{root / 'tietotie.db'}")
    try:
        with Session(engine) as session:
            return audit.entries(session, limit=1000), audit.verify(session).ok
    finally:
        engine.dispose()


def _pseudonymise(root: Path) -> Any:
    src = root / "customers.csv"
    src.write_text("email,plate,city\nliisa@example.fi,ABC-123,Espoo\nb@x.fi,XYZ-2,Vantaa\n")
    return runner.invoke(
        get_app(),
        [
            "pseudonymise",
            str(src),
            "-d",
            "reporting",
            "-f",
            "email,plate:encrypt",
            "-o",
            str(root / "out.csv"),
        ],
    )


def test_file_pseudonymisation_is_one_audit_entry_with_counts_and_the_output_hash(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
):
    """A CLI run appends domain, columns, rows and the output's SHA-256 to the chained log."""
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "development")
    root = service_env()
    assert runner.invoke(get_app(), ["keys", "init"]).exit_code == 0
    upgraded = runner.invoke(get_app(), ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    result = _pseudonymise(root)
    assert result.exit_code == 0, result.output
    assert "Audit entry 1." in result.output
    found, intact = _audit_entries(root)
    assert intact
    (entry,) = [e for e in found if e.action == "pseudonymise.file"]
    assert entry.actor.startswith("cli")
    assert json.loads(entry.details) == {
        "domain": "reporting",
        "format": "csv",
        "rows": 2,
        "fields": ["email:hmac", "plate:encrypt"],
        "key_version": 1,
        "output_sha256": hashlib.sha256((root / "out.csv").read_bytes()).hexdigest(),
    }
    assert "liisa" not in entry.details and "ABC-123" not in entry.details


def test_file_pseudonymisation_without_a_service_database(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
):
    """In development it runs with a warning that it is not audited; no database file is made."""
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "development")
    root = service_env()
    assert runner.invoke(get_app(), ["keys", "init"]).exit_code == 0
    result = _pseudonymise(root)
    assert result.exit_code == 0, result.output
    assert "warning: this run is not audited: there is no service database" in result.output
    assert "production refuses" in result.output
    assert not (root / "tietotie.db").exists()
    with (root / "out.csv").open(newline="") as f:
        assert len(list(csv.DictReader(f))) == 2


def test_production_refuses_file_pseudonymisation_it_cannot_audit(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
):
    """In production a run without the audit log is refused before any output is written."""
    root = service_env()
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "development")
    assert runner.invoke(get_app(), ["keys", "init"]).exit_code == 0
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "production")
    get_settings.cache_clear()
    result = _pseudonymise(root)
    assert result.exit_code == 1, result.output
    assert "could not be audited" in result.output
    assert not (root / "out.csv").exists()
