"""The record of processing activities (Art. 30(1)(a)-(g) GDPR), one entry per use.

:func:`build_ropa` gives pydantic entries that the compiler writes as JSON and CSV and the
docs site renders; :func:`ropa_rows` flattens them into CSV rows.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from schemas.checks import EEA
from schemas.enums import SPECIAL_CATEGORIES, Art9Condition, LegalBasis, Protect
from schemas.models import Strategy
from schemas.tables import field_retention

__all__ = [
    "CSV_COLUMNS",
    "RopaController",
    "RopaEntry",
    "RopaRecipient",
    "RopaRetention",
    "build_ropa",
    "ropa_rows",
]

_ART6: Final = {
    LegalBasis.CONSENT: "Art. 6(1)(a) consent",
    LegalBasis.CONTRACT: "Art. 6(1)(b) contract",
    LegalBasis.LEGAL_OBLIGATION: "Art. 6(1)(c) legal obligation",
    LegalBasis.VITAL_INTERESTS: "Art. 6(1)(d) vital interests",
    LegalBasis.PUBLIC_TASK: "Art. 6(1)(e) public task",
    LegalBasis.LEGITIMATE_INTERESTS: "Art. 6(1)(f) legitimate interests",
}
_ART9: Final = {
    c: f"Art. 9(2)({'abcdefghij'[i]}) {c.value.replace('_', ' ')}"
    for i, c in enumerate(Art9Condition)
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RopaController(_Model):
    """Art. 30(1)(a): the controller and its data protection officer."""

    name: str = Field(description="Legal name of the controller.")
    business_id: str | None = Field(default=None, description="Business registry id.")
    address: str | None = Field(default=None, description="Postal address.")
    email: str | None = Field(default=None, description="Contact email.")
    dpo: str | None = Field(default=None, description="Data protection officer or contact.")


class RopaRecipient(_Model):
    """Art. 30(1)(d)-(e): a recipient, where it is and on what ground data goes there."""

    id: str = Field(description="Processor id or role id.")
    name: str = Field(description="Legal name, or the role's title.")
    kind: str = Field(description="processor (outside the controller) or internal (a role).")
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 country.")
    outside_eea: bool = Field(default=False, description="A transfer to a third country.")
    transfer_safeguard: str | None = Field(default=None, description="Art. 44-49 ground.")
    dpa_signed: str | None = Field(default=None, description="Date of the Art. 28(3) contract.")


class RopaRetention(_Model):
    """Art. 30(1)(f): how long each field is kept for this activity."""

    use: str | None = Field(description="The use's own retention (ISO 8601 duration).")
    fields: dict[str, str | None] = Field(
        description="Per field: the retention applied (the longest use listing the field; the "
        "entity's own where a legal obligation lists it)."
    )


class RopaEntry(_Model):
    """One processing activity (a use) as Art. 30(1) lists it."""

    activity: str = Field(description="The use id.")
    controller: RopaController = Field(description="(a) controller and DPO.")
    purpose: str = Field(description="(b) purpose of the processing.")
    kind: str = Field(description="Kind of purpose.")
    goals: list[str] = Field(description="Goal ids the purpose serves.")
    legal_basis: str = Field(description="Art. 6(1) basis.")
    legal_basis_article: str = Field(description="Art. 6(1) point, spelled out.")
    law: str | None = Field(default=None, description="Provision of a legal obligation.")
    legitimate_interest_assessment: str | None = Field(default=None, description="The LIA.")
    special_category_condition: str | None = Field(default=None, description="Art. 9(2).")
    data_subjects: list[str] = Field(description="(c) categories of data subjects.")
    data_categories: list[str] = Field(description="(c) categories of personal data.")
    special_categories: list[str] = Field(description="Art. 9/10 categories among them.")
    fields: list[str] = Field(description="The fields processed.")
    sources: list[str] = Field(description="Sources collecting these fields (Art. 14(2)(f)).")
    recipients: list[RopaRecipient] = Field(description="(d) recipients, internal and external.")
    third_country_transfers: list[RopaRecipient] = Field(description="(e) transfers.")
    retention: RopaRetention = Field(description="(f) time limits for erasure.")
    security_measures: list[str] = Field(description="(g) technical and organisational measures.")
    automated_decision_making: bool = Field(description="Art. 22 decisions.")


def _security(strategy: Strategy, fields: list[str], use_id: str) -> list[str]:
    index = strategy.index
    measures: list[str] = []
    encrypted = [r for r in fields if index.encrypted_at_rest(r)]
    hmac = [r for r in fields if index.fields[r].protect is Protect.HMAC]
    if encrypted:
        measures.append(
            "encrypted at rest under a per-subject key (AES-256-GCM), erased by "
            "crypto-shredding: " + ", ".join(encrypted)
        )
    if hmac:
        measures.append(
            "pseudonymised by a keyed one-way token in reports and extracts: " + ", ".join(hmac)
        )
    enc_tokens = [r for r in fields if index.fields[r].protect is Protect.ENCRYPT]
    if enc_tokens:
        measures.append(
            "pseudonymised by a reversible token (AES-SIV), re-identified only "
            "through the audited path: " + ", ".join(enc_tokens)
        )
    roles = sorted({g.role for g in strategy.system.access if use_id in g.for_})
    measures.append(
        "role-based access, deny by default, per purpose"
        + (f" (roles: {', '.join(roles)})" if roles else " (no role holds it)")
    )
    measures.append("staff tokens stored only as hashes; hash-chained audit log of requests")
    return measures


def build_ropa(strategy: Strategy) -> list[RopaEntry]:
    """The record of processing activities: one entry per use, in declaration order."""
    index = strategy.index
    c = strategy.controller
    controller = RopaController(
        name=c.name, business_id=c.business_id, address=c.address, email=c.email, dpo=c.dpo
    )
    entries: list[RopaEntry] = []
    for use in strategy.uses:
        fields = sorted(index.use_fields.get(use.id, frozenset()))
        categories = sorted({index.fields[r].category.value for r in fields})
        special = sorted(
            {
                index.fields[r].category.value
                for r in fields
                if index.fields[r].category in SPECIAL_CATEGORIES
                or index.fields[r].category.value == "criminal"
            }
        )
        recipients: list[RopaRecipient] = []
        for pid in use.recipients:
            p = index.processors.get(pid)
            if p is None:
                continue
            recipients.append(
                RopaRecipient(
                    id=p.id,
                    name=p.name,
                    kind="processor",
                    country=p.country,
                    outside_eea=p.country not in EEA,
                    transfer_safeguard=p.transfer_safeguard.value if p.transfer_safeguard else None,
                    dpa_signed=p.dpa_signed.isoformat() if p.dpa_signed else None,
                )
            )
        for role_id in sorted({g.role for g in strategy.system.access if use.id in g.for_}):
            role = index.roles.get(role_id)
            recipients.append(
                RopaRecipient(
                    id=role_id,
                    name=(role.title if role and role.title else role_id),
                    kind="internal",
                )
            )
        sources = sorted({s for r in fields for s in index.field_sources.get(r, [])})
        entries.append(
            RopaEntry(
                activity=use.id,
                controller=controller,
                purpose=use.description.strip(),
                kind=use.kind.value,
                goals=list(use.serves),
                legal_basis=use.legal_basis.value,
                legal_basis_article=_ART6[use.legal_basis],
                law=use.law,
                legitimate_interest_assessment=use.legitimate_interest_assessment,
                special_category_condition=(
                    _ART9[use.special_category_condition]
                    if use.special_category_condition
                    else None
                ),
                data_subjects=list(use.data_subjects),
                data_categories=categories,
                special_categories=special,
                fields=fields,
                sources=sources,
                recipients=recipients,
                third_country_transfers=[r for r in recipients if r.outside_eea],
                retention=RopaRetention(
                    use=use.retention, fields={r: field_retention(strategy, r) for r in fields}
                ),
                security_measures=_security(strategy, fields, use.id),
                automated_decision_making=use.automated_decision_making,
            )
        )
    return entries


CSV_COLUMNS: Final = (
    "activity",
    "controller",
    "controller_business_id",
    "controller_contact",
    "dpo",
    "purpose",
    "kind",
    "goals",
    "legal_basis",
    "legal_basis_article",
    "law",
    "special_category_condition",
    "data_subjects",
    "data_categories",
    "special_categories",
    "fields",
    "sources",
    "recipients",
    "third_country_transfers",
    "retention",
    "retention_by_field",
    "security_measures",
    "automated_decision_making",
)
"""The columns of ``ropa.csv``, in order."""


def _recipient_text(r: RopaRecipient) -> str:
    if r.kind == "internal":
        return f"{r.name} (internal role {r.id})"
    where = f"{r.country}" + (f", {r.transfer_safeguard}" if r.transfer_safeguard else "")
    return f"{r.name} ({where})"


def ropa_rows(entries: list[RopaEntry]) -> list[dict[str, Any]]:
    """The entries flattened for CSV: lists joined with ``; ``."""
    rows = []
    for e in entries:
        rows.append(
            {
                "activity": e.activity,
                "controller": e.controller.name,
                "controller_business_id": e.controller.business_id or "",
                "controller_contact": "; ".join(
                    x for x in (e.controller.address, e.controller.email) if x
                ),
                "dpo": e.controller.dpo or "",
                "purpose": " ".join(e.purpose.split()),
                "kind": e.kind,
                "goals": "; ".join(e.goals),
                "legal_basis": e.legal_basis,
                "legal_basis_article": e.legal_basis_article,
                "law": e.law or "",
                "special_category_condition": e.special_category_condition or "",
                "data_subjects": "; ".join(e.data_subjects),
                "data_categories": "; ".join(e.data_categories),
                "special_categories": "; ".join(e.special_categories),
                "fields": "; ".join(e.fields),
                "sources": "; ".join(e.sources),
                "recipients": "; ".join(_recipient_text(r) for r in e.recipients),
                "third_country_transfers": "; ".join(
                    _recipient_text(r) for r in e.third_country_transfers
                ),
                "retention": e.retention.use or "",
                "retention_by_field": "; ".join(
                    f"{k}={v}" for k, v in e.retention.fields.items() if v != e.retention.use
                ),
                "security_measures": "; ".join(e.security_measures),
                "automated_decision_making": "yes" if e.automated_decision_making else "no",
            }
        )
    return rows
