"""Every (use, subject) pair's latest consent event, kept beside the ledger as it is written.

The ledger (``consent_event``) is the proof: one row per statement, never changed. What a
subject says *now* about a use is the pair's latest event by ``(event_time, seq)``; read from
the ledger that is an anti-join over the use's whole history, which at ten million subjects
means reading the history twice. ``consent_current`` holds the answer, one narrow row a pair:

* :func:`advance` makes a newly recorded event its pair's current row unless a later one
  already is, in the transaction that records it (:func:`consent.service.record_consent`);
* :func:`refresh` recomputes the rows of some subjects and uses from the ledger (the bulk
  seeder, after writing their histories in one transaction);
* :func:`rebuild` recomputes every row (``tietotie db upgrade`` on a database written before the
  table existed, bulk loaders);
* :func:`drift` counts where the table and the ledger disagree (``tietotie consent
  check-current``, which can also rebuild it);
* :func:`answers_at` says whether the table answers for a moment: it does when no current row
  is later than the moment, so a question about the past goes to the ledger. The readers in
  :mod:`consent.checks` take the table when the caller has asked this.

Concurrent writers of one pair stay exact: the row is inserted when absent and otherwise
updated only where the stored ``(event_time, seq)`` is older, so whichever transaction commits
last leaves the later event in place, as the ledger orders them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    Connection,
    Insert,
    Select,
    Table,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from consent.tables import ConsentBase, ConsentCurrentRow, ConsentEventRow

__all__ = [
    "CHUNK",
    "CURRENT",
    "LEDGER",
    "Drift",
    "advance",
    "answers_at",
    "drift",
    "latest_events",
    "rebuild",
    "refresh",
]

LEDGER: Final[Table] = ConsentBase.metadata.tables[ConsentEventRow.__tablename__]
CURRENT: Final[Table] = ConsentBase.metadata.tables[ConsentCurrentRow.__tablename__]
CHUNK: Final = 5000
"""Subject ids per statement in :func:`refresh`; well under every driver's parameter limit."""

_KEPT: Final = ("use", "subject_id", "event_time", "seq", "state", "expires_at")


def latest_events(
    use: str | None, moment: datetime | None, *, alias: str = "e"
) -> tuple[Select[Any], Any]:
    """Every pair's latest event of ``use`` (every use for None) up to ``moment`` (the whole
    ledger for None): an anti-join, no event of the same subject and use after it by
    ``(event_time, seq)``; and the event's columns to select from. Both sides read only the
    covering index ``ix_consent_event_latest``."""
    # Core aliases, not ORM ones: building the statement then costs microseconds, not ms.
    event = LEDGER.alias(alias).c
    later = LEDGER.alias(f"{alias}_later").c
    after = or_(
        later.event_time > event.event_time,
        and_(later.event_time == event.event_time, later.seq > event.seq),
    )
    bounds = [later.use == event.use, later.subject_id == event.subject_id, after]
    query = select()
    if moment is not None:
        bounds.append(later.event_time <= moment)
        query = query.where(event.event_time <= moment)
    if use is not None:
        query = query.where(event.use == use)
    superseded = select(literal(1)).where(*bounds).exists()
    return query.where(~superseded), event


def _insert_absent(conn: Connection) -> Insert:
    """An ``INSERT`` into the current table that leaves an existing pair alone."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(CURRENT).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(CURRENT).on_conflict_do_nothing()
    if dialect in {"mysql", "mariadb"}:
        return insert(CURRENT).prefix_with("IGNORE")
    raise NotImplementedError(f"consent_current on {dialect}: SQLite, PostgreSQL or MariaDB")


def advance(conn: Connection, event: ConsentEventRow) -> None:
    """Make ``event`` (flushed: its ``seq`` is known) its pair's current row, unless the
    pair's current row is a later event already."""
    row = {name: getattr(event, name) for name in _KEPT}
    if conn.execute(_insert_absent(conn), row).rowcount == 1:
        return
    held = CURRENT.c
    older = or_(
        held.event_time < event.event_time,
        and_(held.event_time == event.event_time, held.seq < event.seq),
    )
    conn.execute(
        update(CURRENT)
        .where(held.use == event.use, held.subject_id == event.subject_id, older)
        .values({name: row[name] for name in _KEPT[2:]})
    )


def _copy_latest(conn: Connection, use: str, subject_ids: Sequence[str] | None) -> int:
    """Copy the latest events of ``use`` (of ``subject_ids`` only, when given) in; the rows
    now held for them (counted: drivers do not all report what ``INSERT … SELECT`` wrote)."""
    latest, event = latest_events(use, None)
    picked = latest.add_columns(*(event[name] for name in _KEPT))
    held = select(func.count()).select_from(CURRENT).where(CURRENT.c.use == use)
    if subject_ids is not None:
        picked = picked.where(event.subject_id.in_(subject_ids))
        held = held.where(CURRENT.c.subject_id.in_(subject_ids))
    conn.execute(insert(CURRENT).from_select(list(_KEPT), picked))
    return int(conn.scalar(held) or 0)


def refresh(conn: Connection, uses: Iterable[str], subject_ids: Iterable[str]) -> int:
    """Recompute the current rows of ``subject_ids`` for ``uses`` from the ledger; the rows
    written. Each chunk of ids is one delete and one copy a use, by primary-key seeks."""
    ids = list(dict.fromkeys(subject_ids))
    written = 0
    for use in dict.fromkeys(uses):
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start : start + CHUNK]
            mine = and_(CURRENT.c.use == use, CURRENT.c.subject_id.in_(chunk))
            conn.execute(delete(CURRENT).where(mine))
            written += _copy_latest(conn, use, chunk)
    return written


def rebuild(conn: Connection, progress: Callable[[int], None] | None = None) -> int:
    """Recompute every current row from the ledger, one statement a use; the rows written.
    ``progress`` is told the rows written so far after each use."""
    conn.execute(delete(CURRENT))
    written = 0
    for use in conn.scalars(select(LEDGER.c.use).distinct().order_by(LEDGER.c.use)).all():
        written += _copy_latest(conn, use, None)
        if progress is not None:
            progress(written)
    return written


def answers_at(conn: Connection, use: str, moment: datetime) -> bool:
    """Whether the current table answers for ``use`` at ``moment``: it holds the use and no
    row of it is later than ``moment`` (one backward seek). An empty use says False, so a
    database whose table was never filled is read from the ledger."""
    newest = conn.scalar(select(func.max(CURRENT.c.event_time)).where(CURRENT.c.use == use))
    return newest is not None and newest <= moment


@dataclass(frozen=True)
class Drift:
    """Where the current table and the ledger disagree, in (use, subject) pairs."""

    pairs: int
    """Pairs the ledger has an event for."""
    missing: int
    """Pairs with events and no current row."""
    stale: int
    """Pairs whose current row is not their latest event."""
    extra: int
    """Current rows of pairs the ledger has no event for."""

    @property
    def ok(self) -> bool:
        """The table holds exactly every pair's latest event."""
        return not (self.missing or self.stale or self.extra)


def drift(conn: Connection) -> Drift:
    """Compare the current table with the ledger's own answer, pair by pair (one anti-join
    over the whole ledger and two outer joins: a check to run now and then, not per call)."""
    latest, event = latest_events(None, None, alias="d")
    derived = latest.add_columns(*(event[name] for name in _KEPT)).subquery("derived")
    held = CURRENT.c
    joined = derived.outerjoin(
        CURRENT, and_(held.use == derived.c.use, held.subject_id == derived.c.subject_id)
    )
    differs = or_(
        held.seq != derived.c.seq,
        held.event_time != derived.c.event_time,
        held.state != derived.c.state,
        held.expires_at.is_distinct_from(derived.c.expires_at),
    )
    absent = held.use.is_(None)
    counts = select(
        func.count(),
        func.coalesce(func.sum(case((absent, 1), else_=0)), 0),
        func.coalesce(func.sum(case((and_(~absent, differs), 1), else_=0)), 0),
    ).select_from(joined)
    pairs, missing, stale = conn.execute(counts).one()
    ledger = LEDGER.alias("any_event").c
    has_event = (
        select(literal(1))
        .where(ledger.use == held.use, ledger.subject_id == held.subject_id)
        .exists()
    )
    extra = conn.scalar(select(func.count()).select_from(CURRENT).where(~has_event))
    return Drift(pairs=int(pairs), missing=int(missing), stale=int(stale), extra=int(extra or 0))
