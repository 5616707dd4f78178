"""The bulk check: may use U be applied to these subjects now? One set-based query."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, Engine, MetaData, String, Table, select
from sqlalchemy.orm import Session

from consent.checks import (
    check,
    check_many,
    consent_gated,
    consent_standing,
    latest_standing,
    lawful_subjects,
    may_apply,
)
from consent.receipts import ReceiptSigner
from kernel.errors import ConsentError
from tests.consent.support import minimal
from tests.consent.support import say as record

pytestmark = pytest.mark.consent

T0 = datetime(2025, 3, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
GIVEN, WITHDRAWN, EXPIRED, REFUSED, NEVER, REGIVEN = (f"{n}" * 32 for n in "123456")


def _ledger(session: Session, signer: ReceiptSigner) -> None:
    def say(subject: str, state: str, at: datetime) -> None:
        record(session, signer, subject, state, at)

    say(GIVEN, "given", T0)
    say(WITHDRAWN, "given", T0)
    say(WITHDRAWN, "withdrawn", T0 + timedelta(days=1))
    say(EXPIRED, "given", T0 - timedelta(days=800))  # P2Y passed before NOW
    say(REFUSED, "refused", T0)
    say(REGIVEN, "given", T0)
    say(REGIVEN, "withdrawn", T0 + timedelta(days=2))
    say(REGIVEN, "given", T0 + timedelta(days=3))


EVERYONE = [GIVEN, WITHDRAWN, EXPIRED, REFUSED, NEVER, REGIVEN]


def test_only_subjects_whose_latest_event_is_an_unexpired_given_are_lawful(
    ledger: Engine, signer: ReceiptSigner
) -> None:
    """Given and given-again count; withdrawn, refused, expired and never-asked do not."""
    with Session(ledger) as s, s.begin():
        _ledger(s, signer)
        assert set(s.scalars(lawful_subjects("reminders", at=NOW))) == {GIVEN, REGIVEN}
        assert check_many(s, minimal(), "reminders", EVERYONE, at=NOW) == {GIVEN, REGIVEN}


def test_the_check_answers_for_a_moment_in_the_past(ledger: Engine, signer: ReceiptSigner) -> None:
    """Half a day after T0 the later withdrawals had not happened yet."""
    with Session(ledger) as s, s.begin():
        _ledger(s, signer)
        then = T0 + timedelta(hours=12)
        assert check_many(s, minimal(), "reminders", EVERYONE, at=then) == {
            GIVEN,
            WITHDRAWN,
            REGIVEN,
        }
        assert check(s, minimal(), "reminders", WITHDRAWN, at=then) is True
        assert check(s, minimal(), "reminders", WITHDRAWN, at=NOW) is False
        assert check(s, minimal(), "reminders", EXPIRED, at=NOW) is False


def test_chunked_checks_give_the_same_answer_as_one_query(
    ledger: Engine, signer: ReceiptSigner
) -> None:
    """check_many in chunks of two agrees with the whole set, and with single checks."""
    with Session(ledger) as s, s.begin():
        _ledger(s, signer)
        whole = set(s.scalars(lawful_subjects("reminders", at=NOW)))
        assert check_many(s, minimal(), "reminders", EVERYONE * 2, at=NOW, chunk_size=2) == whole
        assert {x for x in EVERYONE if check(s, minimal(), "reminders", x, at=NOW)} == whole


def test_may_apply_filters_a_subject_table_in_sql(ledger: Engine, signer: ReceiptSigner) -> None:
    """As a condition on customer.id the check is one query; a contract use filters nothing."""
    customer = Table("customer", MetaData(), Column("id", String(32), primary_key=True))
    customer.create(ledger)
    with Session(ledger) as s, s.begin():
        _ledger(s, signer)
        s.execute(customer.insert(), [{"id": x} for x in EVERYONE])
        reminded = select(customer.c.id).where(
            may_apply(minimal(), "reminders", customer.c.id, at=NOW)
        )
        assert set(s.scalars(reminded)) == {GIVEN, REGIVEN}
        served = select(customer.c.id).where(may_apply(minimal(), "service", customer.c.id))
        assert set(s.scalars(served)) == set(EVERYONE)


def test_the_standing_of_each_subject_says_why_a_use_may_or_may_not_reach_it(
    ledger: Engine, signer: ReceiptSigner
) -> None:
    """One correlated expression gives given, expired, refused, withdrawn or NULL per subject,
    as of the moment asked; it agrees with the whole-set query on who is lawful, and with the
    table of every subject's latest standing, outer-joined, on every subject."""
    customer = Table("customer", MetaData(), Column("id", String(32), primary_key=True))
    customer.create(ledger)
    with Session(ledger) as s, s.begin():
        _ledger(s, signer)
        s.execute(customer.insert(), [{"id": x} for x in EVERYONE])

        def standings(at: datetime) -> dict[str, str | None]:
            standing = consent_standing("reminders", customer.c.id, at=at).label("standing")
            seeked = {sid: state for sid, state in s.execute(select(customer.c.id, standing))}
            latest = latest_standing("reminders", at=at)
            joined = select(customer.c.id, latest.c.standing).select_from(
                customer.outerjoin(latest, latest.c.subject_id == customer.c.id)
            )
            assert {sid: state for sid, state in s.execute(joined)} == seeked  # the same answers
            return seeked

        assert standings(NOW) == {
            GIVEN: "given",
            WITHDRAWN: "withdrawn",
            EXPIRED: "expired",
            REFUSED: "refused",
            NEVER: None,
            REGIVEN: "given",
        }
        asked = s.execute(select(latest_standing("reminders", at=NOW))).all()
        assert len(asked) == len(EVERYONE) - 1  # one row a subject ever asked: NEVER has none
        lawful = {sid for sid, state in standings(NOW).items() if state == "given"}
        assert lawful == set(s.scalars(lawful_subjects("reminders", at=NOW)))
        then = standings(T0 + timedelta(days=2, hours=12))  # REGIVEN withdrawn, not yet again
        assert then[REGIVEN] == "withdrawn"
        assert then[WITHDRAWN] == "withdrawn"
        assert standings(T0 - timedelta(days=1))[GIVEN] is None
        with pytest.raises(ConsentError, match="time zone"):
            consent_standing("reminders", customer.c.id, at=NOW.replace(tzinfo=None))


def test_uses_not_based_on_consent_are_answered_by_their_basis(ledger: Engine) -> None:
    """Contract and legal obligation are not consent-gated: every subject may be served."""
    assert consent_gated(minimal(), "reminders") is True
    assert consent_gated(minimal(), "bookkeeping") is False
    with Session(ledger) as s:
        assert check_many(s, minimal(), "service", EVERYONE) == set(EVERYONE)
        assert check(s, minimal(), "bookkeeping", NEVER) is True


def test_an_undeclared_use_is_an_error_not_a_silent_no(ledger: Engine) -> None:
    """Asking about a use the strategy does not declare raises a ConsentError."""
    with Session(ledger) as s, pytest.raises(ConsentError, match="not declared"):
        check_many(s, minimal(), "newsletter", EVERYONE)
