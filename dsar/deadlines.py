"""Deadlines of data-subject requests: Art. 12(3) GDPR counted by Regulation 1182/71.

A period of months ends on the same date of the last month as the day it runs from (the day
the request was received), or on that month's last day when the date does not exist
(Art. 3(2)(c) of 1182/71); when the last day is a Saturday, Sunday or public holiday of the
controller's jurisdiction, the period ends on the next working day (Art. 3(4)). The one
extension Art. 12(3) allows adds two further months: three months in all from receipt.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache

import holidays
from dateutil.relativedelta import relativedelta

__all__ = ["EXTENDED_MONTHS", "RESPONSE_MONTHS", "due_date", "is_working_day", "next_working_day"]

RESPONSE_MONTHS = 1
"""Art. 12(3): without undue delay and in any event within one month of receipt."""
EXTENDED_MONTHS = 3
"""Art. 12(3): extendable by two further months where necessary."""


@lru_cache(maxsize=16)
def _calendar(country: str) -> holidays.HolidayBase:
    try:
        return holidays.country_holidays(country)
    except NotImplementedError as exc:
        raise ValueError(
            f"no public-holiday calendar for jurisdiction {country!r}; use an ISO 3166-1 code "
            "the holidays library supports (e.g. FI, SE, DE)"
        ) from exc


def is_working_day(day: date, *, country: str = "FI") -> bool:
    """Not a Saturday, a Sunday, or a public holiday of ``country``."""
    return day.weekday() < 5 and day not in _calendar(country)


def next_working_day(day: date, *, country: str = "FI") -> date:
    """``day`` itself when it is a working day, else the first working day after it."""
    while not is_working_day(day, country=country):
        day += timedelta(days=1)
    return day


def due_date(received: date, *, extended: bool = False, country: str = "FI") -> date:
    """The last day to answer a request received on ``received``.

    >>> due_date(date(2026, 1, 31))   # no 31 February: the month's last day, a Saturday → Monday
    datetime.date(2026, 3, 2)
    """
    months = EXTENDED_MONTHS if extended else RESPONSE_MONTHS
    end: date = received + relativedelta(months=months)
    return next_working_day(end, country=country)
