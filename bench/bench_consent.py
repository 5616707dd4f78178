"""Bulk consent check over 1M subjects on SQLite: the set-based query against its peers.

Loads one million subjects' consent events for one use straight through the driver's
executemany (every subject gives consent; about 30 % withdraw later, 10 % of the consents are
past their expiry), then times:

* ``lawful_subjects`` (the window-function query consent.checks builds): all lawful ids;
* the same question as the textbook window query, ``row_number() ... = 1`` (a peer);
* ``check_many`` on 100k ids (chunked, set-based);
* a loop of single ``check`` calls on 2,000 ids, extrapolated to 1M (the approach the set-based
  query replaces).

Every variant's answer is compared with the count known from generation.

    .venv/bin/python bench/bench_consent.py [--subjects N]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, func, select, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consent.checks import check, check_many, lawful_subjects  # noqa: E402
from consent.tables import create_tables  # noqa: E402
from schemas import load_strategy  # noqa: E402

_T = TypeVar("_T")
USE = "reminders"
LOAD_PRAGMAS = (
    "PRAGMA journal_mode=MEMORY",
    "PRAGMA synchronous=OFF",
    "PRAGMA cache_size=-1000000",
)
"""A bulk load into a fresh file: no WAL, no fsync, a 1 GB page cache for the random-id indexes."""
QUERY_PRAGMAS = ("PRAGMA cache_size=-262144", "PRAGMA mmap_size=1073741824")
"""What a service holding a 1M-subject ledger would give SQLite: 256 MB cache, 1 GB mmap."""
NOW = datetime(2026, 6, 1, tzinfo=UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    # The text form SQLAlchemy's SQLite DateTime stores (naive UTC): recorded_at.
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _micros(moment: datetime) -> int:
    # consent.tables.EpochMicros: event_time and expires_at.
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _timed(fn: Callable[[], _T]) -> tuple[_T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def load(path: Path, subjects: int) -> tuple[list[str], int, int, float]:
    """Create the ledger at ``path`` with ``subjects`` subjects; (ids, events, lawful, seconds)."""
    engine = create_engine(f"sqlite:///{path}")
    create_tables(engine)
    rng = random.Random(5)
    ids = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(subjects)]
    rows: list[tuple[object, ...]] = []
    lawful = 0
    expired_given = NOW - timedelta(days=800)
    for n, subject in enumerate(ids):
        expired = rng.random() < 0.10
        given_at = expired_given if expired else NOW - timedelta(days=rng.randint(31, 700))
        rows.append((n * 2, subject, "given", given_at, given_at + timedelta(days=730)))
        if rng.random() < 0.30:
            later = given_at + timedelta(days=rng.randint(0, 30), seconds=1)
            rows.append((n * 2 + 1, subject, "withdrawn", later, None))
        elif not expired:
            lawful += 1
    params = [
        (
            f"{(at - _EPOCH) // timedelta(milliseconds=1):012x}{rng.getrandbits(80):020x}",
            subject,
            USE,
            state,
            _micros(at),
            _stamp(at),
            _micros(expires) if expires else None,
            "Minimal Oy",
            "1234567-8",
            "privacy-notice-2026-01",
            "fi",
            "FI",
            "booking-form",
            "web_form",
            "staff",
            "through web_form",
            "owner",
            "{}",
            1,
            "",
        )
        for _, subject, state, at, expires in rows
    ]
    start = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for pragma in LOAD_PRAGMAS:
            cursor.execute(pragma)
        cursor.executemany(
            "INSERT INTO consent_event (id, subject_id, use, state, event_time, recorded_at, "
            "expires_at, controller_name, controller_id, notice, language, jurisdiction, source, "
            "channel, method, withdrawal_method, recorded_by, evidence, key_version, receipt) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            params,
        )
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    seconds = time.perf_counter() - start
    engine.dispose()
    return ids, len(params), lawful, seconds


def _query_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in QUERY_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _reuse(path: Path) -> tuple[list[str], int, int, float]:
    """A ledger kept by an earlier run: its ids, event count and expected lawful count."""
    con = sqlite3.connect(path)
    try:
        ids = [r[0] for r in con.execute("SELECT DISTINCT subject_id FROM consent_event")]
        events = con.execute("SELECT count(*) FROM consent_event").fetchone()[0]
        at = _micros(NOW)
        expected = con.execute(
            "SELECT count(*) FROM consent_event g WHERE state = 'given' AND expires_at > ? "
            "AND subject_id NOT IN (SELECT subject_id FROM consent_event WHERE state = "
            "'withdrawn' AND event_time <= ?)",
            (at, at),
        ).fetchone()[0]
    finally:
        con.close()
    return ids, events, expected, float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="Keep the ledger in this file; reuse it if there.")
    args = parser.parse_args()
    strategy = load_strategy(ROOT / "tests" / "schemas" / "minimal").strategy
    assert strategy is not None
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "consent.db"
        if args.db and args.db.exists():
            ids, events, expected, load_s = _reuse(path)
        else:
            ids, events, expected, load_s = load(path, args.subjects)
        engine = create_engine(f"sqlite:///{path}")
        event.listen(engine, "connect", _query_pragmas)
        with Session(engine) as session:
            query = lawful_subjects(USE, at=NOW)
            conn = session.connection()
            counting = select(func.count()).select_from(query.subquery())
            # The first query after the load reads the pages from disk: shown apart as "cold".
            cold, cold_s = _timed(lambda: conn.execute(counting).scalar_one())
            count, count_s = _timed(lambda: conn.execute(counting).scalar_one())
            found, window_s = _timed(lambda: conn.execute(query).scalars().all())
            # The textbook "latest row per group": rank each subject's events, keep rank 1.
            window = text(
                "SELECT subject_id FROM (SELECT subject_id, state, expires_at, row_number() OVER"
                " (PARTITION BY subject_id ORDER BY event_time DESC, seq DESC) AS rn"
                " FROM consent_event WHERE use = :u AND event_time <= :at) AS ranked"
                " WHERE rn = 1 AND state = 'given' AND (expires_at IS NULL OR expires_at > :at)"
            )
            peer, peer_s = _timed(
                lambda: conn.execute(window, {"u": USE, "at": _micros(NOW)}).all()
            )
            sample = ids[:100_000]
            many, many_s = _timed(lambda: check_many(session, strategy, USE, sample, at=NOW))
            loop_ids = ids[:2_000]
            loop, loop_s = _timed(
                lambda: sum(check(session, strategy, USE, s, at=NOW) for s in loop_ids)
            )
        engine.dispose()
    ok = len(found) == expected == count == cold == len(peer)
    assert len(many) == len(set(found) & set(sample)), "check_many disagrees with the query"
    assert loop == len(set(found) & set(loop_ids)), "single checks disagree with the query"
    per_million = 1_000_000 / args.subjects
    loop_1m = loop_s / len(loop_ids) * args.subjects
    rows = [
        ("insert events (driver executemany)", f"{events:,} events", load_s, events / load_s)
        if load_s == load_s  # NaN when the ledger was reused
        else ("insert events", "reused --db file", 0.0, 0.0),
        ("lawful_subjects: count, cold cache", f"{cold:,}", cold_s, args.subjects / cold_s),
        ("lawful_subjects: count, warm", f"{count:,}", count_s, args.subjects / count_s),
        (
            "lawful_subjects: fetch all ids",
            f"{len(found):,} of {args.subjects:,}",
            window_s,
            args.subjects / window_s,
        ),
        ("peer: window row_number() = 1", f"{len(peer):,}", peer_s, args.subjects / peer_s),
        (
            f"check_many on {len(sample) // 1000}k ids (chunks 5k)",
            f"{len(many):,} of {len(sample):,}",
            many_s,
            len(sample) / many_s,
        ),
        ("peer: loop of single checks, 2k ids", f"{loop:,} of 2,000", loop_s, 2_000 / loop_s),
        (
            "  same loop, extrapolated to all",
            f"{args.subjects:,}",
            loop_1m,
            args.subjects / loop_1m,
        ),
    ]
    print(f"load: {'; '.join(LOAD_PRAGMAS)}; queries: {'; '.join(QUERY_PRAGMAS)}")
    print(
        f"consent bulk check, SQLite {args.subjects:,} subjects, {events:,} events "
        f"(answers {'agree' if ok else 'DISAGREE'}; expected {expected:,} lawful)"
    )
    print(f"{'work':<40} {'result':>22} {'seconds':>9} {'subjects/s':>12}")
    for name, result, seconds, rate in rows:
        print(f"{name:<40} {result:>22} {seconds:>9.2f} {rate:>12,.0f}")
    print(
        f"set-based query vs window peer: {peer_s / window_s:.1f}x; "
        f"vs single-check loop: {loop_1m / window_s:.0f}x "
        f"(per 1M subjects: count {count_s * per_million:.2f} s, "
        f"fetch {window_s * per_million:.2f} s)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
