"""Data-subject requests end to end through the real app over HTTP."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from dsar.requests import Outbox
from tests.support import make_app, staff_header

LIISA = {
    "source": "booking-form",
    "values": {
        "name": "Liisa Virtanen",
        "email": "liisa@example.fi",
        "phone": "0401234567",
        "branch": "espoo",
    },
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path)) as test_client:
        yield test_client


def _staff(client: TestClient, role: str) -> dict[str, str]:
    return staff_header(client.app, role)


def _code(client: TestClient, request_id: str) -> str | None:
    state = client.app.state  # type: ignore[attr-defined]
    with state.sessions() as session:
        body = (
            session.execute(
                select(Outbox.body).where(Outbox.request_id == request_id).order_by(Outbox.id)
            )
            .scalars()
            .first()
        )
    match = re.search(r"\b(\d{6})\b", body or "")
    return match.group(1) if match else None


def _open_verified(client: TestClient, kind: str, **extra: object) -> tuple[str, dict[str, str]]:
    opened = client.post(
        "/v1/dsar", json={"type": kind, "identity": {"email": "liisa@example.fi"}, **extra}
    )
    assert opened.status_code == 202, opened.text
    rid = opened.json()["id"]
    code = _code(client, rid)
    assert code is not None
    verified = client.post(f"/v1/dsar/{rid}/verify", json={"code": code})
    assert verified.status_code == 200, verified.text
    return rid, {"Authorization": f"Bearer {verified.json()['access_token']}"}


@pytest.fixture
def liisa(client: TestClient) -> str:
    posted = client.post("/v1/records/customer", json=LIISA, headers=_staff(client, "owner"))
    assert posted.status_code == 201, posted.text
    return str(posted.json()["subject_id"])


def test_access_request_from_opening_to_the_zip(client: TestClient, liisa: str) -> None:
    """Art. 15: open, verify by code, follow, and download the bundle as JSON and as a zip."""
    rid, requester = _open_verified(client, "access")
    status = client.get(f"/v1/dsar/{rid}", headers=requester).json()
    assert status["status"] == "verified"
    assert [h["status"] for h in status["history"]] == [
        "received",
        "awaiting_verification",
        "verified",
    ]
    bundle = client.get(f"/v1/dsar/{rid}/export", headers=requester).json()
    assert bundle["subject"] == liisa
    assert bundle["data"]["customer"][0]["values"]["email"] == "liisa@example.fi"
    assert bundle["processing"]["purposes"]
    archive = client.get(f"/v1/dsar/{rid}/export?format=zip", headers=requester)
    assert archive.headers["content-type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert "README.txt" in names and "data/customer.csv" in names
    assert client.get(f"/v1/dsar/{rid}", headers=requester).json()["status"] == "completed"


def test_an_unverified_request_reveals_nothing(client: TestClient, liisa: str) -> None:
    """Opening answers alike for customers and strangers; nothing is readable unverified."""
    known = client.post(
        "/v1/dsar", json={"type": "access", "identity": {"email": "liisa@example.fi"}}
    )
    stranger = client.post(
        "/v1/dsar", json={"type": "access", "identity": {"email": "nobody@example.fi"}}
    )
    assert known.status_code == stranger.status_code == 202
    assert known.json().keys() == stranger.json().keys()
    assert known.json()["status"] == stranger.json()["status"]
    rid = known.json()["id"]
    assert client.get(f"/v1/dsar/{rid}").status_code == 401
    assert (
        client.get(
            f"/v1/dsar/{rid}/export", headers={"Authorization": "Bearer guess-guess-guess-guess"}
        ).status_code
        == 401
    )
    assert _code(client, stranger.json()["id"]) is None


def test_erasure_by_staff_reports_what_was_erased_and_kept(client: TestClient, liisa: str) -> None:
    """Art. 17: staff fulfil; the result names what went, what stays, and the law keeping it."""
    rid, requester = _open_verified(client, "erasure")
    advisor = _staff(client, "service-advisor")
    done = client.post(f"/v1/dsar/{rid}/complete", headers=advisor)
    assert done.status_code == 200, done.text
    result = done.json()["result"]
    assert result["crypto_shredded"] is True
    assert {k["entity"] for k in result["kept"]} == {"customer"}
    assert "Kirjanpitolaki" in " ".join(result["kept"][0]["why"])
    assert client.get(f"/v1/dsar/{rid}", headers=requester).json()["status"] == "completed"


def test_staff_extend_once_and_refuse_with_a_ground(client: TestClient, liisa: str) -> None:
    """Art. 12(3) and 12(5) through HTTP; roles without the duty are refused."""
    rid, _ = _open_verified(client, "access")
    marketing = _staff(client, "marketing")
    owner = _staff(client, "owner")
    assert (
        client.post(f"/v1/dsar/{rid}/extend", json={"reason": "x"}, headers=marketing).status_code
        == 403
    )
    extended = client.post(
        f"/v1/dsar/{rid}/extend", headers=owner, json={"reason": "Your data spans three systems."}
    )
    assert extended.status_code == 200 and extended.json()["extended"] is True
    again = client.post(f"/v1/dsar/{rid}/extend", headers=owner, json={"reason": "again"})
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    refused = client.post(
        f"/v1/dsar/{rid}/reject",
        headers=owner,
        json={"ground": "excessive", "reason": "Fourth identical request."},
    )
    assert refused.json()["status"] == "rejected"


def test_in_person_verification_needs_the_requests_duty(client: TestClient, liisa: str) -> None:
    """Staff may verify a requester in person; the note is required and the step audited."""
    rid = client.post(
        "/v1/dsar", json={"type": "restriction", "identity": {"email": "liisa@example.fi"}}
    ).json()["id"]
    body = {"method": "in_person", "note": "passport seen at the Espoo desk"}
    assert (
        client.post(
            f"/v1/dsar/{rid}/verify", json=body, headers=_staff(client, "mechanic")
        ).status_code
        == 403
    )
    ok = client.post(f"/v1/dsar/{rid}/verify", json=body, headers=_staff(client, "owner"))
    assert ok.status_code == 200
    log = client.get(
        "/v1/audit", params={"request_id": rid}, headers=_staff(client, "auditor")
    ).json()
    assert any(
        e["action"] == "dsar.verified" and e["details"]["method"] == "in_person" for e in log
    )


def test_the_audit_log_verifies_and_holds_no_personal_data(client: TestClient, liisa: str) -> None:
    """GET /v1/audit/verify is clean after a request's life; entries carry no email."""
    rid, _ = _open_verified(client, "objection")
    client.post(f"/v1/dsar/{rid}/complete", headers=_staff(client, "owner"))
    auditor = _staff(client, "auditor")
    verdict = client.get("/v1/audit/verify", headers=auditor).json()
    assert verdict["ok"] is True and verdict["entries"] >= 4
    entries = client.get("/v1/audit", headers=auditor).json()
    assert "liisa@example.fi" not in str(entries)
    assert client.get("/v1/audit/verify", headers=_staff(client, "marketing")).status_code == 403


def test_a_sequence_beyond_what_a_database_integer_holds_is_a_parameter_error(
    client: TestClient,
) -> None:
    """after=2**63 is refused with 422 naming the parameter (it once reached the driver: 500)."""
    auditor = _staff(client, "auditor")
    assert client.get(f"/v1/audit?after={2**63 - 1}", headers=auditor).json() == []
    answer = client.get(f"/v1/audit?after={2**63}", headers=auditor)
    assert answer.status_code == 422
    assert "after" in str(answer.json())


def test_reidentify_is_for_the_duty_and_audited(client: TestClient) -> None:
    """Encrypt tokens reverse only for roles with the reidentify duty, each call audited."""
    tokens = client.post(
        "/v1/pseudonymise",
        headers=_staff(client, "owner"),
        json={"domain": "mailer-suppression", "values": ["ABC-123"], "mode": "encrypt"},
    ).json()["tokens"]
    why = "DSAR 42 asks which plate the suppression list held"
    denied = client.post(
        "/v1/reidentify",
        headers=_staff(client, "marketing"),
        json={"domain": "mailer-suppression", "tokens": tokens, "reason": why},
    )
    assert denied.status_code == 403
    back = client.post(
        "/v1/reidentify",
        headers=_staff(client, "owner"),
        json={"domain": "mailer-suppression", "tokens": tokens, "reason": why},
    )
    assert back.json()["values"] == ["ABC-123"]
    wrong = client.post(
        "/v1/reidentify",
        headers=_staff(client, "owner"),
        json={"domain": "marketing-export", "tokens": tokens, "reason": why},
    )
    assert wrong.status_code == 422
    actions = [
        e["action"] for e in client.get("/v1/audit", headers=_staff(client, "auditor")).json()
    ]
    assert actions.count("reidentify") == 1
    assert actions.count("reidentify.refused") == 2


def test_a_staff_read_is_masked_per_policy_and_audited(client: TestClient, liisa: str) -> None:
    """Marketing sees the name masked for reminders; the read is audited without values."""
    marketing = _staff(client, "marketing")
    read = client.get(
        f"/v1/subjects/{liisa}", params={"purpose": "seasonal-reminders"}, headers=marketing
    ).json()
    name = read["records"]["customer"][0]["values"]["name"]
    assert name["masked"] is True and name["value"] != "Liisa Virtanen"
    log = client.get("/v1/audit", headers=_staff(client, "auditor")).json()
    (entry,) = [e for e in log if e["action"] == "subject.read"]
    assert entry["subject_id"] == liisa and "customer.name" in entry["details"]["masked"]
    assert "Liisa" not in str(entry)
