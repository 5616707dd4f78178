"""Bytes a stored row costs, now and in the form earlier versions wrote, on SQLite or PostgreSQL.

Seeds the bundled strategy into a fresh database (``tietotie demo seed``'s path: customers,
vehicles, visits, stored tyres and a consent history with signed receipts), compacts it
(SQLite ``VACUUM``, PostgreSQL ``VACUUM FULL``) and measures it; then rewrites the same rows
into the earlier storage form (every field's source and time in each row's provenance, no
provenance profiles, ids as 32 characters of text, receipts as plain JWS text, datetimes as
text on SQLite, one index per condition field and a subject index beside them), compacts and
measures again. So both columns describe the very same data. Prints, per state, the database
and keystore sizes, the bytes per stored record (the entity tables with their indexes, and the
provenance profiles their rows share), per row of the whole database, per customer, and per
consent event. Target (issue 20): at most 400 bytes a stored record on average.

    .venv/bin/python bench/bench_storage.py [--customers 100000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, bindparam, func, select, text, update

from consent.receipt_packing import unpack
from consent.tables import ConsentEventRow
from records.migrations import ids
from records.migrations.ids import IdConversion
from records.provenance_profiles import profiles_table
from records.seed import seed
from schemas.tables import RecordTime, build_tables
from tietotie.app import open_services
from tietotie.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from databases import SQLITE, add_database_url, drop, open_database, peak_rss_mib, size_bytes

ROOT = Path(__file__).resolve().parents[1]
TARGET = 400
LEDGER = "consent_event"
PROFILES = profiles_table.name  # counted with the entity tables: their rows name its keys


@dataclass
class Sizes:
    """One state's measurements."""

    database: int
    keystore: int
    records: int  # bytes of the entity tables with their indexes, and of the profiles
    ledger: int  # bytes of the consent ledger with its indexes
    record_rows: int
    events: int
    customers: int


def _table_bytes(engine: Engine, tables: list[str]) -> dict[str, int]:
    """Bytes of each table with its indexes (and TOAST on PostgreSQL)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                text(
                    "SELECT m.tbl_name, sum(s.pgsize) FROM dbstat s "
                    "JOIN sqlite_master m ON m.name = s.name GROUP BY m.tbl_name"
                )
            ).all()
            found = {name: int(size) for name, size in rows}
        else:
            found = {
                t: int(conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar_one())
                for t in tables
            }
    return {t: found.get(t, 0) for t in tables}


def _compact(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("VACUUM")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the WAL holds no data
        else:
            conn.exec_driver_sql("VACUUM FULL")


def _measure(engine: Engine, entities: list[str], keystore: Path) -> Sizes:
    _compact(engine)
    sizes = _table_bytes(engine, [*entities, LEDGER, PROFILES])
    with engine.connect() as conn:
        counts = {
            t: int(conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one())
            for t in [*entities, LEDGER]
        }
    return Sizes(
        database=size_bytes(engine),
        keystore=keystore.stat().st_size if keystore.exists() else 0,
        records=sum(sizes[e] for e in entities) + sizes[PROFILES],
        ledger=sizes[LEDGER],
        record_rows=sum(counts[e] for e in entities),
        events=counts[LEDGER],
        customers=counts[entities[0]],
    )


def _earlier_form(engine: Engine, services: Any) -> None:
    """Rewrite the seeded rows as earlier versions stored them (see the module docstring)."""
    store = services.store
    index = store.strategy.index
    with engine.begin() as conn:
        for entity in store.tables.order():
            table = store.tables.table(entity)
            # the earlier seed listed every field that has a source, with the seed's time
            at = conn.execute(select(func.min(table.c.collected_at))).scalar_one()
            full = {
                name: [srcs[0], at.isoformat()]
                for name in index.entities[entity].fields
                if (srcs := index.field_sources.get(f"{entity}.{name}"))
            }
            conn.execute(update(table).values(provenance=full))  # profiles inlined again
            if engine.dialect.name == "sqlite":  # datetimes as the text SQLite kept before
                times = [c.name for c in table.columns if isinstance(c.type, RecordTime)]
                sets = ", ".join(
                    f"{c} = strftime('%Y-%m-%d %H:%M:%S', {c} / 1000000, 'unixepoch') || '.' "
                    f"|| printf('%06d', {c} % 1000000)"
                    for c in times
                )
                conn.exec_driver_sql(f"UPDATE {entity} SET {sets} WHERE {times[0]} IS NOT NULL")
        conn.execute(profiles_table.delete())  # no row names a profile any more
        # ids as the 32 characters of text they were before (records.migrations.ids)
        conversions = [
            IdConversion(t.name, tuple(ids.id_columns(t)))
            for t in (store.tables.table(e) for e in store.tables.order())
        ]
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
            for conv in conversions:
                sets = ", ".join(f"{c} = lower(hex({c}))" for c in conv.columns)
                conn.exec_driver_sql(f"UPDATE {conv.table} SET {sets}")
        else:
            ids.revert_postgresql(conn, conversions)
        ledger = ConsentEventRow.__table__
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS consent_event_no_update")
        else:
            conn.exec_driver_sql("ALTER TABLE consent_event DISABLE TRIGGER USER")
        raw = ledger.c.receipt.type.impl  # the column as text, without packing
        last = ""
        while True:
            rows = conn.execute(
                text(
                    "SELECT id, receipt FROM consent_event WHERE id > :last ORDER BY id LIMIT 10000"
                ),
                {"last": last},
            ).all()
            if not rows:
                break
            conn.execute(
                text("UPDATE consent_event SET receipt = :plain WHERE id = :rid").bindparams(
                    bindparam("plain", type_=raw)
                ),
                [{"rid": rid, "plain": unpack(stored)} for rid, stored in rows],
            )
            last = rows[-1][0]
        # the indexes of before: one per condition field, and each table's subject index
        earlier = {
            "tyre_storage": [
                ("ix_tyre_storage_cond_season", "subject_id, season"),
                ("ix_tyre_storage_cond_tread_depth_mm", "subject_id, tread_depth_mm"),
            ],
        }
        conn.exec_driver_sql("DROP INDEX IF EXISTS ix_tyre_storage_cond_season_tread_depth_mm")
        for entity, listing in earlier.items():
            for name, columns in listing:
                conn.exec_driver_sql(f"CREATE INDEX {name} ON {entity} ({columns})")
        for entity in store.tables.order()[1:]:
            conn.exec_driver_sql(f"CREATE INDEX ix_{entity}_subject_id ON {entity} (subject_id)")


def _row(name: str, s: Sizes) -> list[str]:
    per_record = s.records / s.record_rows
    return [
        name,
        f"{s.database / 2**20:,.0f} MiB",
        f"{s.keystore / 2**20:,.0f} MiB",
        f"{s.record_rows:,}",
        f"{per_record:,.0f}",
        f"{s.database / (s.record_rows + s.events):,.0f}",
        f"{s.database / s.customers:,.0f}",
        f"{s.ledger / max(s.events, 1):,.0f}",
        "met" if per_record <= TARGET else "not met",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=100_000)
    add_database_url(parser, None, "build/bench/storage-N-sqlite/tietotie.db, SQLite")
    args = parser.parse_args()
    console = Console() if sys.stdout.isatty() else Console(width=140)
    # a folder per backend: two runs at once must not remove each other's files
    kind = (args.database_url or "sqlite").split(":", 1)[0].split("+", 1)[0]
    folder = ROOT / "build" / "bench" / f"storage-{args.customers}-{kind}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    url = args.database_url or f"sqlite:///{folder / 'tietotie.db'}"
    db = open_database(url, name="storage", size=args.customers, fresh=True)
    settings = Settings(
        strategy=ROOT / "strategy",
        var_dir=folder,
        environment="development",
        database_url=db.url,
        key_file=folder / "master.key",
    )
    services = open_services(settings)
    start = time.perf_counter()
    result = seed(services.sessions, services.store, customers=args.customers)
    console.print(
        f"seeded {result.customers:,} customers, {result.total_rows:,} rows into {db.backend} "
        f"in {time.perf_counter() - start:,.0f} s; peak RSS {peak_rss_mib():,.0f} MiB"
    )
    engine = db.engine()
    entities = build_tables(services.store.strategy).order()
    keystore = folder / "keystore.db"
    now_sizes = _measure(engine, entities, keystore)
    _earlier_form(engine, services)
    before = _measure(engine, entities, keystore)
    table = Table(
        title=f"Storage of the bundled seed, {args.customers:,} customers, {db.backend} "
        f"(target: <= {TARGET} bytes a stored record)"
    )
    for column in (
        "form",
        "database",
        "keystore",
        "records",
        "bytes/record",
        "bytes/row (all)",
        "bytes/customer",
        "bytes/consent event",
        "target",
    ):
        table.add_column(column, justify="left" if column == "form" else "right")
    table.add_row(*_row("earlier (provenance in full, text ids, plain receipts)", before))
    table.add_row(*_row("now", now_sizes))
    console.print(table)
    console.print(
        "bytes/record: the entity tables with their indexes (and the provenance profiles) per "
        "stored record; bytes/row (all): "
        "the whole database per record and consent event; keystore: the per-subject keys "
        "(a file of its own)"
    )
    engine.dispose()
    if db.backend != SQLITE:
        drop(db)


if __name__ == "__main__":
    main()
