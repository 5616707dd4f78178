"""Requests a second over HTTP from many clients at once, against 1 and 2 worker processes.

Seeds the bundled strategy's system of record once (default 100,000 subjects, into its own
PostgreSQL schema, reused by later runs), then for each worker count starts `tietotie serve
--workers N` as a real server on 127.0.0.1 and drives it from a bounded number of keep-alive
connections (one asyncio client process, so the load itself costs little CPU) through three
kinds of work, one after the other:

- open: ``POST /v1/dsar`` access requests, half naming a seeded customer's email;
- read: ``GET /v1/subjects/{id}?purpose=…`` with a staff token, random seeded subjects;
- export: ``GET /v1/dsar/{id}/export``, the first download of a verified access request, which
  builds the Art. 15 bundle, seals it as the request's answer and completes the request.

For each (work, workers) it prints requests/s, p50/p99 latency, errors (any status other than
the expected one, or no answer), and where the CPU went: the server processes' and the
database's CPU time per request (both read from /proc). Target (issue 17): at least 200 access
exports/s with 2 workers on PostgreSQL, 0 errors. Reference: Fides 2.86, measured outside this
project on this kind of machine (2 cores, PostgreSQL, 1M customers): about 1.6 access
requests/s.

    .venv/bin/python bench/bench_load.py [--database-url URL] [--subjects 100000]
        [--workers 1,2] [--clients 32] [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.table import Table
from sqlalchemy import func, select

from dsar.auth import issue_token
from kernel.db import transaction
from records.seed import seed
from tietotie.app import open_services
from tietotie.settings import RateLimitSettings, Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from databases import add_database_url, describe, keyed_database, peak_rss_mib

ROOT = Path(__file__).resolve().parents[1]
TIETOTIE = str(Path(sys.executable).with_name("tietotie"))
DEFAULT_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"
HIGH = "100000000/hour"
"""Rate limits out of the way: the load comes from one address and a few identities."""
START_SECONDS = 120
CALL_SECONDS = 60
READ_PURPOSE = "service-history"
TICK = os.sysconf("SC_CLK_TCK")


# --- the database and the service ------------------------------------------------------------


def _redis() -> str:
    """A shared rate-limit store when Redis runs here (what several workers need), else memory."""
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1):
            return "redis://127.0.0.1:6379/0"
    except OSError:
        return "memory://"


def _environment(folder: Path, database_url: str, storage: str) -> dict[str, str]:
    limits = {name.upper(): HIGH for name in RateLimitSettings.model_fields}
    return {
        "TIETOTIE_ENVIRONMENT": "development",
        "TIETOTIE_STRATEGY": str(ROOT / "strategy"),
        "TIETOTIE_DATABASE_URL": database_url,
        "TIETOTIE_VAR_DIR": str(folder / "var"),
        "TIETOTIE_KEY_FILE": str(folder / "var" / "master.key"),
        "TIETOTIE_RATE_LIMIT_STORAGE": storage,
        **{f"TIETOTIE_RATE_LIMITS__{name}": HIGH for name in limits},
    }


def _settings(env: dict[str, str]) -> Settings:
    """The same settings in this process, with its own (in-memory) rate limits."""
    return Settings(
        environment="development",
        strategy=Path(env["TIETOTIE_STRATEGY"]),
        database_url=env["TIETOTIE_DATABASE_URL"],
        var_dir=Path(env["TIETOTIE_VAR_DIR"]),
        key_file=Path(env["TIETOTIE_KEY_FILE"]),
        rate_limits=RateLimitSettings(**dict.fromkeys(RateLimitSettings.model_fields, HIGH)),
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except OSError:
                continue
            if f"\nPPid:\t{pid}\n" in status:
                found.append(int(entry.name))
    return found


def _cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def _postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


@dataclass
class Server:
    """A running `tietotie serve --workers N`."""

    port: int
    process: subprocess.Popen[bytes]
    workers: list[int] = field(default_factory=list)

    def cpu(self) -> float:
        return _cpu_seconds([self.process.pid, *self.workers])


@contextmanager
def _serve(env: dict[str, str], folder: Path, workers: int) -> Iterator[Server]:
    port = _free_port()
    log = (folder / f"serve-{workers}.log").open("wb")
    process = subprocess.Popen(
        [TIETOTIE, "serve", "--port", str(port), "--workers", str(workers)],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("TIETOTIE_")}, **env},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = Server(port, process)
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:
            if process.poll() is not None:
                raise SystemExit((folder / f"serve-{workers}.log").read_text())
            pids = asyncio.run(_health_pids(port, 2 * workers))
            if len(pids) >= workers:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"`serve --workers {workers}` did not answer in time")
            time.sleep(0.5)
        server.workers = [p for p in _children(process.pid) if p in pids] or sorted(pids)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


# --- a small HTTP/1.1 keep-alive client ------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """One request of the load and the status that counts as success."""

    method: str
    path: str
    expect: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()

    def encode(self, port: int) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
        lines += [f"{k}: {v}" for k, v in self.headers]
        if self.body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(self.body)}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


@dataclass
class Outcome:
    """What one kind of work gave: latencies, failures, and which workers held connections."""

    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    connections: Counter[int] = field(default_factory=Counter)
    wall: float = 0.0


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
        return status, body
    return status, await reader.readexactly(int(headers.get("content-length", "0")))


async def _health_pids(port: int, connections: int) -> set[int]:
    async def one() -> int | None:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            return None
        try:
            writer.write(Call("GET", "/health", 200).encode(port))
            status, body = await asyncio.wait_for(_response(reader), 10)
            return int(json.loads(body)["pid"]) if status == 200 else None
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            return None
        finally:
            writer.close()

    return {p for p in await asyncio.gather(*(one() for _ in range(connections))) if p}


async def _connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int]:
    """A new keep-alive connection and the pid of the worker that accepted it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(Call("GET", "/health", 200).encode(port))
    _, body = await _response(reader)
    return reader, writer, int(json.loads(body)["pid"])


async def _balanced(
    port: int, clients: int, workers: int
) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter, int]]:
    """``clients`` connections spread evenly over the workers, as a balancer in front would.

    Workers share one listening socket and the first one awake accepts a whole burst, so
    connections are opened one at a time and one beyond a worker's share is closed again.
    """
    share = -(-clients // workers)
    held: list[tuple[asyncio.StreamReader, asyncio.StreamWriter, int]] = []
    counts: Counter[int] = Counter()
    for _ in range(50 * clients):
        if len(held) == clients:
            break
        reader, writer, pid = await _connect(port)
        if counts[pid] < share:
            counts[pid] += 1
            held.append((reader, writer, pid))
        else:
            writer.close()
    while len(held) < clients:  # the kernel kept choosing full workers: take what comes
        held.append(await _connect(port))
    return held


async def _drive(port: int, calls: list[Call], clients: int, workers: int) -> Outcome:
    """Send ``calls`` over ``clients`` keep-alive connections, each one call at a time."""
    outcome = Outcome()
    pending = iter(calls)

    async def connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pid: int
    ) -> None:
        outcome.connections[pid] += 1
        try:
            for call in pending:
                start = time.perf_counter()
                try:
                    writer.write(call.encode(port))
                    status, body = await asyncio.wait_for(_response(reader), CALL_SECONDS)
                except (TimeoutError, OSError, asyncio.IncompleteReadError) as exc:
                    outcome.errors[type(exc).__name__] += 1
                    writer.close()
                    reader, writer, _ = await _connect(port)
                    continue
                outcome.latencies.append(time.perf_counter() - start)
                if status != call.expect:
                    outcome.errors[f"{status} {body[:80].decode(errors='replace')}"] += 1
        finally:
            writer.close()

    held = await _balanced(port, clients, workers)
    start = time.perf_counter()
    await asyncio.gather(*(connection(*c) for c in held))
    outcome.wall = time.perf_counter() - start
    return outcome


# --- the work ---------------------------------------------------------------------------------


def _opens(emails: list[str], n: int, rng: random.Random) -> list[Call]:
    calls = []
    for i in range(n):
        email = rng.choice(emails) if i % 2 else f"kuorma.{secrets.token_hex(6)}@example.fi"
        body = json.dumps({"type": "access", "identity": {"email": email}}).encode()
        calls.append(Call("POST", "/v1/dsar", 202, body))
    return calls


def _reads(ids: list[str], n: int, token: str, rng: random.Random) -> list[Call]:
    auth = (("Authorization", f"Bearer {token}"),)
    return [
        Call("GET", f"/v1/subjects/{quote(rng.choice(ids))}?purpose={READ_PURPOSE}", 200, b"", auth)
        for _ in range(n)
    ]


def _exports(services: Any, ids: list[str], n: int, rng: random.Random) -> list[Call]:
    """``n`` verified access requests, each for a random seeded subject, to download once."""
    calls = []
    with transaction(services.sessions) as session:
        for _ in range(n):
            opened = services.requests.open(
                session, type="access", identity={"email": "kuorma@example.fi"}
            )
            verified = services.requests.verify_in_person(
                session, opened.request.id, actor="bench", note="load benchmark"
            )
            verified.request.subject_id = rng.choice(ids)  # point it at a seeded subject
            auth = (("Authorization", f"Bearer {verified.requester_token}"),)
            calls.append(Call("GET", f"/v1/dsar/{opened.request.id}/export", 200, b"", auth))
    return calls


def _pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_database_url(parser, DEFAULT_URL, DEFAULT_URL)
    parser.add_argument("--subjects", type=int, default=100_000, help="subjects seeded")
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--clients", type=int, default=32, help="connections at once")
    parser.add_argument("--requests", type=int, default=2000, help="calls per work and run")
    parser.add_argument("--warmup", type=int, default=100, help="calls per work, not counted")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    if args.subjects < 1 or args.clients < 1 or args.requests < 1 or min(counts) < 1:
        parser.error("--subjects, --clients, --requests and every --workers count must be ≥ 1")
    console = Console(width=200)
    database, folder = keyed_database(
        args.database_url,
        name="load",
        size=args.subjects,
        folder=ROOT / "build" / "bench" / f"load-{args.subjects}",
    )
    storage = _redis()
    env = _environment(folder, database.url, storage)
    services = open_services(_settings(env))
    root = services.store.tables.subject_table
    with services.sessions() as session:
        held = session.execute(select(func.count()).select_from(root)).scalar_one()
    if held < args.subjects:
        start = time.perf_counter()
        result = seed(services.sessions, services.store, customers=args.subjects - held)
        seconds = time.perf_counter() - start
        console.print(
            f"seeded {result.customers:,} customers ({result.total_rows:,} rows) into "
            f"{database.backend} in {seconds:,.0f} s: {result.total_rows / seconds:,.0f} rows/s; "
            f"peak RSS {peak_rss_mib():,.0f} MiB"
        )
    with services.sessions() as session:
        sample = session.execute(
            select(root.c.id, root.c.email).order_by(func.random()).limit(5000)
        ).all()
    ids = [row.id for row in sample]
    emails = [row.email for row in sample if row.email]
    owner = max(services.strategy.index.roles.values(), key=lambda r: len(r.duties)).id
    with transaction(services.sessions) as session:
        token = issue_token(session, services.strategy, role=owner, name="bench_load")
    rng = random.Random(17)

    rows = []
    for workers in counts:
        works = {
            "open": _opens(emails, args.warmup + args.requests, rng),
            "read": _reads(ids, args.warmup + args.requests, token, rng),
            "export": _exports(services, ids, args.warmup + args.requests, rng),
        }
        with _serve(env, folder, workers) as server:
            for work, calls in works.items():
                asyncio.run(_drive(server.port, calls[: args.warmup], args.clients, workers))
                cpu, db = server.cpu(), _cpu_seconds(_postgres_pids())
                load = os.getloadavg()[0]
                outcome = asyncio.run(
                    _drive(server.port, calls[args.warmup :], args.clients, workers)
                )
                cpu, db = server.cpu() - cpu, _cpu_seconds(_postgres_pids()) - db
                rows.append((work, workers, outcome, cpu, db, load))
                console.print(
                    f"{work}, {workers} worker(s): {len(outcome.latencies) / outcome.wall:,.0f}/s"
                    f", errors {sum(outcome.errors.values())}, connections per worker "
                    f"{dict(outcome.connections)}"
                )
    table = Table(
        title=f"over HTTP on 127.0.0.1, {args.subjects:,} subjects ({describe(services.engine)}); "
        f"{args.clients} connections, {args.requests:,} calls per row after {args.warmup} "
        f"warm-up; rate limits in {storage.split(':')[0]}"
    )
    columns = (
        *("work", "workers", "req/s", "p50 ms", "p99 ms", "errors"),
        *("server CPU ms/req", "db CPU ms/req", "load", "target / reference"),
    )
    for column in columns:
        table.add_column(column, justify="right")
    for work, workers, outcome, cpu, db, load in rows:
        done = len(outcome.latencies)
        target = "≥ 200/s, 0 errors" if work == "export" and workers == 2 else ""
        table.add_row(
            work,
            str(workers),
            f"{done / outcome.wall:,.0f}",
            f"{_pct(outcome.latencies, 0.5):.1f}",
            f"{_pct(outcome.latencies, 0.99):.1f}",
            str(sum(outcome.errors.values())),
            f"{cpu / max(done, 1) * 1000:.1f}",
            f"{db / max(done, 1) * 1000:.1f}",
            f"{load:.1f}",
            target,
        )
    table.add_row(
        "Fides 2.86 access requests",
        "",
        "≈ 1.6",
        "420",
        "",
        "",
        "",
        "",
        "",
        "reference, measured outside this project (2 cores, PostgreSQL, 1M customers)",
    )
    console.print(table)
    for work, workers, outcome, *_ in rows:
        for what, n in outcome.errors.most_common(5):
            console.print(f"  {work}, {workers} worker(s): {n} × {what}")
    services.engine.dispose()
    if any(outcome.errors for _, _, outcome, *_ in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
