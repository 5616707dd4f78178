"""The request service at its edges (DESIGN §11), on every backend: attempts counted atomically
under concurrent guesses, rate limits, the outbox as a queue, expiring tokens, kept answers,
and identifiers kept only as keyed hashes once a request is closed."""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditLog
from dsar.fulfil import Fulfiller
from dsar.limits import Limit, RateLimits
from dsar.requests import (
    DELIVERY_ATTEMPTS,
    MAX_ATTEMPTS,
    AnswerGone,
    MessageStatus,
    Outbox,
    OutboxNotifier,
    Requests,
    SmtpNotifier,
    Status,
    VerificationCode,
    export_builder,
)
from dsar.requests.errors import DeliveryFailed
from kernel.db import session_factory, transaction
from kernel.errors import AuthError, RateLimited
from records.external import ExternalSystems
from records.store import FieldCrypto, RecordStore, find_subject, ingest

LIISA = "liisa@example.fi"
STRANGER = "stranger@example.fi"
GUESSES = 40


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class Recording(OutboxNotifier):
    """A transport that keeps what it carried, optionally meeting a barrier on each delivery."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        super().__init__()
        self.carried: list[str] = []
        self._barrier = barrier
        self._lock = threading.Lock()

    def reaches(self, to: str) -> bool:
        return "@" in to

    def deliver(self, *, to: str, subject: str, body: str) -> None:
        if self._barrier is not None:
            # A sender that finds nothing left never arrives: the other one goes on alone.
            with contextlib.suppress(threading.BrokenBarrierError):
                self._barrier.wait(timeout=10)
        with self._lock:
            self.carried.append(body)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(engine: Engine, store: RecordStore) -> sessionmaker[Session]:
    """Sessions on the backend's database, its tables created by the ``store`` fixture."""
    return session_factory(engine)


ServiceFactory = Callable[..., Requests]


@pytest.fixture
def service(store: RecordStore, crypto: FieldCrypto, clock: Clock) -> ServiceFactory:
    """A factory of the request service wired as the app wires it, over the test's clock."""

    def make(
        *,
        limits: RateLimits | None = None,
        notifier: Any = None,
        looked_up: list[str] | None = None,
    ) -> Requests:
        fulfiller = Fulfiller(store.strategy, store, ExternalSystems(store.strategy))

        def find(session: Session, key: str, value: str) -> str | None:
            if looked_up is not None:
                looked_up.append(value)
            return find_subject(session, store, {key: value})

        return Requests(
            store.strategy,
            find_subject=find,
            notifier=notifier or OutboxNotifier(clock),
            audit=AuditLog(b"k" * 32),
            normalise=lambda _key, value: value.strip().lower(),
            clock=clock,
            limits=limits,
            keyring=crypto.pseudonymiser.keyring,
            keystore=crypto.keystore,
            exports=export_builder(fulfiller),
        )

    return make


def _limits(**rules: str) -> RateLimits:
    return RateLimits(rules={Limit(k): v for k, v in rules.items()}, key=b"l" * 32)


def _customer(sessions: sessionmaker[Session], store: RecordStore) -> str:
    with transaction(sessions) as session:
        sid = ingest(
            session,
            store,
            "customer",
            source="service-desk",
            values={
                "name": "Liisa Virtanen",
                "email": LIISA,
                "phone": "0401234567",
                "branch": "espoo",
            },
        ).subject_id
        ingest(
            session,
            store,
            "vehicle",
            source="service-desk",
            subject={"id": sid},
            values={"plate": "ABC-123", "tyre_type": "summer"},
        )
    return sid


def _open(sessions: sessionmaker[Session], requests: Requests, email: str, kind: str) -> str:
    with transaction(sessions) as session:
        return requests.open(session, type=kind, identity={"email": email}).request.id


def _code(sessions: sessionmaker[Session], request_id: str) -> str:
    """The code of the request's latest message."""
    with sessions() as session:
        body = session.scalars(
            select(Outbox.body).where(Outbox.request_id == request_id).order_by(Outbox.id.desc())
        ).first()
    found = re.search(r"\b(\d{6})\b", body or "")
    assert found, "no code was queued"
    return found.group(1)


def _wrong(right: str) -> str:
    return "000000" if right != "000000" else "111111"


def _verify(sessions: sessionmaker[Session], requests: Requests, request_id: str) -> str:
    with sessions() as session:  # verify commits the attempt itself, so no begin() block
        token = requests.verify(session, request_id, code=_code(sessions, request_id))
        session.commit()
        return token.requester_token


# ── Verification codes: at most five guesses, however many arrive at once ─────────────────────


def test_forty_guesses_at_once_count_five_and_then_the_right_code_is_refused(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory
) -> None:
    """Concurrent wrong codes: exactly five are compared and counted; the right one is refused."""
    requests = service()
    _customer(sessions, store)
    rid = _open(sessions, requests, LIISA, "access")
    right = _code(sessions, rid)
    start = threading.Barrier(GUESSES, timeout=30)

    def guess() -> str:
        start.wait()
        with sessions() as session:
            try:
                requests.verify(session, rid, code=_wrong(right))
            except AuthError as exc:
                return "counted" if exc.message.startswith("wrong code") else "refused"
            return "verified"

    with ThreadPoolExecutor(GUESSES) as pool:
        outcomes = [f.result(timeout=120) for f in [pool.submit(guess) for _ in range(GUESSES)]]
    assert outcomes.count("counted") == MAX_ATTEMPTS
    assert outcomes.count("refused") == GUESSES - MAX_ATTEMPTS
    with sessions() as session:
        assert session.get(VerificationCode, rid).attempts == MAX_ATTEMPTS  # type: ignore[union-attr]
        failed = [
            e
            for e in AuditLog(b"k" * 32).entries(session, request_id=rid, limit=100)
            if e.action == "dsar.verification_failed"
        ]
        assert len(failed) == MAX_ATTEMPTS
        with pytest.raises(AuthError, match=r"no longer.*resend.*in person"):
            requests.verify(session, rid, code=right)
        assert requests.get(session, rid).status == Status.AWAITING_VERIFICATION


def test_a_new_code_replaces_a_spent_one_and_verifies(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory
) -> None:
    """After the attempts are spent, resend issues a fresh code; the old code stays refused."""
    requests = service()
    _customer(sessions, store)
    rid = _open(sessions, requests, LIISA, "access")
    old = _code(sessions, rid)
    with sessions() as session:
        for _ in range(MAX_ATTEMPTS):
            with pytest.raises(AuthError, match="wrong code"):
                requests.verify(session, rid, code=_wrong(old))
    with transaction(sessions) as session:
        requests.resend(session, rid)
    new = _code(sessions, rid)
    with sessions() as session:
        if new != old:
            with pytest.raises(AuthError, match="wrong code; 4 attempts left"):
                requests.verify(session, rid, code=old)
        verified = requests.verify(session, rid, code=new)
        session.commit()
        assert verified.request.status == Status.VERIFIED


# ── Rate limits ──────────────────────────────────────────────────────────────────────────────


def test_opening_is_limited_per_identifier_for_customers_and_strangers_alike(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory
) -> None:
    """The third request in the window is refused for a customer and a stranger the same way."""
    requests = service(limits=_limits(open_per_identifier="2/minute"))
    _customer(sessions, store)
    for email in (LIISA, STRANGER):
        _open(sessions, requests, email, "access")
        _open(sessions, requests, email, "erasure")
        with sessions() as session, pytest.raises(RateLimited) as refused:
            requests.open(session, type="access", identity={"email": f" {email.upper()} "})
        assert refused.value.retry_after >= 1
        assert refused.value.context["limit"] == "open_per_identifier"


def test_opening_is_limited_per_client_address(
    sessions: sessionmaker[Session], service: ServiceFactory
) -> None:
    """One address opening requests for many identifiers is stopped; another address is not."""
    requests = service(limits=_limits(open_per_client="2/minute"))
    with transaction(sessions) as session:
        for n in range(2):
            requests.open(
                session, type="access", identity={"email": f"p{n}@example.fi"}, client="192.0.2.7"
            )
    with sessions() as session, pytest.raises(RateLimited, match="Retry-After"):
        requests.open(
            session, type="access", identity={"email": "p9@example.fi"}, client="192.0.2.7"
        )
    with transaction(sessions) as session:
        requests.open(
            session, type="access", identity={"email": "p9@example.fi"}, client="192.0.2.8"
        )


def test_wrong_codes_count_across_requests_and_then_even_the_right_code_waits(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory
) -> None:
    """Wrong codes for one identifier add up over its requests; when spent, the right one is 429."""
    requests = service(limits=_limits(wrong_codes_per_identifier="3/minute"))
    _customer(sessions, store)
    first = _open(sessions, requests, LIISA, "access")
    second = _open(sessions, requests, LIISA, "erasure")
    with sessions() as session:
        for rid in (first, first, second):
            with pytest.raises(AuthError, match="wrong code"):
                requests.verify(session, rid, code=_wrong(_code(sessions, rid)))
        with pytest.raises(RateLimited) as refused:
            requests.verify(session, second, code=_code(sessions, second))
    assert refused.value.context["limit"] == "wrong_codes_per_identifier"
    with sessions() as session:
        assert session.get(VerificationCode, second).attempts == 1  # type: ignore[union-attr]


def test_messages_over_the_cap_are_recorded_suppressed_and_never_queued(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory
) -> None:
    """The second code to one address in the window is suppressed; the address is not kept."""
    requests = service(limits=_limits(messages_per_identifier="1/minute"))
    _customer(sessions, store)
    _open(sessions, requests, LIISA, "access")
    _open(sessions, requests, LIISA, "access")
    with sessions() as session:
        rows = list(session.scalars(select(Outbox).order_by(Outbox.id)))
    assert [r.status for r in rows] == [MessageStatus.HELD, MessageStatus.SUPPRESSED]
    assert rows[0].to == LIISA
    assert rows[1].to == requests.keyed(LIISA) and not re.search(r"\d{6}", rows[1].body)


# ── No oracle: the same work for a customer and a stranger ────────────────────────────────────


def test_opening_does_the_same_work_for_a_customer_and_a_stranger(
    engine: Engine,
    sessions: sessionmaker[Session],
    store: RecordStore,
    service: ServiceFactory,
) -> None:
    """Deferred opening runs the same statements for both and neither looks up nor notifies."""
    notified: list[str] = []
    notifier = Recording()
    notifier.send = lambda session, **m: notified.append(m["to"])  # type: ignore[method-assign]
    looked_up: list[str] = []
    requests = service(notifier=notifier, looked_up=looked_up)
    _customer(sessions, store)
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    def opened(email: str) -> tuple[list[str], Any]:
        statements.clear()
        event.listen(engine, "before_cursor_execute", record)
        try:
            with transaction(sessions) as session:
                delivery = requests.open(
                    session, type="access", identity={"email": email}, defer=True
                ).delivery
        finally:
            event.remove(engine, "before_cursor_execute", record)
        return list(statements), delivery

    customer_work, customer_code = opened(LIISA)
    stranger_work, stranger_code = opened(STRANGER)
    assert customer_work == stranger_work and customer_work
    assert looked_up == [] and notified == []
    with transaction(sessions) as session:
        requests.deliver_code(session, customer_code)
        requests.deliver_code(session, stranger_code)
    assert looked_up == [LIISA, STRANGER] and notified == [LIISA]


# ── The outbox as a queue ─────────────────────────────────────────────────────────────────────


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_mail_server_that_is_down_leaves_the_code_queued_then_failed_visibly(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory, clock: Clock
) -> None:
    """Each run retries after its backoff; after the last attempt the message is failed."""
    smtp = SmtpNotifier("127.0.0.1", port=_closed_port(), sender="privacy@x.fi", clock=clock)
    requests = service(notifier=smtp)
    _customer(sessions, store)
    rid = _open(sessions, requests, LIISA, "access")
    for attempt in range(1, DELIVERY_ATTEMPTS + 1):
        with sessions() as session:
            done = requests.send_outbox(session)
            again = requests.send_outbox(session)  # not due yet: nothing is tried
        assert (done.retrying, done.failed) == ((1, 0) if attempt < DELIVERY_ATTEMPTS else (0, 1))
        assert again.retrying == again.failed == 0
        with sessions() as session:
            (message,) = session.scalars(select(Outbox).where(Outbox.request_id == rid))
        assert message.attempts == attempt and "SMTP 127.0.0.1" in (message.last_error or "")
        clock.now += timedelta(hours=3)
    assert message.status == MessageStatus.FAILED and message.next_attempt_at is None


def test_two_senders_at_once_carry_each_message_exactly_once(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory
) -> None:
    """Concurrent sender runs claim messages atomically; sent messages keep no address."""
    transport = Recording(threading.Barrier(2))
    requests = service(notifier=transport)
    _customer(sessions, store)
    for _ in range(6):
        _open(sessions, requests, LIISA, "access")

    def run() -> int:
        with sessions() as session:
            return requests.send_outbox(session).sent

    with ThreadPoolExecutor(2) as pool:
        sent = [f.result(timeout=60) for f in [pool.submit(run), pool.submit(run)]]
    assert sum(sent) == 6 and len(transport.carried) == len(set(transport.carried)) == 6
    with sessions() as session:
        rows = list(session.scalars(select(Outbox)))
    assert {r.status for r in rows} == {MessageStatus.SENT}
    assert {r.to for r in rows} == {requests.keyed(LIISA)}


def test_a_transport_failure_is_kept_as_the_reason_and_retried(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory, clock: Clock
) -> None:
    """A failed delivery stays queued with its reason; a later run sends it."""
    transport = Recording()
    failing = {"yes": True}
    carry = transport.deliver

    def deliver(**message: str) -> None:
        if failing["yes"]:
            raise DeliveryFailed("SMTP mail.example.fi:587: ConnectionRefusedError")
        carry(**message)

    transport.deliver = deliver  # type: ignore[method-assign]
    requests = service(notifier=transport)
    _customer(sessions, store)
    rid = _open(sessions, requests, LIISA, "access")
    with sessions() as session:
        assert requests.send_outbox(session).retrying == 1
    failing["yes"] = False
    clock.now += timedelta(minutes=2)
    with sessions() as session:
        assert requests.send_outbox(session).sent == 1
        (message,) = session.scalars(select(Outbox).where(Outbox.request_id == rid))
    assert message.status == MessageStatus.SENT and message.attempts == 2
    assert transport.carried and _code(sessions, rid) in transport.carried[0]


# ── Requester tokens and kept answers ─────────────────────────────────────────────────────────


def test_a_requester_token_expires_a_week_after_verification(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory, clock: Clock
) -> None:
    """The token works for seven days; then it is refused, saying that it expired."""
    requests = service()
    _customer(sessions, store)
    rid = _open(sessions, requests, LIISA, "access")
    token = _verify(sessions, requests, rid)
    with sessions() as session:
        row = requests.get(session, rid)
        clock.now += timedelta(days=7) - timedelta(seconds=1)
        assert requests.check_requester(row, token)
        clock.now += timedelta(seconds=1)
        assert not requests.is_requester(row, token)
        with pytest.raises(AuthError, match="expired"):
            requests.check_requester(row, token)
        assert not requests.check_requester(row, "not-the-token")


def test_after_completion_the_token_reads_the_answer_kept_then_until_it_expires(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory, clock: Clock
) -> None:
    """Records added after completion are not in the answer; after 30 days it is gone (410)."""
    requests = service()
    sid = _customer(sessions, store)
    rid = _open(sessions, requests, LIISA, "access")
    token = _verify(sessions, requests, rid)
    clock.now += timedelta(days=10)  # past the open request's token lifetime
    with transaction(sessions) as session:
        requests.complete(session, rid, actor="role:owner", result={})
        ingest(
            session,
            store,
            "vehicle",
            source="service-desk",
            subject={"id": sid},
            values={"plate": "XYZ-999", "tyre_type": "winter"},
        )
    with sessions() as session:
        row = requests.get(session, rid)
        assert requests.check_requester(row, token)
        answer = requests.answers.of(session, row)
        assert [v["values"]["plate"] for v in answer["bundle"]["data"]["vehicle"]] == ["ABC-123"]
        assert answer["processing"]["purposes"]
        clock.now += timedelta(days=30)
        with pytest.raises(AnswerGone, match="kept until"):
            requests.check_requester(row, token)
        with pytest.raises(AnswerGone, match="kept until"):
            requests.answers.of(session, row)
    with transaction(sessions) as session:
        assert requests.answers.purge(session, dry_run=True) == 1
        assert requests.answers.purge(session) == 1
        assert requests.answers.purge(session) == 0


def test_erasing_the_subject_destroys_its_kept_answers(
    sessions: sessionmaker[Session],
    store: RecordStore,
    crypto: FieldCrypto,
    service: ServiceFactory,
) -> None:
    """The answer is sealed under the subject's key: shredding it makes the answer 410."""
    requests = service()
    sid = _customer(sessions, store)
    rid = _open(sessions, requests, LIISA, "portability")
    _verify(sessions, requests, rid)
    with transaction(sessions) as session:
        requests.complete(session, rid, actor="role:owner", result={})
    with sessions() as session:
        assert requests.answers.of(session, requests.get(session, rid))["bundle"]["data"]
        crypto.keystore.shred(sid)
        with pytest.raises(AnswerGone, match="erased"):
            requests.answers.of(session, requests.get(session, rid))


# ── Closed requests keep identifiers only as keyed hashes ─────────────────────────────────────


def _stored_text(session: Session) -> str:
    tables = ("dsar_requests", "dsar_outbox", "dsar_request_events", "dsar_request_exports")
    return " ".join(
        str(tuple(row)) for t in tables for row in session.execute(text(f"SELECT * FROM {t}"))
    )


@pytest.mark.parametrize("closing", ["complete", "reject"])
def test_a_closed_request_keeps_its_identifiers_only_as_keyed_hashes(
    sessions: sessionmaker[Session], store: RecordStore, service: ServiceFactory, closing: str
) -> None:
    """After closing, no request table holds the email; its status page still reads."""
    requests = service()
    _customer(sessions, store)
    rid = _open(sessions, requests, LIISA, "access")
    _verify(sessions, requests, rid)
    with transaction(sessions) as session:
        assert LIISA in _stored_text(session)
        if closing == "complete":
            requests.complete(session, rid, actor="role:owner", result={"ok": True})
        else:
            requests.reject(
                session, rid, actor="role:owner", ground="excessive", reason="Fourth this month."
            )
    with sessions() as session:
        assert LIISA not in _stored_text(session)
        row = requests.get(session, rid)
        assert row.identity == {"email": requests.keyed(LIISA)}
        assert Requests.view(row)["status"] in {Status.COMPLETED, Status.REJECTED}
        assert {m.to for m in session.scalars(select(Outbox))} == {requests.keyed(LIISA)}
