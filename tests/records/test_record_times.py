"""On SQLite the system of record keeps datetimes as integer microseconds, and converts old text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Table, insert, select, text

from dsar.tables import database_metadata
from kernel.db import make_engine
from records.migrations import plan_upgrade, upgrade
from schemas.tables import RecordTime, UTCDateTime, new_metadata
from tests.records.support import bundled

T0 = datetime(2026, 3, 1, 9, 30, 5, 123456, tzinfo=UTC)
T1 = T0 + timedelta(days=2200, microseconds=7)

_times = st.datetimes(
    min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


def _earlier(metadata: MetaData) -> MetaData:
    """The same tables as an earlier version declared them: datetimes as DATETIME text."""
    old = new_metadata()
    for table in metadata.sorted_tables:
        copy = table.to_metadata(old)
        for column in copy.columns:
            if isinstance(column.type, RecordTime):
                column.type = UTCDateTime()
    return old


@settings(max_examples=50, deadline=None)
@given(moment=_times)
def test_a_record_time_is_stored_as_an_integer_and_read_back_exactly(
    tmp_path_factory, moment: datetime
) -> None:
    """Any aware datetime from 1900 to 2200 goes in as integer microseconds and comes back equal."""
    folder = tmp_path_factory.mktemp("times")
    engine = make_engine(f"sqlite:///{folder / 't.db'}")
    metadata = MetaData()
    table = Table(
        "t", metadata, Column("id", Integer, primary_key=True), Column("at", RecordTime())
    )
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table).values(id=1, at=moment))
        kind = conn.execute(text("SELECT typeof(at) FROM t")).scalar_one()
        back = conn.execute(select(table.c.at)).scalar_one()
    engine.dispose()
    assert kind == "integer"
    assert back == moment


def test_db_upgrade_turns_an_earlier_databases_text_times_into_integers(tmp_path: Path) -> None:
    """A database an earlier version made (DATETIME columns holding text): the upgrade plans a
    rewrite of the tables holding rows and no column change, converts every value, reads them
    back the same, and compares them rightly afterwards."""
    strategy = bundled()
    metadata = database_metadata(strategy)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    old = _earlier(metadata)
    old.create_all(engine)
    sid, vid, wid = "a" * 32, "b" * 32, "c" * 32
    book = {"source": "service-desk", "collected_at": T0, "updated_at": T0, "provenance": {}}
    with engine.begin() as conn:
        conn.execute(
            insert(old.tables["customer"]),
            {"id": sid, "subject_id": sid, **book, "retention_until": T1, "name": "A"},
        )
        conn.execute(
            insert(old.tables["vehicle"]),
            {"id": vid, "subject_id": sid, "parent_id": sid, **book, "retention_until": T1},
        )
        conn.execute(
            insert(old.tables["visit"]),
            {
                "id": wid,
                "subject_id": sid,
                "parent_id": sid,
                **book,
                "retention_until": T0 + timedelta(days=1),
                "visited_at": T0 - timedelta(microseconds=1),
            },
        )
        assert conn.execute(text("SELECT typeof(collected_at) FROM visit")).scalar_one() == "text"
    plan = plan_upgrade(engine, metadata)
    rewrites = {(s.table, s.detail.split(",")[0]) for s in plan.steps if s.kind == "rewrite rows"}
    assert ("visit", "datetimes as integer microseconds") in rewrites
    assert ("customer", "datetimes as integer microseconds") in rewrites
    assert not [s for s in plan.steps if s.kind == "alter column"], plan.steps
    upgrade(engine, metadata)
    visit = metadata.tables["visit"]
    with engine.connect() as conn:
        kinds = conn.execute(
            text(
                "SELECT typeof(collected_at), typeof(retention_until), typeof(visited_at) "
                "FROM visit"
            )
        ).one()
        row = conn.execute(select(visit.c.collected_at, visit.c.visited_at)).one()
        lapsed = (
            conn.execute(select(visit.c.id).where(visit.c.retention_until < T0 + timedelta(days=2)))
            .scalars()
            .all()
        )
    assert tuple(kinds) == ("integer", "integer", "integer")
    assert tuple(row) == (T0, T0 - timedelta(microseconds=1))
    assert lapsed == [wid]
    assert plan_upgrade(engine, metadata).empty
    engine.dispose()
