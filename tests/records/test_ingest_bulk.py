"""The bulk write path stores what SQLAlchemy's Core insert stores, and leaves no trace behind."""

from __future__ import annotations

import gc
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, select, text

from kernel.db import session_factory, transaction
from records.bulk import insert_rows, new_ids
from records.imports import import_file
from schemas.tables import RecordId


def test_record_ids_are_distinct_uuid4_hex() -> None:
    """new_ids gives what uuid.uuid4().hex gives: version 4, RFC 4122 variant, 32 hex digits."""
    ids = new_ids(2000)
    assert len(set(ids)) == 2000
    for rid in ids:
        parsed = uuid.UUID(hex=rid)
        assert parsed.hex == rid and parsed.version == 4 and parsed.variant == uuid.RFC_4122


def _row(rid: str, subject_id: str, now: datetime, **values) -> dict:
    return {
        "id": rid,
        "subject_id": subject_id,
        "source": "service-desk",
        "collected_at": now,
        "updated_at": now,
        "retention_until": now + timedelta(days=3650),
        "provenance": {k: ["service-desk", now.isoformat()] for k in values},
        **values,
    }


def _stored(engine, table: str, rid: str) -> tuple:
    """The row as the database holds it (no type conversion on the way out), without its id."""
    by_id = bindparam("id", rid, type_=RecordId())  # 16 bytes on SQLite, uuid on PostgreSQL
    with engine.connect() as conn:
        every = list(conn.execute(text(f"SELECT * FROM {table} LIMIT 1")).keys())
        columns = [c for c in every if c != "id"]
        row = conn.execute(
            text(f"SELECT {', '.join(columns)} FROM {table} WHERE id = :id").bindparams(by_id)
        ).one()
    return tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)


def test_insert_rows_stores_exactly_what_a_core_insert_stores(store, engine) -> None:
    """Every column type (dates, times, decimals, booleans, JSON, bytes, absent values) is
    stored byte for byte as SQLAlchemy's own insert stores it."""
    now = datetime(2026, 4, 15, 9, 30, 12, 345678, tzinfo=UTC)
    sid = uuid.uuid4().hex
    customers = store.tables.table("customer")
    visits = store.tables.table("visit")
    storage = store.tables.table("tyre_storage")
    vehicles = store.tables.table("vehicle")
    customer = dict(
        name="Anna",
        email="anna@example.fi",
        phone="+358401234567",
        branch="espoo",
        customer_since=date(2019, 5, 2),
        accessibility_need=b"f1.opaque",
    )
    visit = dict(
        visited_at=datetime(2026, 3, 1, 8, tzinfo=UTC),
        service_type="repair",
        amount_eur=Decimal("149.9"),
        mileage_km=123456,
    )
    tyres = dict(
        season="winter",
        studded=True,
        tread_depth_mm=Decimal("6.5"),
        stored_since=date(2025, 10, 1),
        fee_eur=Decimal("69"),
    )
    vehicle, ben = new_ids(2)
    pairs: list[tuple[str, str, str]] = []
    with transaction(engine) as session:
        conn = session.connection()
        conn.execute(customers.insert(), [_row(sid, sid, now, **customer)])
        conn.execute(vehicles.insert(), [_row(vehicle, sid, now, parent_id=sid, plate=b"f1.x")])
        for table, values, parent in ((visits, visit, sid), (storage, tyres, vehicle)):
            core, bulk = new_ids(2)
            conn.execute(table.insert(), [_row(core, sid, now, parent_id=parent, **values)])
            insert_rows(conn, table, [_row(bulk, sid, now, parent_id=parent, **values)])
            pairs.append((table.name, core, bulk))
        insert_rows(conn, customers, [_row(ben, ben, now, name="Ben", branch="vantaa")])
    for table_name, core, bulk in pairs:
        assert _stored(engine, table_name, bulk) == _stored(engine, table_name, core)
    with engine.connect() as conn:
        stored = conn.execute(select(customers).where(customers.c.id == ben)).one()._mapping
    assert stored["email"] is None and stored["provenance"] == {
        "name": ["service-desk", now.isoformat()],
        "branch": ["service-desk", now.isoformat()],
    }


def test_an_import_leaves_the_garbage_collector_as_it_found_it(store, engine, tmp_path) -> None:
    """Collection is paused during an import only: on before means on after, off stays off."""
    path = tmp_path / "c.csv"
    path.write_text(
        "name,email,phone,branch\nAnna,anna@example.fi,0401234567,espoo\n", encoding="utf-8"
    )
    sessions = session_factory(engine)
    assert gc.isenabled()
    import_file(sessions, store, path, entity="customer", source="service-desk")
    assert gc.isenabled()
    gc.disable()
    try:
        import_file(sessions, store, path, entity="customer", source="service-desk")
        assert not gc.isenabled()
    finally:
        gc.enable()
