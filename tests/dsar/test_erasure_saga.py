"""Erasure is honest and resumable (DESIGN §11): a recorded plan, resumed after crashes and
unreachable systems, never `completed` early, its result saying what was done where and when."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

import dsar.erasure.service
from dsar.erasure import ErasurePlanRow, ErasureStepRow
from dsar.requests import RequestRow
from kernel.keystore import SubjectKeyStore
from records.external import ExternalSystems
from records.store import find_subject
from tests.dsar.erasure_support import (
    LIISA,
    PEKKA,
    WEBSHOP_ENV,
    Parts,
    build,
    create_orders,
    create_schema,
    customer,
    erase,
    kill_during_erasure,
    orders_of,
    verified_erasure,
    webshop_strategy,
)
from tests.support import make_app, staff_header


class Crash(Exception):
    """What a test injects to stop an erasure between two of its steps."""


@pytest.fixture
def shop(tmp_path: Path) -> str:
    """The URL of a reachable webshop holding two orders of Liisa's and one of Pekka's."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    create_orders(url)
    return url


@pytest.fixture
def parts(engine: Engine, tmp_path: Path, shop: str) -> Iterator[Parts]:
    """The services over each backend's database, with the webshop reachable."""
    create_schema(engine)
    built = build(engine, tmp_path, {WEBSHOP_ENV: shop})
    yield built
    built.close()


def _request(parts: Parts, request_id: str) -> RequestRow:
    with Session(parts.engine) as session:
        row = parts.requests.get(session, request_id)
        session.expunge(row)
        return row


def _steps(parts: Parts, request_id: str) -> dict[str, ErasureStepRow]:
    with Session(parts.engine) as session:
        rows = session.execute(
            select(ErasureStepRow).where(ErasureStepRow.request_id == request_id)
        ).scalars()
        return {r.step: r for r in rows}


def _audited(parts: Parts, request_id: str) -> list[tuple[str, dict[str, Any]]]:
    with Session(parts.engine) as session:
        entries = parts.audit.entries(session, request_id=request_id, limit=1000)
        return [(e.action, json.loads(e.details)) for e in entries]


def _step_entries(parts: Parts, request_id: str) -> dict[str, list[str]]:
    """Each step's audited states, in order."""
    out: dict[str, list[str]] = {}
    for action, details in _audited(parts, request_id):
        if action == "dsar.erasure_step":
            out.setdefault(details["step"], []).append(details["state"])
    return out


def _findable(parts: Parts) -> bool:
    """Whether Liisa can still be found by her email in the system of record."""
    with Session(parts.engine) as session:
        return find_subject(session, parts.store, {"email": LIISA}) is not None


def test_the_plan_is_committed_before_anything_is_destroyed(
    parts: Parts, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash inside the main database's step leaves the plan recorded, the request in
    progress and every store untouched; a retry then carries out the whole plan."""
    sid = customer(parts)
    rid = verified_erasure(parts)

    def crash(*_args: object, **_kwargs: object) -> None:
        raise Crash("killed in the main step")

    monkeypatch.setattr(dsar.erasure.service, "erase_in_main", crash)
    with pytest.raises(Crash):
        erase(parts, rid)
    steps = _steps(parts, rid)
    assert {name: s.state for name, s in steps.items()} == {
        "main": "planned",
        "keystore": "planned",
        "external:webshop": "planned",
    }
    assert _request(parts, rid).status == "in_progress"
    assert _findable(parts) and parts.keystore.has_key(sid)
    assert orders_of(shop).count(LIISA) == 2
    actions = [a for a, _ in _audited(parts, rid)]
    assert "dsar.erasure_planned" in actions and "dsar.erasure_step" not in actions

    monkeypatch.undo()
    outcome = erase(parts, rid)
    assert outcome.finished and _request(parts, rid).status == "completed"
    assert not _findable(parts) and parts.keystore.is_erased(sid)
    assert orders_of(shop) == [PEKKA]
    assert outcome.result["erased"]["vehicle"] == 1
    assert outcome.result["pending"] == []


def test_a_crash_after_the_key_was_shredded_is_resumed_and_reported_truthfully(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shredded but not yet recorded: the retry reports the key destroyed at the time it was,
    never that no encrypted values were held (finding 10)."""
    sid = customer(parts)
    rid = verified_erasure(parts)
    real = SubjectKeyStore.shred

    def shred_then_crash(self: SubjectKeyStore, subject_id: str) -> bool:
        real(self, subject_id)
        raise Crash("killed after the shred")

    monkeypatch.setattr(SubjectKeyStore, "shred", shred_then_crash)
    with pytest.raises(Crash):
        erase(parts, rid)
    steps = _steps(parts, rid)
    assert (steps["main"].state, steps["keystore"].state) == ("done", "running")
    assert steps["external:webshop"].state == "planned"
    assert parts.keystore.is_erased(sid)
    view = _request(parts, rid)
    assert view.status == "in_progress"
    assert view.result is not None and view.result["erased"]["vehicle"] == 1
    assert set(view.result["pending"]) == {"keystore", "external:webshop"}

    monkeypatch.undo()
    outcome = erase(parts, rid)
    assert outcome.finished
    assert outcome.result["crypto_shredded"] is True
    assert "was destroyed at" in outcome.result["crypto_note"]
    assert "no encrypted values" not in outcome.result["crypto_note"]
    keystore = next(s for s in outcome.result["steps"] if s["step"] == "keystore")
    assert keystore["attempts"] == 2 and keystore["detail"]["key"] == "destroyed"


def test_a_killed_process_leaves_the_erasure_resumable(
    parts: Parts, engine: Engine, tmp_path: Path
) -> None:
    """A worker killed outright between the shred and its record leaves the request in
    progress; a retry in another process finishes it and tells the truth about the key."""
    sid = customer(parts)
    rid = verified_erasure(parts)
    kill_during_erasure(engine, tmp_path, rid, env=dict(parts.env))
    assert _request(parts, rid).status == "in_progress"
    assert parts.keystore.is_erased(sid)

    outcome = erase(parts, rid)
    assert outcome.finished and _request(parts, rid).status == "completed"
    assert outcome.result["crypto_note"].startswith("the subject's key was destroyed at")
    assert _step_entries(parts, rid) == {
        "main": ["done"],
        "keystore": ["done"],
        "external:webshop": ["done"],
    }


def test_an_unreachable_webshop_keeps_the_request_open_until_a_retry_reaches_it(
    parts: Parts, tmp_path: Path
) -> None:
    """The webshop's database is missing: the request stays in progress with `reached: false`
    for it and the rest done; once it exists, a retry erases there and completes."""
    sid = customer(parts)
    rid = verified_erasure(parts)
    later = f"sqlite:///{tmp_path / 'later' / 'shop.db'}"  # no such database yet
    parts.env[WEBSHOP_ENV] = later

    first = erase(parts, rid)
    assert not first.finished
    assert _request(parts, rid).status == "in_progress"
    (webshop,) = first.result["external"]
    assert webshop["reached"] is False and "'webshop'" in webshop["problem"]
    assert first.result["pending"] == ["external:webshop"]
    assert first.result["crypto_shredded"] is True and parts.keystore.is_erased(sid)
    assert not _findable(parts)
    with Session(parts.engine) as session:
        plan = session.get(ErasurePlanRow, rid)
        assert plan is not None and plan.identity_sealed is not None
        assert LIISA not in plan.identity_sealed

    again = erase(parts, rid)  # still unreachable: still open, nothing redone
    assert not again.finished and _steps(parts, rid)["main"].attempts == 1

    (tmp_path / "later" / "shop.db").unlink()
    create_orders(later)
    done = erase(parts, rid)
    assert done.finished and _request(parts, rid).status == "completed"
    (webshop,) = done.result["external"]
    assert webshop["reached"] is True and webshop["counts"] == {"orders": 2}
    assert orders_of(later) == [PEKKA]
    with Session(parts.engine) as session:
        plan = session.get(ErasurePlanRow, rid)
        assert plan is not None and plan.identity_sealed is None and plan.finished_at
    assert _step_entries(parts, rid) == {
        "main": ["done"],
        "keystore": ["done"],
        "external:webshop": ["failed", "failed", "done"],
    }


@pytest.mark.postgres
def test_a_missing_postgresql_database_is_not_reached(parts: Parts, pg_url: str) -> None:
    """A webshop URL naming a PostgreSQL database that does not exist is a failed step with
    the reason, and the request is not completed."""
    customer(parts)
    rid = verified_erasure(parts)
    parts.env[WEBSHOP_ENV] = pg_url.rsplit("/", 1)[0] + "/tietotie_no_such_database"
    outcome = erase(parts, rid)
    (webshop,) = outcome.result["external"]
    assert webshop["reached"] is False and "tietotie_no_such_database" in webshop["problem"]
    assert _request(parts, rid).status == "in_progress"


def test_an_interrupted_external_attempt_is_said_to_be_interrupted(
    parts: Parts, shop: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows deleted by an attempt that died before recording them are not claimed as found by
    the retry: its result says an earlier attempt was interrupted, and when."""
    customer(parts)
    rid = verified_erasure(parts)
    real = ExternalSystems.erase

    def erase_then_crash(self: ExternalSystems, *args: Any, **kwargs: Any) -> Any:
        real(self, *args, **kwargs)
        raise Crash("killed after the webshop's commit")

    monkeypatch.setattr(ExternalSystems, "erase", erase_then_crash)
    with pytest.raises(Crash):
        erase(parts, rid)
    assert orders_of(shop) == [PEKKA]
    monkeypatch.undo()
    outcome = erase(parts, rid)
    step = next(s for s in outcome.result["steps"] if s["step"] == "external:webshop")
    assert step["detail"]["counts"] == {"orders": 0}
    assert step["detail"]["interrupted_attempt_at"] and "interrupted" in step["detail"]["note"]
    assert outcome.finished


def test_the_audit_log_has_every_step_and_no_personal_data(parts: Parts) -> None:
    """The plan and each step are audited with counts, the chain verifies, and no identifier
    of the subject appears in any entry."""
    customer(parts)
    rid = verified_erasure(parts)
    erase(parts, rid)
    entries = _audited(parts, rid)
    actions = [a for a, _ in entries]
    assert actions.index("dsar.erasure_planned") < actions.index("dsar.erasure_step")
    assert actions[-1] == "dsar.completed"
    planned = next(d for a, d in entries if a == "dsar.erasure_planned")
    assert planned["steps"] == ["main", "keystore", "external:webshop"]
    main = next(d for a, d in entries if a == "dsar.erasure_step" and d["step"] == "main")
    assert "vehicle=1" in main["erased"]
    webshop = next(
        d for a, d in entries if a == "dsar.erasure_step" and d["step"] == "external:webshop"
    )
    assert webshop["rows"] == ["orders=2"] and webshop["reached"] is True
    assert all(LIISA not in repr(d) for _, d in entries)
    with Session(parts.engine) as session:
        assert parts.audit.verify(session).ok


def test_a_subject_we_do_not_hold_is_still_erased_in_the_webshop(parts: Parts, shop: str) -> None:
    """No record here: the main step says nothing was held, no key step is planned, and the
    webshop's rows of that identifier are erased all the same."""
    rid = verified_erasure(parts)
    outcome = erase(parts, rid)
    assert outcome.finished
    assert [s["step"] for s in outcome.result["steps"]] == ["main", "external:webshop"]
    assert outcome.result["erased"] == {} and outcome.result["crypto_note"] is None
    assert orders_of(shop) == [PEKKA]


# ── over HTTP ────────────────────────────────────────────────────────────────────────────────


@pytest.fixture
def client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The real app on SQLite, its strategy declaring the webshop, which is not reachable."""
    monkeypatch.setenv(WEBSHOP_ENV, f"sqlite:///{tmp_path / 'shop' / 'shop.db'}")
    app = make_app(tmp_path, strategy=webshop_strategy(tmp_path))
    with TestClient(app) as test_client:
        yield test_client


def _http_request(client: TestClient, kind: str) -> str:
    state = client.app.state  # type: ignore[attr-defined]
    with state.sessions() as session:
        opened = state.requests.open(session, type=kind, identity={"email": LIISA})
        state.requests.verify_in_person(
            session, opened.request.id, actor="role:owner", note="saw a passport"
        )
        session.commit()
        return str(opened.request.id)


def test_complete_answers_202_until_every_system_is_reached_and_retry_finishes(
    client: TestClient, tmp_path: Path
) -> None:
    """Over HTTP: 202 `in_progress` with `reached: false`, then `POST …/retry` after the
    webshop is back answers 200 `completed`; retrying a finished request is a clear 409."""
    staff = staff_header(client.app, "owner")
    rid = _http_request(client, "erasure")
    first = client.post(f"/v1/dsar/{rid}/complete", headers=staff)
    assert first.status_code == 202, first.text
    assert first.json()["status"] == "in_progress"
    assert first.json()["result"]["external"][0]["reached"] is False
    assert client.get(f"/v1/dsar/{rid}", headers=staff).json()["status"] == "in_progress"

    (tmp_path / "shop" / "shop.db").unlink()
    create_orders(f"sqlite:///{tmp_path / 'shop' / 'shop.db'}")
    done = client.post(f"/v1/dsar/{rid}/retry", headers=staff)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    assert done.json()["result"]["external"][0]["counts"] == {"orders": 2}
    again = client.post(f"/v1/dsar/{rid}/retry", headers=staff)
    assert again.status_code == 409 and again.json()["error"] == "conflict"
    assert "retried" in again.json()["detail"]


def test_retry_is_only_for_an_erasure_in_progress(client: TestClient) -> None:
    """A verified access request has nothing to retry: 409 saying how to fulfil it instead."""
    rid = _http_request(client, "access")
    answer = client.post(f"/v1/dsar/{rid}/retry", headers=staff_header(client.app, "owner"))
    assert answer.status_code == 409
    assert f"/v1/dsar/{rid}/complete" in answer.json()["detail"]
