"""Tables of the breach register (Art. 33(5)): one row per breach and its dated history.

Rows are never deleted or rewritten in place except for the two notification times and the
current risk: everything else a breach gathers later (updates, measures, a changed risk, each
notification) is a new :class:`BreachEventRow`, so the register shows what was known when.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from schemas.tables import UTCDateTime, new_metadata

__all__ = ["BreachBase", "BreachEventRow", "BreachRow", "breach_metadata"]


class BreachBase(DeclarativeBase):
    """Declarative base of the breach register's tables."""

    metadata = new_metadata()
    type_annotation_map: ClassVar = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[str]: JSON(),
    }


class BreachRow(BreachBase):
    """One personal data breach, notified or not (Art. 33(5))."""

    __tablename__ = "governance_breaches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    what: Mapped[str] = mapped_column(Text, comment="what happened, in the recorder's words")
    kind: Mapped[str] = mapped_column(String(20), comment="confidentiality|integrity|availability")
    scope: Mapped[list[str]] = mapped_column(comment='["processor:mailer", "field:customer.email"]')
    since: Mapped[datetime | None] = mapped_column(comment="records collected from")
    until: Mapped[datetime | None] = mapped_column(comment="records collected before")
    keys_compromised: Mapped[bool] = mapped_column(Boolean, default=False)
    discovered_at: Mapped[datetime] = mapped_column(comment="when the controller became aware")
    recorded_at: Mapped[datetime]
    recorded_by: Mapped[str] = mapped_column(String(80), comment="the audit actor who opened it")
    language: Mapped[str] = mapped_column(String(8), comment="of the drafted notifications")
    authority: Mapped[dict[str, Any]] = mapped_column(comment="the supervisory authority")
    assessment: Mapped[dict[str, Any]] = mapped_column(
        comment="what the breach touched, computed when it was recorded (counts only)"
    )
    risk: Mapped[str] = mapped_column(String(12), comment="unlikely|risk|high, as last assessed")
    authority_notified_at: Mapped[datetime | None]
    subjects_notified_at: Mapped[datetime | None]


class BreachEventRow(BreachBase):
    """A dated entry in a breach's history: opened, an update (Art. 33(4)), a notification."""

    __tablename__ = "governance_breach_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    breach_id: Mapped[int] = mapped_column(ForeignKey("governance_breaches.id"), index=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(24), comment="opened|update|notified")
    note: Mapped[str | None] = mapped_column(Text)
    measures: Mapped[str | None] = mapped_column(Text, comment="measures taken or proposed")
    risk: Mapped[str | None] = mapped_column(String(12), comment="a risk reassessed by staff")
    recipient: Mapped[str | None] = mapped_column(String(12), comment="authority|subjects")
    delay_reason: Mapped[str | None] = mapped_column(Text, comment="Art. 33(1), after 72 hours")


def breach_metadata() -> MetaData:
    """The MetaData of the breach register (listed in ``dsar.tables.SERVICE_METADATA``)."""
    return BreachBase.metadata
