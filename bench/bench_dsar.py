"""Access export and erasure latency for one subject among many (default 1M).

Seeds the bundled strategy's system of record once into build/bench/dsar-N/ (reused by later
runs), or with ``--database-url postgresql://…`` into the PostgreSQL schema ``bench_dsar_N``
(keys in build/bench/dsar-N-postgresql-…/), then measures, for random subjects: the Art. 15
bundle in process, the same export over real HTTP (uvicorn on 127.0.0.1), and Art. 17 erasure
in process. Prints p50, p95, p99 and the database's backend and size. Targets: export p99 ≤
50 ms in process and ≤ 100 ms over HTTP; erasure p99 ≤ 100 ms.

    .venv/bin/python bench/bench_dsar.py [--subjects 1000000] [--samples 200]
                                         [--database-url URL] [--jobs 1]

``--jobs J`` seeds in J processes at once, each its share of the subjects in its own
transactions, with seed values 1, 3, 5, … (each numbers its rows from seed value × 10M, so the
shares' e-mail addresses and invoice numbers stay apart up to 20M rows an entity a share);
on PostgreSQL only: SQLite's one writer would keep its write-ahead log from being reset.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import socket
import statistics
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from records.seed import seed
from tietotie.app import create_app, open_services
from tietotie.settings import RateLimitSettings, Settings
from tietotie.wiring import Services

sys.path.insert(0, str(Path(__file__).resolve().parent))
from databases import (
    SQLITE,
    add_database_url,
    backend_of,
    describe,
    keyed_database,
    peak_rss_mib,
)

ROOT = Path(__file__).resolve().parents[1]


def _settings(folder: Path, database_url: str) -> Settings:
    return Settings(
        strategy=ROOT / "strategy",
        var_dir=folder,
        environment="development",
        database_url=database_url,
        key_file=folder / "master.key",
        # The benchmark opens hundreds of requests for one address on purpose; the edge limits
        # (DESIGN §11) would rightly refuse that, and they are not what is measured here.
        rate_limits=RateLimitSettings(
            open_per_identifier="1000000/hour", messages_per_identifier="1000000/hour"
        ),
    )


def _seed_share(folder: Path, url: str, customers: int, seed_value: int) -> tuple[int, float]:
    """One worker's share of a parallel seed: rows written, and its peak RSS in MiB."""
    services = open_services(_settings(folder, url))
    try:
        result = seed(services.sessions, services.store, customers=customers, seed_value=seed_value)
    finally:
        services.engine.dispose()
    return result.total_rows, peak_rss_mib()


def _seed(
    services: Services, folder: Path, url: str, customers: int, jobs: int
) -> tuple[int, float]:
    """Rows written and the largest process's peak RSS: in this process with the benchmark's
    own services, or shared among ``jobs`` worker processes with seed values 1, 3, 5, …"""
    if jobs == 1:
        result = seed(services.sessions, services.store, customers=customers)
        return result.total_rows, peak_rss_mib()
    shares = [customers // jobs + (k < customers % jobs) for k in range(jobs)]
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=spawn) as pool:
        futures = [
            pool.submit(_seed_share, folder, url, n, 1 + 2 * k) for k, n in enumerate(shares)
        ]
        done = [f.result() for f in futures]
    return sum(rows for rows, _ in done), max(rss for _, rss in done)


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument(
        "--jobs", type=int, default=1, help="Seed in this many processes at once (default 1)."
    )
    add_database_url(parser, None, "build/bench/dsar-N/tietotie.db, SQLite")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error(f"--jobs {args.jobs}: give 1 or more processes to seed with")
    if args.jobs > 1 and backend_of(args.database_url or "sqlite://") == SQLITE:
        # Measured at 10M: two writers always leave a reader on the write-ahead log, so no
        # checkpoint can reset it: 6.5 GB of log beside a 2 GB database after four minutes.
        parser.error(
            f"--jobs {args.jobs}: SQLite has one writer, and two seeding processes keep its "
            "write-ahead log from ever being reset (it grows without bound); seed SQLite with "
            "--jobs 1, or give a PostgreSQL --database-url"
        )
    console = Console()
    if not console.is_terminal:  # a pipe or a file: keep each row on one line
        console = Console(width=120)
    db, folder = keyed_database(
        args.database_url,
        name="dsar",
        size=args.subjects,
        folder=ROOT / "build" / "bench" / f"dsar-{args.subjects}",
    )
    settings = _settings(folder, db.url)
    services = open_services(settings)
    root = services.store.tables.subject_table
    with services.sessions() as session:
        held = session.execute(select(func.count()).select_from(root)).scalar_one()
    if held < args.subjects:
        start = time.perf_counter()
        customers = args.subjects - held
        rows, rss = _seed(services, folder, db.url, customers, args.jobs)
        seconds = time.perf_counter() - start
        console.print(
            f"seeded {customers:,} customers ({rows:,} rows) into {db.backend} in "
            f"{seconds:,.0f} s with {args.jobs} process(es): {rows / seconds:,.0f} "
            f"rows/s; peak RSS {rss:,.0f} MiB"
        )
    with services.sessions() as session:
        ids = list(
            session.execute(
                select(root.c.id).order_by(func.random()).limit(args.samples * 2)
            ).scalars()
        )
    rng = random.Random(7)
    rng.shuffle(ids)
    read_ids, erase_ids = ids[: args.samples], ids[args.samples :]

    access: list[float] = []
    with services.sessions() as session:
        for sid in read_ids:
            t = time.perf_counter()
            services.fulfiller.access(session, sid, {})
            access.append(time.perf_counter() - t)

    # Verified access requests, made in process, then exported over real HTTP.
    tokens: list[tuple[str, str]] = []
    with services.sessions() as session:
        for sid in read_ids:
            opened = services.requests.open(session, type="access", identity={"email": "x@y.fi"})
            row = opened.request
            verified = services.requests.verify_in_person(
                session, row.id, actor="bench", note="benchmark"
            )
            verified.request.subject_id = sid  # point the request at a seeded subject
            tokens.append((row.id, verified.requester_token))
        session.commit()
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    http: list[float] = []
    with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
        for rid, token in tokens:
            t = time.perf_counter()
            response = client.get(
                f"/v1/dsar/{rid}/export", headers={"Authorization": f"Bearer {token}"}
            )
            http.append(time.perf_counter() - t)
            response.raise_for_status()
    server.should_exit = True
    thread.join(timeout=10)

    erase: list[float] = []
    for sid in erase_ids:
        with services.sessions() as session:
            t = time.perf_counter()
            services.fulfiller.erase(session, sid, {})
            session.commit()
            erase.append(time.perf_counter() - t)

    keys = sum(p.stat().st_size for p in folder.glob("keystore.db*"))
    table = Table(
        title=f"one subject among {args.subjects:,} ({describe(services.engine)}, "
        f"keystore {keys / 2**20:,.0f} MiB), {args.samples} samples each"
    )
    for column in ("work", "p50 ms", "p95 ms", "p99 ms", "mean ms", "target p99"):
        table.add_column(column, justify="right")
    for name, samples, target in (
        ("access export, in process", access, "≤ 50 ms"),
        ("access export, over HTTP", http, "≤ 100 ms"),
        ("erasure, in process", erase, "≤ 100 ms"),
    ):
        table.add_row(
            name,
            f"{_pct(samples, 0.5):.1f}",
            f"{_pct(samples, 0.95):.1f}",
            f"{_pct(samples, 0.99):.1f}",
            f"{statistics.mean(samples) * 1000:.1f}",
            target,
        )
    console.print(table)
    console.print(f"peak RSS of this process (seeding in it included): {peak_rss_mib():,.0f} MiB")
    services.engine.dispose()


if __name__ == "__main__":
    main()
