"""Bulk consent check over 1M subjects: the set-based query against its peers.

Loads one million subjects' consent events for one use through the bulk write path
(``records.bulk.insert_rows``: the driver's executemany on SQLite, COPY on PostgreSQL; every
subject gives consent; about 30 % withdraw later, 10 % of the consents are past their
expiry), then times:

* ``lawful_subjects`` (the window-function query consent.checks builds): all lawful ids;
* the same question as the textbook window query, ``row_number() ... = 1`` (a peer);
* ``check_many`` on 100k ids (chunked, set-based);
* a loop of single ``check`` calls on 2,000 ids, extrapolated to 1M (the approach the set-based
  query replaces).

Every variant's answer is compared with the count known from generation. On PostgreSQL
(``--database-url postgresql://…``) the ledger lives in the schema ``bench_consent_N``, loaded
once and reused by later runs with the same N.

    .venv/bin/python bench/bench_consent.py [--subjects N] [--db FILE] [--database-url URL]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, bindparam, event, func, select, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consent.checks import check, check_many, lawful_subjects  # noqa: E402
from consent.tables import ConsentBase, create_tables  # noqa: E402
from schemas import load_strategy  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from databases import (  # noqa: E402
    BenchDatabase,
    Loader,
    add_database_url,
    describe,
    mark_seeded,
    open_database,
    peak_rss_mib,
    seeded,
)

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
_CHUNK = 100_000


_EVIDENCE: dict[str, object] = {}
"""One evidence object for every event: serialised once per batch (records.bulk)."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LEDGER = ConsentBase.metadata.tables["consent_event"]


def _timed(fn: Callable[[], _T]) -> tuple[_T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def _loaded(subjects: int) -> str:
    return f"bench_consent {subjects}"


def load(db: BenchDatabase, subjects: int) -> tuple[list[str], int, int, float]:
    """Create the ledger in ``db`` with ``subjects`` subjects; (ids, events, lawful, seconds)."""
    engine = db.engine()
    create_tables(engine)
    rng = random.Random(5)
    ids = [uuid.UUID(int=rng.getrandbits(128)).hex for _ in range(subjects)]
    events: list[tuple[str, str, datetime, datetime | None]] = []
    lawful = 0
    expired_given = NOW - timedelta(days=800)
    for subject in ids:
        expired = rng.random() < 0.10
        given_at = expired_given if expired else NOW - timedelta(days=rng.randint(31, 700))
        events.append((subject, "given", given_at, given_at + timedelta(days=730)))
        if rng.random() < 0.30:
            later = given_at + timedelta(days=rng.randint(0, 30), seconds=1)
            events.append((subject, "withdrawn", later, None))
        elif not expired:
            lawful += 1
    rows = [
        {
            "id": f"{(at - _EPOCH) // timedelta(milliseconds=1):012x}{rng.getrandbits(80):020x}",
            "subject_id": subject,
            "use": USE,
            "state": state,
            "event_time": at,
            "recorded_at": at,
            "expires_at": expires,
            "controller_name": "Minimal Oy",
            "controller_id": "1234567-8",
            "notice": "privacy-notice-2026-01",
            "language": "fi",
            "jurisdiction": "FI",
            "source": "booking-form",
            "channel": "web_form",
            "method": "staff",
            "withdrawal_method": "through web_form",
            "recorded_by": "owner",
            "evidence": _EVIDENCE,
            "key_version": 1,
            "receipt": "",
        }
        for subject, state, at, expires in events
    ]
    start = time.perf_counter()
    with engine.connect() as conn:
        if db.sqlite:
            for pragma in LOAD_PRAGMAS:
                conn.exec_driver_sql(pragma)
        loader = Loader(conn, ConsentBase.metadata, chunk=_CHUNK)
        for row in rows:
            loader.add(LEDGER.name, row)
        loader.flush()
        conn.commit()
        if db.sqlite:
            conn.exec_driver_sql("ANALYZE")
        mark_seeded(conn, _loaded(subjects), {"events": len(rows), "lawful": lawful})
        conn.commit()
    if not db.sqlite:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {LEDGER.name}")
    seconds = time.perf_counter() - start
    engine.dispose()
    return ids, len(rows), lawful, seconds


def _query_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in QUERY_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def _reuse(engine: Engine) -> tuple[list[str], int, int, float]:
    """A ledger kept by an earlier run: its ids, event count and expected lawful count."""
    withdrawn = select(LEDGER.c.subject_id).where(
        LEDGER.c.state == "withdrawn", LEDGER.c.event_time <= NOW
    )
    with engine.connect() as conn:
        ids = list(conn.execute(select(LEDGER.c.subject_id).distinct()).scalars())
        events = conn.execute(select(func.count()).select_from(LEDGER)).scalar_one()
        expected = conn.execute(
            select(func.count())
            .select_from(LEDGER)
            .where(
                LEDGER.c.state == "given",
                LEDGER.c.expires_at > NOW,
                LEDGER.c.subject_id.not_in(withdrawn),
            )
        ).scalar_one()
    return ids, events, expected, float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="Keep the ledger in this file; reuse it if there.")
    add_database_url(
        parser, None, "a fresh SQLite file in a temporary directory, or --db; reused if there"
    )
    args = parser.parse_args()
    strategy = load_strategy(ROOT / "tests" / "schemas" / "minimal").strategy
    assert strategy is not None
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{args.db or Path(tmp) / 'consent.db'}"
        db = open_database(url, name="consent", size=args.subjects)
        engine = db.engine()
        if db.sqlite:
            with engine.connect() as conn:
                reuse = engine.dialect.has_table(conn, LEDGER.name)
        else:
            reuse = seeded(engine, _loaded(args.subjects)) is not None
        loaded = "reused from an earlier run"
        if reuse:
            ids, events, expected, load_s = _reuse(engine)
        else:
            engine.dispose()  # SQLite changes its journal mode for the load: no one else open
            if not db.sqlite:  # a schema without the mark is an interrupted load: start again
                db = open_database(url, name="consent", size=args.subjects, fresh=True)
            ids, events, expected, load_s = load(db, args.subjects)
            loaded = f"loaded now; peak RSS {peak_rss_mib():,.0f} MiB"
        engine.dispose()
        engine = db.engine()
        if db.sqlite:
            event.listen(engine, "connect", _query_pragmas)
        where = describe(engine)
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
            ).bindparams(bindparam("at", type_=LEDGER.c.event_time.type))
            peer, peer_s = _timed(lambda: conn.execute(window, {"u": USE, "at": NOW}).all())
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
        ("insert events (bulk path)", f"{events:,} events", load_s, events / load_s)
        if load_s == load_s  # NaN when the ledger was reused
        else ("insert events", "reused", 0.0, 0.0),
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
    if db.sqlite:
        print(f"load: {'; '.join(LOAD_PRAGMAS)}; queries: {'; '.join(QUERY_PRAGMAS)}")
    else:
        print("load: COPY (records.bulk.insert_rows), then VACUUM (ANALYZE); server settings")
    print(
        f"consent bulk check, {db.backend} {args.subjects:,} subjects, {events:,} events "
        f"(answers {'agree' if ok else 'DISAGREE'}; expected {expected:,} lawful)"
    )
    print(f"database: {where}; ledger {loaded}")
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
