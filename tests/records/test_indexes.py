"""Every index the compiled tables create is used by a query the product runs.

The test runs the product's own lookups (finding a subject by an identifier, reading a subject,
retention, every audience condition and row filter of the bundled strategy), records each SQL
statement they send, and asks SQLite for the plan of each: every index in the list below must
appear in some plan, and the compiled tables must create exactly the listed indexes.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, select

from activation.audiences import conditions_sql
from dsar.tables import database_metadata
from kernel.db import make_engine, transaction
from records.migrations import upgrade
from records.retention import run_retention
from records.store import FieldCrypto, RecordStore, find_subject, ingest, read_subject
from tests.records.support import bundled

NOW = datetime(2026, 12, 1, tzinfo=UTC)

# index -> the query of the product that uses it
EARNED = {
    "ix_customer_email": "find a subject by email (requests, sign-in, imports' match)",
    "ix_customer_phone": "find a subject by phone",
    "ix_customer_subject_id": "read a subject's own record (access, portability, erasure)",
    "ix_customer_retention_until": "retention: subjects whose period has passed",
    "ix_customer_by_branch": "audiences and row filters on customer.branch",
    "ix_customer_by_preferred_channel": "audiences on customer.preferred_channel",
    "ix_vehicle_cond_tyre_type": "audiences on vehicle.tyre_type; a subject's vehicles",
    "ix_vehicle_parent_id": "the foreign key's cascade from a customer's row",
    "ix_vehicle_retention_until": "retention: vehicles whose period has passed",
    "ix_visit_cond_visited_at": "audiences on visit.visited_at; a subject's visits",
    "ix_visit_parent_id": "the foreign key's cascade from a vehicle's row",
    "ix_visit_retention_until": "retention: visits whose period has passed",
    "ix_tyre_storage_cond_season_tread_depth_mm": (
        "the audience on tyre_storage.season and .tread_depth_mm together; a subject's storage"
    ),
    "ix_tyre_storage_parent_id": "the foreign key's cascade from a vehicle's row",
    "ix_tyre_storage_retention_until": "retention: stored tyres whose period has passed",
}


@pytest.fixture
def sqlite(tmp_path: Path, crypto: FieldCrypto) -> Iterator[tuple[Engine, RecordStore]]:
    """The bundled system of record on a fresh SQLite file, created by the migration."""
    strategy = bundled()
    engine = make_engine(f"sqlite:///{tmp_path / 'indexes.db'}")
    upgrade(engine, database_metadata(strategy))
    yield engine, RecordStore(strategy, crypto=crypto)
    engine.dispose()


def _plans(engine: Engine, statements: list[tuple[str, Any]]) -> str:
    """The query plans of ``statements``, as one text."""
    lines = []
    raw = engine.raw_connection()
    try:
        for sql, params in statements:
            if not sql.lstrip().upper().startswith(("SELECT", "DELETE", "WITH")):
                continue
            for row in raw.execute(f"EXPLAIN QUERY PLAN {sql}", params or ()):
                lines.append(str(row[-1]))
    finally:
        raw.close()
    return "\n".join(lines)


def _product_queries(engine: Engine, store: RecordStore) -> list[tuple[str, Any]]:
    sent: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        if not many:
            sent.append((sql, params))

    event.listen(engine, "before_cursor_execute", record)
    try:
        with transaction(engine) as session:
            find_subject(session, store, {"email": "anna@example.fi"})
            find_subject(session, store, {"phone": "+358401234567"})
            anna = {
                "name": "A",
                "email": "a@example.fi",
                "phone": "+358401234567",
                "branch": "espoo",
            }
            sid = ingest(session, store, "customer", source="booking-form", values=anna).subject_id
            read_subject(session, store, sid)
            run_retention(session, store, now=NOW, dry_run=True)
            strategy = store.strategy
            conditions = [a.audience.where for a in strategy.activations]
            conditions += [g.rows for g in strategy.system.access if g.rows]
            subject = store.tables.subject_table
            for where in conditions:
                query = select(subject.c.id).where(conditions_sql(store, where, now=NOW))
                session.execute(query).all()
            for entity in store.tables.order()[1:]:
                # what SQLite itself looks up when a parent row is deleted (ON DELETE CASCADE)
                child = store.tables.table(entity)
                session.execute(select(child.c.id).where(child.c.parent_id == "0" * 32)).all()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def test_the_compiled_tables_create_exactly_the_earned_indexes(
    sqlite: tuple[Engine, RecordStore],
) -> None:
    """No index the list does not justify, and none of the list missing."""
    _, store = sqlite
    created = {ix.name for t in store.tables.tables.values() for ix in t.indexes}
    assert created == set(EARNED)


def test_every_index_is_in_the_plan_of_a_query_the_product_runs(
    sqlite: tuple[Engine, RecordStore],
) -> None:
    """SQLite's plans for the product's own statements name every listed index."""
    engine, store = sqlite
    plans = _plans(engine, _product_queries(engine, store))
    unused = sorted(name for name in EARNED if name not in plans)
    assert unused == [], f"indexes no product query uses: {unused}\n{plans}"
