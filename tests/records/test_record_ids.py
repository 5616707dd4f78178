"""Record ids in 16 bytes: how each database keeps them, hostile lookups, and the upgrade of a
database written while they were 32 characters of text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, MetaData, String, delete, func, insert, inspect, select, text

from dsar.tables import database_metadata
from kernel.db import make_engine, transaction
from records.migrations import data, plan_upgrade, upgrade
from records.migrations.ids import UnconvertibleId
from records.store import RecordStore, find_subject, ingest, read_subject
from schemas.tables import RecordId, id_text, new_metadata
from tests.records.support import bundled

T0 = datetime(2026, 3, 1, 9, 30, 5, 123456, tzinfo=UTC)
ANNA = {
    "name": "Anna Virtanen",
    "email": "anna@example.fi",
    "phone": "040 123 4567",
    "branch": "espoo",
}
HOSTILE = [
    "",
    "x",
    "\x00" * 32,
    "\ud800" + "a" * 31,
    "A" * 32,
    "g" * 32,
    "a" * 31,
    "a" * 33,
    "00000000-0000-0000-0000-000000000000",
    "'; DROP TABLE customer; --",
]


def _id_kind(engine: Engine, table: str) -> str:
    """How the database keeps ``table.id``: SQLite's typeof of a stored value, else the
    column's reflected type name."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return str(conn.exec_driver_sql(f"SELECT typeof(id) FROM {table} LIMIT 1").scalar())
    column = next(c for c in inspect(engine).get_columns(table) if c["name"] == "id")
    return type(column["type"]).__name__.lower()


def test_ids_are_kept_in_sixteen_bytes_and_read_back_as_hex(store: RecordStore, engine) -> None:
    """A blob of 16 bytes on SQLite, uuid on PostgreSQL, VARCHAR(32) on MariaDB; the store and
    its callers see the same 32 lowercase hex digits everywhere."""
    with transaction(engine) as session:
        anna = ingest(session, store, "customer", source="booking-form", values=ANNA)
        car = ingest(
            session,
            store,
            "vehicle",
            source="booking-form",
            values={"plate": "ABC-1"},
            subject={"id": anna.subject_id},
        )
    with transaction(engine) as session:
        records = read_subject(session, store, anna.subject_id)
        found = find_subject(session, store, {"id": anna.subject_id})
        if engine.dialect.name == "sqlite":
            size = session.execute(text("SELECT length(id) FROM vehicle")).scalar_one()
            assert size == 16
    expected = {"sqlite": "blob", "postgresql": "uuid", "mariadb": "varchar", "mysql": "varchar"}
    assert _id_kind(engine, "vehicle") == expected[engine.dialect.name]
    assert found == anna.subject_id
    (vehicle,) = records["vehicle"]
    assert vehicle.id == car.record_id and len(vehicle.id) == 32
    assert vehicle.subject_id == vehicle.parent_id == anna.subject_id
    assert int(vehicle.id, 16) >= 0 and vehicle.id == vehicle.id.lower()


def test_text_that_is_no_id_finds_nothing_and_raises_nothing(store: RecordStore, engine) -> None:
    """NUL bytes, a lone surrogate, upper case, the nil uuid, a quote: each looked up as an id
    (equality, IN and NOT IN) finds no row, where ids as text found none either."""
    with transaction(engine) as session:
        anna = ingest(session, store, "customer", source="booking-form", values=ANNA)
    table = store.tables.subject_table
    with transaction(engine) as session:
        for guess in HOSTILE:
            if engine.dialect.name != "sqlite" and "\x00" in guess:
                continue  # PostgreSQL and MariaDB refuse NUL in any text parameter
            assert session.execute(select(table.c.id).where(table.c.id == guess)).first() is None
            assert find_subject(session, store, {"id": guess}) is None
            among = session.execute(
                select(table.c.id).where(table.c.id.in_([guess, anna.subject_id]))
            )
            assert among.scalars().all() == [anna.subject_id]
            others = session.execute(select(func.count()).where(table.c.id.not_in([guess])))
            assert others.scalar_one() == 1


def test_id_text_compares_an_id_column_with_ids_kept_as_text(store: RecordStore, engine) -> None:
    """``id_text`` turns a stored id into the 32 characters the ledger and flags keep."""
    with transaction(engine) as session:
        anna = ingest(session, store, "customer", source="booking-form", values=ANNA)
        table = store.tables.subject_table
        shown = session.execute(select(id_text(table.c.id))).scalar_one()
        same = session.execute(
            select(func.count()).where(id_text(table.c.id) == anna.subject_id)
        ).scalar_one()
    assert shown == anna.subject_id
    assert same == 1


# the upgrade of an earlier database -----------------------------------------------------------


def _earlier(metadata: MetaData) -> MetaData:
    """The same tables as the earlier version declared them: ids as VARCHAR(32) text."""
    old = new_metadata()
    for table in metadata.sorted_tables:
        copy = table.to_metadata(old)
        for column in copy.columns:
            if isinstance(column.type, RecordId):
                column.type = String(32)
    return old


def _book(at: datetime = T0) -> dict[str, Any]:
    return {
        "source": "service-desk",
        "collected_at": at,
        "updated_at": at,
        "retention_until": at + timedelta(days=3650),
        "provenance": {},
    }


def _old_database(engine: Engine, *, vehicles: int = 5, odd_id: str | None = None) -> MetaData:
    """An earlier version's database: one customer with ``vehicles`` cars and a visit, their
    ids as text (and one car under ``odd_id`` when given)."""
    metadata = database_metadata(bundled())
    old = _earlier(metadata)
    old.create_all(engine)
    sid = "a" * 32
    cars = [f"{i:032x}" for i in range(1, vehicles + 1)] + ([odd_id] if odd_id else [])
    with engine.begin() as conn:
        conn.execute(insert(old.tables["customer"]), {"id": sid, "subject_id": sid, **_book()})
        conn.execute(
            insert(old.tables["vehicle"]),
            [
                {"id": v, "subject_id": sid, "parent_id": sid, "make": f"ABC-{n}", **_book()}
                for n, v in enumerate(cars)
            ],
        )
        conn.execute(
            insert(old.tables["visit"]),
            {"id": "b" * 32, "subject_id": sid, "parent_id": sid, **_book()},
        )
    return metadata


@pytest.mark.parametrize(
    "engine",
    ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
def test_db_upgrade_converts_text_ids_in_batches_and_readers_answer_the_same(
    engine, crypto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upgrade plans an id conversion and no column alteration, converts every id (in
    batches, with progress, on SQLite), keeps the foreign keys and their cascades, and the
    store reads the subject's records under the same ids; a second plan is empty."""
    metadata = _old_database(engine)
    plan = plan_upgrade(engine, metadata)
    assert not [s for s in plan.steps if s.kind == "alter column"], plan.steps
    if engine.dialect.name == "sqlite":
        planned = {s.table for s in plan.steps if "record ids as 16-byte values" in s.detail}
    else:
        planned = {s.table for s in plan.steps if s.kind == "convert ids"}
    assert {"customer", "vehicle", "visit"} <= planned
    monkeypatch.setattr(data, "BATCH", 2)
    told: list[tuple[str, int]] = []
    upgrade(engine, metadata, progress=lambda table, n: told.append((table, n)))
    assert plan_upgrade(engine, metadata).empty
    if engine.dialect.name == "sqlite":
        assert ("vehicle", 2) in told and ("vehicle", 4) in told and ("vehicle", 5) in told
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_key_check").all() == []
    assert _id_kind(engine, "vehicle") == ("blob" if engine.dialect.name == "sqlite" else "uuid")
    store = RecordStore(bundled(), crypto=crypto)
    with transaction(engine) as session:
        assert find_subject(session, store, {"id": "a" * 32}) == "a" * 32
        records = read_subject(session, store, "a" * 32)
    assert sorted(r.id for r in records["vehicle"]) == [f"{i:032x}" for i in range(1, 6)]
    assert [r.id for r in records["visit"]] == ["b" * 32]
    assert {r.values["make"] for r in records["vehicle"]} == {f"ABC-{n}" for n in range(5)}
    with transaction(engine) as session:
        session.execute(delete(store.tables.subject_table))
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM vehicle")).scalar_one()
    assert left == 0  # ON DELETE CASCADE survived the conversion


def test_sqlite_upgrade_keeps_an_id_it_cannot_convert_as_findable_text(tmp_path) -> None:
    """SQLite refuses nothing: an id that is no hex stays text, and is found as before."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    metadata = _old_database(engine, vehicles=1, odd_id="legacy-car-7")
    upgrade(engine, metadata)
    vehicle = metadata.tables["vehicle"]
    with engine.connect() as conn:
        kinds: dict[str, str] = dict(
            conn.exec_driver_sql("SELECT make, typeof(id) FROM vehicle").all()
        )
        found = conn.execute(select(vehicle.c.make).where(vehicle.c.id == "legacy-car-7")).all()
    assert kinds == {"ABC-0": "blob", "ABC-1": "text"}
    assert found == [("ABC-1",)]
    engine.dispose()


@pytest.mark.postgres
def test_postgresql_upgrade_refuses_an_id_that_is_no_uuid_and_changes_nothing(pg_url, tmp_path):
    """A value a uuid column cannot hold: the upgrade is refused naming the table, the column
    and the row, and the columns are still text afterwards."""
    from tests.support import backend_database

    with backend_database("postgres", tmp_path, pg_url, prefix="tt_ids") as engine:
        metadata = _old_database(engine, vehicles=1, odd_id="legacy-car-7")
        with pytest.raises(UnconvertibleId) as refused:
            upgrade(engine, metadata)
        message = str(refused.value)
        assert "vehicle" in message and "legacy-car-7" in message and "id" in message
        assert "tietotie db upgrade" in message
        assert _id_kind(engine, "vehicle") == "varchar"
        assert _id_kind(engine, "customer") == "varchar"
