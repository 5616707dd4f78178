"""Tokens per second on one core: tietotie's batch API against Presidio on the same values.

Targets (issue 4, DESIGN §10): >= 500k hmac tokens/s through ``Pseudonymiser.hmac_many``, and
encrypt tokens >= 10x Presidio's ``encrypt`` operator. Presidio runs through its
``AnonymizerEngine`` (as a user calls it, one value per call) and, for a fairer floor, through
the bare operator. Presidio's ``hash`` is given a fixed salt so that, like tietotie's hmac
tokens, equal values give equal hashes (without one it salts every value afresh and nothing
joins). Install Presidio with ``pip install -e '.[bench]'``.

    .venv/bin/python bench/bench_pseudonymise.py [--values 200000] [--json results.json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kernel.crypto import Pseudonymiser
from kernel.keys import Keyring

HMAC_TARGET = 500_000
ENCRYPT_RATIO_TARGET = 10.0


def make_values(count: int) -> list[str]:
    """Realistic, distinct e-mail addresses."""
    return [f"customer{i:07d}@example{i % 97}.fi" for i in range(count)]


def rate(work: Callable[[], object], count: int, repeats: int) -> float:
    """Values per CPU-second: the best of ``repeats`` runs over ``count`` values.

    CPU time of this (single-threaded) process, so that other work on a shared machine does
    not count against either side.
    """
    best = float("inf")
    for _ in range(repeats):
        start = time.process_time()
        work()
        best = min(best, time.process_time() - start)
    return count / best


def pin_one_core() -> str:
    """Run on a single CPU so the numbers are per core, as the targets are."""
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity here)"


def presidio_rates(values: list[str], repeats: int) -> dict[str, float] | str:
    """Presidio's hash and encrypt rates (engine and bare operator), or why there are none."""
    try:  # untyped, optional: imported by name so type checkers need not know it
        presidio: Any = importlib.import_module("presidio_anonymizer")
        entities: Any = importlib.import_module("presidio_anonymizer.entities")
        operators_module: Any = importlib.import_module("presidio_anonymizer.operators")
    except ImportError:
        return "not installed (pip install -e '.[bench]')"
    engine = presidio.AnonymizerEngine()
    salt = b"tietotie-bench-salt-16b"
    hash_params = {"hash_type": "sha256", "salt": salt}
    encrypt_params = {"key": "WmZq4t7w!z%C&F)J"}  # AES-128, as Presidio's docs show

    def through_engine(operator: str, params: dict[str, Any]) -> Callable[[], object]:
        operators = {"DEFAULT": entities.OperatorConfig(operator, params)}

        def run() -> list[str]:
            return [
                engine.anonymize(
                    text=v,
                    analyzer_results=[entities.RecognizerResult("EMAIL_ADDRESS", 0, len(v), 1.0)],
                    operators=operators,
                ).text
                for v in values
            ]

        return run

    def bare(operator: Any, params: dict[str, Any]) -> Callable[[], object]:
        return lambda: [operator.operate(v, params) for v in values]

    n = len(values)
    return {
        "hash_engine": rate(through_engine("hash", hash_params), n, repeats),
        "encrypt_engine": rate(through_engine("encrypt", encrypt_params), n, repeats),
        "hash_operator": rate(bare(operators_module.Hash(), hash_params), n, repeats),
        "encrypt_operator": rate(bare(operators_module.Encrypt(), encrypt_params), n, repeats),
    }


def file_run(rows: int, pseudonymiser: Pseudonymiser) -> tuple[float, float, float, int]:
    """Pseudonymise a generated CSV of ``rows`` rows (email hmac, plate encrypt).

    Returns (CPU seconds, wall seconds, MiB of the source, peak RSS growth in MiB). Run it
    before anything else allocates, so the RSS growth is the streaming run's own.
    """
    import csv
    import resource
    import tempfile

    from kernel.crypto import TokenMode
    from kernel.pseudonymisation import pseudonymise_file

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "customers.csv"
        with src.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["customer_id", "email", "name", "plate", "city"])
            writer.writerows(
                (i, f"customer{i:07d}@example.fi", f"Asiakas {i}", f"ABC-{i % 999}", "Espoo")
                for i in range(rows)
            )
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start, cpu = time.perf_counter(), time.process_time()
        pseudonymise_file(
            src,
            Path(tmp) / "out.csv",
            domain="reporting",
            fields={"email": TokenMode.HMAC, "plate": TokenMode.ENCRYPT},
            pseudonymiser=pseudonymiser,
        )
        cpu, wall = time.process_time() - cpu, time.perf_counter() - start
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        return cpu, wall, src.stat().st_size / 2**20, grown // 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=200_000, help="values per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--presidio-repeats", type=int, default=1)
    parser.add_argument("--file-rows", type=int, default=1_000_000, help="rows of the CSV run")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()

    pinned = pin_one_core()
    pseudonymiser = Pseudonymiser(Keyring.ephemeral())
    file_result = file_run(args.file_rows, pseudonymiser) if args.file_rows else None
    values = make_values(args.values)
    pseudonymiser.hmac_many("reporting", values[:10])  # derive the domain keys outside timing
    ours = {
        "hmac": rate(
            lambda: pseudonymiser.hmac_many("reporting", values), len(values), args.repeats
        ),
        "encrypt": rate(
            lambda: pseudonymiser.encrypt_many("reporting", values), len(values), args.repeats
        ),
    }
    theirs = presidio_rates(values, args.presidio_repeats)

    def cell(key: str) -> str:
        return theirs if isinstance(theirs, str) else f"{theirs[key]:,.0f}"

    def ratio(mine: float, key: str) -> str:
        return "n/a" if isinstance(theirs, str) else f"{mine / theirs[key]:,.1f}x"

    table = Table(
        title=f"tokens per second, one core: {len(values):,} e-mail addresses, best of "
        f"{args.repeats}"
    )
    for column in (
        "work",
        "tietotie",
        "Presidio engine",
        "ratio",
        "Presidio op.",
        "ratio",
        "target",
    ):
        table.add_column(column, justify="left" if column == "work" else "right")
    table.add_row(
        "hmac vs hash",
        f"{ours['hmac']:,.0f}",
        cell("hash_engine"),
        ratio(ours["hmac"], "hash_engine"),
        cell("hash_operator"),
        ratio(ours["hmac"], "hash_operator"),
        f">= {HMAC_TARGET // 1000}k/s",
    )
    table.add_row(
        "encrypt vs encrypt",
        f"{ours['encrypt']:,.0f}",
        cell("encrypt_engine"),
        ratio(ours["encrypt"], "encrypt_engine"),
        cell("encrypt_operator"),
        ratio(ours["encrypt"], "encrypt_operator"),
        f">= {ENCRYPT_RATIO_TARGET:.0f}x engine",
    )
    console = Console(width=max(Console().width, 100))
    console.print(table)
    console.print(
        f"Python {platform.python_version()} on {platform.machine()}, {pinned}. tietotie: "
        "keyed BLAKE2b-144 / AES-256-SIV, authenticated. Presidio: salted SHA-256 hex / "
        "AES-CBC with a random IV (not deterministic, not authenticated).",
        highlight=False,
    )

    if file_result is not None:
        cpu, wall, mib, grown = file_result
        console.print(
            f"CSV file, streaming: {args.file_rows:,} rows ({mib:,.0f} MiB), email hmac + plate "
            f"encrypt: {cpu:.1f} s CPU ({wall:.1f} s wall) = {args.file_rows / cpu:,.0f} rows "
            f"per CPU-second; peak RSS grew {grown} MiB.",
            highlight=False,
        )
        ours["file_rows_per_cpu_s"] = args.file_rows / cpu

    met = ours["hmac"] >= HMAC_TARGET and (
        isinstance(theirs, str)
        or ours["encrypt"] / theirs["encrypt_engine"] >= ENCRYPT_RATIO_TARGET
    )
    console.print("targets met" if met else "[red]targets missed[/red]")
    if args.json is not None:
        args.json.write_text(
            json.dumps({"values": len(values), "tietotie": ours, "presidio": theirs}, indent=2)
            + "\n"
        )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
