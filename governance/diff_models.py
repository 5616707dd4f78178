"""What a strategy change changes, as data: one :class:`Change` per finding, grouped by section."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["SECTION_TITLES", "Change", "Section", "StrategyDiff"]


class Section(StrEnum):
    """The parts of a review, in the order a data protection officer reads them."""

    FIELDS = "fields"
    """Fields held and collected (Art. 5(1)(c) data minimisation)."""
    USES = "uses"
    """Purposes and their legal bases (Art. 5(1)(b), 6)."""
    CONSENT = "consent"
    """Consent that no longer covers a use (Art. 4(11), 7)."""
    RECIPIENTS = "recipients"
    """Processors and transfers outside the EEA (Art. 28, 44-49)."""
    RETENTION = "retention"
    """How long data is kept (Art. 5(1)(e))."""
    ACCESS = "access"
    """Who may read or change what (Art. 25(2), 32)."""
    NOTICE = "notice"
    """The privacy notice people are shown (Art. 12-14)."""
    ROPA = "ropa"
    """The record of processing activities (Art. 30)."""
    MIGRATION = "migration"
    """The database change the new strategy implies."""
    DPIA = "dpia"
    """The data protection impact assessment screening (Art. 35)."""


SECTION_TITLES: dict[Section, str] = {
    Section.FIELDS: "Fields held and collected",
    Section.USES: "Uses and purposes",
    Section.CONSENT: "Consent",
    Section.RECIPIENTS: "Recipients and transfers",
    Section.RETENTION: "Retention",
    Section.ACCESS: "Access",
    Section.NOTICE: "Privacy notice",
    Section.ROPA: "Record of processing (RoPA)",
    Section.MIGRATION: "Database migration",
    Section.DPIA: "DPIA screening",
}
"""Headings of the sections in a review."""


@dataclass(frozen=True)
class Change:
    """One thing the change changes for the people whose data it is.

    ``sign_off`` says why a data protection officer must look at it before it ships (with the
    article); it is ``None`` for what is worth knowing but needs nobody's approval.
    """

    section: Section
    item: str
    """What the change is about, in the strategy's own ids: ``customer.email``, a use id,
    ``role/use``, a processor id, a notice id, a table name."""
    kind: str
    """What happened to it: added, removed, changed, widened, narrowed, new-consent, …"""
    summary: str
    sign_off: str | None = None
    old: Any = None
    new: Any = None

    @property
    def id(self) -> str:
        """A stable name for the finding: ``section:item:kind``."""
        return f"{self.section.value}:{self.item}:{self.kind}"

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON-ready data."""
        return {
            "id": self.id,
            "section": self.section.value,
            "item": self.item,
            "kind": self.kind,
            "summary": self.summary,
            "needs_sign_off": self.sign_off is not None,
            "sign_off": self.sign_off,
            "old": self.old,
            "new": self.new,
        }


@dataclass
class StrategyDiff:
    """Every change between two strategies, and what could not be compared."""

    old_label: str
    new_label: str
    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Things the reader should know about the comparison itself (a part not compared, a side
    that does not validate)."""

    @property
    def needs_sign_off(self) -> list[Change]:
        """The changes a data protection officer must sign off, in section order."""
        return [c for c in self.changes if c.sign_off is not None]

    def section(self, section: Section) -> list[Change]:
        """The changes of one section."""
        return [c for c in self.changes if c.section is section]

    def to_dict(self) -> dict[str, Any]:
        """The whole review as JSON-ready data."""
        return {
            "old": self.old_label,
            "new": self.new_label,
            "needs_sign_off": bool(self.needs_sign_off),
            "sign_off": [c.id for c in self.needs_sign_off],
            "counts": {s.value: len(self.section(s)) for s in Section},
            "notes": list(self.notes),
            "changes": [c.to_dict() for c in self.changes],
        }
