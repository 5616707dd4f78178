"""The audit log names the person behind a staff token, over HTTP and on the command line, on
SQLite and PostgreSQL, and the hash chain still verifies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from audit import (
    ACTOR_LENGTH,
    AuditBase,
    AuditEvent,
    AuditLog,
    actor_person,
    actor_role,
    person_actor,
)
from dsar.auth import issue_token
from dsar.tables import staff_tokens
from kernel.crypto import hash_secret, new_secret_token
from kernel.db import transaction
from records.store import ingest
from tests.cli.support import cli_token
from tests.conftest import ServiceEnv
from tests.support import backend_database, make_app
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.settings import get_settings

PIA = "Pia Paananen"
LIISA = {"name": "Liisa Laine", "email": "liisa@example.fi", "phone": "0401112223"}
runner = CliRunner()


# ── the actor ────────────────────────────────────────────────────────────────────────────────


def test_an_actor_names_the_person_and_the_role_and_reads_back() -> None:
    actor = person_actor(PIA, role="service-advisor")
    assert actor == "person:Pia Paananen (role:service-advisor)"
    assert (actor_person(actor), actor_role(actor)) == (PIA, "service-advisor")
    assert (actor_person("role:owner"), actor_role("role:owner")) == (None, "owner")
    assert actor_role("requester") is None and actor_person("system") is None


def test_a_name_too_long_for_the_column_is_shortened_not_cut_off_the_role() -> None:
    actor = person_actor("A" * 200, role="owner")
    assert len(actor) == ACTOR_LENGTH and actor.endswith("\u2026 (role:owner)")
    assert actor_role(actor) == "owner"


@pytest.fixture
def log_session(tmp_path: Path) -> Iterator[Session]:
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    AuditBase.metadata.create_all(engine)
    with Session(engine) as session:
        yield session
    engine.dispose()


def test_a_log_as_a_person_records_that_roles_events_under_the_name(log_session: Session) -> None:
    """Code that knows only the role writes through it; other actors stay as they are; the
    chain over both kinds of entry verifies, and editing the person breaks it."""
    log = AuditLog(b"k" * 32)
    as_pia = log.as_person(PIA, role="owner")
    for actor in ("role:owner", "role:marketing", "system"):
        as_pia.append(log_session, AuditEvent(actor=actor, action="test.acted"))
    log.append(log_session, AuditEvent(actor="role:owner", action="test.acted"))
    log_session.commit()
    actors = [e.actor for e in log.entries(log_session)]
    assert actors == [f"person:{PIA} (role:owner)", "role:marketing", "system", "role:owner"]
    assert log.verify(log_session).ok
    first = log.entries(log_session)[0]
    first.actor = "person:Someone Else (role:owner)"
    log_session.commit()
    assert [b.seq for b in log.verify(log_session).breaks] == [1]


def test_an_actor_longer_than_its_column_is_refused(log_session: Session) -> None:
    with pytest.raises(ValueError, match="longer than 80"):
        AuditLog(b"k" * 32).append(log_session, AuditEvent(actor="x" * 81, action="test"))


# ── over HTTP ────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(make_app(tmp_path)) as test_client:
        yield test_client


def _bearer(client: TestClient, role: str, name: str | None) -> dict[str, str]:
    state = client.app.state  # type: ignore[attr-defined]
    with transaction(state.sessions) as session:
        token = issue_token(session, state.strategy, role=role, name=name)
    return {"Authorization": f"Bearer {token}"}


def test_the_api_audits_the_person_and_shows_the_requester_only_the_role(
    client: TestClient,
) -> None:
    pia = _bearer(client, "owner", PIA)
    stored = client.post(
        "/v1/records/customer",
        headers=pia,
        json={"source": "booking-form", "values": {**LIISA, "branch": "espoo"}},
    )
    assert stored.status_code == 201, stored.text
    subject = stored.json()["subject_id"]
    assert client.get(f"/v1/subjects/{subject}?purpose=service-history", headers=pia).is_success
    opened = client.post("/v1/dsar", json={"type": "access", "identity": {"email": LIISA["email"]}})
    rid = opened.json()["id"]
    verified = client.post(
        f"/v1/dsar/{rid}/verify",
        headers=pia,
        json={"method": "in_person", "note": "passport seen at the desk"},
    )
    assert verified.status_code == 200, verified.text
    requester = {"Authorization": f"Bearer {verified.json()['access_token']}"}
    assert client.post(
        f"/v1/dsar/{rid}/extend", headers=pia, json={"reason": "Many systems"}
    ).is_success
    assert client.post(f"/v1/dsar/{rid}/complete", headers=pia).status_code == 200

    log = client.get("/v1/audit", params={"limit": 1000}, headers=pia).json()
    person = f"person:{PIA} (role:owner)"
    mine = [e["action"] for e in log if e["actor"] == person]
    assert {"subject.read", "dsar.verified", "dsar.extended", "dsar.completed"} <= set(mine)
    assert client.get("/v1/audit/verify", headers=pia).json()["ok"] is True

    staff_view = client.get(f"/v1/dsar/{rid}", headers=pia).json()
    assert [e["actor"] for e in staff_view["history"]].count(person) == 3
    own_view = client.get(f"/v1/dsar/{rid}", headers=requester).json()
    assert PIA not in str(own_view)
    assert [e["actor"] for e in own_view["history"]].count("role:owner") == 3


def test_a_token_issued_without_a_name_is_audited_by_its_id(client: TestClient) -> None:
    anonymous = _bearer(client, "marketing", None)
    refused = client.get("/v1/reports/tyre-hotel-calls", headers=anonymous)
    assert refused.status_code == 403
    log = client.get("/v1/audit", headers=_bearer(client, "auditor", "Outi Tarkastaja")).json()
    (entry,) = [e for e in log if e["action"] == "report.refused"]
    assert entry["actor"] == "person:token-1 (role:marketing)"


# ── on PostgreSQL, from the command line ─────────────────────────────────────────────────────


@pytest.mark.postgres
def test_on_postgres_the_cli_audits_the_person_and_the_chain_verifies(
    pg_url: str, tmp_path: Path, service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every action of the desk on the command line is one entry under the person's name in a
    PostgreSQL log, an old token's overlong name fits its column, and `audit verify` passes."""
    monkeypatch.delenv("TIETOTIE_TOKEN", raising=False)
    with backend_database("postgres", tmp_path, pg_url, prefix="tt_person") as engine:
        with engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
        service_env(url.render_as_string(hide_password=False))
        pia = cli_token("owner", PIA)
        services = open_services(get_settings())
        with transaction(services.sessions) as session:
            ingest(
                session,
                services.store,
                "customer",
                source="booking-form",
                values={**LIISA, "branch": "espoo"},
            )
            rid = services.requests.open(
                session, type="access", identity={"email": LIISA["email"]}
            ).request.id
            old = "tt_" + new_secret_token()
            session.execute(  # a token from before names were checked: 200 characters
                staff_tokens.insert().values(
                    token_hash=hash_secret(old),
                    role="service-advisor",
                    name="B" * 200,
                    created_at=datetime.now(UTC),
                )
            )
        for args in (
            ["dsar", "show", rid],
            ["dsar", "verify", rid, "--in-person", "--note", "passport seen"],
            ["dsar", "extend", rid, "--reason", "Three systems to search"],
            ["dsar", "complete", rid],
        ):
            result = runner.invoke(get_app(), [*args, "--token", pia])
            assert result.exit_code == 0, (args, result.output)
        shown = runner.invoke(get_app(), ["dsar", "show", rid, "--token", old])
        assert shown.exit_code == 0, shown.output
        with services.sessions() as session:
            entries = services.audit.entries(session, limit=1000, request_id=rid)
        person = f"person:{PIA} (role:owner)"
        assert [e.action for e in entries if e.actor == person] == [
            "dsar.viewed",
            "dsar.verified",
            "dsar.extended",
            "dsar.completed",
        ]
        assert entries[-1].actor == person_actor("B" * 200, role="service-advisor")
        assert len(entries[-1].actor) == ACTOR_LENGTH
        verify = runner.invoke(get_app(), ["audit", "verify"])
        assert verify.exit_code == 0 and "audit log intact" in verify.stdout
        services.engine.dispose()
