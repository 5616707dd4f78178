"""Row filters compile to SQL the database evaluates, for every operator of DESIGN §4."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Date,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    select,
)

from access_policy import Policy, row_filter_sql
from kernel.errors import PolicyError
from schemas.models import Condition
from schemas.tables import ExactDecimal, UTCDateTime

NOW = datetime(2026, 3, 15, tzinfo=UTC)

ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "branch": "espoo",
        "score": 3,
        "amount": Decimal("10.50"),
        "born": date(1980, 5, 1),
        "seen_at": datetime(2026, 1, 10, 12, tzinfo=UTC),
        "note": "x",
    },
    {
        "id": 2,
        "branch": "vantaa",
        "score": 7,
        "amount": Decimal("237.50"),
        "born": date(1995, 12, 31),
        "seen_at": datetime(2026, 3, 1, 8, tzinfo=UTC),
        "note": None,
    },
    {
        "id": 3,
        "branch": None,
        "score": 5,
        "amount": None,
        "born": None,
        "seen_at": None,
        "note": None,
    },
]


def _table() -> Table:
    return Table(
        f"rows_{uuid.uuid4().hex[:10]}",
        MetaData(),
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("branch", String(20)),
        Column("score", Integer),
        Column("amount", ExactDecimal()),
        Column("born", Date),
        Column("seen_at", UTCDateTime()),
        Column("note", String(20)),
    )


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def people(request: pytest.FixtureRequest) -> Iterator[tuple[Engine, Table]]:
    """A small table of three people on each database: SQLite always, the servers if up."""
    url = (
        "sqlite://"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url" if request.param == "postgres" else "mariadb_url")
    )
    engine = create_engine(url)
    table = _table()
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), ROWS)
    try:
        yield engine, table
    finally:
        table.metadata.drop_all(engine)
        engine.dispose()


def _ids(people: tuple[Engine, Table], *conditions: Condition) -> set[int]:
    engine, table = people
    where = row_filter_sql(list(conditions), lambda ref: table.c[ref.split(".")[1]], now=NOW)
    with engine.connect() as conn:
        return set(conn.scalars(select(table.c.id).where(where)))


def c(field: str, op: str, value: Any = None) -> Condition:
    """A condition on the test table ``person``."""
    return Condition(field=f"person.{field}", op=op, value=value)


CASES = [
    (c("branch", "eq", "espoo"), {1}),
    (c("branch", "ne", "espoo"), {2, 3}),
    (c("branch", "in", ["espoo", "vantaa"]), {1, 2}),
    (c("branch", "not_in", ["espoo"]), {2, 3}),
    (c("score", "lt", 5), {1}),
    (c("score", "le", 5), {1, 3}),
    (c("score", "gt", 5), {2}),
    (c("score", "ge", 5), {2, 3}),
    (c("amount", "lt", "100"), {1}),
    (c("amount", "ge", 10.5), {1, 2}),
    (c("born", "before", date(1990, 1, 1)), {1}),
    (c("born", "after", "1990-01-01"), {2}),
    (c("seen_at", "before", date(2026, 2, 1)), {1}),
    (c("seen_at", "after", "2026-02-01T00:00:00"), {2}),
    (c("seen_at", "within", "P30D"), {2}),
    (c("seen_at", "within", "P1Y"), {1, 2}),
    (c("born", "within", "P50Y"), {1, 2}),
    (c("born", "within", "P31Y"), {2}),
    (c("note", "exists"), {1}),
    (c("note", "exists", True), {1}),
    (c("note", "exists", False), {2, 3}),
]


@pytest.mark.parametrize(
    ("condition", "expected"), CASES, ids=[f"{x.op}-{x.field}-{x.value}" for x, _ in CASES]
)
def test_each_operator_selects_the_rows_it_says(people, condition: Condition, expected: set[int]):
    assert _ids(people, condition) == expected


def test_several_conditions_must_all_hold(people):
    assert _ids(people, c("branch", "in", ["espoo", "vantaa"]), c("score", "ge", 5)) == {2}


def test_no_conditions_select_every_row(people):
    assert _ids(people) == {1, 2, 3}


def test_a_mechanics_row_filter_from_the_strategy_selects_their_branch(
    people, bundled_policy: Policy
):
    conditions = bundled_policy.row_filters("mechanic", "service-history")
    engine, table = people
    where = row_filter_sql(conditions, lambda ref: table.c[ref.split(".")[1]])
    with engine.connect() as conn:
        assert set(conn.scalars(select(table.c.id).where(where))) == {1}


def test_the_filter_is_sql_not_a_python_loop():
    """The compiled filter is one SQL expression with bound values."""
    table = _table()
    where = row_filter_sql(
        [c("branch", "eq", "espoo"), c("score", "gt", 5)], lambda ref: table.c[ref.split(".")[1]]
    )
    sql = str(where.compile(compile_kwargs={"literal_binds": True}))
    assert sql == f"{table.name}.branch = 'espoo' AND {table.name}.score > 5"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        (c("branch", "in", "espoo"), "'in' takes a non-empty list"),
        (c("branch", "not_in", []), "'not_in' takes a non-empty list"),
        (c("seen_at", "within", "two weeks"), "not an ISO 8601 duration"),
        (c("born", "before", "yesterday"), "'yesterday' does not fit a date column"),
        (c("amount", "gt", "lots"), "'lots' does not fit a numeric column"),
        (c("note", "exists", "maybe"), "exists takes true, false or no value"),
    ],
)
def test_a_condition_that_cannot_compile_names_its_field(condition: Condition, message: str):
    table = _table()
    with pytest.raises(PolicyError, match=message) as err:
        row_filter_sql([condition], lambda ref: table.c[ref.split(".")[1]])
    assert condition.field in str(err.value)
    assert err.value.context["field"] == condition.field
