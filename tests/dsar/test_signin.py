"""Privacy-center sign-ins on every backend: the same work for a stranger, codes only to known
identifiers, attempts counted atomically under concurrent guesses, no identifier kept in clear,
and a sign-in that lapses or is ended stops proving the subject."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditLog
from consent.receipts import ReceiptSigner
from dsar.fulfil import Fulfiller
from dsar.limits import Limit, RateLimits
from dsar.requests import MAX_ATTEMPTS, Outbox, OutboxNotifier, Requests
from dsar.requests.codes import CODE_LIFETIME
from dsar.requests.outbox import HELD_ADDRESS_KEPT
from dsar.requests.signin import KEPT_AFTER_LAPSE, SESSION_LIFETIME, SignIns
from dsar.requests.tables import SignInCode, SignInRow
from kernel.db import session_factory, transaction
from kernel.errors import AuthError, RateLimited
from kernel.keys import Keyring
from records.external import ExternalSystems
from records.store import FieldCrypto, RecordStore, find_subject, ingest

LIISA = "liisa.signin@example.fi"
GUESSES = 40


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 6, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sessions(engine: Engine, store: RecordStore) -> sessionmaker[Session]:
    return session_factory(engine)


def _signins(
    store: RecordStore, crypto: FieldCrypto, clock: Clock, limits: RateLimits | None = None
) -> SignIns:
    requests = Requests(
        store.strategy,
        find_subject=lambda session, key, value: find_subject(session, store, {key: value}),
        notifier=OutboxNotifier(clock),
        normalise=lambda _key, value: value.strip().lower(),
        clock=clock,
        limits=limits,
        keyring=crypto.pseudonymiser.keyring,
    )
    return SignIns(requests, audit=AuditLog(b"k" * 32))


def _customer(sessions: sessionmaker[Session], store: RecordStore) -> str:
    with transaction(sessions) as session:
        return ingest(
            session,
            store,
            "customer",
            source="service-desk",
            values={
                "name": "Liisa Virtanen",
                "email": LIISA,
                "phone": "0407654321",
                "branch": "espoo",
            },
        ).subject_id


def _open(sessions: sessionmaker[Session], signins: SignIns, email: str) -> str:
    with transaction(sessions) as session:
        delivery = signins.open(session, identity={"email": email})
    with transaction(sessions) as session:
        signins.deliver_code(session, delivery)
    return delivery.signin_id


def _code(sessions: sessionmaker[Session], to: str) -> str | None:
    with sessions() as session:
        body = session.scalars(
            select(Outbox.body).where(Outbox.to == to).order_by(Outbox.id.desc())
        ).first()
    found = re.search(r"\b(\d{6})\b", body or "")
    return found.group(1) if found else None


def _signed_in(sessions: sessionmaker[Session], signins: SignIns, email: str) -> tuple[str, str]:
    """A verified sign-in by the code sent to ``email``: its id and the browser's token."""
    signin_id = _open(sessions, signins, email)
    with sessions() as session:
        token = signins.verify(session, signin_id, code=_code(sessions, email) or "").token
        session.commit()
    return signin_id, token


def _fulfiller(store: RecordStore) -> Fulfiller:
    return Fulfiller(
        store.strategy,
        store,
        ExternalSystems(store.strategy, env={}),
        signer=ReceiptSigner(Keyring.ephemeral()),
    )


def _wrong(right: str) -> str:
    return "000000" if right != "000000" else "111111"


def test_a_known_address_gets_a_code_and_signs_in_to_its_subject(
    sessions: sessionmaker[Session], store: RecordStore, crypto: FieldCrypto, clock: Clock
) -> None:
    """The code proves the subject; the sign-in row holds no identifier in clear."""
    sid = _customer(sessions, store)
    signins = _signins(store, crypto, clock)
    signin_id = _open(sessions, signins, LIISA)
    code = _code(sessions, LIISA)
    assert code is not None
    with sessions() as session:
        signed = signins.verify(session, signin_id, code=code)
        session.commit()
        row = session.get(SignInRow, signin_id)
        assert row is not None and row.subject_id == sid
        assert LIISA not in repr(vars(row)) and row.identity_hash.startswith("hmac-sha256:")
        assert signins.subject(session, signin_id, signed.token) == sid
        assert signins.subject(session, signin_id, "x" * 43) is None


def test_a_stranger_is_sent_nothing_and_cannot_sign_in(
    sessions: sessionmaker[Session], store: RecordStore, crypto: FieldCrypto, clock: Clock
) -> None:
    """Opening works the same for an unknown address, but no code goes anywhere."""
    signins = _signins(store, crypto, clock)
    signin_id = _open(sessions, signins, "nobody.signin@example.fi")
    assert _code(sessions, "nobody.signin@example.fi") is None
    with sessions() as session:
        row = session.get(SignInRow, signin_id)
        assert row is not None and row.subject_id is None
        assert session.get(SignInCode, signin_id) is not None  # a code exists, unsent


def test_forty_guesses_at_once_count_five(
    sessions: sessionmaker[Session], store: RecordStore, crypto: FieldCrypto, clock: Clock
) -> None:
    """Concurrent wrong codes take exactly MAX_ATTEMPTS attempts; then the right one is refused."""
    _customer(sessions, store)
    signins = _signins(store, crypto, clock)
    signin_id = _open(sessions, signins, LIISA)
    right = _code(sessions, LIISA)
    assert right is not None
    start = threading.Barrier(GUESSES, timeout=30)

    def guess() -> str:
        start.wait()
        with sessions() as session:
            try:
                signins.verify(session, signin_id, code=_wrong(right))
            except AuthError as exc:
                return "refused" if exc.message.startswith("this code") else "counted"
            return "signed in"

    with ThreadPoolExecutor(GUESSES) as pool:
        outcomes = [f.result(timeout=120) for f in [pool.submit(guess) for _ in range(GUESSES)]]
    assert outcomes.count("counted") == MAX_ATTEMPTS
    assert outcomes.count("refused") == GUESSES - MAX_ATTEMPTS
    with sessions() as session:
        with pytest.raises(AuthError, match="sign in again"):
            signins.verify(session, signin_id, code=right)
        assert signins.attempts_left(session, signin_id) == 0


def test_wrong_codes_per_address_are_limited_across_sign_ins(
    sessions: sessionmaker[Session], store: RecordStore, crypto: FieldCrypto, clock: Clock
) -> None:
    """New sign-ins do not buy new guesses: the address's wrong codes are counted together."""
    _customer(sessions, store)
    limits = RateLimits(rules={Limit.WRONG_CODES_PER_IDENTIFIER: "3/hour"}, key=b"l" * 32)
    signins = _signins(store, crypto, clock, limits)
    for _ in range(3):
        signin_id = _open(sessions, signins, LIISA)
        with sessions() as session, pytest.raises(AuthError):
            signins.verify(session, signin_id, code="000000")
    signin_id = _open(sessions, signins, LIISA)
    code = _code(sessions, LIISA)
    assert code is not None
    with sessions() as session, pytest.raises(RateLimited):
        signins.verify(session, signin_id, code=code)


def test_a_sign_in_lapses_and_signing_out_ends_it_at_once(
    sessions: sessionmaker[Session], store: RecordStore, crypto: FieldCrypto, clock: Clock
) -> None:
    """The token works for SESSION_LIFETIME, and not a moment after sign-out."""
    sid = _customer(sessions, store)
    signins = _signins(store, crypto, clock)
    first, token = _signed_in(sessions, signins, LIISA)
    clock.now += SESSION_LIFETIME - timedelta(seconds=1)
    with sessions() as session:
        assert signins.subject(session, first, token) == sid
    clock.now += timedelta(seconds=1)
    with sessions() as session:
        assert signins.subject(session, first, token) is None
    second, token = _signed_in(sessions, signins, LIISA)
    with transaction(sessions) as session:
        signins.end(session, second)
    with sessions() as session:
        assert signins.subject(session, second, token) is None


def test_erasure_deletes_the_subjects_sign_ins_and_their_codes(
    sessions: sessionmaker[Session], store: RecordStore, crypto: FieldCrypto, clock: Clock
) -> None:
    """Art. 17: a sign-in holds the subject id and a keyed hash of the address; erasure deletes
    it, its code with it, and leaves a stranger's sign-in alone."""
    sid = _customer(sessions, store)
    signins = _signins(store, crypto, clock)
    mine, token = _signed_in(sessions, signins, LIISA)
    unused = _open(sessions, signins, LIISA)
    stranger = _open(sessions, signins, "nobody.signin@example.fi")
    fulfiller = _fulfiller(store)
    with sessions() as session:
        assert fulfiller.erase(session, sid, {})["erased"]["privacy_signins"] == 2
        session.commit()
    with sessions() as session:
        assert session.get(SignInRow, mine) is None and session.get(SignInRow, unused) is None
        assert session.get(SignInCode, unused) is None  # the code went with its sign-in
        assert signins.subject(session, mine, token) is None
        assert session.get(SignInRow, stranger) is not None


def test_retention_deletes_sign_ins_a_day_after_they_lapse_or_end(
    sessions: sessionmaker[Session], store: RecordStore, crypto: FieldCrypto, clock: Clock
) -> None:
    """An unused code, a lapsed sign-in and a signed-out one are kept for KEPT_AFTER_LAPSE (a
    late code is still told to sign in again), then purged; a live sign-in stays."""
    _customer(sessions, store)
    signins = _signins(store, crypto, clock)
    unused = _open(sessions, signins, LIISA)
    ended, _ = _signed_in(sessions, signins, LIISA)
    with transaction(sessions) as session:
        signins.end(session, ended)
    clock.now += KEPT_AFTER_LAPSE
    live, _ = _signed_in(sessions, signins, LIISA)
    with transaction(sessions) as session:
        assert signins.purge(session, dry_run=True) == 1  # the sign-out was a day ago
    with sessions() as session:
        assert session.get(SignInRow, ended) is not None
        with pytest.raises(AuthError, match="sign in again"):
            signins.verify(session, unused, code="000000")
    clock.now += CODE_LIFETIME
    with transaction(sessions) as session:
        assert signins.purge(session) == 2
    with sessions() as session:
        assert session.get(SignInRow, unused) is None and session.get(SignInRow, ended) is None
        assert session.get(SignInCode, unused) is None
        assert session.get(SignInRow, live) is not None


def _held_to(sessions: sessionmaker[Session], to: str) -> int:
    with sessions() as session:
        return len(session.scalars(select(Outbox.id).where(Outbox.to == to)).all())


def test_erasure_forgets_the_address_of_held_sign_in_codes(
    sessions: sessionmaker[Session], store: RecordStore, crypto: FieldCrypto, clock: Clock
) -> None:
    """No transport reached the customer, so the codes wait in the outbox for staff, with the
    address in clear; an erasure run for a request leaves only its keyed hash there. A held
    message to anyone else keeps its address."""
    sid = _customer(sessions, store)
    signins = _signins(store, crypto, clock)
    requests = signins.requests
    _signed_in(sessions, signins, LIISA)
    _open(sessions, signins, LIISA)
    with transaction(sessions) as session:
        requests.queue_message(
            session, request_id=None, to="staff@example.fi", subject="due", body="reminder"
        )
    assert _held_to(sessions, LIISA) == 2
    fulfiller = _fulfiller(store)
    with sessions() as session:
        outcome = fulfiller.erase_request(
            session, "e" * 32, subject_id=sid, identity={}, actor="system", requests=requests
        )
    assert outcome.result["erased"]["held_message_addresses"] == 2
    assert _held_to(sessions, LIISA) == 0
    assert _held_to(sessions, requests.keyed(LIISA)) == 2
    assert _held_to(sessions, "staff@example.fi") == 1


def test_retention_forgets_held_addresses_after_a_day(
    sessions: sessionmaker[Session], store: RecordStore, crypto: FieldCrypto, clock: Clock
) -> None:
    """A held message of no request keeps its address HELD_ADDRESS_KEPT for staff to read;
    after that the retention run leaves its keyed hash. A dry run only counts."""
    _customer(sessions, store)
    signins = _signins(store, crypto, clock)
    requests = signins.requests
    _open(sessions, signins, LIISA)
    clock.now += HELD_ADDRESS_KEPT
    _open(sessions, signins, LIISA)
    with transaction(sessions) as session:
        assert requests.forget_held_messages(session, dry_run=True) == 1
    assert _held_to(sessions, LIISA) == 2
    with transaction(sessions) as session:
        assert requests.forget_held_messages(session) == 1
    assert _held_to(sessions, LIISA) == 1 and _held_to(sessions, requests.keyed(LIISA)) == 1
    with transaction(sessions) as session:
        assert requests.forget_held_messages(session) == 0  # a keyed address is not hashed again
