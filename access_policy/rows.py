"""Conditions (an access grant's ``rows``, an audience's ``where``) compiled to SQL expressions.

The database filters; no Python loop ever runs over rows. The compiler does not know the
tables: the caller passes ``column_for``, which maps a field reference (``customer.branch``) to
a column expression it has already joined or correlated. Values are coerced to the column's
type (ISO strings to dates and datetimes, numbers to ``Decimal`` for numeric columns), so
YAML values compare correctly on SQLite, PostgreSQL and MariaDB alike.

Operator semantics (DESIGN §4), with SQL NULL read as "no value":

    eq ne          equal / not equal; ``ne`` also matches rows without a value
    in not_in      in the list / not in it; ``not_in`` also matches rows without a value
    lt le gt ge    ordered comparisons; rows without a value never match
    before after   strictly earlier / later than a date or datetime
    within         no earlier than now minus a duration (``P30D``: the last thirty days)
    exists         has a value (``value: false``: has none)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from sqlalchemy import ColumnElement, Date, DateTime, Numeric, and_, or_, true
from sqlalchemy.types import TypeDecorator, TypeEngine

from kernel.errors import PolicyError
from schemas.enums import Operator
from schemas.models import Condition
from schemas.primitives import parse_duration

__all__ = ["ColumnResolver", "condition_sql", "row_filter_sql"]

ColumnResolver = Callable[[str], ColumnElement[Any]]
"""Maps a field reference (``entity.field``) to the column expression that holds it."""


def row_filter_sql(
    conditions: Sequence[Condition],
    column_for: ColumnResolver,
    *,
    now: datetime | None = None,
) -> ColumnElement[bool]:
    """All ``conditions`` as one SQL boolean expression (``true()`` when there are none).

    ``now`` anchors ``within`` (default: the current UTC time).
    """
    if not conditions:
        return true()
    moment = now or datetime.now(UTC)
    clauses = [condition_sql(c, column_for(c.field), now=moment) for c in conditions]
    return clauses[0] if len(clauses) == 1 else and_(*clauses)


def condition_sql(
    condition: Condition,
    column: ColumnElement[Any],
    *,
    now: datetime | None = None,
) -> ColumnElement[bool]:
    """One condition on one column as a SQL boolean expression."""
    op, raw = condition.op, condition.value
    kind = _kind(column.type)

    def one(value: Any) -> Any:
        return _coerce(value, kind, condition)

    match op:
        case Operator.EQ:
            return _bool(column == one(raw))
        case Operator.NE:
            return or_(column != one(raw), column.is_(None))
        case Operator.IN | Operator.NOT_IN:
            if not isinstance(raw, list | tuple) or not raw:
                raise _bad(condition, f"'{op}' takes a non-empty list of values")
            values = [one(v) for v in raw]
            if op is Operator.IN:
                return column.in_(values)
            return or_(column.not_in(values), column.is_(None))
        case Operator.LT | Operator.BEFORE:
            return _bool(column < one(raw))
        case Operator.LE:
            return _bool(column <= one(raw))
        case Operator.GT | Operator.AFTER:
            return _bool(column > one(raw))
        case Operator.GE:
            return _bool(column >= one(raw))
        case Operator.WITHIN:
            try:
                delta = parse_duration(str(raw))
            except ValueError as exc:
                raise _bad(condition, str(exc)) from None
            moment = now or datetime.now(UTC)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return _bool(column >= _coerce(moment - delta, kind, condition))
        case Operator.EXISTS:
            if raw is None or raw is True:
                return column.is_not(None)
            if raw is False:
                return column.is_(None)
            raise _bad(condition, "exists takes true, false or no value")
    raise _bad(condition, f"unknown operator {op!r}")  # pragma: no cover - Operator is closed


def _bool(expression: Any) -> ColumnElement[bool]:
    return cast(ColumnElement[bool], expression)


def _bad(condition: Condition, why: str) -> PolicyError:
    return PolicyError(
        f"condition on {condition.field} ({condition.op} {condition.value!r}): {why}; "
        "fix the rows/where condition in the strategy",
        field=condition.field,
    )


def _kind(type_: TypeEngine[Any]) -> str:
    impl: Any = type_
    if isinstance(type_, TypeDecorator):
        impl = type_.impl_instance
    if isinstance(impl, DateTime):
        return "datetime_tz" if impl.timezone else "datetime"
    if isinstance(impl, Date):
        return "date"
    if isinstance(impl, Numeric):
        return "numeric"
    return "other"


def _coerce(value: Any, kind: str, condition: Condition) -> Any:
    try:
        if kind in {"datetime", "datetime_tz"}:
            moment = _as_datetime(value)
            if kind == "datetime_tz":
                return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
            return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
        if kind == "date":
            if isinstance(value, datetime):
                return value.date()
            return value if isinstance(value, date) else date.fromisoformat(str(value))
        if kind == "numeric" and not isinstance(value, bool):
            return value if isinstance(value, Decimal) else Decimal(str(value))
    except (ValueError, InvalidOperation):
        raise _bad(condition, f"{value!r} does not fit a {kind.split('_')[0]} column") from None
    return value


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time.min, tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
