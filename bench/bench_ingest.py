"""Bulk ingest and seeding rates on SQLite: prints a table (no assertions).

    .venv/bin/python bench/bench_ingest.py [--rows 100000] [--customers 100000]

Imports a CSV of customers (every row validated, deduplicated by match_on, written in one
transaction), then a JSON Lines file of visits attached to them by email, then seeds synthetic
customers with vehicles, visits and tyre storage. Rates are measured, not extrapolated; the
1M-customer seeding time is shown as an extrapolation and labelled as such.
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
import time
from pathlib import Path

from dsar.imports import import_file
from dsar.migrations import upgrade
from dsar.records import FieldCrypto, RecordStore
from dsar.seed import seed
from dsar.tables import database_metadata
from kernel.crypto import Pseudonymiser
from kernel.db import make_engine, session_factory
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from schemas import load_strategy

ROOT = Path(__file__).resolve().parents[1]
TARGET = 20_000


def _store(workdir: Path, name: str) -> tuple[RecordStore, object]:
    strategy = load_strategy(ROOT / "strategy").strategy
    assert strategy is not None
    keyring = Keyring.ephemeral()
    crypto = FieldCrypto(keystore=SubjectKeyStore(workdir / f"{name}-keys.db", keyring=keyring),
                         pseudonymiser=Pseudonymiser(keyring))
    engine = make_engine(f"sqlite:///{workdir / name}.db")
    upgrade(engine, database_metadata(strategy))
    return RecordStore(strategy, crypto=crypto), engine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=100_000)
    args = parser.parse_args()
    results: list[tuple[str, int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        store, engine = _store(work, "ingest")
        customers = work / "customers.csv"
        with customers.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["name", "email", "phone", "branch", "postal_code", "city",
                             "language", "preferred_channel"])
            for i in range(args.rows):
                writer.writerow([f"Asiakas {i}", f"asiakas.{i}@example.com",
                                 f"+358{('40', '50', '44')[i % 3]}{i:07d}", "espoo", "02100",
                                 "Espoo", "fi", "sms"])
        sessions = session_factory(engine)  # type: ignore[arg-type]
        started = time.perf_counter()
        result = import_file(sessions, store, customers, entity="customer",
                             source="service-desk")
        results.append(("import customers (CSV, with phone+email)", result.rows,
                        time.perf_counter() - started))
        visits = work / "visits.jsonl"
        with visits.open("w", encoding="utf-8") as fh:
            for i in range(args.rows):
                fh.write(json.dumps({"subject.email": f"asiakas.{i}@example.com",
                                     "visited_at": "2026-03-01T10:00:00+02:00",
                                     "service_type": "tyre_change", "amount_eur": "89.90",
                                     "payment_method": "card"}) + "\n")
        started = time.perf_counter()
        result = import_file(sessions, store, visits, entity="visit", source="service-desk")
        results.append(("import visits (JSONL, subject by email)", result.rows,
                        time.perf_counter() - started))
        engine.dispose()  # type: ignore[attr-defined]

        store, engine = _store(work, "seed")
        outcome = seed(session_factory(engine), store,  # type: ignore[arg-type]
                       customers=args.customers)
        results.append((f"demo seed customers (+{outcome.total_rows - outcome.customers} "
                        "child rows)", outcome.customers, outcome.seconds))
        results.append(("demo seed, all rows", outcome.total_rows, outcome.seconds))
        engine.dispose()  # type: ignore[attr-defined]

    print(f"{'work':<52} {'n':>9} {'seconds':>9} {'per second':>12} {'target':>10}")
    for name, n, seconds in results:
        target = f">= {TARGET:,}" if name.startswith("import") else ""
        print(f"{name:<52} {n:>9,} {seconds:>9.2f} {n / seconds:>12,.0f} {target:>10}")
    seed_rate = results[2][1] / results[2][2]
    print(f"extrapolated (not measured): 1,000,000 customers seeded in "
          f"~{1_000_000 / seed_rate / 60:.0f} min at the measured rate")


if __name__ == "__main__":
    main()
