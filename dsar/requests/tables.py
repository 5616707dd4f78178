"""Tables of data-subject requests: the request, its history, codes, the outbox, its answer."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from schemas.tables import UTCDateTime, new_metadata

__all__ = [
    "Outbox",
    "RequestBase",
    "RequestEvent",
    "RequestExport",
    "RequestRow",
    "SignInCode",
    "SignInRow",
    "VerificationCode",
    "request_metadata",
]

# An export bundle can run to megabytes; MySQL and MariaDB TEXT stops at 64 KiB.
_LONG_TEXT = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


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
    identity: Mapped[dict[str, Any]] = mapped_column(
        comment="the identifier the requester gave; once closed, only its keyed hash"
    )
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str | None] = mapped_column(
        String(8), comment="the language the requester wrote in; messages use it"
    )
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    verified_by: Mapped[str | None] = mapped_column(String(30))
    requester_token_hash: Mapped[str | None] = mapped_column(
        String(200), comment="hash of the token the verified requester reads the answer with"
    )
    requester_token_expires_at: Mapped[datetime | None] = mapped_column(
        comment="when the requester's token stops working"
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

    # 64-bit (SQLite's INTEGER is, and stays the rowid): a sequence must never overflow.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    request_id: Mapped[str] = mapped_column(
        ForeignKey("dsar_requests.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)


class VerificationCode(RequestBase):
    """A one-time identity-verification code; only its hash is kept.

    ``attempts`` only ever grows through one conditional UPDATE (``attempts < MAX``), so
    concurrent guesses cannot count past the limit.
    """

    __tablename__ = "dsar_verification_codes"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("dsar_requests.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class Outbox(RequestBase):
    """Every message to a requester, and the queue it is delivered from after the answer.

    ``status``: ``held`` (no transport reaches the address: staff read it with
    ``tietotie dsar outbox``), ``queued`` → ``sent`` | ``failed`` (retried with backoff until
    ``next_attempt_at``), or ``suppressed`` (over the per-identifier message cap, never sent).
    An address stays in clear only while a message waits for its transport or its request is
    open; after that ``to`` holds a keyed hash.
    """

    __tablename__ = "dsar_outbox"
    __table_args__ = (Index("ix_dsar_outbox_due", "status", "next_attempt_at"),)

    # 64-bit, like the events' seq
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime]
    to: Mapped[str] = mapped_column(String(320))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(20), default="held", server_default="held")
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]


class RequestExport(RequestBase):
    """The Art. 15 / Art. 20 answer as produced at completion, sealed, until it expires."""

    __tablename__ = "dsar_request_exports"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("dsar_requests.id", ondelete="CASCADE"), primary_key=True
    )
    sealed: Mapped[str] = mapped_column(
        _LONG_TEXT, comment="the bundle, AES-GCM under the subject's key or the service's"
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SignInRow(RequestBase):
    """A customer's sign-in to the privacy center by a code sent to one identifier.

    The identifier is never stored in clear: only which field it was and its keyed hash. The
    subject is looked up after the answer, when the code is sent (``subject_id`` stays empty
    for a stranger, who is sent nothing and so can never sign in). A verified sign-in holds the
    hash of the browser's token until it expires or the customer signs out.
    """

    __tablename__ = "privacy_signins"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(20), comment="what the sign-in opens: consents")
    identity_field: Mapped[str] = mapped_column(String(64))
    identity_hash: Mapped[str] = mapped_column(String(80), comment="keyed hash, never clear")
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    verified_at: Mapped[datetime | None]
    token_hash: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), index=True, comment="when the sign-in (or its unused code) lapses"
    )
    ended_at: Mapped[datetime | None] = mapped_column(comment="signed out")


class SignInCode(RequestBase):
    """The one-time code of a sign-in; like :class:`VerificationCode`, only its hash is kept."""

    __tablename__ = "privacy_signin_codes"

    signin_id: Mapped[str] = mapped_column(
        ForeignKey("privacy_signins.id", ondelete="CASCADE"), primary_key=True
    )
    code_hash: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


def request_metadata() -> MetaData:
    """The MetaData of the request tables (listed in ``dsar.tables.SERVICE_METADATA``)."""
    return RequestBase.metadata
