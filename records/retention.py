"""Retention: delete records whose period has run out (Art. 5(1)(e)), and shred emptied subjects.

A record goes when its ``retention_until`` has passed. A subject's root record goes when its own
period has passed and no record of theirs is still kept; the subject's key is then destroyed,
so copies in backups become unreadable too (after the deletion is committed). Every run is one
transaction and one audit entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import delete, func, literal, select
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from records.store import RecordStore

__all__ = ["RetentionRun", "run_retention", "shred_removed"]


@dataclass
class RetentionRun:
    """What a retention run removed (or would remove, in a dry run)."""

    at: datetime
    dry_run: bool
    deleted: dict[str, int] = field(default_factory=dict)
    subjects_removed: int = 0
    subjects_waiting: int = 0
    removed_ids: list[str] = field(default_factory=list, repr=False)


def run_retention(
    session: Session,
    store: RecordStore,
    *,
    audit: AuditLog | None = None,
    now: datetime | None = None,
    dry_run: bool = False,
) -> RetentionRun:
    """Delete what has outlived its retention; the caller commits, then calls
    :func:`shred_removed` so keys are destroyed only once the deletion is durable."""
    moment = now or datetime.now(UTC)
    run = RetentionRun(at=moment, dry_run=dry_run)
    tables = store.tables
    subject_entity = store.subject_entity
    for entity in reversed(tables.order()):
        if entity == subject_entity:
            continue
        table = tables.table(entity)
        expired = table.c.retention_until < moment
        count = session.execute(select(func.count()).select_from(table).where(expired)).scalar_one()
        if count and not dry_run:
            session.execute(delete(table).where(expired))
        if count:
            run.deleted[entity] = int(count)
    root = tables.subject_table
    children = [tables.table(e) for e in tables.order() if e != subject_entity]
    # SELECT 1, not *: SQLite answers it from the subject_id index without reading the rows.
    still_held = [select(literal(1)).where(t.c.subject_id == root.c.id).exists() for t in children]
    expired_roots = select(root.c.id).where(root.c.retention_until < moment)
    removable = list(
        session.execute(
            expired_roots.where(*[~h for h in still_held]) if still_held else expired_roots
        ).scalars()
    )
    waiting = session.execute(
        select(func.count()).select_from(root).where(root.c.retention_until < moment)
    ).scalar_one()
    run.subjects_removed = len(removable)
    run.subjects_waiting = int(waiting) - len(removable)
    if removable:
        run.deleted[subject_entity] = len(removable)
        if not dry_run:
            for start in range(0, len(removable), 500):
                session.execute(delete(root).where(root.c.id.in_(removable[start : start + 500])))
            run.removed_ids = removable
    if audit is not None and not dry_run:
        audit.append(
            session,
            AuditEvent(
                actor="system",
                action="retention.run",
                details={"deleted_" + k: v for k, v in run.deleted.items()}
                | {"subjects_removed": run.subjects_removed},
            ),
            at=moment,
        )
    return run


def shred_removed(store: RecordStore, run: RetentionRun) -> int:
    """Destroy the keys of the subjects a committed run removed; returns how many."""
    if store.crypto is None or not run.removed_ids:
        return 0
    return len(store.crypto.keystore.shred_many(run.removed_ids))
