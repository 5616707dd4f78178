"""Rewrites of stored rows that ``tietotie db upgrade`` runs once per table, after the schema.

* ``compact-provenance`` rewrites the provenance of rows written before provenance was stored
  compactly (every field listed with its source and time) into the form that lists only what
  differs from the row's own source and time (:mod:`records.provenance`);
* ``profile-provenance`` then moves the bare-source entries of each row's provenance into a
  shared provenance profile, the row keeping its key (:mod:`records.provenance_profiles`);
* ``epoch-times`` (SQLite) turns the datetimes of the system of record that earlier versions
  stored as text into integer microseconds (:class:`schemas.tables.RecordTime`);
* ``binary-ids`` (SQLite) turns the record ids earlier versions stored as 32 hex characters
  into 16-byte blobs (:mod:`records.migrations.ids`; PostgreSQL alters its columns instead);
* ``consent-current`` fills ``consent_current``, every (use, subject) pair's latest consent
  event, from a ledger written before that table existed (:mod:`consent.current`), one
  statement a use.

Readers give the same answers before and after; the rewrites only save space. A table's
rewrite runs in batches of :data:`BATCH` rows in primary-key order, each batch one
``UPDATE`` per changed row, and reports its progress; the table is then recorded in
``tietotie_data_steps`` so later upgrades skip it. A table created by the upgrade, or holding no
row with any provenance, is recorded at once. It runs inside the upgrade's transaction, under
its migration lock: all of it or none of it is applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    Column,
    Connection,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    cast,
    select,
    update,
)

from consent.current import CURRENT, LEDGER, rebuild
from records.migrations import ids
from records.provenance import compact
from records.provenance_profiles import PROFILE_KEY, ProvenanceProfiles
from schemas.tables import RecordTime, UTCDateTime, new_metadata

__all__ = ["BATCH", "DataProgress", "Rewrite", "pending", "record_fresh", "run"]

BATCH: Final = 10_000

DataProgress = Callable[[str, int], None]
"""Told ``(table, rows rewritten so far)`` after every batch."""

steps_metadata = new_metadata()
_done = Table(
    "tietotie_data_steps",
    steps_metadata,
    Column("table_name", String(128), primary_key=True),
    Column("step", String(64), primary_key=True),
    Column("done_at", UTCDateTime(), nullable=False),
    comment="row rewrites of tietotie db upgrade already applied, per table",
)


@dataclass(frozen=True)
class Rewrite:
    """One planned rewrite of one table's rows."""

    step: str
    table: Table

    @property
    def kind(self) -> str:
        """What the plan calls the step: a rewrite of the table's rows, or a fill of another."""
        return _STEPS[self.step].kind

    @property
    def target(self) -> str:
        """The table whose rows the step writes."""
        return _STEPS[self.step].target or self.table.name

    @property
    def detail(self) -> str:
        """What the rewrite does, for the plan."""
        spec = _STEPS[self.step]
        return f"{spec.what}, {BATCH:,} rows a batch" if spec.batched else spec.what


@dataclass(frozen=True)
class _Step:
    what: str
    applies: Callable[[Table, str], bool]
    needed: Callable[[Connection, Table], bool]
    apply: Callable[[Connection, Table, DataProgress | None], int]
    batched: bool = True
    kind: str = "rewrite rows"
    target: str | None = None


def _recorded(conn: Connection) -> set[tuple[str, str]]:
    if not conn.dialect.has_table(conn, _done.name):
        return set()
    return {(t, s) for t, s in conn.execute(select(_done.c.table_name, _done.c.step))}


def _keyset(conn: Connection, table: Table, *columns: Any) -> Iterator[list[Any]]:
    """The rows of ``table`` in primary-key order, :data:`BATCH` at a time."""
    last: str | None = None
    while True:
        stmt = select(table.c.id, *columns).order_by(table.c.id).limit(BATCH)
        if last is not None:
            stmt = stmt.where(table.c.id > last)
        rows = [tuple(r) for r in conn.execute(stmt)]
        if not rows:
            return
        yield rows
        last = rows[-1][0]


# compact-provenance ---------------------------------------------------------------------------


def _has_provenance(table: Table, dialect: str) -> bool:
    return {"id", "source", "collected_at", "provenance"} <= set(table.c.keys())


def _holds_provenance(conn: Connection, table: Table) -> bool:
    text = cast(table.c.provenance, Text)
    stmt = select(table.c.id).where(text.is_not(None), text != "{}").limit(1)
    return conn.execute(stmt).first() is not None


def _rewrite_provenance(
    conn: Connection,
    table: Table,
    progress: DataProgress | None,
    columns: tuple[Any, ...],
    rewrite: Callable[[list[Any]], list[tuple[Any, Any]]],
) -> int:
    """Page through ``table`` by id reading ``columns``; ``rewrite`` turns a batch of rows
    into ``(id, new provenance)`` pairs for the rows that change. The rows changed."""
    changed = seen = 0
    stmt = update(table).where(table.c.id == bindparam("rid"))
    stmt = stmt.values(provenance=bindparam("rewritten"))
    for rows in _keyset(conn, table, *columns):
        updates = [{"rid": rid, "rewritten": value} for rid, value in rewrite(rows)]
        if updates:
            conn.execute(stmt, updates)
            changed += len(updates)
        seen += len(rows)
        if progress is not None:
            progress(table.name, seen)
    return changed


def _compact_provenance(conn: Connection, table: Table, progress: DataProgress | None) -> int:
    def rewrite(rows: list[Any]) -> list[tuple[Any, Any]]:
        out = []
        for rid, source, collected_at, provenance in rows:
            stored = dict(provenance or {})
            smaller = compact(stored, source, collected_at)
            if smaller != stored:
                out.append((rid, smaller))
        return out

    columns = (table.c.source, table.c.collected_at, table.c.provenance)
    return _rewrite_provenance(conn, table, progress, columns, rewrite)


# epoch-times ----------------------------------------------------------------------------------


def _times(table: Table) -> list[str]:
    return [c.name for c in table.columns if isinstance(c.type, RecordTime)]


def _has_times(table: Table, dialect: str) -> bool:
    return dialect == "sqlite" and bool(_times(table))


def _as_text(table: Table) -> str:
    return " OR ".join(f"typeof(\"{c}\") = 'text'" for c in _times(table))


def _holds_text_times(conn: Connection, table: Table) -> bool:
    # names from the compiled strategy (identifiers checked when it was validated), never input
    sql = f'SELECT 1 FROM "{table.name}" WHERE {_as_text(table)} LIMIT 1'  # noqa: S608
    return conn.exec_driver_sql(sql).first() is not None


def _micros(column: str) -> str:
    """SQL turning SQLAlchemy's SQLite datetime text (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC)
    into integer microseconds since 1970; integers and NULL stay as they are."""
    quoted = f'"{column}"'
    return (
        f"CASE WHEN typeof({quoted}) = 'text' THEN "
        f"CAST(strftime('%s', substr({quoted}, 1, 19)) AS INTEGER) * 1000000 + "
        f"CAST(substr(substr({quoted}, 21) || '000000', 1, 6) AS INTEGER) "
        f"ELSE {quoted} END"
    )


def _epoch_times(conn: Connection, table: Table, progress: DataProgress | None) -> int:
    sets = ", ".join(f'"{c}" = {_micros(c)}' for c in _times(table))
    sql = (  # names from the compiled strategy, never input
        f'UPDATE "{table.name}" SET {sets} WHERE rowid IN '  # noqa: S608
        f'(SELECT rowid FROM "{table.name}" WHERE {_as_text(table)} LIMIT {BATCH})'
    )
    return _until_done(conn, table, sql, progress)


def _until_done(conn: Connection, table: Table, sql: str, progress: DataProgress | None) -> int:
    """Run the batch ``UPDATE`` ``sql`` until it changes no row; the rows changed."""
    changed = 0
    while True:
        done = conn.exec_driver_sql(sql).rowcount
        if not done:
            return changed
        changed += done
        if progress is not None:
            progress(table.name, changed)


# profile-provenance ---------------------------------------------------------------------------


def _profile_provenance(conn: Connection, table: Table, progress: DataProgress | None) -> int:
    profiles = ProvenanceProfiles()

    def rewrite(rows: list[Any]) -> list[tuple[Any, Any]]:
        inline = [
            (rid, dict(provenance))
            for rid, provenance in rows
            if provenance and PROFILE_KEY not in provenance
        ]
        stored = profiles.encode_many(conn, [p for _, p in inline])
        return [
            (rid, profiled)
            for (rid, provenance), profiled in zip(inline, stored, strict=True)
            if profiled != provenance
        ]

    return _rewrite_provenance(conn, table, progress, (table.c.provenance,), rewrite)


# binary-ids -----------------------------------------------------------------------------------


def _has_ids(table: Table, dialect: str) -> bool:
    return dialect == "sqlite" and bool(ids.id_columns(table))


def _binary_ids(conn: Connection, table: Table, progress: DataProgress | None) -> int:
    return _until_done(conn, table, ids.sqlite_rewrite(conn, table, BATCH), progress)


# consent-current ------------------------------------------------------------------------------


def _is_ledger(table: Table, dialect: str) -> bool:
    return table.name == LEDGER.name


def _holds_events(conn: Connection, table: Table) -> bool:
    return conn.execute(select(table.c.seq).limit(1)).first() is not None


def _consent_current(conn: Connection, table: Table, progress: DataProgress | None) -> int:
    told = None if progress is None else (lambda rows: progress(CURRENT.name, rows))
    return rebuild(conn, told)


_STEPS: Final = {
    "compact-provenance": _Step(
        "provenance stored compactly", _has_provenance, _holds_provenance, _compact_provenance
    ),
    "epoch-times": _Step(
        "datetimes as integer microseconds", _has_times, _holds_text_times, _epoch_times
    ),
    "binary-ids": _Step(
        "record ids as 16-byte values", _has_ids, ids.sqlite_holds_text, _binary_ids
    ),
    "profile-provenance": _Step(
        "repeated provenance kept once, as shared profiles",
        _has_provenance,
        _holds_provenance,
        _profile_provenance,
    ),
    "consent-current": _Step(
        "every subject's latest consent event per use kept in consent_current",
        _is_ledger,
        _holds_events,
        _consent_current,
        batched=False,
        kind="fill table",
        target=CURRENT.name,
    ),
}
# epoch-times first: the others read times, and either form reads the same; binary-ids before
# the rewrites that page through a table by id (text ids and blobs do not compare as ids);
# profile-provenance after compact-provenance: profiles are made of the compact form
_ORDER: Final = (
    "epoch-times",
    "binary-ids",
    "compact-provenance",
    "profile-provenance",
    "consent-current",
)


def pending(conn: Connection, metadata: MetaData, present: set[str]) -> list[Rewrite]:
    """The rewrites the existing tables still need, in the order to run them."""
    done = _recorded(conn)
    dialect = conn.dialect.name
    return [
        Rewrite(step, table)
        for step in _ORDER
        for table in metadata.sorted_tables
        if table.name in present
        and (table.name, step) not in done
        and _STEPS[step].applies(table, dialect)
        and _STEPS[step].needed(conn, table)
    ]


def run(
    conn: Connection, rewrites: list[Rewrite], now: datetime, progress: DataProgress | None = None
) -> int:
    """Apply ``rewrites``, recording each as done; the number of rows changed."""
    steps_metadata.create_all(conn)
    changed = 0
    for rewrite in rewrites:
        changed += _STEPS[rewrite.step].apply(conn, rewrite.table, progress)
        row = {"table_name": rewrite.table.name, "step": rewrite.step, "done_at": now}
        conn.execute(_done.insert(), row)
    return changed


def record_fresh(conn: Connection, metadata: MetaData, now: datetime) -> None:
    """Record as done the rewrites no table needs any more (new tables, rewritten ones)."""
    steps_metadata.create_all(conn)
    done = _recorded(conn)
    dialect = conn.dialect.name
    rows = [
        {"table_name": t.name, "step": step, "done_at": now}
        for step, spec in _STEPS.items()
        for t in metadata.sorted_tables
        if (t.name, step) not in done and spec.applies(t, dialect)
    ]
    if rows:
        conn.execute(_done.insert(), rows)
