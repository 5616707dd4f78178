"""Property: the derived state of a (subject, use) is always the last event in time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.checks import check_many
from consent.current import CURRENT, latest_events
from consent.models import ConsentState
from consent.receipts import ReceiptSigner
from consent.service import record_consent, subject_consents
from consent.tables import create_tables
from kernel.db import make_engine
from kernel.keys import Keyring
from tests.consent.support import minimal

pytestmark = pytest.mark.consent

BASE = datetime(2023, 1, 1, tzinfo=UTC)
SUBJECTS = ["a" * 32, "b" * 32, "c" * 32]
SIGNER = ReceiptSigner(Keyring.ephemeral())

# (subject, state, day offset): few days so that equal times happen and expiry (P2Y) is crossed.
events = st.lists(
    st.tuples(
        st.sampled_from(SUBJECTS),
        st.sampled_from(["given", "refused", "withdrawn"]),
        st.sampled_from([0, 1, 1, 2, 400, 731, 900]),
    ),
    min_size=1,
    max_size=12,
)
moments = st.sampled_from([0, 1, 2, 500, 732, 1000, 1200])


def _expected(story: list[tuple[str, str, int]], subject: str, day: int) -> ConsentState | None:
    """The last event in time up to ``day`` (ties: recorded later wins), read for expiry."""
    mine = [(d, i, s) for i, (who, s, d) in enumerate(story) if who == subject and d <= day]
    if not mine:
        return None
    d, _, state = max(mine)
    if state == "given" and BASE + timedelta(days=d) + relativedelta(years=2) <= (
        BASE + timedelta(days=day)
    ):
        return ConsentState.EXPIRED
    return ConsentState(state)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(story=events, day=moments)
def test_derived_state_always_equals_the_last_event_in_time(
    story: list[tuple[str, str, int]], day: int
) -> None:
    """Whatever order events are recorded in, state and bulk check follow the latest event."""
    engine = make_engine("sqlite://")
    create_tables(engine)
    at = BASE + timedelta(days=day)
    with Session(engine) as s, s.begin():
        for subject, state, offset in story:
            record_consent(
                s,
                minimal(),
                signer=SIGNER,
                subject_id=subject,
                use="reminders",
                state=state,
                source="booking-form",
                at=BASE + timedelta(days=offset),
            )
        lawful = check_many(s, minimal(), "reminders", SUBJECTS, at=at)
        latest, event = latest_events(None, None)
        derived = s.execute(latest.add_columns(event.subject_id, event.seq)).all()
        held = s.execute(select(CURRENT.c.subject_id, CURRENT.c.seq)).all()
        assert sorted(held) == sorted(derived)  # the current table: every pair's latest event
        for subject in SUBJECTS:
            expected = _expected(story, subject, day)
            current = subject_consents(s, minimal(), subject, at=at).current[0]
            assert current.state == expected
            assert (subject in lawful) == (expected is ConsentState.GIVEN)
    engine.dispose()
