"""Recording consent events: what Art. 7 allows, what it refuses, and that nothing is rewritten."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from consent.models import ConsentCreate, ConsentEvent, ConsentRecorded, ConsentState, RecordedState
from consent.receipts import ReceiptSigner, decode_claims
from consent.service import (
    history,
    record_call,
    record_consent,
    subject_consents,
)
from consent.tables import APPEND_ONLY_MESSAGE
from kernel.errors import AuthError, ConsentError, Forbidden
from kernel.keys import Keyring
from schemas import Strategy
from schemas.enums import Duty
from tests.consent.support import minimal, with_profiling

pytestmark = pytest.mark.consent

ANNA = "a" * 32
BEN = "b" * 32
T0 = datetime(2025, 1, 10, 9, 0, tzinfo=UTC)


@pytest.fixture
def session(ledger: Engine) -> Iterator[Session]:
    """A session on the ledger whose work is committed at the end of the test."""
    with Session(ledger) as s, s.begin():
        yield s


def _give(session: Session, signer: ReceiptSigner, **overrides: object) -> ConsentEvent:
    args: dict[str, object] = {
        "subject_id": ANNA,
        "use": "reminders",
        "state": "given",
        "source": "booking-form",
        "evidence": {"form": "booking-v3"},
        "recorded_by": "owner",
        "at": T0,
    }
    args.update(overrides)
    return record_consent(session, minimal(), signer=signer, **args)  # type: ignore[arg-type]


def test_consent_given_expires_after_consent_valid_for(
    session: Session, signer: ReceiptSigner
) -> None:
    """A given event for reminders (P2Y) carries expires_at two years on, and reads as given."""
    given = _give(session, signer)
    assert given.state is RecordedState.GIVEN
    assert given.expires_at == datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
    assert given.notice == "privacy-notice-2026-01"  # the notice the source shows
    assert given.controller_name == "Minimal Oy" and given.controller_id == "1234567-8"
    assert given.jurisdiction == "FI" and given.language == "en" and given.channel == "web_form"
    now = subject_consents(session, minimal(), ANNA, at=T0 + timedelta(days=1))
    assert [(c.use, c.state, c.lawful) for c in now.current] == [
        ("reminders", ConsentState.GIVEN, True)
    ]


def test_consent_reads_as_expired_once_its_validity_has_passed(
    session: Session, signer: ReceiptSigner
) -> None:
    """Expiry is derived at read time: nothing is written when consent lapses."""
    _give(session, signer)
    later = subject_consents(session, minimal(), ANNA, at=T0 + timedelta(days=2 * 366))
    assert later.current[0].state is ConsentState.EXPIRED
    assert later.current[0].lawful is False
    assert [e.state for e in later.history] == [RecordedState.GIVEN]


def test_a_source_without_consent_for_the_use_cannot_capture_it(
    session: Session, signer: ReceiptSigner
) -> None:
    """The till lists no consent_for: the error names the source, the use and what to do."""
    with pytest.raises(ConsentError) as caught:
        _give(session, signer, source="till")
    message = str(caught.value)
    assert "'till'" in message and "'reminders'" in message
    assert "booking-form" in message and "consent_for" in message
    assert caught.value.context["source"] == "till"
    assert history(session, ANNA) == []


def test_withdrawal_is_taken_through_any_declared_source(
    session: Session, signer: ReceiptSigner
) -> None:
    """Art. 7(3): a withdrawal at the till is recorded, though the till cannot capture consent."""
    _give(session, signer)
    withdrawn = _give(session, signer, state="withdrawn", source="till", at=T0 + timedelta(hours=1))
    assert withdrawn.expires_at is None
    status = subject_consents(session, minimal(), ANNA, at=T0 + timedelta(days=1)).current[0]
    assert status.state is ConsentState.WITHDRAWN and status.event_id == withdrawn.id


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"use": "service"}, "contract"),
        ({"use": "newsletter"}, "not declared"),
        ({"source": "web-shop"}, "not declared in 4-sources.yaml"),
        ({"state": "expired"}, "expired is derived"),
        ({"notice": "privacy-notice-2019-01"}, "privacy-notice-2026-01"),
        ({"evidence": {"email": "anna@example.fi"}}, "personal data"),
        ({"evidence": {"form": {"phone": "040"}}}, "'phone'"),
        ({"evidence": {"blob": "x" * 5000}}, "bytes"),
        ({"at": datetime(2025, 1, 1, 9, 0)}, "time zone"),
        ({"at": datetime.now(UTC) + timedelta(days=1)}, "future"),
    ],
)
def test_what_art7_does_not_allow_is_refused_with_a_reason(
    session: Session, signer: ReceiptSigner, overrides: dict[str, object], named: str
) -> None:
    """Each refusal is a ConsentError saying what is wrong; nothing is stored."""
    with pytest.raises(ConsentError, match=named.replace("(", r"\(")):
        _give(session, signer, **overrides)
    assert history(session, ANNA) == []


def test_history_keeps_every_event_and_the_last_one_counts(
    session: Session, signer: ReceiptSigner
) -> None:
    """Given, withdrawn, given again: three events in time order; the state is given."""
    first = _give(session, signer)
    _give(session, signer, state="withdrawn", at=T0 + timedelta(days=10))
    again = _give(session, signer, at=T0 + timedelta(days=20))
    events = history(session, ANNA)
    assert [e.state.value for e in events] == ["given", "withdrawn", "given"]
    assert events[0] == first
    status = subject_consents(session, minimal(), ANNA, at=T0 + timedelta(days=21)).current[0]
    assert status.state is ConsentState.GIVEN and status.event_id == again.id
    earlier = subject_consents(session, minimal(), ANNA, at=T0 + timedelta(days=15)).current[0]
    assert earlier.state is ConsentState.WITHDRAWN


def test_an_event_recorded_late_for_an_earlier_time_takes_its_place_in_time(
    session: Session, signer: ReceiptSigner
) -> None:
    """An import of an older withdrawal does not override a newer consent."""
    _give(session, signer, at=T0 + timedelta(days=5))
    _give(session, signer, state="withdrawn", at=T0)
    status = subject_consents(session, minimal(), ANNA, at=T0 + timedelta(days=6)).current[0]
    assert status.state is ConsentState.GIVEN


def test_equal_event_times_are_ordered_by_sequence(session: Session, signer: ReceiptSigner) -> None:
    """Two statements with the same time: the one recorded later wins."""
    _give(session, signer)
    last = _give(session, signer, state="refused")
    status = subject_consents(session, minimal(), ANNA, at=T0).current[0]
    assert status.state is ConsentState.REFUSED and status.event_id == last.id


def test_the_service_only_ever_inserts_and_selects(ledger: Engine, signer: ReceiptSigner) -> None:
    """Recording, withdrawing and reading issue no UPDATE and no DELETE of the ledger; the
    withdrawal moves the pair's row of the derived current table, and only that."""
    statements: list[tuple[str, str]] = []
    event.listen(
        ledger,
        "before_cursor_execute",
        lambda *args: statements.append(_verb_and_table(args[2])),
    )
    with Session(ledger) as s, s.begin():
        _give(s, signer)
        _give(s, signer, state="withdrawn", at=T0 + timedelta(days=1))
        subject_consents(s, minimal(), ANNA)
    verbs = {verb for verb, _ in statements}
    assert "INSERT" in verbs and "SELECT" in verbs
    changed = {table for verb, table in statements if verb in {"UPDATE", "DELETE"}}
    assert changed == {"consent_current"}


def _verb_and_table(sql: str) -> tuple[str, str]:
    """A statement's verb and the table an INSERT, UPDATE or DELETE writes."""
    words = sql.replace('"', " ").split()
    verb = words[0].upper()
    after = {"INSERT": "INTO", "DELETE": "FROM", "UPDATE": "UPDATE"}.get(verb)
    if after is None:
        return verb, ""
    upper = [w.upper() for w in words]
    return verb, words[upper.index(after) + 1]


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE consent_event SET state = 'given'",
        "DELETE FROM consent_event",
    ],
)
def test_the_database_refuses_to_rewrite_the_ledger(
    ledger: Engine, signer: ReceiptSigner, statement: str
) -> None:
    """The append-only trigger stops UPDATE and DELETE even from outside the service."""
    with Session(ledger) as s, s.begin():
        _give(s, signer, state="withdrawn")
    with pytest.raises(DBAPIError, match="append-only"), ledger.begin() as conn:
        conn.execute(text(statement))
    with Session(ledger) as s:
        assert [e.state.value for e in history(s, ANNA)] == ["withdrawn"]
    assert "Art. 7(1)" in APPEND_ONLY_MESSAGE


def _call(
    session: Session,
    signer: ReceiptSigner,
    *,
    strategy: Strategy | None = None,
    role: str | None = "owner",
    duties: frozenset[Duty] = frozenset(),
    gpc: bool = False,
    subject_id: str = ANNA,
    **body: object,
) -> ConsentRecorded:
    data = {
        "subject": {"id": subject_id},
        "use": "reminders",
        "state": "given",
        "source": "booking-form",
        **body,
    }
    return record_call(
        session,
        strategy or with_profiling(),
        ConsentCreate.model_validate(data),
        signer=signer,
        subject_id=subject_id,
        staff_role=role,
        staff_duties=duties,
        gpc=gpc,
    )


def test_a_subject_alone_may_refuse_or_withdraw_but_not_give(
    session: Session, signer: ReceiptSigner
) -> None:
    """Without staff, `given` is an AuthError and `withdrawn` with the subject's receipt is
    recorded as the subject's."""
    with pytest.raises(AuthError, match="staff token"):
        _call(session, signer, role=None)
    receipt = _call(session, signer).receipt
    withdrawn = _call(session, signer, role=None, state="withdrawn", receipt=receipt)
    assert withdrawn.method == "subject"
    assert history(session, ANNA)[-1].recorded_by == "subject"


def test_a_subject_alone_needs_a_receipt_the_controller_signed_for_them(
    session: Session, signer: ReceiptSigner
) -> None:
    """No receipt, another subject's receipt, or one signed by another key: all AuthError."""
    with pytest.raises(AuthError, match="no receipt"):
        _call(session, signer, role=None, state="withdrawn")
    other = _call(session, signer, subject_id=BEN).receipt
    with pytest.raises(AuthError, match="another subject"):
        _call(session, signer, role=None, state="withdrawn", receipt=other)
    stranger = ReceiptSigner(Keyring.ephemeral())
    claims = {**decode_claims(other), "piiPrincipalId": ANNA}
    resigned = stranger.sign(claims)  # still naming the controller's public key
    own_key = stranger.sign({**claims, "publicKey": stranger.public_key_b64()})
    for forged in (resigned, own_key):
        with pytest.raises(AuthError, match="not one the controller signed"):
            _call(session, signer, role=None, state="withdrawn", receipt=forged)
    assert history(session, ANNA) == []


def test_staff_record_only_through_a_source_their_role_collects_for(
    session: Session, signer: ReceiptSigner
) -> None:
    """The clerk collects for the till only: booking-form is Forbidden, even for a withdrawal,
    until the clerk's role is given the consents duty."""
    for state in ("given", "withdrawn"):
        with pytest.raises(Forbidden, match="collected_by: owner") as refused:
            _call(session, signer, strategy=minimal(), role="clerk", state=state)
        assert refused.value.context["source"] == "booking-form"
    assert history(session, ANNA) == []
    recorded = _call(
        session, signer, strategy=minimal(), role="clerk", duties=frozenset({Duty.CONSENTS})
    )
    assert recorded.method == "staff" and history(session, ANNA)[0].recorded_by == "clerk"


def test_gpc_refuses_every_consent_based_marketing_and_profiling_use(
    session: Session, signer: ReceiptSigner
) -> None:
    """Sec-GPC: 1 refuses reminders and tyre-profile; postal-offers is reported as not consent."""
    answer = _call(session, signer, use="reminders", state="withdrawn", gpc=True)
    assert answer.gpc.signal is True
    assert answer.gpc.refused == ["tyre-profile"]
    assert answer.gpc.already_refused == ["reminders"]
    assert answer.gpc.not_consent_based == ["postal-offers"]
    states = {c.use: c.state for c in subject_consents(session, with_profiling(), ANNA).current}
    assert states == {"reminders": ConsentState.WITHDRAWN, "tyre-profile": ConsentState.REFUSED}
    again = _call(session, signer, use="reminders", state="withdrawn", gpc=True)
    assert again.gpc.refused == [] and len(history(session, ANNA)) == 3


def test_gpc_with_consent_to_profiling_is_refused_as_ambiguous(
    session: Session, signer: ReceiptSigner
) -> None:
    """Giving consent to a GPC kind of use under the signal is refused; nothing is stored."""
    with pytest.raises(ConsentError, match=r"4\(11\)"):
        _call(session, signer, use="tyre-profile", gpc=True)
    assert history(session, ANNA) == []
