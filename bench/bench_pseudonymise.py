"""Tokens per second on one core, and the whole `tietotie pseudonymise` command, against Presidio.

Targets (issues 4 and 17, DESIGN §10 and §14): >= 500k hmac tokens/s through
``Pseudonymiser.hmac_many``; encrypt tokens >= 10x Presidio's ``encrypt`` operator; and
`tietotie pseudonymise` on a 1M-row CSV with two columns to pseudonymise >= 1M values/s wall,
the whole command as a user runs it (interpreter start, key loading, the audit entry), and
>= 10x Presidio's engine on the same values. Presidio runs through its ``AnonymizerEngine``
(as a user calls it, one value per call) and, for a fairer floor, through the bare operator.
Presidio's ``hash`` is given a fixed salt so that, like tietotie's hmac tokens, equal values
give equal hashes (without one it salts every value afresh and nothing joins). Install
Presidio with ``pip install -e '.[bench]'``.

The command runs as its own process (the console script of this virtualenv), best of
``--command-runs`` wall times, in a temporary folder with its own master key and keyring and
an audit log in ``--database-url`` (default: a SQLite file in that folder; a PostgreSQL URL
must name an empty database or one made by `tietotie db upgrade`). Presidio's rate for that
row is its engine's hash on the first ``--presidio-values`` of the same values (it makes
about 30k a second, so all 2M would take a minute), CPU time of the calls only: no start-up
is counted against it.

    .venv/bin/python bench/bench_pseudonymise.py [--values 200000] [--command-rows 1000000]
        [--database-url postgresql://...] [--json results.json]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from kernel.crypto import Pseudonymiser
from kernel.keys import Keyring

HMAC_TARGET = 500_000
ENCRYPT_RATIO_TARGET = 10.0
COMMAND_TARGET = 1_000_000  # values a second, wall, the whole command
COMMAND_RATIO_TARGET = 10.0
PRESIDIO_KINDS = ("hash_engine", "encrypt_engine", "hash_operator", "encrypt_operator")
REPO = Path(__file__).resolve().parents[1]
COMMAND_FIELDS = ("email", "phone")


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


def presidio_rates(
    values: list[str], repeats: int, kinds: tuple[str, ...] = PRESIDIO_KINDS
) -> dict[str, float] | str:
    """Presidio's rates, of ``kinds`` (hash and encrypt, through the engine and the bare
    operator), or why there are none."""
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

    work = {
        "hash_engine": lambda: through_engine("hash", hash_params),
        "encrypt_engine": lambda: through_engine("encrypt", encrypt_params),
        "hash_operator": lambda: bare(operators_module.Hash(), hash_params),
        "encrypt_operator": lambda: bare(operators_module.Encrypt(), encrypt_params),
    }
    return {kind: rate(work[kind](), len(values), repeats) for kind in kinds}


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


def command_row(i: int) -> tuple[object, ...]:
    """Row ``i`` of the command's CSV: an id, e-mail and phone (pseudonymised), name, city."""
    return (
        i,
        f"customer{i:07d}@example{i % 97}.fi",
        f"Virtanen, Asiakas {i}",
        f"+358 40 {i:07d}",
        "Espoo",
    )


def _script() -> list[str]:
    """The console script a user types, or the same entry point through this interpreter."""
    script = Path(sys.executable).with_name("tietotie")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from tietotie.cli import main; main()"]


@dataclass(frozen=True)
class CommandRun:
    """What the runs of `tietotie pseudonymise` measured."""

    rows: int
    values: int
    mib: float
    walls_s: list[float]
    cpus_s: list[float]
    audit_entry: str

    @property
    def best_s(self) -> float:
        return min(self.walls_s)

    @property
    def values_per_s(self) -> float:
        return self.values / self.best_s


def _children_cpu() -> float:
    """CPU seconds (user and system) of the finished child processes so far."""
    import resource

    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def command_run(rows: int, runs: int, database_url: str | None) -> CommandRun:
    """Time `tietotie pseudonymise` on a generated ``rows``-row CSV, two columns hmac.

    The command gets a folder of its own: master key and keyring made by `keys init`, the
    audit log by `db upgrade` in ``database_url`` (default a SQLite file there). Its output
    is checked against tokens made here with the same keyring.
    """
    import csv
    import tempfile

    from kernel.crypto import TokenMode
    from tietotie.keys import open_keyring
    from tietotie.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = {
            "TIETOTIE_ENVIRONMENT": "development",
            "TIETOTIE_VAR_DIR": str(folder / "var"),
            "TIETOTIE_KEY_FILE": str(folder / "var" / "master.key"),
            "TIETOTIE_DATABASE_URL": database_url or f"sqlite:///{folder / 'audit.db'}",
            "TIETOTIE_STRATEGY": str(REPO / "strategy"),
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIETOTIE_")}
        env.update(settings)

        def tietotie(*argv: str) -> subprocess.CompletedProcess[str]:
            done = subprocess.run(
                [*_script(), *argv], cwd=folder, env=env, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise SystemExit(f"tietotie {' '.join(argv)} failed:\n{done.stderr[-2000:]}")
            return done

        tietotie("keys", "init")
        tietotie("db", "upgrade")
        src, out = folder / "customers.csv", folder / "pseudonymised.csv"
        with src.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["customer_id", "email", "name", "phone", "city"])
            writer.writerows(command_row(i) for i in range(rows))
        argv = ("pseudonymise", str(src), "-d", "reporting", "-f", ",".join(COMMAND_FIELDS))
        walls, cpus = [], []
        printed = ""
        for _ in range(runs):
            used = _children_cpu()
            start = time.perf_counter()
            printed = tietotie(*argv, "-o", str(out)).stdout
            walls.append(time.perf_counter() - start)
            cpus.append(_children_cpu() - used)
        if "Audit entry " not in printed:
            raise SystemExit(f"the command wrote no audit entry:\n{printed}")
        audit = printed.rpartition("Audit entry ")[2].strip().rstrip(".")

        keyring = open_keyring(
            Settings(var_dir=folder / "var", key_file=folder / "var" / "master.key")
        )
        pseudonymiser = Pseudonymiser(keyring)
        with out.open(newline="", encoding="utf-8") as f:
            written = csv.DictReader(f)
            for i, row in enumerate(written):
                if i % 99_991 == 0:  # a sample: every token is made the same way
                    expected = command_row(i)
                    for name, value in (("email", expected[1]), ("phone", expected[3])):
                        token = pseudonymiser.tokenise_many(
                            "reporting", [str(value)], TokenMode.HMAC
                        )[0]
                        if row[name] != token:
                            raise SystemExit(f"row {i}: {name} is not the expected token")
            if written.line_num - 1 != rows:
                raise SystemExit(f"the output has {written.line_num - 1} rows, not {rows}")
        return CommandRun(
            rows=rows,
            values=rows * len(COMMAND_FIELDS),
            mib=src.stat().st_size / 2**20,
            walls_s=walls,
            cpus_s=cpus,
            audit_entry=audit,
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=200_000, help="values per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement (best kept)")
    parser.add_argument("--presidio-repeats", type=int, default=1)
    parser.add_argument("--file-rows", type=int, default=1_000_000, help="rows of the CSV run")
    parser.add_argument(
        "--command-rows", type=int, default=1_000_000, help="rows of the command's CSV (0: skip)"
    )
    parser.add_argument("--command-runs", type=int, default=3, help="command runs (best kept)")
    parser.add_argument(
        "--presidio-values",
        type=int,
        default=100_000,
        help="values of the command's CSV that Presidio's engine hashes for its row",
    )
    parser.add_argument(
        "--database-url",
        help="where the command writes its audit entry (default: SQLite in a temporary folder)",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()

    # The command runs as a user runs it, on every CPU; the token rates are per core.
    command = (
        command_run(args.command_rows, args.command_runs, args.database_url)
        if args.command_rows
        else None
    )
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
    numbers: dict[str, Any] = {"values": len(values), "tietotie": ours, "presidio": theirs}
    if command is not None:
        met &= command_table(console, command, args.presidio_values, args.presidio_repeats)
        numbers["command"] = asdict(command) | {"values_per_s": command.values_per_s}
    console.print("targets met" if met else "[red]targets missed[/red]")
    if args.json is not None:
        args.json.write_text(json.dumps(numbers, indent=2) + "\n")
    return 0 if met else 1


def command_table(console: Console, run: CommandRun, presidio_values: int, repeats: int) -> bool:
    """Print the command's row beside Presidio's engine on the same values; targets met?"""
    sample = [
        str(value)
        for i in range(max(presidio_values // len(COMMAND_FIELDS), 1))
        for value in (command_row(i)[1], command_row(i)[3])
    ]
    theirs = presidio_rates(sample, repeats, ("hash_engine",))
    presidio = theirs if isinstance(theirs, str) else theirs["hash_engine"]
    ratio = None if isinstance(presidio, str) else run.values_per_s / presidio
    table = Table(
        title=f"`tietotie pseudonymise`, the whole command: {run.rows:,} rows ({run.mib:,.0f} "
        f"MiB), {', '.join(COMMAND_FIELDS)} hmac, best of {len(run.walls_s)}"
    )
    for column in ("values", "wall", "values/s", "Presidio engine", "ratio", "target", "met"):
        table.add_column(column, justify="right")
    met = run.values_per_s >= COMMAND_TARGET and (ratio is None or ratio >= COMMAND_RATIO_TARGET)
    table.add_row(
        f"{run.values:,}",
        f"{run.best_s:.2f} s",
        f"{run.values_per_s:,.0f}",
        presidio if isinstance(presidio, str) else f"{presidio:,.0f}",
        "n/a" if ratio is None else f"{ratio:,.1f}x",
        f">= {COMMAND_TARGET / 1e6:.0f}M/s, >= {COMMAND_RATIO_TARGET:.0f}x",
        "yes" if met else "[red]no[/red]",
    )
    console.print(table)
    console.print(
        f"Wall times of the runs: {', '.join(f'{w:.2f} s' for w in run.walls_s)} (CPU "
        f"{', '.join(f'{c:.2f} s' for c in run.cpus_s)}); each wrote "
        f"an audit entry (the last: {run.audit_entry}). Presidio: its engine's hash, one call "
        f"per value, on the first {len(sample):,} of the same values, CPU time of the calls "
        "only, one core."
        + (
            " PYTHONDONTWRITEBYTECODE is set, so every run compiled tietotie's own modules "
            "(about 50 ms)."
            if os.environ.get("PYTHONDONTWRITEBYTECODE")
            else ""
        ),
        highlight=False,
    )
    return met


if __name__ == "__main__":
    sys.exit(main())
