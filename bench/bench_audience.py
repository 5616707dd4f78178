"""Campaign audience and report builds over 1M subjects of the bundled strategy on SQLite.

Loads the bundled car-service strategy's tables straight through the driver's executemany
(customers, 1-2 vehicles and 0-4 visits each, a stored tyre set for a third), the consent
ledger (60 % gave consent to seasonal-reminders; of those 15 % withdrew later and 10 % gave it
more than two years ago, so it expired), restrictions (0.5 %), objections (1 %) and the
contact log (5 % got the November campaign twice in the last 30 days). Then times, through
the service's own code (activation.audiences, activation.reporting):

* the November tyre campaign's audience: the counts (matched, excluded by reason, final),
  then the counts plus the export written to a CSV file;
* every declared activation's counts;
* every declared report, built and written (aggregated ones with their chart).

The answers are checked against counts known from generation where they can be.

    .venv/bin/python bench/bench_audience.py [--subjects N] [--db FILE]
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

from sqlalchemy import event

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from access_policy import compile_policy  # noqa: E402
from activation.audiences import audience  # noqa: E402
from activation.charts import write_chart  # noqa: E402
from activation.exports import OutputFormat, write_file  # noqa: E402
from activation.reporting import build_report  # noqa: E402
from dsar.tables import database_metadata  # noqa: E402
from kernel.crypto import Pseudonymiser  # noqa: E402
from kernel.db import make_engine, session_factory  # noqa: E402
from kernel.keys import Keyring  # noqa: E402
from kernel.keystore import SubjectKeyStore  # noqa: E402
from records.migrations import upgrade  # noqa: E402
from records.store import FieldCrypto, RecordStore  # noqa: E402
from schemas import load_strategy  # noqa: E402

_T = TypeVar("_T")
NOW = datetime.now(UTC).replace(microsecond=0)
CAMPAIGN = "november-tyre-campaign"
LOAD_PRAGMAS = (
    "PRAGMA foreign_keys=OFF",  # tables are flushed in chunks, children may go first
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


def _stamp(moment: datetime) -> str:
    """The text SQLAlchemy's SQLite DateTime stores (naive UTC): schemas.tables.UTCDateTime."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _micros(moment: datetime) -> int:
    """consent.tables.EpochMicros."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _timed(fn: Callable[[], _T]) -> tuple[_T, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


class _Loader:
    """Rows per table, flushed with one executemany per chunk."""

    def __init__(self, cursor: Any) -> None:
        self.cursor = cursor
        self.pending: dict[str, tuple[str, list[tuple[Any, ...]]]] = {}
        self.counts: dict[str, int] = {}

    def add(self, table: str, columns: str, row: tuple[Any, ...]) -> None:
        _sql, rows = self.pending.setdefault(
            table, (f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(row))})", [])
        )
        rows.append(row)
        if len(rows) >= _CHUNK:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for name in [table] if table else list(self.pending):
            sql, rows = self.pending[name]
            self.cursor.executemany(sql, rows)
            self.counts[name] = self.counts.get(name, 0) + len(rows)
            rows.clear()


_BOOK = "source, collected_at, updated_at, retention_until, provenance"


def load(path: Path, subjects: int) -> tuple[dict[str, int], dict[str, int], float]:
    """Fill a fresh database at ``path``; (rows per table, expected counts, seconds)."""
    strategy = load_strategy(ROOT / "strategy").strategy
    assert strategy is not None
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine, database_metadata(strategy))
    engine.dispose()
    rng = random.Random(9)
    start = time.perf_counter()
    raw = make_engine(f"sqlite:///{path}").raw_connection()
    cursor = raw.cursor()
    for pragma in LOAD_PRAGMAS:
        cursor.execute(pragma)
    rows = _Loader(cursor)
    now_s = _stamp(NOW)
    keep = _stamp(NOW + timedelta(days=6 * 365))
    cutoff = NOW - timedelta(days=730)  # the campaign's visit.visited_at within P2Y
    expect = dict.fromkeys(
        ("matched", "restricted", "objected", "no_consent", "expired", "capped", "final"), 0
    )
    for n in range(subjects):
        sid = uuid.UUID(int=rng.getrandbits(128)).hex
        branch = "espoo" if rng.random() < 0.7 else "vantaa"
        since = (NOW - timedelta(days=rng.randint(30, 4000))).date().isoformat()
        rows.add(
            "customer",
            f"id, subject_id, {_BOOK}, name, email, phone, branch, "
            "postal_code, customer_since, preferred_channel, language",
            (
                sid,
                sid,
                "service-desk",
                now_s,
                now_s,
                keep,
                "{}",
                f"Asiakas {n}",
                f"c{n}@example.fi",
                f"+35840{n:07d}",
                branch,
                "02100" if branch == "espoo" else "01300",
                since,
                rng.choice(("email", "sms", "phone")),
                "fi",
            ),
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
                f"id, subject_id, parent_id, {_BOOK}, make, model_year, tyre_type, tyre_size",
                (
                    vid,
                    sid,
                    sid,
                    "service-desk",
                    now_s,
                    now_s,
                    keep,
                    "{}",
                    rng.choice(_MAKES),
                    rng.randint(2005, 2025),
                    tyre,
                    "205/55 R16",
                ),
            )
        recent = False
        for _ in range(rng.randint(0, 4)):
            at = NOW - timedelta(days=rng.randint(1, 5 * 365), seconds=rng.randint(0, 86_399))
            recent |= at >= cutoff
            rows.add(
                "visit",
                f"id, subject_id, parent_id, {_BOOK}, visited_at, service_type, "
                "amount_eur, satisfaction_score",
                (
                    uuid.UUID(int=rng.getrandbits(128)).hex,
                    sid,
                    sid,
                    "service-desk",
                    now_s,
                    now_s,
                    keep,
                    "{}",
                    _stamp(at),
                    rng.choice(_SERVICES),
                    rng.randint(40, 1200),
                    rng.randint(0, 10),
                ),
            )
        if rng.random() < 0.33:
            rows.add(
                "tyre_storage",
                f"id, subject_id, parent_id, {_BOOK}, season, tread_depth_mm, shelf, stored_since",
                (
                    uuid.UUID(int=rng.getrandbits(128)).hex,
                    sid,
                    vehicles[0],
                    "workshop-inspection",
                    now_s,
                    now_s,
                    keep,
                    "{}",
                    rng.choice(("summer", "winter")),
                    round(rng.uniform(1.5, 8.0), 1),
                    f"E-{rng.randint(1, 40)}-{rng.randint(1, 5)}",
                    (NOW - timedelta(days=rng.randint(10, 900))).date().isoformat(),
                ),
            )
        # standing against the subject, in the order the audience tries the reasons
        reason = None
        if rng.random() < 0.005:
            rows.add(
                "dsar_subject_flags",
                "subject_id, kind, scope, reason, since",
                (sid, "restriction", "all", "bench", now_s),
            )
            reason = "restricted"
        if rng.random() < 0.01:
            rows.add(
                "dsar_subject_flags",
                "subject_id, kind, scope, reason, since",
                (sid, "objection", "direct_marketing", "bench", now_s),
            )
            reason = reason or "objected"
        state = "none"
        if rng.random() < 0.6:
            expired = rng.random() < 0.10
            given = NOW - timedelta(days=800 if expired else rng.randint(31, 700))
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
                    "subject_id, activation, channel, sent_at",
                    (sid, CAMPAIGN, "email", _stamp(NOW - timedelta(days=days))),
                )
            reason = reason or "capped"
        if summer and recent:
            expect["matched"] += 1
            expect[reason or "final"] += 1
    rows.flush()
    raw.commit()
    for statement in COVERING_INDEXES:
        cursor.execute(statement)
    cursor.execute("ANALYZE")
    raw.commit()
    raw.close()
    return rows.counts, expect, time.perf_counter() - start


def _consent(
    rows: _Loader, rng: random.Random, sid: str, state: str, at: datetime, expires: datetime | None
) -> None:
    rows.add(
        "consent_event",
        "id, subject_id, use, state, event_time, recorded_at, expires_at, "
        "controller_name, controller_id, notice, language, jurisdiction, source, channel, "
        "method, withdrawal_method, recorded_by, evidence, key_version, receipt",
        (
            f"{(at - _EPOCH) // timedelta(milliseconds=1):012x}{rng.getrandbits(80):020x}",
            sid,
            "seasonal-reminders",
            state,
            _micros(at),
            _stamp(at),
            _micros(expires) if expires else None,
            "Renkaat & Huolto Virtanen Oy",
            "2745193-6",
            "privacy-notice-2026-01",
            "fi",
            "FI",
            "booking-form",
            "web_form",
            "staff",
            "link in every message",
            "subject",
            "{}",
            1,
            "",
        ),
    )


def _query_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in QUERY_PRAGMAS:
        cursor.execute(pragma)
    cursor.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="Keep the database in this file (fresh load).")
    args = parser.parse_args()
    strategy = load_strategy(ROOT / "strategy").strategy
    assert strategy is not None
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        path = args.db or tmp / "audience.db"
        path.unlink(missing_ok=True)
        counts, expect, load_s = load(path, args.subjects)
        size = path.stat().st_size
        engine = make_engine(f"sqlite:///{path}")
        event.listen(engine, "connect", _query_pragmas)
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
                return audience(session, store, policy, activation, role=role, at=NOW).counts

        def run_export() -> int:
            with sessions() as session:
                run = audience(session, store, policy, CAMPAIGN, role="marketing", at=NOW)
                return write_file(run.rows(session), run.columns, tmp / "aud.csv", OutputFormat.CSV)

        cold, cold_s = _timed(lambda: run_counts(CAMPAIGN))
        warm, warm_s = _timed(lambda: run_counts(CAMPAIGN))
        got = {"matched": warm.matched, "final": warm.final, **warm.excluded}
        agree = got == expect and cold == warm
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
        for report in strategy.reports:

            def build(report_id: str = report.id) -> str:
                with sessions() as session:
                    made = build_report(
                        session,
                        store,
                        policy,
                        report_id,
                        at=NOW,
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
    print(f"load: {'; '.join(LOAD_PRAGMAS)}; queries: {'; '.join(QUERY_PRAGMAS)}")
    print(f"SQLite {args.subjects:,} subjects: {rows_text}")
    print(f"database {size / 2**20:,.0f} MiB, loaded in {load_s:.1f} s (with the indexes)")
    print("indexes added by the bench: " + ("; ".join(COVERING_INDEXES) or "none"))
    print(f"audience numbers {'agree' if agree else 'DISAGREE'} with the generator: {got}")
    print(f"{'work':<52} {'result':>34} {'seconds':>8}")
    for name, said, seconds in results:
        print(f"{name:<52} {said:>34} {seconds:>8.2f}")
    print(
        f"target: audience over 1M subjects <= 2 s; measured {warm_s:.2f} s (counts), "
        f"{export_s:.2f} s (with export)"
    )
    return 0 if agree else 1


if __name__ == "__main__":
    raise SystemExit(main())
