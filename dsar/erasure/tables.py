"""Tables of recorded erasures: the plan of one Art. 17 erasure and the state of each step."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Final

from sqlalchemy import JSON, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from schemas.tables import UTCDateTime, new_metadata

__all__ = [
    "EXTERNAL_PREFIX",
    "KEYSTORE",
    "MAIN",
    "ErasureBase",
    "ErasurePlanRow",
    "ErasureStepRow",
    "StepState",
    "erasure_metadata",
]

MAIN: Final = "main"
"""The step that erases in the main database (the system of record and the contact log)."""
KEYSTORE: Final = "keystore"
"""The step that destroys the subject's key in the keystore (crypto-shredding)."""
EXTERNAL_PREFIX: Final = "external:"
"""Steps named ``external:<id>`` erase in the external system ``<id>``."""


class StepState(StrEnum):
    """Where one step of an erasure stands."""

    PLANNED = "planned"
    """Recorded, not yet attempted."""
    RUNNING = "running"
    """An attempt began and its outcome is not recorded: it is under way, or was interrupted."""
    DONE = "done"
    """Carried out; its detail says what was done, and ``at`` when."""
    FAILED = "failed"
    """The last attempt could not reach its system; a retry resumes it."""


class ErasureBase(DeclarativeBase):
    """Declarative base of the erasure tables."""

    metadata = new_metadata()
    type_annotation_map: ClassVar = {datetime: UTCDateTime(), dict[str, Any]: JSON()}


class ErasurePlanRow(ErasureBase):
    """One erasure, recorded (and committed) before anything is destroyed."""

    __tablename__ = "dsar_erasure_plans"

    request_id: Mapped[str] = mapped_column(
        String(32), primary_key=True, comment="the erasure request this plan carries out"
    )
    subject_id: Mapped[str | None] = mapped_column(
        String(64), comment="pseudonymous subject id; null when we held no data about them"
    )
    identity_sealed: Mapped[str | None] = mapped_column(
        Text,
        comment="the subject's identifiers, AES-GCM under a keyring key, kept only until "
        "every external system is reached (they match rows by identifier)",
    )
    planned_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class ErasureStepRow(ErasureBase):
    """One step of an erasure: the main database, the keystore, or one external system."""

    __tablename__ = "dsar_erasure_steps"

    request_id: Mapped[str] = mapped_column(
        ForeignKey("dsar_erasure_plans.request_id", ondelete="CASCADE"), primary_key=True
    )
    step: Mapped[str] = mapped_column(
        String(100), primary_key=True, comment="main | keystore | external:<system id>"
    )
    position: Mapped[int] = mapped_column(Integer, comment="the order the steps run in")
    state: Mapped[str] = mapped_column(String(10), comment="planned | running | done | failed")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(comment="when the last attempt began")
    at: Mapped[datetime | None] = mapped_column(comment="when the step was done, or last failed")
    detail: Mapped[dict[str, Any]] = mapped_column(
        default=dict, comment="what was done: counts, kept fields and laws; no personal data"
    )
    error: Mapped[str | None] = mapped_column(Text, comment="why the last attempt failed")


def erasure_metadata() -> MetaData:
    """The MetaData of the erasure tables (listed in ``dsar.tables.SERVICE_METADATA``)."""
    return ErasureBase.metadata
