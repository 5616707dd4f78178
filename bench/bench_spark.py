"""Rows a second: `tietotie pseudonymise --engine spark`, local mode, against the one-process CLI.

Performance row of issue 17 (DESIGN §14): Spark pseudonymisation in local mode on this
machine's cores, against the single-process CLI on the same files. ``--rows`` rows (1M by
default) are written as ``--files`` CSV files (4); e-mail gets hmac tokens, the plate encrypt
tokens. Then, each as its own process (the console script of this virtualenv), with its own
master key, keyring and an audit log in ``--database-url``:

- the local engine, one file after the other (what one core does), and two files at a time;
- ``--engine spark`` on the folder, as a user runs it: the JVM's start-up included.

and, in this process, the Spark job alone on a session started beforehand (``local[N]``,
``--cores``), twice (the first job also starts the Python workers), to show what start-up
costs. The outputs of the local and Spark runs are
compared row by row (an order-free digest of every row): they must be equal. Every CLI run
writes its audit entry; the Spark run's number is printed. On PostgreSQL the audit log is in a
schema of its own, ``bench_spark``. Needs the spark extra (``pip install -e '.[spark]'``) and
Java 17.

    .venv/bin/python bench/bench_spark.py [--rows 1000000] [--files 4] [--cores 2]
        [--database-url postgresql://root@127.0.0.1:5432/test] [--json results.json]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kernel.crypto import Pseudonymiser
from kernel.db import make_engine

REPO = Path(__file__).resolve().parents[1]
FIELDS = "email,plate:encrypt"
SCHEMA = "bench_spark"
HEADER = ["customer_id", "email", "name", "plate", "city", "visits"]


@dataclass(frozen=True)
class Row:
    """One line of the table."""

    engine: str
    how: str
    wall_s: float
    rows_per_s: float


def _row(i: int) -> list[object]:
    return [
        i,
        f"customer{i:07d}@example{i % 97}.fi",
        f"Virtanen, Asiakas {i}",
        f"ABC-{i % 999:03d}",
        ("Espoo", "Vantaa", "Turku", "Oulu")[i % 4],
        i % 13,
    ]


def write_files(folder: Path, rows: int, files: int) -> float:
    """``files`` CSV files holding ``rows`` rows between them; their size in MiB."""
    folder.mkdir()
    per = -(-rows // files)
    for n in range(files):
        with (folder / f"visits-{n}.csv").open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(HEADER)
            writer.writerows(_row(i) for i in range(n * per, min(rows, (n + 1) * per)))
    return sum(p.stat().st_size for p in folder.iterdir()) / 2**20


def digest(paths: list[Path]) -> tuple[int, int]:
    """Rows, and an order-free digest of them (a sum of row hashes): equal files, equal digests."""
    count = total = 0
    for path in paths:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.reader(f)
            next(reader)
            for row in reader:
                mac = hashlib.blake2b("\x1f".join(row).encode(), digest_size=16).digest()
                total = (total + int.from_bytes(mac, "big")) % (1 << 128)
                count += 1
    return count, total


def database_url(url: str | None, folder: Path) -> str:
    """The audit log's URL: a SQLite file in ``folder``, or a schema of its own on PostgreSQL."""
    if url is None:
        return f"sqlite:///{folder / 'audit.db'}"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return url
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA "{SCHEMA}"'))
    finally:
        admin.dispose()
    scoped = parsed.update_query_dict({"options": f"-csearch_path={SCHEMA}"})
    return scoped.render_as_string(hide_password=False)


def _script() -> list[str]:
    script = Path(sys.executable).with_name("tietotie")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from tietotie.cli import main; main()"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows over all the files")
    parser.add_argument("--files", type=int, default=4, help="CSV files the rows are split into")
    parser.add_argument("--cores", type=int, default=2, help="cores of the in-process session")
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="SQLAlchemy URL of the audit log's database (default: a SQLite file in the "
        f"temporary folder); PostgreSQL gets a schema of its own, {SCHEMA}",
    )
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()

    from kernel.spark_pseudonymisation import pseudonymise_dataset
    from kernel.spark_session import SparkUnavailable, check_spark, spark_session
    from tietotie.keys import open_keyring
    from tietotie.settings import Settings

    try:
        check_spark()
    except SparkUnavailable as exc:
        raise SystemExit(f"bench_spark: {exc.message}") from None
    console = Console(width=max(Console().width, 110))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="tietotie-bench-spark-") as tmp:
        folder = Path(tmp)
        url = database_url(args.database_url, folder)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TIETOTIE_")}
        env.update(
            TIETOTIE_ENVIRONMENT="development",
            TIETOTIE_VAR_DIR=str(folder / "var"),
            TIETOTIE_KEY_FILE=str(folder / "var" / "master.key"),
            TIETOTIE_DATABASE_URL=url,
            TIETOTIE_STRATEGY=str(REPO / "strategy"),
        )

        def tietotie(*argv: str) -> str:
            done = subprocess.run(
                [*_script(), *argv], cwd=folder, env=env, capture_output=True, text=True
            )
            if done.returncode != 0:
                raise SystemExit(f"tietotie {' '.join(argv)} failed:\n{done.stderr[-3000:]}")
            return done.stdout

        def pseudonymise(src: Path, out: Path, *extra: str) -> str:
            return tietotie(
                "pseudonymise", str(src), "-d", "reporting", "-f", FIELDS, "-o", str(out), *extra
            )

        tietotie("keys", "init")
        tietotie("db", "upgrade")
        source = folder / "in"
        mib = write_files(source, args.rows, args.files)
        files = sorted(source.iterdir())
        results: list[Row] = []

        def timed(engine: str, how: str, work: Callable[[], object]) -> None:
            start = time.perf_counter()
            work()
            wall = time.perf_counter() - start
            results.append(Row(engine, how, wall, args.rows / wall))

        (folder / "local").mkdir()
        (folder / "local2").mkdir()
        timed(
            "local CLI",
            f"{args.files} processes, one after the other (1 core)",
            lambda: [pseudonymise(f, folder / "local" / f.name) for f in files],
        )

        def two_at_a_time() -> None:
            with ThreadPoolExecutor(max_workers=2) as pool:
                list(pool.map(lambda f: pseudonymise(f, folder / "local2" / f.name), files))

        timed("local CLI", f"{args.files} processes, two at a time", two_at_a_time)
        printed: list[str] = []
        timed(
            "Spark CLI",
            "--engine spark, local[*], JVM start-up included",
            lambda: printed.append(pseudonymise(source, folder / "spark", "--engine", "spark")),
        )
        audit = printed[0].rpartition("Audit entry ")[2].strip().rstrip(".") or "none"

        keyring = open_keyring(
            Settings(var_dir=folder / "var", key_file=folder / "var" / "master.key")
        )
        start = time.perf_counter()
        with spark_session(master=f"local[{args.cores}]", temp_root=folder) as session:
            started = time.perf_counter() - start
            for run, how in enumerate(
                (
                    f"local[{args.cores}], first job ({started:.1f} s to start the session)",
                    f"local[{args.cores}], the same job again (Python workers warm)",
                )
            ):
                timed(
                    "Spark job",
                    how,
                    lambda run=run: pseudonymise_dataset(
                        source,
                        folder / f"spark-job-{run}",
                        domain="reporting",
                        fields=FIELDS,
                        pseudonymiser=Pseudonymiser(keyring),
                        spark=session,
                    ),
                )

        local = digest(sorted((folder / "local").iterdir()))
        outputs = {
            "local, two at a time": digest(sorted((folder / "local2").iterdir())),
            "Spark CLI": digest(sorted((folder / "spark").glob("part-*"))),
            "Spark job": digest(sorted((folder / "spark-job-0").glob("part-*"))),
            "Spark job again": digest(sorted((folder / "spark-job-1").glob("part-*"))),
        }
        differing = [name for name, got in outputs.items() if got != local]
        if local[0] != args.rows:
            differing.append(f"local ({local[0]:,} rows, not {args.rows:,})")

    base = results[0].rows_per_s
    table = Table(
        title=f"pseudonymise {args.rows:,} rows in {args.files} CSV files ({mib:,.0f} MiB), "
        f"{FIELDS}, wall time"
    )
    for column in ("engine", "how", "wall s", "rows/s", "vs local CLI"):
        table.add_column(column, justify="left" if column in ("engine", "how") else "right")
    for row in results:
        table.add_row(
            row.engine,
            row.how,
            f"{row.wall_s:.1f}",
            f"{row.rows_per_s:,.0f}",
            f"{row.rows_per_s / base:.2f}x",
        )
    console.print(table)
    import pyspark

    console.print(
        f"Python {platform.python_version()}, pyspark {pyspark.__version__}, {os.cpu_count()} "
        f"cores; load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after. Audit "
        f"log: {make_url(url).get_backend_name()}; the Spark CLI run is audit entry {audit}.",
        highlight=False,
    )
    if differing:
        console.print(f"[red]outputs differ from the local CLI's: {', '.join(differing)}[/red]")
    else:
        console.print("every output holds the local CLI's rows, token for token")
    if args.json is not None:
        args.json.write_text(
            json.dumps(
                {"rows": args.rows, "files": args.files, "results": [asdict(r) for r in results]},
                indent=2,
            )
            + "\n"
        )
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
