"""Bulk ingest and seeding rates on SQLite: prints a table of measured rates (no assertions).

    .venv/bin/python bench/bench_ingest.py [--rows 100000] [--customers 100000]
                                           [--million auto|yes|no] [--million-budget 300]

1. Imports a CSV of customers with phone and email (every row validated, deduplicated by
   match_on, streamed in batches, written in one transaction).
2. Imports a JSON Lines file of visits attached to those customers by email.
3. Seeds synthetic customers with vehicles, visits and tyre storage (plates encrypted under a
   key per customer), then, when the measured rate says it takes less than the budget
   (``--million auto``, the default) or when asked (``yes``), seeds 1,000,000 customers.

Every number is measured in this run. Wall time depends on what else the machine is doing, so
CPU time (this process, SQLite included, since it runs in-process) is printed beside it, and
the rate is given for both.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Engine

from dsar.tables import database_metadata
from kernel.crypto import Pseudonymiser
from kernel.db import make_engine, session_factory
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.imports import BATCH_ROWS, import_file
from records.migrations import upgrade
from records.seed import seed
from records.store import FieldCrypto, RecordStore
from schemas import load_strategy

ROOT = Path(__file__).resolve().parents[1]
TARGET = 20_000
"""Records (import) or rows (seed) per second: DESIGN §10 and issue 3."""
MILLION = 1_000_000


@dataclass(frozen=True)
class Measured:
    """One line of the table."""

    work: str
    n: int
    wall: float
    cpu: float
    unit: str = "records"

    @property
    def rate(self) -> float:
        """Per second of wall time."""
        return self.n / self.wall

    @property
    def cpu_rate(self) -> float:
        """Per second of this process's CPU time."""
        return self.n / self.cpu if self.cpu else float("inf")


_T = TypeVar("_T")


def _timed(work: Callable[[], _T]) -> tuple[_T, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def _store(workdir: Path, name: str) -> tuple[RecordStore, Engine, SubjectKeyStore]:
    strategy = load_strategy(ROOT / "strategy").strategy
    assert strategy is not None
    keyring = Keyring.ephemeral()
    keystore = SubjectKeyStore(workdir / f"{name}-keys.db", keyring=keyring)
    crypto = FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
    engine = make_engine(f"sqlite:///{workdir / name}.db")
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


def _imports(work: Path, rows: int) -> list[Measured]:
    store, engine, keystore = _store(work, "ingest")
    sessions = session_factory(engine)
    customers, visits = work / "customers.csv", work / "visits.jsonl"
    _customers_csv(customers, rows)
    _visits_jsonl(visits, rows)
    out = []
    result, wall, cpu = _timed(
        lambda: import_file(sessions, store, customers, entity="customer", source="service-desk")
    )
    assert result.inserted == rows, result
    out.append(Measured("import customers (CSV, phone + email)", rows, wall, cpu))
    result, wall, cpu = _timed(
        lambda: import_file(sessions, store, visits, entity="visit", source="service-desk")
    )
    assert result.inserted == rows, result
    out.append(Measured("import visits (JSONL, subject by email)", rows, wall, cpu))
    engine.dispose()
    keystore.close()
    return out


def _seed(work: Path, customers: int, name: str) -> list[Measured]:
    store, engine, keystore = _store(work, name)
    outcome, wall, cpu = _timed(lambda: seed(session_factory(engine), store, customers=customers))
    total = outcome.total_rows
    engine.dispose()
    keystore.close()
    for suffix in (".db", ".db-wal", ".db-shm", "-keys.db"):
        (work / f"{name}{suffix}").unlink(missing_ok=True)
    return [
        Measured(f"seed {customers:,} customers", customers, wall, cpu, "customers"),
        Measured(f"seed {customers:,} customers: all rows", total, wall, cpu, "rows"),
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
    args = parser.parse_args()
    results: list[Measured] = []
    note = ""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        results += _imports(work, args.rows)
        imports_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        results += _seed(work, args.customers, "seed")
        estimate = MILLION / results[-2].rate
        if args.million == "yes" or (
            args.million == "auto" and estimate < args.million_budget and args.customers < MILLION
        ):
            results += _seed(work, MILLION, "seed-1m")
        elif args.customers < MILLION:
            why = (
                "--million no"
                if args.million == "no"
                else f"over the {args.million_budget:.0f} s budget"
            )
            note = (
                f"1,000,000 customers not seeded ({why}; --million yes runs it): about "
                f"{estimate / 60:.1f} min if the rate above held, a lower bound, since the "
                "rate falls as the database grows"
            )

    print(
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end; "
        "rates per second of wall time and of this process's CPU time"
    )
    head = (
        f"{'work':<42} {'n':>10} {'unit':<9} {'wall s':>8} {'cpu s':>8} "
        f"{'per wall s':>11} {'per cpu s':>10} {'target':>9}"
    )
    print(head)
    print("-" * len(head))
    for m in results:
        target = "" if m.unit == "customers" else f">= {TARGET:,}"
        print(
            f"{m.work:<42} {m.n:>10,} {m.unit:<9} {m.wall:>8.2f} {m.cpu:>8.2f} "
            f"{m.rate:>11,.0f} {m.cpu_rate:>10,.0f} {target:>9}"
        )
    print(
        f"peak RSS of this process after the two imports of {args.rows:,} rows: "
        f"{imports_rss:,.0f} MiB (imports stream {BATCH_ROWS:,} rows at a time)"
    )
    if note:
        print(note)


if __name__ == "__main__":
    main()
