"""Tables of data-subject requests: the request, its history, codes, and the outbox."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from schemas.tables import UTCDateTime, new_metadata

__all__ = [
    "Outbox",
    "RequestBase",
    "RequestEvent",
    "RequestRow",
    "VerificationCode",
    "request_metadata",
]


class RequestBase(DeclarativeBase):
    """Declarative base of the request tables."""

    metadata = new_metadata()
    type_annotation_map: ClassVar = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class RequestRow(RequestBase):
    """One data-subject request (GDPR chapter III)."""

    __tablename__ = "dsar_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(30), index=True)
    received_at: Mapped[datetime]
    due_at: Mapped[date] = mapped_column(Date, index=True)
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    identity: Mapped[dict[str, Any]] = mapped_column(comment="the identifier the requester gave")
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    verified_by: Mapped[str | None] = mapped_column(String(30))
    requester_token_hash: Mapped[str | None] = mapped_column(
        String(200), comment="hash of the token the verified requester reads the answer with"
    )
    reason: Mapped[str | None] = mapped_column(Text, comment="extension or refusal reason")
    result: Mapped[dict[str, Any] | None]
    closed_at: Mapped[datetime | None]
    events: Mapped[list[RequestEvent]] = relationship(
        order_by="RequestEvent.seq", cascade="all, delete-orphan"
    )


class RequestEvent(RequestBase):
    """A timestamped transition in a request's life."""

    __tablename__ = "dsar_request_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(
        ForeignKey("dsar_requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)


class VerificationCode(RequestBase):
    """A one-time identity-verification code; only its hash is kept."""

    __tablename__ = "dsar_verification_codes"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("dsar_requests.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class Outbox(RequestBase):
    """Messages the service would send when no SMTP server is configured."""

    __tablename__ = "dsar_outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(32), index=True)


def request_metadata() -> MetaData:
    """The MetaData of the request tables (listed in ``dsar.tables.SERVICE_METADATA``)."""
    return RequestBase.metadata
