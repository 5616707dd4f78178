"""The append-only consent event table (SQLAlchemy 2.0), with a database guard where portable.

One row per statement a subject made about one purpose; rows are only ever inserted. The
current state of a (subject, use) pair is the row with the greatest ``(event_time, seq)``;
nothing in the ledger is overwritten. ``consent_current`` (:class:`ConsentCurrentRow`) keeps
that latest event's ordering key, state and expiry, one narrow row a pair, advanced in the
transaction that records each event and rebuilt from the ledger when asked
(:mod:`consent.current`): derived, so the ledger stays the only proof.

On SQLite, PostgreSQL and MariaDB triggers refuse ``UPDATE`` and ``DELETE`` on the ledger (and
``TRUNCATE`` on PostgreSQL), so even a stray SQL statement cannot rewrite history; other
databases rely on the service, which never issues either. The triggers are schema objects like
the table: ``tietotie db upgrade`` creates them (the table's ``info["triggers"]``, see
:mod:`records.migrations`), never the service at run time, where two processes would race to
create them.

The covering index ``(use, subject_id, event_time, seq, state, expires_at)`` answers the
set-based "who may use U be applied to" query of :mod:`consent.checks` without reading a single
table row (a row carries its receipt, about 0.9 kB packed: :class:`PackedReceipt`).
``event_time`` and ``expires_at`` are stored as integer microseconds since the Unix epoch
(:class:`EpochMicros`): exact UTC on every database, and about a quarter faster to compare
and smaller to index than SQLite's text dates.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from consent.receipt_packing import pack, unpack
from schemas.tables import NAMING_CONVENTION, UTCDateTime

__all__ = [
    "APPEND_ONLY_MESSAGE",
    "ConsentBase",
    "ConsentCurrentRow",
    "ConsentEventRow",
    "EpochMicros",
    "PackedReceipt",
    "create_tables",
    "drop_tables",
    "install_guard",
    "ledger_metadata",
]

APPEND_ONLY_MESSAGE: Final = (
    "consent events are append-only (Art. 7(1) proof): record a new event instead"
)
"""What the database guard says when something tries to rewrite the ledger."""

_ID: Final = 32
_ID_TEXT: Final = 64


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class EpochMicros(TypeDecorator[datetime]):
    """An aware UTC datetime stored as BIGINT microseconds since 1970-01-01T00:00Z."""

    impl = BigInteger()
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> int | None:
        """Exact integer microseconds; naive datetimes never reach the database."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: attach a time zone before storing it")
        return (value - _EPOCH) // timedelta(microseconds=1)

    def process_result_value(self, value: int | None, dialect: Dialect) -> datetime | None:
        """Back to an aware UTC datetime."""
        return None if value is None else _EPOCH + timedelta(microseconds=int(value))


class PackedReceipt(TypeDecorator[str]):
    """A receipt JWS, stored packed (:mod:`consent.receipt_packing`) and read back exactly."""

    impl = Text()
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        """The packed form, or the JWS as it is where packing would not give it back."""
        return None if value is None else pack(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        """The JWS, from either stored form."""
        return None if value is None else unpack(value)


_PG_FUNCTION: Final = (
    "CREATE OR REPLACE FUNCTION consent_event_append_only() RETURNS trigger "
    f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{APPEND_ONLY_MESSAGE}'; END $$"
)
# Per dialect, each trigger's name and the idempotent statements that create it; the migration
# runs a trigger's statements when the database lacks it. CREATE OR REPLACE TRIGGER needs
# PostgreSQL 14 or later.
_TRIGGERS: Final[dict[str, dict[str, list[str]]]] = {
    "sqlite": {
        f"consent_event_no_{verb.lower()}": [
            f"CREATE TRIGGER IF NOT EXISTS consent_event_no_{verb.lower()} BEFORE {verb} "
            f"ON consent_event BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY_MESSAGE}'); END"
        ]
        for verb in ("UPDATE", "DELETE")
    },
    "postgresql": {
        "consent_event_no_change": [
            _PG_FUNCTION,
            "CREATE OR REPLACE TRIGGER consent_event_no_change BEFORE UPDATE OR DELETE "
            "ON consent_event FOR EACH ROW EXECUTE FUNCTION consent_event_append_only()",
        ],
        "consent_event_no_truncate": [
            _PG_FUNCTION,
            "CREATE OR REPLACE TRIGGER consent_event_no_truncate BEFORE TRUNCATE "
            "ON consent_event FOR EACH STATEMENT EXECUTE FUNCTION consent_event_append_only()",
        ],
    },
    # MariaDB (SQLAlchemy's "mysql" dialect): row triggers signal an error; TRUNCATE, which
    # fires no trigger there, needs the DROP privilege the service's user should not hold.
    "mysql": {
        f"consent_event_no_{verb.lower()}": [
            f"CREATE TRIGGER IF NOT EXISTS consent_event_no_{verb.lower()} BEFORE {verb} "
            "ON consent_event FOR EACH ROW "
            f"SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{APPEND_ONLY_MESSAGE}'"
        ]
        for verb in ("UPDATE", "DELETE")
    },
}


class ConsentBase(DeclarativeBase):
    """Declarative base of the consent ledger, with the project's constraint naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ConsentEventRow(ConsentBase):
    """A consent event as stored: one statement of one subject about one purpose."""

    __tablename__ = "consent_event"
    __table_args__ = (
        CheckConstraint("state IN ('given', 'refused', 'withdrawn')", name="state"),
        Index(
            "ix_consent_event_latest",
            "use",
            "subject_id",
            "event_time",
            "seq",
            "state",
            "expires_at",
        ),
        Index("ix_consent_event_subject_id", "subject_id"),
        {
            "comment": "consent ledger: append-only events (ISO/IEC TS 27560 records)",
            "info": {"triggers": _TRIGGERS},
        },
    )

    # INTEGER PRIMARY KEY on SQLite is the rowid: the cheapest monotonic sequence there is.
    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    id: Mapped[str] = mapped_column(String(_ID), unique=True)
    subject_id: Mapped[str] = mapped_column(String(_ID))
    use: Mapped[str] = mapped_column(String(_ID_TEXT))
    state: Mapped[str] = mapped_column(String(16))
    event_time: Mapped[datetime] = mapped_column(EpochMicros())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(EpochMicros(), nullable=True)
    controller_name: Mapped[str] = mapped_column(String(255))
    controller_id: Mapped[str | None] = mapped_column(String(_ID_TEXT), nullable=True)
    notice: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(16))
    jurisdiction: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(_ID_TEXT))
    channel: Mapped[str] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(16))
    withdrawal_method: Mapped[str] = mapped_column(Text())
    recorded_by: Mapped[str] = mapped_column(String(_ID_TEXT))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON())
    key_version: Mapped[int] = mapped_column(Integer())
    receipt: Mapped[str] = mapped_column(PackedReceipt())


class ConsentCurrentRow(ConsentBase):
    """A (use, subject) pair's latest ledger event, by ``(event_time, seq)``: what it says now.

    Derived from the ledger (:mod:`consent.current` keeps it): an audience over millions of
    subjects reads one narrow row a subject here, not the history. Clustered by its primary
    key where the database can (SQLite ``WITHOUT ROWID``; InnoDB always), so one seek answers
    one subject; ``(use, event_time)`` finds a use's newest event for the freshness test.
    """

    __tablename__ = "consent_current"
    __table_args__ = (
        CheckConstraint("state IN ('given', 'refused', 'withdrawn')", name="state"),
        Index("ix_consent_current_newest", "use", "event_time"),
        {
            "comment": "consent ledger: every (use, subject) pair's latest event, derived",
            "sqlite_with_rowid": False,
        },
    )

    use: Mapped[str] = mapped_column(String(_ID_TEXT), primary_key=True)
    subject_id: Mapped[str] = mapped_column(String(_ID), primary_key=True)
    event_time: Mapped[datetime] = mapped_column(EpochMicros())
    seq: Mapped[int] = mapped_column(BigInteger())
    state: Mapped[str] = mapped_column(String(16))
    expires_at: Mapped[datetime | None] = mapped_column(EpochMicros(), nullable=True)


def ledger_metadata() -> MetaData:
    """The ledger's MetaData, for ``dsar.tables.SERVICE_METADATA`` and migrations."""
    return ConsentBase.metadata


def install_guard(bind: Engine | Connection) -> bool:
    """Install the append-only triggers (SQLite, PostgreSQL ≥ 14, MariaDB).

    Idempotent; True when a guard is in place. ``tietotie db upgrade`` installs the same
    triggers with the table; this is for :func:`create_tables` (tests, throwaway databases).
    """
    triggers = _TRIGGERS.get(bind.dialect.name)
    if triggers is None:
        return False
    # dict.fromkeys: in order, and PostgreSQL's shared function once
    statements = list(dict.fromkeys(s for listing in triggers.values() for s in listing))
    if isinstance(bind, Connection):
        for statement in statements:
            bind.exec_driver_sql(statement)
    else:
        with bind.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    return True


def create_tables(bind: Engine | Connection) -> None:
    """Create the ledger's tables and indexes and install its append-only guard (idempotent)."""
    ConsentBase.metadata.create_all(bind)
    install_guard(bind)


def drop_tables(bind: Engine | Connection) -> None:
    """Drop the ledger's tables (tests and throwaway databases only: the ledger is evidence)."""
    ConsentBase.metadata.drop_all(bind)
    if bind.dialect.name == "postgresql":
        statement = "DROP FUNCTION IF EXISTS consent_event_append_only()"
        if isinstance(bind, Connection):
            bind.exec_driver_sql(statement)
        else:
            with bind.begin() as conn:
                conn.exec_driver_sql(statement)
