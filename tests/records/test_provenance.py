"""Provenance is stored only where it differs from its row, and every reader sees it whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text, update

from kernel.db import transaction
from records.provenance import compact, expand
from records.store import RecordStore, ingest, read_subject

ANNA = {
    "name": "Anna Virtanen",
    "email": "anna@example.fi",
    "phone": "+358401234567",
    "branch": "espoo",
}
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
T1 = T0 + timedelta(days=40, microseconds=7)

_names = st.sampled_from(["name", "email", "phone", "branch", "birthday"])
_sources = st.sampled_from(["booking-form", "phone-booking", "service-desk"])
_times = st.sampled_from([T0, T1])


@given(
    full=st.dictionaries(_names, st.tuples(_sources, _times)),
    source=_sources,
    collected_at=_times,
)
def test_compact_then_expand_gives_back_the_full_provenance(
    full: dict[str, tuple[str, datetime]], source: str, collected_at: datetime
) -> None:
    """For any fields, sources and times: what is stored expands to exactly what was meant,
    and nothing equal to the row's own stamp is stored."""
    meant = {k: [s, t.isoformat()] for k, (s, t) in full.items()}
    stored = compact(meant, source, collected_at)
    assert expand(stored, source, collected_at, meant) == meant
    own = [source, collected_at.isoformat()]
    assert all(meant[k] != own for k in stored)
    assert all(v == own for k, v in meant.items() if k not in stored)
    assert compact(stored, source, collected_at) == stored  # compacting twice changes nothing


def test_a_full_map_written_by_an_earlier_version_reads_the_same() -> None:
    """Rows from before compact provenance list every field; they expand unchanged."""
    old = {"name": ["booking-form", T0.isoformat()], "email": ["phone-booking", T1.isoformat()]}
    assert expand(old, "booking-form", T0, ["name", "email"]) == old


def _stored(session, store: RecordStore, subject_id: str) -> dict:
    table = store.tables.subject_table
    return dict(
        session.execute(select(table.c.provenance).where(table.c.id == subject_id)).one()[0]
    )


def test_a_new_record_stores_no_provenance_and_reads_its_source_per_field(store, engine) -> None:
    """Written by one source: nothing stored; read back, every value names that source."""
    with transaction(engine) as session:
        result = ingest(session, store, "customer", source="booking-form", values=ANNA, now=T0)
        assert _stored(session, store, result.subject_id) == {}
        (customer,) = read_subject(session, store, result.subject_id)["customer"]
    assert customer.provenance == {k: ["booking-form", T0.isoformat()] for k in ANNA}


def test_a_merge_stores_only_the_values_it_changed(store, engine) -> None:
    """A later booking by phone: only its fields are stored, with their own source and time."""
    with transaction(engine) as session:
        first = ingest(session, store, "customer", source="booking-form", values=ANNA, now=T0)
        ingest(
            session,
            store,
            "customer",
            source="phone-booking",
            values={"name": "Anna V.", "phone": ANNA["phone"], "branch": "vantaa"},
            now=T1,
        )
        stored = _stored(session, store, first.subject_id)
        (customer,) = read_subject(session, store, first.subject_id)["customer"]
    later = ["phone-booking", T1.isoformat()]
    assert stored == {"name": later, "phone": later, "branch": later}
    assert customer.provenance == {
        "name": later,
        "phone": later,
        "branch": later,
        "email": ["booking-form", T0.isoformat()],
    }
    assert customer.values["branch"] == "vantaa"


def test_an_old_full_provenance_row_reads_and_merges_as_before(store, engine) -> None:
    """A row holding the full map (as earlier versions wrote) reads the same, and a merge
    into it keeps every entry."""
    full = {k: ["booking-form", T0.isoformat()] for k in ANNA}
    table = store.tables.subject_table
    with transaction(engine) as session:
        first = ingest(session, store, "customer", source="booking-form", values=ANNA, now=T0)
        session.execute(update(table).where(table.c.id == first.subject_id).values(provenance=full))
        ingest(
            session,
            store,
            "customer",
            source="phone-booking",
            values={"name": "Anna V.", "phone": ANNA["phone"]},
            now=T1,
        )
        (customer,) = read_subject(session, store, first.subject_id)["customer"]
    later = ["phone-booking", T1.isoformat()]
    assert customer.provenance == {**full, "name": later, "phone": later}


def _write_full_provenance(session, store: RecordStore) -> int:
    """Rewrite every stored row's provenance in the full form earlier versions wrote."""
    count = 0
    for entity in store.tables.order():
        table = store.tables.table(entity)
        rows = session.execute(select(table.c.id, table.c.subject_id)).all()
        for rid, sid in rows:
            (record,) = [r for r in read_subject(session, store, sid)[entity] if r.id == rid]
            session.execute(
                update(table).where(table.c.id == rid).values(provenance=record.provenance)
            )
            count += 1
    return count


def _everything(session, store: RecordStore, subjects: list[str]) -> list:
    return [
        (e, r.id, r.provenance, r.values)
        for sid in subjects
        for e, records in read_subject(session, store, sid).items()
        for r in records
    ]


def test_db_upgrade_rewrites_old_rows_compactly_in_batches_and_answers_the_same(
    store, engine, monkeypatch
) -> None:
    """A database whose rows hold the full provenance: the upgrade plans a rewrite of each
    table, rewrites every row in batches with progress, readers' answers stay the same, and
    the next upgrade has nothing left to do."""
    from dsar.tables import database_metadata
    from records.migrations import data, plan_upgrade, upgrade

    monkeypatch.setattr(data, "BATCH", 2)  # several batches even for a few rows
    with transaction(engine) as session:
        subjects = []
        for i in range(3):
            anna = {**ANNA, "email": f"anna{i}@example.fi", "phone": f"+35840123456{i}"}
            subjects.append(
                ingest(
                    session, store, "customer", source="booking-form", values=anna, now=T0
                ).subject_id
            )
            ingest(
                session,
                store,
                "vehicle",
                source="booking-form",
                subject={"id": subjects[-1]},
                values={"plate": f"ABC-12{i}", "make": "Skoda"},
                now=T0,
            )
        ingest(
            session,
            store,
            "customer",
            source="phone-booking",
            values={"name": "Anna V.", "phone": "+358401234560"},
            now=T1,
        )
        assert _write_full_provenance(session, store) == 6
        before = _everything(session, store, subjects)
        # a database from before compact provenance has no record of the rewrite
        session.execute(text("DROP TABLE tietotie_data_steps"))
    metadata = database_metadata(store.strategy)
    plan = plan_upgrade(engine, metadata)
    assert {(s.kind, s.table) for s in plan.steps} == {
        ("rewrite rows", "customer"),
        ("rewrite rows", "vehicle"),
    }
    seen: list[tuple[str, int]] = []
    upgrade(engine, metadata, progress=lambda table, rows: seen.append((table, rows)))
    # compact-provenance, then profile-provenance (records.provenance_profiles) on the same rows
    assert seen == [("customer", 2), ("customer", 3), ("vehicle", 2), ("vehicle", 3)] * 2
    table = store.tables.subject_table
    with transaction(engine) as session:
        stored: dict[str, dict] = dict(
            session.execute(select(table.c.id, table.c.provenance)).all()
        )
        assert _everything(session, store, subjects) == before
    later = ["phone-booking", T1.isoformat()]
    assert stored == {
        subjects[0]: {"name": later, "phone": later},
        subjects[1]: {},
        subjects[2]: {},
    }
    assert plan_upgrade(engine, metadata).empty
