"""Tables of the audit log: the hash-chained entries and the head that seals the chain's end."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import BigInteger, Connection, Integer, MetaData, String, Table, Text, event
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["GENESIS", "HEAD_ID", "AuditBase", "AuditEntry", "AuditHead", "audit_metadata"]

GENESIS: Final = "0" * 64
"""The previous hash of the first entry, and the hash of an empty log's head."""
HEAD_ID: Final = 1
"""The primary key of the single head row."""

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit everywhere: a sequence number is reachable from outside (``GET /v1/audit?after=``) and
# must never overflow a 32-bit column. SQLite's INTEGER already is 64-bit (and, as a primary key,
# the rowid), so it keeps that name and an existing SQLite log needs no table copy.
_SEQ = BigInteger().with_variant(Integer(), "sqlite")


class AuditBase(DeclarativeBase):
    """Declarative base of the audit log's tables."""

    metadata = MetaData(naming_convention=NAMING)


class AuditEntry(AuditBase):
    """One audited event. Holds no personal data beyond the pseudonymous subject id."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(_SEQ, primary_key=True, autoincrement=False)
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
    the chain's end with it, so entries cut off the end are noticed too. The row exists from the
    moment the table does: ``tietotie db upgrade`` inserts it (the ``seed_rows`` of the table's
    ``info``, see :mod:`records.migrations`), and so does ``create_all``; appenders never race
    to create it.
    """

    __tablename__ = "audit_head"
    __table_args__ = ({"info": {"seed_rows": [{"id": HEAD_ID, "seq": 0, "hash": GENESIS}]}},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(_SEQ)
    hash: Mapped[str] = mapped_column(String(64))


@event.listens_for(AuditHead.__table__, "after_create")
def _seed_head(target: Table, connection: Connection, **_: Any) -> None:
    """``metadata.create_all`` (tests, throwaway databases) gets the head row with the table."""
    connection.execute(target.insert(), target.info["seed_rows"])


def audit_metadata() -> MetaData:
    """The MetaData of the audit tables (listed in ``dsar.tables.SERVICE_METADATA``)."""
    return AuditBase.metadata
