"""The request lifecycle: verification, deadlines, extension, refusal, and its audit trail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from audit import AuditBase, AuditLog
from dsar.requests import (
    MAX_ATTEMPTS,
    Outbox,
    OutboxNotifier,
    RequestBase,
    Requests,
    Status,
)
from kernel.errors import AuthError, Conflict, RequestError
from schemas import load_strategy

MINIMAL = Path(__file__).parents[1] / "schemas" / "minimal"
KNOWN = {"liisa@example.fi": "subject-1"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = create_engine(f"sqlite:///{tmp_path / 'dsar.db'}")
    RequestBase.metadata.create_all(engine)
    AuditBase.metadata.create_all(engine)
    with Session(engine) as s:
        yield s
    engine.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def requests(clock: Clock) -> Requests:
    strategy = load_strategy(MINIMAL).strategy
    assert strategy is not None
    return Requests(
        strategy,
        find_subject=lambda _s, key, value: KNOWN.get(value) if key == "email" else None,
        notifier=OutboxNotifier(clock),
        audit=AuditLog(b"a" * 32),
        normalise=lambda _k, v: v.strip().lower(),
        clock=clock,
    )


def _code(session: Session) -> str:
    body = session.execute(select(Outbox.body).order_by(Outbox.id.desc())).scalars().first()
    assert body is not None
    match = re.search(r"\b(\d{6})\b", body)
    assert match
    return match.group(1)


def test_a_known_customer_gets_a_code_and_verifies_with_it(
    session: Session, requests: Requests
) -> None:
    """The code goes to the identifier on record; the right code verifies the request."""
    opened = requests.open(session, type="access", identity={"email": " Liisa@Example.fi "})
    session.commit()
    assert opened.request.status == Status.AWAITING_VERIFICATION
    assert opened.request.due_at == date(2026, 12, 7)  # 6 Dec is Independence Day, a Sunday
    (to,) = session.execute(select(Outbox.to)).scalars().all()
    assert to == "liisa@example.fi"
    verified = requests.verify(session, opened.request.id, code=_code(session))
    assert verified.request.status == Status.VERIFIED
    assert verified.request.subject_id == "subject-1"
    assert requests.is_requester(verified.request, verified.requester_token)
    assert not requests.is_requester(verified.request, "someone-else")


def test_an_unknown_person_is_answered_the_same_and_sent_nothing(
    session: Session, requests: Requests
) -> None:
    """Opening a request reveals nothing about whether the person is a customer."""
    known = requests.open(session, type="erasure", identity={"email": "liisa@example.fi"})
    unknown = requests.open(session, type="erasure", identity={"email": "nobody@example.fi"})
    assert Requests.view(known.request).keys() == Requests.view(unknown.request).keys()
    assert known.request.status == unknown.request.status
    assert session.execute(select(Outbox.to)).scalars().all() == ["liisa@example.fi"]


def test_wrong_codes_are_counted_and_then_the_code_is_spent(
    session: Session, requests: Requests
) -> None:
    """After the allowed attempts, even the right code is refused."""
    opened = requests.open(session, type="access", identity={"email": "liisa@example.fi"})
    session.commit()
    right = _code(session)
    wrong = "000000" if right != "000000" else "111111"
    for left in range(MAX_ATTEMPTS - 1, -1, -1):
        with pytest.raises(AuthError, match=f"{left} attempt"):
            requests.verify(session, opened.request.id, code=wrong)
    with pytest.raises(AuthError, match="no longer"):
        requests.verify(session, opened.request.id, code=right)


def test_an_expired_code_is_refused(session: Session, requests: Requests, clock: Clock) -> None:
    """A code is short-lived."""
    opened = requests.open(session, type="access", identity={"email": "liisa@example.fi"})
    session.commit()
    clock.now += timedelta(minutes=16)
    with pytest.raises(AuthError, match="expired"):
        requests.verify(session, opened.request.id, code=_code(session))


def test_staff_may_verify_in_person_with_a_note(session: Session, requests: Requests) -> None:
    """In-person verification needs a note saying how identity was checked."""
    opened = requests.open(session, type="restriction", identity={"email": "liisa@example.fi"})
    with pytest.raises(RequestError, match="note"):
        requests.verify_in_person(session, opened.request.id, actor="role:owner", note=" ")
    verified = requests.verify_in_person(
        session,
        opened.request.id,
        actor="role:owner",
        note="driving licence shown at the Espoo desk",
    )
    assert verified.request.verified_by == "in_person"


def test_one_extension_of_two_months_with_a_reason_told_to_the_requester(
    session: Session, requests: Requests
) -> None:
    """Art. 12(3): extended once, three months from receipt in all, with the reason sent."""
    opened = requests.open(session, type="access", identity={"email": "liisa@example.fi"})
    requests.verify(session, opened.request.id, code=_code(session))
    row = requests.extend(
        session, opened.request.id, actor="role:owner", reason="Your records span three systems."
    )
    assert row.due_at == date(2027, 2, 8)  # 6 Feb 2027 is a Saturday
    assert "three systems" in _outbox_last(session)
    with pytest.raises(Conflict, match="only once"):
        requests.extend(session, opened.request.id, actor="role:owner", reason="again")


def _outbox_last(session: Session) -> str:
    return session.execute(select(Outbox.body).order_by(Outbox.id.desc())).scalars().first() or ""


def test_a_refusal_needs_a_ground_and_tells_of_the_right_to_complain(
    session: Session, requests: Requests
) -> None:
    """Art. 12(4)-(5): the requester hears why and where to complain."""
    opened = requests.open(session, type="access", identity={"email": "liisa@example.fi"})
    requests.verify(session, opened.request.id, code=_code(session))
    with pytest.raises(RequestError, match="ground"):
        requests.reject(session, opened.request.id, actor="role:owner", ground="bored", reason="x")
    row = requests.reject(
        session,
        opened.request.id,
        actor="role:owner",
        ground="excessive",
        reason="The fourth identical request this month.",
    )
    assert row.status == Status.REJECTED
    assert "supervisory authority" in _outbox_last(session)
    with pytest.raises(Conflict):
        requests.complete(session, opened.request.id, actor="role:owner", result={})


def test_every_transition_is_in_the_history_and_the_audit_log(
    session: Session, requests: Requests
) -> None:
    """The history lists each status with its time and actor; the audit log verifies."""
    opened = requests.open(session, type="objection", identity={"email": "liisa@example.fi"})
    requests.verify(session, opened.request.id, code=_code(session))
    requests.start(session, opened.request.id, actor="role:owner")
    requests.complete(session, opened.request.id, actor="role:owner", result={"ok": True})
    session.commit()
    history = [h["status"] for h in Requests.view(opened.request)["history"]]
    assert history == ["received", "awaiting_verification", "verified", "in_progress", "completed"]
    log = AuditLog(b"a" * 32)
    assert log.verify(session).ok
    audited = [e.action for e in log.entries(session, request_id=opened.request.id)]
    assert audited == [
        "dsar.received",
        "dsar.code_sent",
        "dsar.verified",
        "dsar.started",
        "dsar.completed",
    ]
    assert all("@" not in e.details for e in log.entries(session))


def test_bad_requests_name_the_field_to_fix(session: Session, requests: Requests) -> None:
    """Unknown types, identifiers and rectified fields are refused with the field named."""
    with pytest.raises(RequestError, match="'forget' is not a request type"):
        requests.open(session, type="forget", identity={"email": "a@b.fi"})
    with pytest.raises(RequestError, match="'name' is not an identifier"):
        requests.open(session, type="access", identity={"name": "Liisa"})
    with pytest.raises(RequestError, match=r"customer\.shoe_size"):
        requests.open(
            session,
            type="rectification",
            identity={"email": "a@b.fi"},
            details={"changes": {"customer.shoe_size": 42}},
        )


def test_requests_nearing_their_deadline_are_listed(
    session: Session, requests: Requests, clock: Clock
) -> None:
    """Open requests due within a week are listed; closed ones are not."""
    first = requests.open(session, type="access", identity={"email": "liisa@example.fi"})
    clock.now += timedelta(days=20)
    requests.open(session, type="access", identity={"email": "liisa@example.fi"})
    session.commit()
    due = requests.nearing_deadline(session, within_days=7, today=date(2026, 12, 1))
    assert [r.id for r in due] == [first.request.id]
