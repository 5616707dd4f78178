"""Bulk ingest and seeding rates on SQLite and PostgreSQL: prints one table of measured rates.

    .venv/bin/python bench/bench_ingest.py [--rows 100000] [--customers 100000]
        [--million auto|yes|no] [--million-budget 300]
        [--database-url URL [--database-url URL ...]]

For each database given (default: SQLite files in a temporary directory; ``--database-url
sqlite --database-url postgresql://root@127.0.0.1:5432/test`` measures both, one table):

1. Imports a CSV of customers with phone and email (every row validated, deduplicated by
   match_on, streamed in batches, written in one transaction; on PostgreSQL with COPY).
2. Imports a JSON Lines file of visits attached to those customers by email.
3. Seeds synthetic customers with vehicles, visits and tyre storage (plates encrypted under a
   key per customer), then, when the measured rate says it takes less than the budget
   (``--million auto``, the default) or when asked (``yes``), seeds 1,000,000 customers.

Every measurement starts from an empty database: a new SQLite file, or on PostgreSQL the
schema ``bench_ingest_<rows>`` (imports) or ``bench_ingest_seed_<customers>`` (seeding), made
afresh and dropped after its size is read. Every number is measured in this run. Wall time
depends on what else the machine is doing, so CPU time is printed beside it: this process's
(SQLite included, since it runs in-process) and, on PostgreSQL, the server's (every
``postgres`` process on this machine, so other work on the same server counts too).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from dsar.tables import database_metadata
from kernel.crypto import Pseudonymiser
from kernel.db import session_factory
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.imports import BATCH_ROWS, import_file
from records.migrations import upgrade
from records.seed import seed
from records.store import FieldCrypto, RecordStore
from schemas import load_strategy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from databases import (
    POSTGRES,
    SQLITE,
    BenchDatabase,
    backend_of,
    drop,
    open_database,
    peak_rss_mib,
    size_bytes,
)

ROOT = Path(__file__).resolve().parents[1]
TARGETS = {SQLITE: 20_000, POSTGRES: 50_000}
"""Records imported per second: DESIGN §10 and issue 3 (SQLite), issue 17 (PostgreSQL)."""
SEED_TARGET = 20_000
"""Rows seeded per second, on either database (issue 3)."""
MILLION = 1_000_000
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Measured:
    """One line of the table."""

    backend: str
    work: str
    n: int
    wall: float
    cpu: float
    db_cpu: float | None
    size: int
    rss: float
    unit: str = "records"

    @property
    def rate(self) -> float:
        """Per second of wall time."""
        return self.n / self.wall

    @property
    def cpu_rate(self) -> float:
        """Per second of this process's CPU time."""
        return self.n / self.cpu if self.cpu else float("inf")


def _server_cpu(backend: str) -> float | None:
    """CPU seconds used so far by every ``postgres`` process here (None on SQLite)."""
    if backend != POSTGRES:
        return None
    total = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "postgres":
                    continue
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


_T = TypeVar("_T")


def _timed(backend: str, work: Callable[[], _T]) -> tuple[_T, float, float, float | None]:
    server = _server_cpu(backend)
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = _server_cpu(backend)
    return result, wall, cpu, None if server is None or after is None else after - server


def _database(url: str, work: Path, name: str, size: int) -> BenchDatabase:
    """An empty database for one measurement: a new SQLite file, or a fresh PostgreSQL schema."""
    if url == "sqlite":
        return open_database(f"sqlite:///{work / name}.db", name=name, size=size, fresh=True)
    if backend_of(url) == SQLITE:  # sqlite:///dir/x.db: dir/x-<name>.db
        path = Path(make_url(url).database or "bench.db")
        target = path.with_name(f"{path.stem}-{name}.db")
        return open_database(f"sqlite:///{target}", name=name, size=size, fresh=True)
    schema = "ingest" if name == "ingest" else f"ingest_{name}"  # bench_ingest_seed_N
    return open_database(url, name=schema, size=size, fresh=True)


def _store(
    db: BenchDatabase, workdir: Path, name: str
) -> tuple[RecordStore, Engine, SubjectKeyStore]:
    strategy = load_strategy(ROOT / "strategy").strategy
    assert strategy is not None
    keyring = Keyring.ephemeral()
    keys = workdir / f"{name}-keys.db"
    keys.unlink(missing_ok=True)
    keystore = SubjectKeyStore(keys, keyring=keyring)
    crypto = FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
    engine = db.engine()
    upgrade(engine, database_metadata(strategy))
    return RecordStore(strategy, crypto=crypto), engine, keystore


def _customers_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "name",
                "email",
                "phone",
                "branch",
                "postal_code",
                "city",
                "language",
                "preferred_channel",
            ]
        )
        for i in range(rows):
            writer.writerow(
                [
                    f"Asiakas {i}",
                    f"asiakas.{i}@example.com",
                    f"+358{('40', '50', '44')[i % 3]}{i:07d}",
                    "espoo",
                    "02100",
                    "Espoo",
                    "fi",
                    "sms",
                ]
            )


def _visits_jsonl(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for i in range(rows):
            fh.write(
                json.dumps(
                    {
                        "subject.email": f"asiakas.{i}@example.com",
                        "visited_at": "2026-03-01T10:00:00+02:00",
                        "service_type": "tyre_change",
                        "amount_eur": "89.90",
                        "payment_method": "card",
                    }
                )
                + "\n"
            )


def _imports(url: str, work: Path, rows: int) -> list[Measured]:
    db = _database(url, work, "ingest", rows)
    store, engine, keystore = _store(db, work, "ingest")
    sessions = session_factory(engine)
    customers, visits = work / "customers.csv", work / "visits.jsonl"
    if not customers.exists():
        _customers_csv(customers, rows)
        _visits_jsonl(visits, rows)
    out = []
    for path, entity, work_name in (
        (customers, "customer", "import customers (CSV, phone + email)"),
        (visits, "visit", "import visits (JSONL, subject by email)"),
    ):
        result, wall, cpu, db_cpu = _timed(
            db.backend,
            lambda p=path, e=entity: import_file(  # type: ignore[misc]
                sessions, store, p, entity=e, source="service-desk"
            ),
        )
        assert result.inserted == rows, result
        out.append(
            Measured(
                db.backend, work_name, rows, wall, cpu, db_cpu, size_bytes(engine), peak_rss_mib()
            )
        )
    engine.dispose()
    keystore.close()
    drop(db)
    return out


def _seed(url: str, work: Path, customers: int) -> list[Measured]:
    db = _database(url, work, "seed", customers)
    store, engine, keystore = _store(db, work, "seed")
    outcome, wall, cpu, db_cpu = _timed(
        db.backend, lambda: seed(session_factory(engine), store, customers=customers)
    )
    total = outcome.total_rows
    size, rss = size_bytes(engine), peak_rss_mib()
    engine.dispose()
    keystore.close()
    drop(db)
    (work / "seed-keys.db").unlink(missing_ok=True)
    return [
        Measured(
            db.backend,
            f"seed {customers:,} customers",
            customers,
            wall,
            cpu,
            db_cpu,
            size,
            rss,
            "customers",
        ),
        Measured(
            db.backend,
            f"seed {customers:,} customers: all rows",
            total,
            wall,
            cpu,
            db_cpu,
            size,
            rss,
            "rows",
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows per import file")
    parser.add_argument("--customers", type=int, default=100_000, help="customers to seed")
    parser.add_argument(
        "--million",
        choices=("auto", "yes", "no"),
        default="auto",
        help="seed 1M customers too (auto: when estimated under the budget)",
    )
    parser.add_argument(
        "--million-budget",
        type=float,
        default=300.0,
        help="seconds the 1M seeding may take for --million auto",
    )
    parser.add_argument(
        "--database-url",
        action="append",
        metavar="URL",
        help="a database to measure on, once per database: `sqlite` (the default: files in a "
        "temporary directory), sqlite:///dir/name.db (files next to it) or a PostgreSQL URL "
        "(fresh schemas bench_ingest_*, dropped afterwards)",
    )
    args = parser.parse_args()
    urls = args.database_url or ["sqlite"]
    for url in urls:
        if url != "sqlite":
            backend_of(url)  # refuses anything else before the first measurement
    results: list[Measured] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for url in urls:
            results += _imports(url, work, args.rows)
            results += _seed(url, work, args.customers)
            backend = results[-1].backend
            estimate = MILLION / results[-2].rate
            if args.million == "yes" or (
                args.million == "auto"
                and estimate < args.million_budget
                and args.customers < MILLION
            ):
                results += _seed(url, work, MILLION)
            elif args.customers < MILLION:
                why = (
                    "--million no"
                    if args.million == "no"
                    else f"over the {args.million_budget:.0f} s budget"
                )
                notes.append(
                    f"{backend}: 1,000,000 customers not seeded ({why}; --million yes runs "
                    f"it): about {estimate / 60:.1f} min if the rate above held, a lower "
                    "bound, since the rate falls as the database grows"
                )

    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; rates per "
        "second of wall time and of this process's CPU time; server CPU: every postgres "
        "process here; size: the database after the work; RSS: this process's peak so far"
    )
    head = (
        f"{'database':<10} {'work':<42} {'n':>10} {'unit':<9} {'wall s':>8} {'cpu s':>7} "
        f"{'server s':>8} {'per wall s':>11} {'per cpu s':>10} {'target':>9} {'size MiB':>9} "
        f"{'RSS MiB':>8}"
    )
    print(head)
    print("-" * len(head))
    for m in results:
        if m.unit == "customers":
            target = ""
        elif m.unit == "rows":
            target = f">= {SEED_TARGET:,}"
        else:
            target = f">= {TARGETS[m.backend]:,}"
        server = "" if m.db_cpu is None else f"{m.db_cpu:.2f}"
        print(
            f"{m.backend:<10} {m.work:<42} {m.n:>10,} {m.unit:<9} {m.wall:>8.2f} {m.cpu:>7.2f} "
            f"{server:>8} {m.rate:>11,.0f} {m.cpu_rate:>10,.0f} {target:>9} "
            f"{m.size / 2**20:>9,.0f} {m.rss:>8,.0f}"
        )
    print(f"imports stream {BATCH_ROWS:,} rows at a time")
    for note in notes:
        print(note)


if __name__ == "__main__":
    main()
