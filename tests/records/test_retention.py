"""Retention deletes what has outlived its period and destroys the keys of emptied subjects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from records.retention import run_retention, shred_removed
from records.store import RecordStore, ingest


def _count(session: Session, store: RecordStore, entity: str) -> int:
    table = store.tables.table(entity)
    return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def _fill(session: Session, store: RecordStore) -> str:
    sid = ingest(
        session,
        store,
        "customer",
        source="service-desk",
        values={
            "name": "Pekka",
            "email": "pekka@example.fi",
            "phone": "0409876543",
            "branch": "vantaa",
            "accessibility_need": "hearing aid",
        },
    ).subject_id
    ingest(
        session,
        store,
        "vehicle",
        source="service-desk",
        subject={"id": sid},
        values={"plate": "XYZ-1", "tyre_type": "winter"},
    )
    ingest(
        session,
        store,
        "visit",
        source="service-desk",
        subject={"id": sid},
        values={
            "visited_at": "2026-10-01T10:00:00+03:00",
            "service_type": "maintenance",
            "amount_eur": "120",
        },
    )
    session.commit()
    return sid


def test_nothing_within_its_period_is_touched(engine: Engine, store: RecordStore) -> None:
    """A run today deletes nothing that is still within its retention."""
    with Session(engine) as session:
        _fill(session, store)
        run = run_retention(session, store)
        session.commit()
        assert run.deleted == {} and _count(session, store, "customer") == 1


def test_expired_children_go_first_and_the_subject_when_nothing_is_left(
    engine: Engine, store: RecordStore
) -> None:
    """Years later the vehicle goes; the customer waits for the visits; then all go, key shred."""
    with Session(engine) as session:
        sid = _fill(session, store)
        vehicle_until = session.execute(
            select(store.tables.table("vehicle").c.retention_until)
        ).scalar_one()
        middle = vehicle_until + timedelta(days=1)
        dry = run_retention(session, store, now=middle, dry_run=True)
        session.rollback()
        assert _count(session, store, "vehicle") == 1 and dry.deleted.get("vehicle") == 1
        run = run_retention(session, store, now=middle)
        session.commit()
        assert _count(session, store, "vehicle") == 0
        assert _count(session, store, "visit") == 1
        assert run.subjects_removed == 0
        late = datetime.now(UTC) + timedelta(days=366 * 8)
        final = run_retention(session, store, now=late)
        session.commit()
        assert _count(session, store, "customer") == 0
        assert final.subjects_removed == 1
    assert shred_removed(store, final) == 1
    assert store.crypto is not None and store.crypto.keystore.is_erased(sid)
