"""Tables of the audit log: the hash-chained entries and the head that seals the chain's end."""

from __future__ import annotations

from sqlalchemy import Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["AuditBase", "AuditEntry", "AuditHead", "audit_metadata"]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class AuditBase(DeclarativeBase):
    """Declarative base of the audit log's tables."""

    metadata = MetaData(naming_convention=NAMING)


class AuditEntry(AuditBase):
    """One audited event. Holds no personal data beyond the pseudonymous subject id."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601 UTC text: exact on every database
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(80), index=True)
    subject_id: Mapped[str | None] = mapped_column(String(64), index=True)
    request_id: Mapped[str | None] = mapped_column(String(64), index=True)
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(AuditBase):
    """The chain's last sequence number and hash, updated with every append.

    Appends lock this single row, so concurrent writers extend one chain; verification compares
    the chain's end with it, so entries cut off the end are noticed too.
    """

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


def audit_metadata() -> MetaData:
    """The MetaData of the audit tables (listed in ``dsar.tables.SERVICE_METADATA``)."""
    return AuditBase.metadata
