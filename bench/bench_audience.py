"""Campaign audience and report builds over 1M subjects of the bundled strategy.

Loads the bundled car-service strategy's tables through the bulk write path
(``records.bulk.insert_rows``: the driver's executemany on SQLite, COPY on PostgreSQL)
(customers, 1-2 vehicles and 0-4 visits each, a stored tyre set for a third), the consent
ledger (60 % gave consent to seasonal-reminders; of those 15 % withdrew later and 10 % gave it
more than two years ago, so it expired), restrictions (0.5 %), objections (1 %) and the
contact log (5 % got the November campaign twice in the last 30 days). Then times, through
the service's own code (activation.audiences, activation.reporting):

* the November tyre campaign's audience: the counts (matched, excluded by reason, final),
  then the same with consent read from the ledger's history instead of the current-state
  table (``consent_current``, the peer: how audiences ran before it), then the counts plus
  the export written to a CSV file;
* every declared activation's counts;
* every declared report, built and written (aggregated ones with their chart).

The answers are checked against counts known from generation where they can be. On SQLite
the load is fresh every run; on PostgreSQL (``--database-url postgresql://…``) it goes into the
schema ``bench_audience_N``, which later runs with the same N reuse.

With ``--over-dsar-seed`` nothing is loaded: the audiences are timed over the database
``bench_dsar.py`` seeded with the same ``--subjects`` (the demo seed's own data, so there are
no generator counts to check), which is how the 10M audience was measured.

    .venv/bin/python bench/bench_audience.py [--subjects N] [--db FILE] [--database-url URL]
        [--no-reports] [--over-dsar-seed]
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
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

from sqlalchemy import event, func, select, table
from sqlalchemy.exc import DBAPIError

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from access_policy import compile_policy  # noqa: E402
from activation import audiences  # noqa: E402
from activation.audiences import audience  # noqa: E402
from activation.charts import write_chart  # noqa: E402
from activation.exports import OutputFormat, write_file  # noqa: E402
from activation.reporting import build_report  # noqa: E402
from consent.current import rebuild  # noqa: E402
from dsar.tables import database_metadata  # noqa: E402
from kernel.crypto import Pseudonymiser  # noqa: E402
from kernel.db import session_factory  # noqa: E402
from kernel.keys import Keyring  # noqa: E402
from kernel.keystore import SubjectKeyStore  # noqa: E402
from records.migrations import upgrade  # noqa: E402
from records.store import FieldCrypto, RecordStore  # noqa: E402
from schemas import load_strategy  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from databases import (  # noqa: E402
    SQLITE,
    BenchDatabase,
    Loader,
    add_database_url,
    backend_of,
    describe,
    mark_seeded,
    open_database,
    peak_rss_mib,
    seeded,
)

_T = TypeVar("_T")
NOW = datetime.now(UTC).replace(microsecond=0)
CAMPAIGN = "november-tyre-campaign"
LOAD_PRAGMAS = (
    "PRAGMA foreign_keys=OFF",  # parents are written before their children; not checked
    "PRAGMA journal_mode=MEMORY",
    "PRAGMA synchronous=OFF",
    "PRAGMA cache_size=-1000000",
)
"""A bulk load into a fresh file: no WAL, no fsync, a 1 GB page cache."""
QUERY_PRAGMAS = ("PRAGMA cache_size=-262144", "PRAGMA mmap_size=2147483648")
"""What a service holding 1M subjects would give SQLite: 256 MB cache, 2 GB mmap."""
COVERING_INDEXES: tuple[str, ...] = ()
"""Indexes the bench adds beyond the compiled tables: none since the compiled tables index
(subject_id, field) for every field an audience or row filter tests."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAKES = ("Toyota", "Volkswagen", "Skoda", "Volvo", "Ford", "Kia", "Nissan")
_SERVICES = ("tyre_change", "tyre_sale", "maintenance", "repair", "inspection_prep", "tyre_hotel")
_CHUNK = 100_000


def _timed(fn: Callable[[], _T]) -> tuple[_T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def load(
    db: BenchDatabase, subjects: int, now: datetime
) -> tuple[dict[str, int], dict[str, int], float]:
    """Fill the fresh database ``db``; (rows per table, expected counts, seconds)."""
    strategy = load_strategy(ROOT / "strategy").strategy
    assert strategy is not None
    metadata = database_metadata(strategy)
    engine = db.engine()
    upgrade(engine, metadata)
    rng = random.Random(9)
    start = time.perf_counter()
    keep = now + timedelta(days=6 * 365)
    # one object per bookkeeping value for all rows: each is converted once (records.bulk)
    book = {
        "source": "service-desk",
        "collected_at": now,
        "updated_at": now,
        "retention_until": keep,
        "provenance": {},
    }
    cutoff = now - timedelta(days=730)  # the campaign's visit.visited_at within P2Y
    expect = dict.fromkeys(
        ("matched", "restricted", "objected", "no_consent", "expired", "capped", "final"), 0
    )
    with engine.connect() as conn:
        if db.sqlite:
            for pragma in LOAD_PRAGMAS:
                conn.exec_driver_sql(pragma)
        rows = Loader(conn, metadata, chunk=_CHUNK)
        for n in range(subjects):
            sid = uuid.UUID(int=rng.getrandbits(128)).hex
            branch = "espoo" if rng.random() < 0.7 else "vantaa"
            since = (now - timedelta(days=rng.randint(30, 4000))).date()
            rows.add(
                "customer",
                {
                    "id": sid,
                    "subject_id": sid,
                    **book,
                    "name": f"Asiakas {n}",
                    "email": f"c{n}@example.fi",
                    "phone": f"+35840{n:07d}",
                    "branch": branch,
                    "postal_code": "02100" if branch == "espoo" else "01300",
                    "customer_since": since,
                    "preferred_channel": rng.choice(("email", "sms", "phone")),
                    "language": "fi",
                },
            )
            summer = False
            vehicles = []
            for _ in range(rng.randint(1, 2)):
                vid = uuid.UUID(int=rng.getrandbits(128)).hex
                tyre = rng.choice(("summer", "winter", "all_season"))
                summer |= tyre == "summer"
                vehicles.append(vid)
                rows.add(
                    "vehicle",
                    {
                        "id": vid,
                        "subject_id": sid,
                        "parent_id": sid,
                        **book,
                        "make": rng.choice(_MAKES),
                        "model_year": rng.randint(2005, 2025),
                        "tyre_type": tyre,
                        "tyre_size": "205/55 R16",
                    },
                )
            recent = False
            for _ in range(rng.randint(0, 4)):
                at = now - timedelta(days=rng.randint(1, 5 * 365), seconds=rng.randint(0, 86_399))
                recent |= at >= cutoff
                rows.add(
                    "visit",
                    {
                        "id": uuid.UUID(int=rng.getrandbits(128)).hex,
                        "subject_id": sid,
                        "parent_id": sid,
                        **book,
                        "visited_at": at,
                        "service_type": rng.choice(_SERVICES),
                        "amount_eur": Decimal(rng.randint(40, 1200)),
                        "satisfaction_score": rng.randint(0, 10),
                    },
                )
            if rng.random() < 0.33:
                rows.add(
                    "tyre_storage",
                    {
                        "id": uuid.UUID(int=rng.getrandbits(128)).hex,
                        "subject_id": sid,
                        "parent_id": vehicles[0],
                        **book,
                        "source": "workshop-inspection",
                        "season": rng.choice(("summer", "winter")),
                        "tread_depth_mm": Decimal(str(round(rng.uniform(1.5, 8.0), 1))),
                        "shelf": f"E-{rng.randint(1, 40)}-{rng.randint(1, 5)}",
                        "stored_since": (now - timedelta(days=rng.randint(10, 900))).date(),
                    },
                )
            # standing against the subject, in the order the audience tries the reasons
            reason = None
            if rng.random() < 0.005:
                rows.add(
                    "dsar_subject_flags",
                    {
                        "subject_id": sid,
                        "kind": "restriction",
                        "scope": "all",
                        "reason": "bench",
                        "since": now,
                    },
                )
                reason = "restricted"
            if rng.random() < 0.01:
                rows.add(
                    "dsar_subject_flags",
                    {
                        "subject_id": sid,
                        "kind": "objection",
                        "scope": "direct_marketing",
                        "reason": "bench",
                        "since": now,
                    },
                )
                reason = reason or "objected"
            state = "none"
            if rng.random() < 0.6:
                expired = rng.random() < 0.10
                given = now - timedelta(days=800 if expired else rng.randint(31, 700))
                _consent(rows, rng, sid, "given", given, given + timedelta(days=730))
                state = "expired" if expired else "given"
                if rng.random() < 0.15:
                    _consent(rows, rng, sid, "withdrawn", given + timedelta(days=1), None)
                    state = "none"
            if state != "given":
                reason = reason or ("expired" if state == "expired" else "no_consent")
            if rng.random() < 0.05:
                for days in (3, 12):
                    rows.add(
                        "dsar_contact_log",
                        {
                            "subject_id": sid,
                            "activation": CAMPAIGN,
                            "channel": "email",
                            "sent_at": now - timedelta(days=days),
                        },
                    )
                reason = reason or "capped"
            if summer and recent:
                expect["matched"] += 1
                expect[reason or "final"] += 1
        rows.flush()
        current = rebuild(conn)  # each subject's latest event, as the service keeps it
        for statement in COVERING_INDEXES:
            conn.exec_driver_sql(statement)
        counts = {t: rows.counts[t] for t in _ADDED if t in rows.counts}
        counts["consent_current"] = current
        if db.sqlite:
            conn.exec_driver_sql("ANALYZE")
        else:
            info = {"now": now.isoformat(), "expect": expect, "counts": counts}
            mark_seeded(conn, _loaded(subjects), info)
        conn.commit()
    if not db.sqlite:
        # Index-only scans need the visibility map that VACUUM sets; autovacuum would set it
        # some time after the load, so the bench does it at once.
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {', '.join(counts)}")
    engine.dispose()
    return counts, expect, time.perf_counter() - start


_ADDED = (
    "customer",
    "vehicle",
    "visit",
    "tyre_storage",
    "dsar_subject_flags",
    "consent_event",
    "dsar_contact_log",
)


def _dsar_seed(engine: Any, subjects: int) -> dict[str, Any]:
    """What the ``--over-dsar-seed`` run reports in place of a load: the subjects held, and no
    expected counts; exits with a message when bench_dsar.py has not seeded that database."""
    try:
        with engine.connect() as conn:
            held = conn.execute(select(func.count()).select_from(table("customer"))).scalar_one()
    except DBAPIError:
        held = 0
    if held < subjects:
        raise SystemExit(
            f"--over-dsar-seed: the database holds {held:,} customers, not {subjects:,}; run "
            f"bench/bench_dsar.py --subjects {subjects} with the same --database-url first"
        )
    return {"now": NOW.isoformat(), "expect": None, "counts": {"customer": held}}


def _loaded(subjects: int) -> str:
    return f"bench_audience {subjects}"


def _consent(
    rows: Loader, rng: random.Random, sid: str, state: str, at: datetime, expires: datetime | None
) -> None:
    rows.add(
        "consent_event",
        {
            "id": f"{(at - _EPOCH) // timedelta(milliseconds=1):012x}{rng.getrandbits(80):020x}",
            "subject_id": sid,
            "use": "seasonal-reminders",
            "state": state,
            "event_time": at,
            "recorded_at": at,
            "expires_at": expires,
            "controller_name": "Renkaat & Huolto Virtanen Oy",
            "controller_id": "2745193-6",
            "notice": "privacy-notice-2026-01",
            "language": "fi",
            "jurisdiction": "FI",
            "source": "booking-form",
            "channel": "web_form",
            "method": "staff",
            "withdrawal_method": "link in every message",
            "recorded_by": "subject",
            "evidence": {},
            "key_version": 1,
            "receipt": "",
        },
    )


def _query_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in QUERY_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument(
        "--db", type=Path, help="Keep the SQLite database in this file (fresh load)."
    )
    add_database_url(
        parser,
        None,
        "a fresh SQLite file in a temporary directory, or --db; a SQLite URL is loaded afresh",
    )
    parser.add_argument(
        "--no-reports", action="store_true", help="Time the audiences only, not the reports."
    )
    parser.add_argument(
        "--over-dsar-seed",
        action="store_true",
        help="Load nothing: time the audiences over the database bench_dsar.py seeded with the "
        "same --subjects (build/bench/dsar-N/tietotie.db, or the schema bench_dsar_N); its "
        "counts have no generator to be checked against.",
    )
    args = parser.parse_args()
    strategy = load_strategy(ROOT / "strategy").strategy
    assert strategy is not None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.over_dsar_seed:
            seed = args.db or ROOT / "build" / "bench" / f"dsar-{args.subjects}" / "tietotie.db"
            url = args.database_url or f"sqlite:///{seed}"
            db = open_database(url, name="dsar", size=args.subjects)
        else:
            url = args.database_url or f"sqlite:///{args.db or tmp / 'audience.db'}"
            db = open_database(
                url, name="audience", size=args.subjects, fresh=backend_of(url) == SQLITE
            )
        engine = db.engine()
        upgraded = ""
        if args.over_dsar_seed:
            info = _dsar_seed(engine, args.subjects)
            # a database seeded by an earlier version gets what this one reads (consent_current)
            plan, upgrade_s = _timed(lambda: upgrade(engine, database_metadata(strategy)))
            if not plan.empty:
                upgraded = f"; db upgrade first, {upgrade_s:,.1f} s: " + ", ".join(
                    f"{s.kind} {s.table}" for s in plan.steps
                )
        else:
            info = None if db.sqlite else seeded(engine, _loaded(args.subjects))
        engine.dispose()
        now = NOW
        if info is None:
            if not db.sqlite:  # a schema without the mark is an interrupted load: start again
                db = open_database(url, name="audience", size=args.subjects, fresh=True)
            counts, expect, load_s = load(db, args.subjects, now)
            loaded = (
                f"loaded in {load_s:.1f} s (with the indexes); peak RSS {peak_rss_mib():,.0f} MiB"
            )
        else:
            now, expect, counts = (
                datetime.fromisoformat(info["now"]),
                info["expect"],
                info["counts"],
            )
            loaded = (
                "seeded by bench_dsar.py, reused"
                if args.over_dsar_seed
                else f"loaded by an earlier run at {now:%Y-%m-%d %H:%M} UTC, reused"
            )
        engine = db.engine()
        if db.sqlite:
            event.listen(engine, "connect", _query_pragmas)
        where = describe(engine)
        keyring = Keyring.ephemeral()
        keystore = SubjectKeyStore(tmp / "keystore.db", keyring=keyring)
        crypto = FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
        store = RecordStore(strategy, crypto=crypto)
        policy = compile_policy(strategy)
        sessions = session_factory(engine)
        results: list[tuple[str, str, float]] = []

        def run_counts(activation: str) -> Any:
            with sessions() as session:
                role = strategy.index.activations[activation].owner
                return audience(session, store, policy, activation, role=role, at=now).counts

        def run_export() -> int:
            with sessions() as session:
                run = audience(session, store, policy, CAMPAIGN, role="marketing", at=now)
                return write_file(run.rows(session), run.columns, tmp / "aud.csv", OutputFormat.CSV)

        cold, cold_s = _timed(lambda: run_counts(CAMPAIGN))
        warm, warm_s = _timed(lambda: run_counts(CAMPAIGN))
        got = {"matched": warm.matched, "final": warm.final, **warm.excluded}
        agree = (expect is None or got == expect) and cold == warm
        results.append(
            (
                f"{CAMPAIGN}: counts, cold cache",
                f"{cold.final:,} of {cold.matched:,} matched",
                cold_s,
            )
        )
        results.append(
            (f"{CAMPAIGN}: counts", f"{warm.final:,} of {warm.matched:,} matched", warm_s)
        )
        # The peer in the same run: consent read from the ledger's history, as before the
        # current-state table (the audience then never finds that the table answers).
        with mock.patch.object(audiences, "current_answers", lambda *a, **k: False):
            history, history_s = _timed(lambda: run_counts(CAMPAIGN))
        agree = agree and history == warm
        results.append(
            (
                f"{CAMPAIGN}: counts, consent from the ledger",
                f"{history.final:,} of {history.matched:,} matched",
                history_s,
            )
        )
        written, export_s = _timed(run_export)
        results.append((f"{CAMPAIGN}: counts + CSV export", f"{written:,} rows", export_s))
        for activation in strategy.index.activations:
            if activation != CAMPAIGN:
                other, other_s = _timed(lambda a=activation: run_counts(a))  # type: ignore[misc]
                results.append(
                    (
                        f"{activation}: counts",
                        f"{other.final:,} of {other.matched:,} matched",
                        other_s,
                    )
                )
        for report in [] if args.no_reports else strategy.reports:

            def build(report_id: str = report.id) -> str:
                with sessions() as session:
                    made = build_report(
                        session,
                        store,
                        policy,
                        report_id,
                        at=now,
                        pseudonymiser=crypto.pseudonymiser,
                    )
                    n = write_file(
                        made.rows(session), made.columns, tmp / f"{report_id}.csv", OutputFormat.CSV
                    )
                drawn = write_chart(made, tmp / f"{report_id}.png")
                extra = (
                    f", {made.suppressed_groups:,} suppressed"
                    if made.groups or (made.suppressed_groups)
                    else ""
                )
                return f"{n:,} rows{extra}{' + chart' if drawn else ''}"

            said, build_s = _timed(build)
            results.append((f"report {report.id} ({report.identity})", said, build_s))
        keystore.close()
        engine.dispose()
    rows_text = ", ".join(f"{n:,} {t}" for t, n in counts.items())
    if args.over_dsar_seed:
        print("load: none here (bench_dsar.py seeded the database)")
    elif db.sqlite:
        print(f"load: {'; '.join(LOAD_PRAGMAS)}; queries: {'; '.join(QUERY_PRAGMAS)}")
    else:
        print("load: COPY (records.bulk.insert_rows), then VACUUM (ANALYZE); server settings")
    print(f"{db.backend} {args.subjects:,} subjects: {rows_text}")
    print(f"database: {where}, {loaded}{upgraded}")
    print("indexes added by the bench: " + ("; ".join(COVERING_INDEXES) or "none"))
    if expect is None:
        print(f"audience numbers (bench_dsar.py's seed: no generator to check them against): {got}")
    else:
        print(f"audience numbers {'agree' if agree else 'DISAGREE'} with the generator: {got}")
    print(f"{'work':<52} {'result':>34} {'seconds':>8}")
    for name, said, seconds in results:
        print(f"{name:<52} {said:>34} {seconds:>8.2f}")
    target = "1M subjects <= 2 s" if args.subjects <= 1_000_000 else "10M subjects <= 15 s"
    print(
        f"target: audience over {target}; measured {warm_s:.2f} s (counts), "
        f"{export_s:.2f} s (with export), {db.backend}"
    )
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
