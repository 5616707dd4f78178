"""The audit log as the desk reads it: filtered by actor, action, subject and dates, newest first.

Entries are read in pages of :data:`PAGE` by sequence number; ``before`` continues below the
last page's oldest entry, so a page never shifts while new entries arrive above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit.tables import AuditEntry

__all__ = ["PAGE", "AuditFilter", "AuditPage", "search_audit"]

PAGE: Final = 100
"""Entries per page."""


@dataclass(frozen=True, slots=True)
class AuditFilter:
    """What to look for; None is any. ``actor`` matches a part of the actor (a person's name,
    ``role:service-advisor``); ``action`` a whole action or a prefix ending in a dot
    (``dsar.``); dates are UTC days, both ends included."""

    actor: str | None = None
    action: str | None = None
    subject_id: str | None = None
    since: date | None = None
    until: date | None = None
    before: int | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    """One page of entries, newest first, and the sequence number to continue below, if any."""

    entries: list[AuditEntry]
    older: int | None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def search_audit(session: Session, wanted: AuditFilter, *, limit: int = PAGE) -> AuditPage:
    """The newest ``limit`` entries matching ``wanted``."""
    query = select(AuditEntry)
    if wanted.actor:
        query = query.where(AuditEntry.actor.like(f"%{_like(wanted.actor)}%", escape="\\"))
    if wanted.action:
        if wanted.action.endswith("."):
            query = query.where(AuditEntry.action.like(f"{_like(wanted.action)}%", escape="\\"))
        else:
            query = query.where(AuditEntry.action == wanted.action)
    if wanted.subject_id:
        query = query.where(AuditEntry.subject_id == wanted.subject_id)
    # ``at`` is ISO 8601 UTC text, so days compare as text
    if wanted.since:
        query = query.where(AuditEntry.at >= wanted.since.isoformat())
    if wanted.until:
        query = query.where(AuditEntry.at < (wanted.until + timedelta(days=1)).isoformat())
    if wanted.before:
        query = query.where(AuditEntry.seq < wanted.before)
    rows = list(session.scalars(query.order_by(AuditEntry.seq.desc()).limit(limit + 1)))
    older = rows[limit - 1].seq if len(rows) > limit else None
    return AuditPage(rows[:limit], older)
