"""Request deadlines follow Art. 12(3) GDPR as counted by Regulation 1182/71."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dsar.deadlines import due_date, is_working_day


@pytest.mark.parametrize(
    ("received", "due", "why"),
    [
        (date(2026, 3, 10), date(2026, 4, 10), "same date next month, a Friday"),
        (date(2026, 1, 31), date(2026, 3, 2), "no 31 Feb: last day (Sat 28th) → Monday"),
        (date(2028, 1, 31), date(2028, 2, 29), "leap year: 29 February, a Tuesday"),
        (date(2026, 11, 6), date(2026, 12, 7), "6 December is Independence Day (a Sunday)"),
        (date(2026, 11, 24), date(2026, 12, 28), "Christmas Eve, Day and Boxing Day, then Sunday"),
        (date(2026, 5, 19), date(2026, 6, 22), "Midsummer Eve and Day, then Sunday"),
        (date(2026, 3, 3), date(2026, 4, 7), "Good Friday to Easter Monday"),
    ],
)
def test_one_month_ends_on_the_same_date_or_the_next_working_day(
    received: date, due: date, why: str
) -> None:
    """The answer is due one month after receipt, moved off weekends and Finnish holidays."""
    assert due_date(received) == due, why


def test_an_extension_gives_three_months_in_all_from_receipt() -> None:
    """Art. 12(3): two further months, counted to the same date three months on."""
    assert due_date(date(2026, 3, 10), extended=True) == date(2026, 6, 10)
    assert due_date(date(2026, 11, 30), extended=True) == date(2027, 3, 1)  # 28 Feb is Sunday


def test_another_jurisdiction_uses_its_own_holidays() -> None:
    """Sweden's National Day (6 June) is a holiday there, not in Finland."""
    assert due_date(date(2025, 5, 6), country="SE") == date(2025, 6, 9)
    assert due_date(date(2025, 5, 6), country="FI") == date(2025, 6, 6)


def test_an_unknown_jurisdiction_is_a_clear_error() -> None:
    """A jurisdiction with no holiday calendar names itself in the error."""
    with pytest.raises(ValueError, match="'XX'"):
        due_date(date(2026, 1, 1), country="XX")


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)))
def test_the_due_date_is_a_working_day_within_a_month_and_a_few_days(received: date) -> None:
    """Whatever the receipt date, the deadline is a working day, never early, never far late."""
    due = due_date(received)
    assert is_working_day(due)
    assert received + timedelta(days=27) <= due <= received + timedelta(days=31 + 5)
