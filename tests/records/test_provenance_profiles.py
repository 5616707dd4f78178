"""Repeated provenance is kept once, as a profile, and every reader sees what it saw inline."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, func, select, text, update

from dsar.fulfil import Fulfiller
from dsar.tables import database_metadata
from governance.breach_assessment import assess, parse_scopes
from governance.breach_models import BreachKind
from kernel.db import session_factory, transaction
from records.external import ExternalSystems
from records.migrations import data, plan_upgrade, upgrade
from records.provenance_profiles import (
    PROFILE_KEY,
    ProvenanceProfiles,
    canonical,
    profile_key,
    profiles_table,
)
from records.seed import seed
from records.store import RecordStore, ingest, read_subject

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
T1 = T0 + timedelta(days=40, microseconds=7)
LATER = ["rectification", T1.isoformat()]
ANNA = {
    "name": "Anna Virtanen",
    "email": "anna@example.fi",
    "phone": "+358401234567",
    "branch": "vantaa",
}

SQLITE_AND_POSTGRES = pytest.mark.parametrize(
    "engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@contextlib.contextmanager
def _profile_statements(engine: Engine) -> Iterator[list[str]]:
    """The statements sent to the database that touch the profiles table, as they go."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if profiles_table.name in statement:
            seen.append(statement.split(None, 1)[0].upper())

    event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", note)


def _raw(session, store: RecordStore, entity: str, record_id: str) -> dict[str, Any]:
    table = store.tables.table(entity)
    return dict(session.execute(select(table.c.provenance).where(table.c.id == record_id)).one()[0])


def _profiles_held(session) -> dict[str, str]:
    return dict(session.execute(select(profiles_table.c.key, profiles_table.c.profile)).all())


def _everything(session, store: RecordStore) -> list[tuple[str, str, dict, dict]]:
    """Every record of every subject as readers see it: entity, id, provenance, values."""
    table = store.tables.subject_table
    subjects = sorted(session.execute(select(table.c.id)).scalars())
    return [
        (entity, r.id, r.provenance, r.values)
        for sid in subjects
        for entity, records in read_subject(session, store, sid).items()
        for r in records
    ]


def _inline_everything(session, store: RecordStore) -> int:
    """Rewrite every row that names a profile in the inline form (as before profiles)."""
    count = 0
    for entity in store.tables.order():
        table = store.tables.table(entity)
        rows = session.execute(select(table.c.id, table.c.provenance)).all()
        compacts = store.profiles.decode_many(session, [p for _, p in rows])
        for (rid, stored), compact in zip(rows, compacts, strict=True):
            if stored and PROFILE_KEY in stored:
                stmt = update(table).where(table.c.id == rid).values(provenance=compact)
                session.execute(stmt)
                count += 1
    return count


def _merged_customer(session, store: RecordStore) -> str:
    """Anna from the service desk, then her booking on the web form stamped the same moment:
    three values from another source at the row's own time, bare sources all."""
    sid = ingest(session, store, "customer", source="service-desk", values=ANNA, now=T0).subject_id
    values = {"name": "Anna V.", "phone": ANNA["phone"], "branch": "espoo"}
    ingest(session, store, "customer", source="booking-form", values=values, now=T0)
    return sid


# ── the stored form ──────────────────────────────────────────────────────────────────────────


def test_the_key_is_the_base64url_of_the_first_72_bits_of_the_canonical_json() -> None:
    """Sorted keys, no spaces, UTF-8 as it is; 9 bytes of SHA-256, 12 characters unpadded."""
    text_ = canonical({"visited_at": "booking-form", "feedback_text": "kyselyä"})
    assert text_ == '{"feedback_text":"kyselyä","visited_at":"booking-form"}'
    digest = hashlib.sha256(text_.encode("utf-8")).digest()[:9]
    assert profile_key(text_) == base64.urlsafe_b64encode(digest).decode("ascii")
    assert len(profile_key(text_)) == 12 and "=" not in profile_key(text_)


def test_encode_then_decode_gives_back_each_compact_map(store: RecordStore, engine: Engine) -> None:
    """Bare sources go into a profile, timed entries stay in the row, a map that a key would not
    shorten stays inline; decoding gives every map back, the rows of a read costing one SELECT
    at most, and none once the profiles are known."""
    bare = {"name": "booking-form", "phone": "booking-form", "branch": "phone-booking"}
    maps: list[dict[str, Any]] = [
        {},
        {"email": LATER},  # timed only: nothing to share
        {"city": "x"},  # one short entry: shorter inline than as a key
        bare,
        {**bare, "email": LATER},
        dict(reversed(bare.items())),  # the same profile, whatever the order
    ]
    key = profile_key(canonical(bare))
    with transaction(engine) as session:
        stored = store.profiles.encode_many(session, maps)
        assert stored == [
            {},
            {"email": LATER},
            {"city": "x"},
            {PROFILE_KEY: key},
            {PROFILE_KEY: key, "email": LATER},
            {PROFILE_KEY: key},
        ]
        assert store.profiles.decode_many(session, stored) == maps
        assert _profiles_held(session) == {key: canonical(bare)}
    fresh = ProvenanceProfiles()  # another process: knows no profile yet
    with _profile_statements(engine) as seen, transaction(engine) as session:
        assert fresh.decode_many(session, stored * 50) == maps * 50
        assert fresh.decode_many(session, stored) == maps
        assert fresh.encode_many(session, maps) == stored
    assert seen == ["SELECT"]


def test_a_key_holding_another_profile_keeps_the_row_inline(
    store: RecordStore, engine: Engine
) -> None:
    """Should the database hold a different profile under the key (a collision), the row is
    written inline instead of failing or naming the wrong profile."""
    mine = {"name": "booking-form", "phone": "booking-form"}
    key = profile_key(canonical(mine))
    with transaction(engine) as session:
        session.execute(profiles_table.insert().values(key=key, profile='{"name":"other"}'))
    with transaction(engine) as session:
        assert store.profiles.encode(session, {**mine, "email": LATER}) == {**mine, "email": LATER}
        assert store.profiles.encode(session, mine) == mine  # known now, still not ours


def test_the_cache_never_trusts_an_insert_that_was_rolled_back(
    store: RecordStore, engine: Engine
) -> None:
    """A profile inserted and read back in one transaction is not taken as committed: after a
    rollback the next write inserts it again, so no row names a profile that is not there.
    Once another transaction has found it, it is known without a query."""
    mine = {"name": "booking-form", "phone": "booking-form"}
    key = profile_key(canonical(mine))
    other = ProvenanceProfiles()  # a second instance in the same transaction trusts it neither
    with pytest.raises(RuntimeError), transaction(engine) as session:
        assert store.profiles.encode(session, mine) == {PROFILE_KEY: key}
        assert store.profiles.encode(session, mine) == {PROFILE_KEY: key}
        assert store.profiles.decode(session, {PROFILE_KEY: key}) == mine
        assert other.decode(session, {PROFILE_KEY: key}) == mine
        raise RuntimeError("roll back")
    for profiles in (store.profiles, other):
        with transaction(engine) as session:
            assert _profiles_held(session) == {}
            assert profiles.encode(session, mine) == {PROFILE_KEY: key}
            assert _profiles_held(session) == {key: canonical(mine)}
            session.execute(delete(profiles_table))
    with transaction(engine) as session:
        store.profiles.encode(session, mine)
    with _profile_statements(engine) as seen:
        with transaction(engine) as session:  # found by a transaction that did not insert it
            assert store.profiles.encode(session, mine) == {PROFILE_KEY: key}
        with transaction(engine) as session:
            assert store.profiles.encode(session, mine) == {PROFILE_KEY: key}
            assert store.profiles.decode(session, {PROFILE_KEY: key}) == mine
    assert seen == ["SELECT"]


# ── every writer and reader ──────────────────────────────────────────────────────────────────


def test_a_seeded_database_reads_the_same_as_with_provenance_inline(
    store: RecordStore, engine: Engine
) -> None:
    """The seeder's rows name profiles; read back per field (StoredRecord.provenance, the
    access export, portability) they are exactly what the same rows give inline."""
    seed(session_factory(engine), store, customers=12, now=T0, consents=False)
    fulfiller = Fulfiller(store.strategy, store, ExternalSystems(store.strategy, env={}))

    def answers(session) -> tuple[Any, ...]:
        sids = sorted(session.execute(select(store.tables.subject_table.c.id)).scalars())
        return (
            _everything(session, store),
            [fulfiller.access(session, sid, {})["data"] for sid in sids],
            [fulfiller.portability(session, sid) for sid in sids],
        )

    with transaction(engine) as session:
        profiled = answers(session)
        assert len(_profiles_held(session)) >= 4
        assert _inline_everything(session, store) > 12
    with transaction(engine) as session:
        inline = answers(session)
    assert profiled == inline
    assert any(p for _, _, p, _ in profiled[0])


def test_a_merge_moves_the_changed_field_out_of_its_profile(
    store: RecordStore, engine: Engine
) -> None:
    """Values merged at the row's own time join a profile; a later merge of one of them takes it
    out again (a new profile for the rest), and every field reads its own source and time."""
    with transaction(engine) as session:
        sid = _merged_customer(session, store)
        first = {"name": "booking-form", "phone": "booking-form", "branch": "booking-form"}
        assert _raw(session, store, "customer", sid) == {PROFILE_KEY: profile_key(canonical(first))}
        values = {"name": "A. V.", "phone": ANNA["phone"]}
        ingest(session, store, "customer", source="phone-booking", values=values, now=T1)
        stored = _raw(session, store, "customer", sid)
        (customer,) = read_subject(session, store, sid)["customer"]
    later = ["phone-booking", T1.isoformat()]
    rest = {"branch": "booking-form"}
    assert stored == {PROFILE_KEY: profile_key(canonical(rest)), "name": later, "phone": later}
    assert customer.provenance == {
        "name": later,
        "phone": later,
        "branch": ["booking-form", T0.isoformat()],
        "email": ["service-desk", T0.isoformat()],
    }
    assert customer.values["name"] == "A. V."


def test_a_rectification_keeps_the_profile_of_the_values_it_did_not_change(
    store: RecordStore, engine: Engine
) -> None:
    """Art. 16: the rectified value is stamped with the rectification; the others keep their
    sources, now from a profile without the rectified field."""
    fulfiller = Fulfiller(
        store.strategy, store, ExternalSystems(store.strategy, env={}), now=lambda: T1
    )
    with transaction(engine) as session:
        sid = _merged_customer(session, store)
        fulfiller.rectify(session, sid, {"customer.name": "Anna Korjattu"}, {})
        stored = _raw(session, store, "customer", sid)
        (customer,) = read_subject(session, store, sid)["customer"]
    rest = {"phone": "booking-form", "branch": "booking-form"}
    assert stored == {PROFILE_KEY: profile_key(canonical(rest)), "name": LATER}
    assert customer.values["name"] == "Anna Korjattu"
    assert customer.provenance == {
        "name": LATER,
        "phone": ["booking-form", T0.isoformat()],
        "branch": ["booking-form", T0.isoformat()],
        "email": ["service-desk", T0.isoformat()],
    }


def test_a_breach_of_a_source_finds_the_rows_it_touched_through_a_profile(
    store: RecordStore, engine: Engine
) -> None:
    """Anna's row names the web form only through its profile; Pekka never used the form."""
    with transaction(engine) as session:
        anna = _merged_customer(session, store)
        assert set(_raw(session, store, "customer", anna)) == {PROFILE_KEY}
        pekka = {"name": "Pekka Laine", "phone": "+358401234568", "branch": "vantaa"}
        ingest(session, store, "customer", source="service-desk", values=pekka, now=T0)
        found = assess(
            session,
            store,
            parse_scopes(["source:booking-form"], store.strategy),
            kind=BreachKind.CONFIDENTIALITY,
            now=T1,
        )
        desk = assess(
            session,
            store,
            parse_scopes(["source:service-desk"], store.strategy),
            kind=BreachKind.CONFIDENTIALITY,
            now=T1,
        )
    assert found.records_by_entity["customer"] == 1 and found.subjects == 1
    assert desk.records_by_entity["customer"] == 2


def test_db_upgrade_moves_inline_provenance_into_profiles_and_answers_the_same(
    store: RecordStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database from before profiles (provenance inline, no profiles table): the upgrade
    creates the table, rewrites each entity table in batches with progress, readers answer
    the same, and the next upgrade has nothing left to do."""
    monkeypatch.setattr(data, "BATCH", 4)  # several batches even for a few rows
    seed(session_factory(engine), store, customers=10, now=T0, consents=False)
    with transaction(engine) as session:
        before = _everything(session, store)
        _inline_everything(session, store)
        session.execute(text("DELETE FROM tietotie_data_steps WHERE step = 'profile-provenance'"))
        session.execute(
            text("DELETE FROM tietotie_managed_tables WHERE name = :t"), {"t": profiles_table.name}
        )
    with engine.begin() as conn:
        conn.execute(text(f"DROP TABLE {profiles_table.name}"))
    metadata = database_metadata(store.strategy)
    plan = plan_upgrade(engine, metadata)
    entities = store.tables.order()
    assert {(s.kind, s.table) for s in plan.steps} == {
        ("create table", profiles_table.name),
        *(("rewrite rows", e) for e in entities),
    }
    seen: list[tuple[str, int]] = []
    upgrade(engine, metadata, progress=lambda table, rows: seen.append((table, rows)))
    with transaction(engine) as session:
        counts = {
            e: session.scalar(select(func.count()).select_from(store.tables.table(e)))
            for e in entities
        }
        assert dict(seen) == counts  # the last report of each table: all its rows
        assert len(seen) > len(entities)
        assert _everything(session, store) == before
        assert len(_profiles_held(session)) >= 4
        for entity in entities:
            table = store.tables.table(entity)
            stored = session.execute(select(table.c.provenance)).scalars().all()
            bare = [p for p in stored if any(isinstance(v, str) for v in p.values())]
            assert bare and all(PROFILE_KEY in p for p in bare)
    assert plan_upgrade(engine, metadata).empty


@SQLITE_AND_POSTGRES
def test_two_threads_interning_the_same_new_profiles_at_once(
    store: RecordStore, engine: Engine
) -> None:
    """Two writers merge, at the same moment each time, values that make the same profile no
    row had before: both commit, no error, one profile per key, every field read right."""
    rounds = 10
    extras = ["name", "branch", "preferred_channel", "language"]
    people: dict[int, list[str]] = {0: [], 1: []}
    with transaction(engine) as session:
        for worker, ids in people.items():
            for i in range(rounds):
                values = {
                    "name": f"Asiakas {worker}-{i}",
                    "email": f"asiakas.{worker}.{i}@example.fi",
                    "phone": f"+3584010{worker}{i:04d}",
                    "branch": "vantaa",
                }
                ids.append(
                    ingest(
                        session, store, "customer", source="service-desk", values=values, now=T0
                    ).subject_id
                )
    fields = [["email", *(f for b, f in enumerate(extras) if i >> b & 1)] for i in range(rounds)]
    values = {"name": "Uusi", "branch": "espoo", "preferred_channel": "email", "language": "fi"}
    start = threading.Barrier(2, timeout=60)
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(rounds):
                mine = {f: values.get(f, f"asiakas.{worker}.{i}@example.fi") for f in fields[i]}
                start.wait()
                with transaction(engine) as session:
                    ingest(session, store, "customer", source="booking-form", values=mine, now=T0)
        except BaseException as exc:  # reported below, from the main thread
            errors.append(exc)
            start.abort()

    threads = [threading.Thread(target=work, args=(w,)) for w in people]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    with transaction(engine) as session:
        held = _profiles_held(session)
        for ids in people.values():
            for i, sid in enumerate(ids):
                (customer,) = read_subject(session, store, sid)["customer"]
                web = set(fields[i])
                assert customer.provenance == {
                    f: ["booking-form" if f in web else "service-desk", T0.isoformat()]
                    for f in customer.values
                }
                key = profile_key(canonical(dict.fromkeys(web, "booking-form")))
                assert _raw(session, store, "customer", sid) == {PROFILE_KEY: key}
                assert key in held
    assert len(held) == rounds
