"""The Art. 13 and 14 privacy notice, assembled from the strategy (no text kept twice).

:func:`build_notice` walks the declarations once and returns plain data for the templates:
who the controller and its contact are, every purpose with its legal basis (the legitimate
interest in the process owner's words where that is the basis), the categories of data and the
channels each came through (Art. 14(2)(f)), the recipients with their country and transfer
safeguard, retention per purpose, whether giving the data is required and why, automated
decisions, and the supervisory authority of the controller's jurisdiction. Words of the page
itself are message ids (:data:`N_` marks them for extraction) translated at render time.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Final

from dsar.web.authorities import Authority, authority_for
from schemas.checks import EEA
from schemas.enums import SPECIAL_CATEGORIES, Category, LegalBasis, SourceChannel, UseKind
from schemas.models import Strategy, Use
from schemas.primitives import parse_duration

__all__ = ["N_", "Notice", "Purpose", "build_notice", "purpose_title"]


def N_(message: str) -> str:  # noqa: N802 - the gettext convention for "translate later"
    """Mark a message id for extraction; it is translated where it is shown."""
    return message


BASIS: Final[dict[LegalBasis, tuple[str, str]]] = {
    LegalBasis.CONSENT: (N_("your consent"), "Art. 6(1)(a)"),
    LegalBasis.CONTRACT: (
        N_("a contract with you, or steps you asked for before one"),
        "Art. 6(1)(b)",
    ),
    LegalBasis.LEGAL_OBLIGATION: (N_("a legal obligation we are under"), "Art. 6(1)(c)"),
    LegalBasis.VITAL_INTERESTS: (N_("protecting someone's vital interests"), "Art. 6(1)(d)"),
    LegalBasis.PUBLIC_TASK: (N_("a task in the public interest"), "Art. 6(1)(e)"),
    LegalBasis.LEGITIMATE_INTERESTS: (N_("our legitimate interests"), "Art. 6(1)(f)"),
}
"""Each legal basis in plain words, with its article."""

REQUIREMENT: Final[dict[LegalBasis, str]] = {
    LegalBasis.CONSENT: N_(
        "Voluntary: you decide. Saying no, or withdrawing later, has no effect on anything else "
        "we do for you."
    ),
    LegalBasis.CONTRACT: N_(
        "Needed for the contract: without these details we cannot provide the service."
    ),
    LegalBasis.LEGAL_OBLIGATION: N_(
        "Required by law: we must keep these details for as long as the law says."
    ),
    LegalBasis.VITAL_INTERESTS: N_("Used only to protect someone's life or health."),
    LegalBasis.PUBLIC_TASK: N_("Required for a task in the public interest."),
    LegalBasis.LEGITIMATE_INTERESTS: N_(
        "Not required. You may object at any time; we then stop unless our reasons override "
        "your interests."
    ),
}
"""Art. 13(2)(e): whether giving the data is required, and what follows from not giving it."""

CATEGORY: Final[dict[Category, str]] = {
    Category.IDENTITY: N_("who you are (name)"),
    Category.CONTACT: N_("how to reach you (email, phone, address)"),
    Category.IDENTIFIER: N_("identifiers (such as a registration plate)"),
    Category.ONLINE_IDENTIFIER: N_("online identifiers"),
    Category.DESCRIPTIVE: N_("descriptions and preferences"),
    Category.BEHAVIOURAL: N_("what you have done with us (visits, purchases)"),
    Category.CONTEXTUAL: N_("circumstances of your visits"),
    Category.FINANCIAL: N_("payments and invoices"),
    Category.LOCATION: N_("where you are or live"),
    Category.HEALTH: N_("health"),
    Category.BIOMETRIC: N_("biometric data"),
    Category.GENETIC: N_("genetic data"),
    Category.RACIAL_ETHNIC: N_("racial or ethnic origin"),
    Category.POLITICAL: N_("political opinions"),
    Category.RELIGIOUS: N_("religious or philosophical beliefs"),
    Category.TRADE_UNION: N_("trade-union membership"),
    Category.SEX_LIFE: N_("sex life or sexual orientation"),
    Category.CRIMINAL: N_("criminal convictions and offences"),
}
"""Categories of personal data in words a customer uses (non-personal data is not listed)."""

CHANNEL: Final[dict[SourceChannel, str]] = {
    SourceChannel.WEB_FORM: N_("a form on our website"),
    SourceChannel.CHECKOUT: N_("the checkout"),
    SourceChannel.POINT_OF_SALE: N_("our counter"),
    SourceChannel.PHONE: N_("a phone call"),
    SourceChannel.EMAIL: N_("email"),
    SourceChannel.SURVEY: N_("a survey"),
    SourceChannel.SOCIAL_MEDIA: N_("social media"),
    SourceChannel.IMPORT: N_("another system of ours"),
    SourceChannel.PARTNER: N_("a partner"),
    SourceChannel.PRIVACY_CENTER: N_("this privacy center"),
}
"""How data reached us (Art. 14(2)(f) for what did not come from the person directly)."""

SAFEGUARD: Final[dict[str, str]] = {
    "adequacy_decision": N_("an adequacy decision of the European Commission (Art. 45)"),
    "standard_contractual_clauses": N_(
        "the Commission's standard contractual clauses (Art. 46(2)(c))"
    ),
    "binding_corporate_rules": N_("binding corporate rules (Art. 47)"),
    "derogation": N_("a derogation for a specific situation (Art. 49)"),
}

_MONTH_ID: Final = re.compile(r"(\d{4})-(\d{2})(?:-(\d{2}))?")


@dataclass(frozen=True)
class Recipient:
    """Someone outside the controller who receives data for a purpose."""

    name: str
    country: str
    inside_eea: bool
    safeguard: str | None


@dataclass(frozen=True)
class Purpose:
    """One use, as the notice tells it."""

    id: str
    title: str
    description: str
    basis: str
    article: str
    legal_basis: LegalBasis
    interest: str | None
    law: str | None
    requirement: str
    categories: list[str]
    special: list[str]
    retention: tuple[int, str] | None
    recipients: list[Recipient]
    automated: bool
    direct_marketing: bool
    consent: bool


@dataclass(frozen=True)
class Version:
    """A notice version that a source shows, with the date its id carries."""

    id: str
    dated: date | None
    sources: list[str]


@dataclass
class Notice:
    """Everything the notice page shows."""

    controller: str
    business_id: str | None
    address: str | None
    email: str | None
    dpo: str | None
    jurisdiction: str
    purposes: list[Purpose]
    categories: dict[str, list[str]] = field(default_factory=dict)
    """Category (words) → the channels it came through (words)."""
    recipients: list[Recipient] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    authority: Authority | None = None
    any_automated: bool = False
    any_consent: bool = False
    any_objectable: bool = False

    @property
    def current(self) -> Version | None:
        """The newest version the sources show (by the date in its id, then by id)."""
        if not self.versions:
            return None
        return max(self.versions, key=lambda v: (v.dated or date.min, v.id))


def purpose_title(use: Use) -> str:
    """A heading in the strategy's own words: the description's lead-in, else its first sentence."""
    text = " ".join(use.description.split())
    for stop in (":", "."):
        head, found, _ = text.partition(stop)
        if found and 0 < len(head) <= 80:
            return head.strip()
    return use.id.replace("-", " ").capitalize()


def _dated(notice_id: str) -> date | None:
    found = _MONTH_ID.search(notice_id)
    if found is None:
        return None
    year, month, day = found.groups()
    try:
        return date(int(year), int(month), int(day or 1))
    except ValueError:
        return None


def retention_words(duration: str | None) -> tuple[int, str] | None:
    """A duration as ``(amount, unit)`` for the template to say (``(2, "years")``)."""
    if duration is None:
        return None
    parsed = parse_duration(duration)
    years, months, days = parsed.years, parsed.months, parsed.days
    if years and not months and not days:
        return years, "years"
    if months and not years and not days:
        return months, "months"
    total_days = days + 30 * months + 365 * years
    return total_days, "days"


def build_notice(strategy: Strategy) -> Notice:
    """The notice of ``strategy``: plain data, nothing rendered yet."""
    index = strategy.index
    processors = index.processors

    def recipient(pid: str) -> Recipient:
        p = processors[pid]
        country = p.country.upper()
        safeguard = SAFEGUARD.get(str(p.transfer_safeguard)) if p.transfer_safeguard else None
        return Recipient(p.name, country, country in EEA, safeguard)

    purposes = []
    for use in strategy.uses:
        refs = index.use_fields[use.id]
        cats = sorted({index.fields[r].category for r in refs} - {Category.NON_PERSONAL})
        words, article = BASIS[use.legal_basis]
        purposes.append(
            Purpose(
                id=use.id,
                title=purpose_title(use),
                description=use.description,
                basis=words,
                article=article,
                legal_basis=use.legal_basis,
                interest=use.legitimate_interest_assessment,
                law=use.law,
                requirement=REQUIREMENT[use.legal_basis],
                categories=[CATEGORY[c] for c in cats if c not in SPECIAL_CATEGORIES],
                special=[CATEGORY[c] for c in cats if c in SPECIAL_CATEGORIES],
                retention=retention_words(use.retention),
                recipients=[recipient(r) for r in use.recipients if r in processors],
                automated=use.automated_decision_making,
                direct_marketing=use.kind is UseKind.DIRECT_MARKETING,
                consent=use.legal_basis is LegalBasis.CONSENT,
            )
        )
    channels: dict[str, set[str]] = defaultdict(set)
    versions: dict[str, list[str]] = defaultdict(list)
    for source in strategy.sources:
        for ref in index.expand(source.collects):
            category = index.fields[ref].category
            if category is not Category.NON_PERSONAL:
                channels[CATEGORY[category]].add(CHANNEL[source.channel])
        if source.notice:
            versions[source.notice].append(source.id)
    used = {p.name: p for purpose in purposes for p in purpose.recipients}
    controller = strategy.controller
    return Notice(
        controller=controller.name,
        business_id=controller.business_id,
        address=controller.address,
        email=controller.email,
        dpo=controller.dpo,
        jurisdiction=controller.jurisdiction.upper(),
        purposes=purposes,
        categories={c: sorted(v) for c, v in sorted(channels.items())},
        recipients=sorted(used.values(), key=lambda r: r.name),
        versions=[Version(v, _dated(v), sorted(s)) for v, s in sorted(versions.items())],
        authority=authority_for(controller.jurisdiction),
        any_automated=any(p.automated for p in purposes),
        any_consent=any(p.consent for p in purposes),
        any_objectable=any(
            p.legal_basis in {LegalBasis.LEGITIMATE_INTERESTS, LegalBasis.PUBLIC_TASK}
            or p.direct_marketing
            for p in purposes
        ),
    )
