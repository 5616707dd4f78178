"""The breach register's vocabulary and records (Art. 33 and 34 GDPR), as pydantic models.

A :class:`BreachRecord` is one entry of the register as staff read it: what happened, its
scope in the strategy's own terms, what it touched (:class:`Assessment`), the risk, the
72-hour deadline, when the authority and the subjects were told, and every dated update.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Final

from pydantic import Field

from schemas.primitives import StrictModel

__all__ = [
    "AUTHORITY_DEADLINE",
    "Assessment",
    "BreachEvent",
    "BreachKind",
    "BreachRecord",
    "ProcessorFacts",
    "Reason",
    "Recipient",
    "Risk",
    "ScopeKind",
    "SupervisoryAuthority",
]

AUTHORITY_DEADLINE: Final = timedelta(hours=72)
"""Art. 33(1): notify the authority not later than 72 hours after becoming aware. Counted from
the moment of discovery, weekends and holidays included (EDPB Guidelines 9/2022): earlier, and
so safer, than Reg. 1182/71's reading, which would start the period at the next full hour."""


class BreachKind(StrEnum):
    """What the breach did to the data: Art. 4(12) GDPR, as EDPB Guidelines 9/2022 classify it."""

    CONFIDENTIALITY = "confidentiality"
    """Disclosed to, or accessed by, someone not entitled to it."""
    INTEGRITY = "integrity"
    """Altered without authorisation or by accident."""
    AVAILABILITY = "availability"
    """Lost, destroyed or out of reach, for good or for a while."""


class ScopeKind(StrEnum):
    """Where a breach happened, in the strategy's own terms."""

    PROCESSOR = "processor"
    """At a processor of organisation.yaml: the fields of the uses it receives."""
    ENTITY = "entity"
    """An entity's table in the system of record: all its fields."""
    FIELD = "field"
    """One field (``entity.field``) in the system of record."""
    SOURCE = "source"
    """At a collection point of 4-sources.yaml: what it collects, as it was collected."""


class Risk(StrEnum):
    """The risk to the data subjects' rights and freedoms: Art. 33(1) and 34(1) GDPR."""

    UNLIKELY = "unlikely"
    """Unlikely to result in a risk: registered only (Art. 33(5)), nobody to notify."""
    RISK = "risk"
    """A risk: notify the supervisory authority within 72 hours (Art. 33(1))."""
    HIGH = "high"
    """A high risk: also tell the data subjects without undue delay (Art. 34(1))."""


class Recipient(StrEnum):
    """Who is notified of a breach."""

    AUTHORITY = "authority"
    """The supervisory authority (Art. 33)."""
    SUBJECTS = "subjects"
    """The data subjects concerned (Art. 34)."""


class SupervisoryAuthority(StrictModel):
    """The supervisory authority of the controller's jurisdiction (Art. 51, 55-56)."""

    name: str = Field(description="Name of the authority.")
    address: str | None = Field(default=None, description="Postal address.")
    email: str | None = Field(default=None, description="Email address, where it takes mail.")
    url: str = Field(description="Its website, where breaches are notified.")


class ProcessorFacts(StrictModel):
    """A processor a breach happened at, as organisation.yaml declares it."""

    id: str = Field(description="Processor id.")
    name: str = Field(description="Legal name of the processor.")
    country: str = Field(description="Where it processes the data (ISO 3166-1 alpha-2).")
    outside_eea: bool = Field(description="Whether that country is outside the EEA.")
    transfer_safeguard: str | None = Field(
        default=None, description="The ground of the transfer outside the EEA (Art. 44-49)."
    )
    dpa_signed: date | None = Field(
        default=None, description="When the Art. 28(3) data processing agreement was signed."
    )


class Reason(StrictModel):
    """One ground of the risk verdict, with the fields it is about."""

    code: str = Field(description="Stable code, e.g. special_category_in_clear.")
    fields: list[str] = Field(default_factory=list, description="The fields it is about.")
    text: str = Field(description="The ground in words (English).")


class Assessment(StrictModel):
    """What a breach touched, computed from the declarations and the system of record."""

    fields: list[str] = Field(description="Fields in scope (entity.field).")
    categories: list[str] = Field(description="Categories of personal data in scope.")
    special_categories: list[str] = Field(
        description="Special categories (Art. 9) and criminal-offence data (Art. 10) in scope."
    )
    encrypted_fields: list[str] = Field(
        description="Fields held only encrypted under keys not compromised (Art. 34(3)(a))."
    )
    exposed_fields: list[str] = Field(
        description="Personal-data fields the breach laid open: all in scope but the "
        "encrypted ones for a confidentiality breach, all of them otherwise."
    )
    data_subjects: list[str] = Field(
        description="Categories of data subjects, from the uses holding the fields."
    )
    uses: list[str] = Field(description="Uses whose fields are in scope.")
    subjects: int = Field(description="Data subjects with a record in scope.")
    records: int = Field(description="Records (rows) in scope, all entities together.")
    records_by_entity: dict[str, int] = Field(description="Records in scope, entity by entity.")
    exposed_subjects: int = Field(
        description="Data subjects with an exposed field: those a message would reach."
    )
    processors: list[ProcessorFacts] = Field(description="Processors the breach happened at.")
    risk: Risk = Field(description="The risk as computed from the declarations and counts.")
    reasons: list[Reason] = Field(description="Why the risk is what it is.")
    computed_at: datetime = Field(description="When the counts were taken.")

    @property
    def outside_eea(self) -> list[ProcessorFacts]:
        """The processors in scope outside the EEA."""
        return [p for p in self.processors if p.outside_eea]


class BreachEvent(StrictModel):
    """A dated entry of a breach's history."""

    at: datetime = Field(description="When, UTC.")
    actor: str = Field(description="Who: person:<name> (role:<role>).")
    action: str = Field(description="opened, update or notified.")
    note: str | None = Field(default=None, description="What was learnt (Art. 33(4)).")
    measures: str | None = Field(default=None, description="Measures taken or proposed.")
    risk: Risk | None = Field(default=None, description="The risk, where staff reassessed it.")
    recipient: Recipient | None = Field(default=None, description="Who was notified.")
    delay_reason: str | None = Field(
        default=None, description="Why the authority was notified after 72 hours (Art. 33(1))."
    )


class BreachRecord(StrictModel):
    """One entry of the breach register (Art. 33(5)): facts, effects and remedial action."""

    id: int = Field(description="Register number of the breach.")
    what: str = Field(description="What happened, in the recorder's words.")
    kind: BreachKind = Field(description="confidentiality, integrity or availability.")
    scope: list[str] = Field(description="Where it happened: processor:ID, entity:NAME, ...")
    since: datetime | None = Field(default=None, description="Records collected from.")
    until: datetime | None = Field(default=None, description="Records collected before.")
    keys_compromised: bool = Field(
        description="Whether the encryption keys were exposed too, or the data left decrypted."
    )
    discovered_at: datetime = Field(description="When the controller became aware of it.")
    recorded_at: datetime = Field(description="When it was entered in the register.")
    recorded_by: str = Field(description="Who entered it.")
    language: str = Field(description="Language of the drafted notifications.")
    authority: SupervisoryAuthority = Field(description="The supervisory authority to notify.")
    assessment: Assessment = Field(description="What it touched, computed when recorded.")
    risk: Risk = Field(description="The risk as last assessed (computed, or set by staff).")
    authority_due_at: datetime = Field(description="72 hours after discovery (Art. 33(1)).")
    authority_notified_at: datetime | None = Field(
        default=None, description="When the authority was first notified."
    )
    subjects_notified_at: datetime | None = Field(
        default=None, description="When the data subjects were told."
    )
    events: list[BreachEvent] = Field(description="Its history, oldest first.")

    @property
    def must_notify_authority(self) -> bool:
        """Whether the authority must be notified (Art. 33(1): unless unlikely to be a risk)."""
        return self.risk is not Risk.UNLIKELY

    @property
    def must_tell_subjects(self) -> bool:
        """Whether the data subjects must be told (Art. 34(1): a high risk)."""
        return self.risk is Risk.HIGH

    def measures(self) -> list[tuple[datetime, str]]:
        """Every measure taken or proposed so far, dated, oldest first (Art. 33(3)(d))."""
        return [(e.at, e.measures) for e in self.events if e.measures]

    def status_at(self, now: datetime) -> str:
        """Where the breach stands, in a few words (``authority overdue``, ``done``…)."""
        todo: list[str] = []
        if self.must_notify_authority and self.authority_notified_at is None:
            todo.append("authority overdue" if now > self.authority_due_at else "authority due")
        if self.must_tell_subjects and self.subjects_notified_at is None:
            todo.append("subjects to tell")
        if todo:
            return ", ".join(todo)
        if self.authority_notified_at or self.subjects_notified_at:
            return "notified"
        return "registered only"
