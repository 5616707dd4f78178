"""Tables the service owns beside the system of record (staff tokens), and the whole schema.

:func:`database_metadata` is the one MetaData that ``tietotie db upgrade`` migrates the
database to: the strategy's entity tables plus every package's service tables. A package that
adds tables of its own exposes a zero-argument callable returning their MetaData, and is listed
in ``SERVICE_METADATA``; ``dsar`` sits above every such package, so these are plain imports.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table

from activation.audiences import contact_log_metadata
from audit.tables import audit_metadata
from consent.tables import ledger_metadata
from dsar.erasure.tables import erasure_metadata
from dsar.requests.tables import request_metadata
from governance.breach_tables import breach_metadata
from records.provenance_profiles import profile_metadata
from records.restrictions import flag_metadata
from schemas.models import Strategy
from schemas.tables import UTCDateTime, build_tables, new_metadata

__all__ = [
    "SERVICE_METADATA",
    "database_metadata",
    "desk_sessions",
    "service_metadata",
    "staff_tokens",
]

_metadata = new_metadata()

staff_tokens = Table(
    "tietotie_staff_tokens",
    _metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "token_hash",
        String(128),
        nullable=False,
        unique=True,
        comment="hash_secret() of the bearer token; the token itself is never stored",
    ),
    Column("role", String(64), nullable=False, comment="role id of organisation.yaml"),
    Column("name", String(200), nullable=True, comment="who or what holds the token"),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime(), nullable=True),
    comment="staff bearer tokens (hashes only)",
)
"""Staff bearer tokens, one role each; only the hash of each token is stored."""

desk_sessions = Table(
    "desk_sessions",
    _metadata,
    Column("id", String(32), primary_key=True),
    Column("secret_hash", String(200), nullable=False, comment="hash of the browser's secret"),
    Column(
        "token_id",
        Integer,
        ForeignKey("tietotie_staff_tokens.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("seen_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=True),
    comment="request-desk sessions opened with a staff token (hashes only)",
)
"""Request-desk sessions (dsar.desk): the browser's secret as a hash, and whose token."""


def service_metadata() -> MetaData:
    """The MetaData of this module's tables."""
    return _metadata


SERVICE_METADATA: Final[tuple[Callable[[], MetaData], ...]] = (
    service_metadata,
    audit_metadata,
    request_metadata,
    flag_metadata,
    ledger_metadata,
    contact_log_metadata,
    erasure_metadata,
    breach_metadata,
    profile_metadata,
)
"""Every package's service tables; adding a package is one line."""


def database_metadata(strategy: Strategy) -> MetaData:
    """A fresh MetaData holding the strategy's entity tables and every service table."""
    metadata = new_metadata()
    build_tables(strategy, metadata)
    for tables_of in SERVICE_METADATA:
        for table in tables_of().sorted_tables:
            table.to_metadata(metadata)
    return metadata
