"""Domain primitives of the strategy format: ids, field references and ISO 8601 durations."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Annotated

from dateutil.relativedelta import relativedelta
from pydantic import AfterValidator, BaseModel, ConfigDict

__all__ = [
    "Duration",
    "EntityName",
    "FieldName",
    "FieldRef",
    "Id",
    "StrictModel",
    "duration_delta",
    "parse_duration",
    "split_ref",
]


class StrictModel(BaseModel):
    """The project's base model: unknown keys are errors, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, use_enum_values=False)


_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REF = re.compile(r"^([a-z][a-z0-9_]*)\.([a-z][a-z0-9_]*|\*)$")
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


def _id(value: str) -> str:
    if not _ID.match(value):
        raise ValueError(f"{value!r} is not a kebab-case id: use lowercase letters, digits and '-'")
    return value


def _name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: start with a letter, then lowercase letters, "
            "digits and '_'"
        )
    return value


def _ref(value: str) -> str:
    if not _REF.match(value):
        raise ValueError(f"{value!r} is not a field reference: write 'entity.field' or 'entity.*'")
    return value


@lru_cache(maxsize=4096)
def parse_duration(value: str) -> relativedelta:
    """Parse an ISO 8601 duration such as ``P2Y``, ``P30D`` or ``P1Y6M`` into a calendar delta.

    Cached: a strategy names a handful of durations, read on every retention computation.
    Callers must not mutate the returned delta.
    """
    match = _DURATION.match(value)
    if not match:
        raise ValueError(f"{value!r} is not an ISO 8601 duration: write e.g. P2Y, P6M, P30D")
    parts = {k: int(v) for k, v in match.groupdict().items() if v}
    weeks = parts.pop("weeks", 0)
    delta = relativedelta(**parts)  # type: ignore[arg-type]
    return delta + relativedelta(days=7 * weeks)


def _duration(value: str) -> str:
    parse_duration(value)
    return value


def duration_delta(value: str, *, anchor: date | datetime | None = None) -> timedelta:
    """The length of a duration as a timedelta, counted forward from ``anchor`` (default today)."""
    start = anchor or date.today()
    return (start + parse_duration(value)) - start


def split_ref(ref: str) -> tuple[str, str]:
    """``'customer.email'`` → ``('customer', 'email')``."""
    entity, _, field = ref.partition(".")
    return entity, field


Id = Annotated[str, AfterValidator(_id)]
"""A kebab-case id, unique within its kind (``seasonal-reminders``)."""
EntityName = Annotated[str, AfterValidator(_name)]
"""An entity name in the system step (``customer``, ``tyre_hotel``)."""
FieldName = Annotated[str, AfterValidator(_name)]
"""A field name within an entity (``visited_at``)."""
FieldRef = Annotated[str, AfterValidator(_ref)]
"""``entity.field``, or ``entity.*`` for every field of the entity."""
Duration = Annotated[str, AfterValidator(_duration)]
"""An ISO 8601 duration (``P2Y``, ``P30D``)."""
