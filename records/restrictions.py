"""Restrictions (Art. 18) and objections (Art. 21) standing against a subject.

A restriction keeps the data but blocks every activation and report; an objection to direct
marketing blocks every direct-marketing activation at once (Art. 21(3)). Both are rows of one
table, lifted by setting ``lifted_at`` and never deleted, so the history stays provable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import Integer, MetaData, Select, String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from schemas.tables import UTCDateTime, new_metadata

__all__ = [
    "FlagBase",
    "FlagKind",
    "SubjectFlag",
    "active_flags",
    "flag_metadata",
    "flagged_subjects",
    "lift",
    "raise_flag",
]


class FlagKind(StrEnum):
    """What stands against processing a subject's data."""

    RESTRICTION = "restriction"
    """Art. 18: stored only; no activation, no report."""
    OBJECTION = "objection"
    """Art. 21(2)-(3): no direct marketing (and the profiling related to it)."""


class FlagBase(DeclarativeBase):
    """Declarative base of the flags table."""

    metadata = new_metadata()
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class SubjectFlag(FlagBase):
    """One restriction or objection, from when it was raised until it is lifted."""

    __tablename__ = "dsar_subject_flags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subject_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)
    scope: Mapped[str] = mapped_column(String(40), comment="all, or the use kind objected to")
    reason: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(32))
    since: Mapped[datetime]
    lifted_at: Mapped[datetime | None]


def flag_metadata() -> MetaData:
    """The MetaData of the flags table (listed in ``dsar.tables.SERVICE_METADATA``)."""
    return FlagBase.metadata


def raise_flag(
    session: Session,
    subject_id: str,
    *,
    kind: FlagKind,
    scope: str = "all",
    reason: str,
    request_id: str | None = None,
    at: datetime | None = None,
) -> SubjectFlag:
    """Record a restriction or objection; one already standing is kept, not doubled."""
    standing = session.execute(
        select(SubjectFlag).where(
            SubjectFlag.subject_id == subject_id,
            SubjectFlag.kind == kind,
            SubjectFlag.scope == scope,
            SubjectFlag.lifted_at.is_(None),
        )
    ).scalar_one_or_none()
    if standing is not None:
        return standing
    flag = SubjectFlag(
        subject_id=subject_id,
        kind=kind,
        scope=scope,
        reason=reason,
        request_id=request_id,
        since=at or datetime.now(UTC),
    )
    session.add(flag)
    session.flush()
    return flag


def lift(session: Session, subject_id: str, *, kind: FlagKind, at: datetime | None = None) -> int:
    """Lift every standing flag of ``kind``; returns how many were lifted."""
    flags = (
        session.execute(
            select(SubjectFlag).where(
                SubjectFlag.subject_id == subject_id,
                SubjectFlag.kind == kind,
                SubjectFlag.lifted_at.is_(None),
            )
        )
        .scalars()
        .all()
    )
    for flag in flags:
        flag.lifted_at = at or datetime.now(UTC)
    return len(flags)


def active_flags(session: Session, subject_id: str) -> list[SubjectFlag]:
    """The subject's standing flags."""
    return list(
        session.execute(
            select(SubjectFlag)
            .where(SubjectFlag.subject_id == subject_id, SubjectFlag.lifted_at.is_(None))
            .order_by(SubjectFlag.id)
        ).scalars()
    )


def flagged_subjects(kind: FlagKind, *, scope: str | None = None) -> Select[Any]:
    """Subject ids with a standing flag of ``kind`` (and ``scope``), as a subquery for SQL."""
    query = select(SubjectFlag.subject_id).where(
        SubjectFlag.kind == kind, SubjectFlag.lifted_at.is_(None)
    )
    if scope is not None:
        query = query.where(SubjectFlag.scope.in_([scope, "all"]))
    return query
