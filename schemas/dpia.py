"""DPIA screening (Art. 35, WP248 rev.01): the nine criteria of every use, and the verdict.

Five criteria are read from the declarations, four are declared on the use because only the
controller can judge them:

- ``evaluation_scoring``: ``kind: profiling``;
- ``automated_decision``: ``automated_decision_making: true`` (Art. 22);
- ``systematic_monitoring``: declared, ``systematic_monitoring: true``;
- ``sensitive_data``: a special-category (Art. 9) or criminal-offence (Art. 10) field;
- ``large_scale``: the use's main source (the one collecting most of its fields) collects
  ``controller.large_scale_records_per_year`` records a year or more;
- ``matching_datasets``: no single source collects all the use's fields, it combines several;
- ``vulnerable_subjects``: declared, ``vulnerable_subjects: true``;
- ``innovative_technology``: declared, ``innovative_technology: true``;
- ``blocks_right_or_service``: declared, ``blocks_right_or_service: true``.

A use meeting two or more criteria needs a DPIA (WP248: "in most cases"); that covers the
cases Art. 35(3) lists, such as special-category data on a large scale, which are named on
the screening. Large scale is measured on the use's main source, not on the sum of its
sources: one company's sources mostly meet the same people through several channels (a
booking, then the desk), and a sum would count each customer once per channel; nor on the
busiest source that merely shares a field with the use (every source takes the name, but a
panel of a few hundred installers is not large because the webshop takes 25 000 orders).
Matching needs fields that only two or more sources together provide; the same fields taken
in through several channels are one dataset, not a combination of datasets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from schemas.enums import SPECIAL_CATEGORIES, Category, UseKind
from schemas.models import DpiaDeclaration, Strategy, StrategyIndex, Use

__all__ = [
    "CRITERIA",
    "LISTED_CASES",
    "MISSING",
    "REVIEW_DUE",
    "Criterion",
    "UseScreening",
    "screen",
]

MISSING: Final = "missing"
""":attr:`UseScreening.problem`: a DPIA is required and the use declares none."""
REVIEW_DUE: Final = "review_due"
""":attr:`UseScreening.problem`: a DPIA is required and its ``review_by`` date has passed."""

_REQUIRED_AT: Final = 2
"""WP248 rev.01 III.B.a: a processing meeting two criteria requires a DPIA in most cases."""


@dataclass(frozen=True, slots=True)
class Criterion:
    """One of the nine WP248 criteria, and what in the strategy shows it."""

    id: str
    number: int
    title: str
    shown_by: str


CRITERIA: Final[tuple[Criterion, ...]] = (
    Criterion("evaluation_scoring", 1, "Evaluation or scoring", "kind: profiling"),
    Criterion(
        "automated_decision",
        2,
        "Automated decisions with legal or similarly significant effect",
        "automated_decision_making: true",
    ),
    Criterion(
        "systematic_monitoring", 3, "Systematic monitoring", "declared: systematic_monitoring"
    ),
    Criterion(
        "sensitive_data",
        4,
        "Sensitive data",
        "a special-category (Art. 9) or criminal-offence (Art. 10) field among the use's fields",
    ),
    Criterion(
        "large_scale",
        5,
        "Processing on a large scale",
        "the use's main source collects controller.large_scale_records_per_year records a year "
        "or more",
    ),
    Criterion(
        "matching_datasets",
        6,
        "Matching or combining datasets",
        "the use's fields come from two or more sources that only together hold them",
    ),
    Criterion(
        "vulnerable_subjects", 7, "Vulnerable data subjects", "declared: vulnerable_subjects"
    ),
    Criterion(
        "innovative_technology",
        8,
        "Innovative technology or organisational solutions",
        "declared: innovative_technology",
    ),
    Criterion(
        "blocks_right_or_service",
        9,
        "Prevents exercising a right or using a service or contract",
        "declared: blocks_right_or_service",
    ),
)
"""The nine criteria in the order and with the numbers of WP248 rev.01."""

_SENSITIVE: Final = SPECIAL_CATEGORIES | {Category.CRIMINAL}

LISTED_CASES: Final[dict[str, tuple[frozenset[str], str]]] = {
    "35(3)(a)": (
        frozenset({"evaluation_scoring", "automated_decision"}),
        "systematic evaluation of people by automated means, with decisions based on it",
    ),
    "35(3)(b)": (
        frozenset({"sensitive_data", "large_scale"}),
        "special-category or criminal-offence data on a large scale",
    ),
    "35(3)(c)": (
        frozenset({"systematic_monitoring", "large_scale"}),
        "systematic monitoring on a large scale, where the area monitored is publicly accessible",
    ),
}
"""The cases Art. 35(3) names (a DPIA is then mandatory): the criteria that make each, and
what it is."""


@dataclass(frozen=True, slots=True)
class UseScreening:
    """The screening of one use: which criteria it meets, whether it needs a DPIA, and whether
    the one it declares is missing or due for review.

    ``criteria`` are criterion ids in WP248 order, ``reasons`` one sentence for each (in the
    same order), ``evidence`` the declarations behind each (field references for
    sensitive_data, source ids for large_scale and matching_datasets, the key for the others).
    ``problem`` is :data:`MISSING` or :data:`REVIEW_DUE` exactly when a required DPIA is
    absent or past its review date (what ``tietotie validate`` warns about), else ``None``.
    """

    use: str
    criteria: list[str]
    required: bool
    reasons: list[str]
    declared: DpiaDeclaration | None
    problem: str | None
    evidence: dict[str, list[str]] = field(default_factory=dict)
    records_per_year: int = 0
    """Records a year of the use's main source, the one collecting most of its fields."""
    threshold: int = 0
    """The controller's large-scale threshold the screening used."""
    review_due: bool = False
    """Whether the declared DPIA's ``review_by`` has passed (required or not)."""
    listed_case: str | None = None
    """The Art. 35(3) case the use falls under (a key of :data:`LISTED_CASES`, ``35(3)(b)``)."""

    @property
    def status(self) -> str:
        """``missing``, ``review_due``, ``declared`` or ``not_required``."""
        if self.declared is not None:
            return REVIEW_DUE if self.review_due else "declared"
        return MISSING if self.required else "not_required"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the shape of `tietotie dpia --format json`)."""
        return {
            "use": self.use,
            "criteria": list(self.criteria),
            "required": self.required,
            "listed_case": self.listed_case,
            "reasons": list(self.reasons),
            "evidence": {k: list(v) for k, v in self.evidence.items()},
            "records_per_year": self.records_per_year,
            "status": self.status,
            "problem": self.problem,
            "dpia": self.declared.model_dump(mode="json") if self.declared else None,
        }


def screen(strategy: Strategy, *, today: date | None = None) -> list[UseScreening]:
    """Screen every use of ``strategy`` against the nine WP248 criteria, in declaration order.

    ``today`` dates the review check of declared DPIAs (default: the current date).
    References the strategy does not declare are left out; `tietotie validate` reports them.
    """
    day = today or date.today()
    idx = strategy.index
    threshold = strategy.controller.large_scale_records_per_year
    return [_screen_use(use, idx, threshold, day) for use in strategy.uses]


def _screen_use(use: Use, idx: StrategyIndex, threshold: int, today: date) -> UseScreening:
    met: dict[str, tuple[str, list[str]]] = {}  # criterion → (reason, evidence)
    if use.kind is UseKind.PROFILING:
        met["evaluation_scoring"] = (
            "its kind is profiling: it evaluates or scores people",
            ["kind: profiling"],
        )
    if use.automated_decision_making:
        met["automated_decision"] = (
            "decisions about people are made solely by automated means (Art. 22)",
            ["automated_decision_making: true"],
        )
    if use.systematic_monitoring:
        met["systematic_monitoring"] = (
            "declared: it monitors people systematically",
            ["systematic_monitoring: true"],
        )
    fields = sorted(idx.use_fields.get(use.id, frozenset()))
    sensitive = [f for f in fields if idx.fields[f].category in _SENSITIVE]
    if sensitive:
        shown = ", ".join(f"{f} ({idx.fields[f].category})" for f in sensitive)
        met["sensitive_data"] = (f"it holds special-category or criminal data: {shown}", sensitive)
    feeding = _feeding_sources(fields, idx)
    main, combined = _main_and_combined(fields, feeding, idx)
    records = idx.sources[main].records_per_year if main else 0
    if main is not None and records >= threshold:
        met["large_scale"] = (
            f"its main source '{main}' collects {records} records a year, at or above the "
            f"controller's large-scale threshold of {threshold}",
            [main],
        )
    if len(combined) >= 2:
        met["matching_datasets"] = (
            "it combines fields that no single source collects, from "
            + ", ".join(f"'{s}'" for s in combined),
            combined,
        )
    if use.vulnerable_subjects:
        met["vulnerable_subjects"] = (
            "declared: its data subjects are vulnerable",
            ["vulnerable_subjects: true"],
        )
    if use.innovative_technology:
        met["innovative_technology"] = (
            "declared: it applies innovative technology or organisational solutions",
            ["innovative_technology: true"],
        )
    if use.blocks_right_or_service:
        met["blocks_right_or_service"] = (
            "declared: it can stop people exercising a right or using a service or contract",
            ["blocks_right_or_service: true"],
        )
    criteria = [c.id for c in CRITERIA if c.id in met]
    required = len(criteria) >= _REQUIRED_AT
    declared = use.dpia
    review_due = declared is not None and declared.review_by < today
    problem: str | None = None
    if required and declared is None:
        problem = MISSING
    elif required and review_due:
        problem = REVIEW_DUE
    return UseScreening(
        use=use.id,
        criteria=criteria,
        required=required,
        reasons=[met[c][0] for c in criteria],
        declared=declared,
        problem=problem,
        evidence={c: met[c][1] for c in criteria},
        records_per_year=records,
        threshold=threshold,
        review_due=review_due,
        listed_case=_listed_case(set(criteria)),
    )


def _feeding_sources(fields: list[str], idx: StrategyIndex) -> list[str]:
    """Sources that collect at least one of the fields, in declaration order."""
    wanted = set(fields)
    return [s.id for s in idx.sources.values() if any(f in wanted for f in idx.expand(s.collects))]


def _main_and_combined(
    fields: list[str], feeding: list[str], idx: StrategyIndex
) -> tuple[str | None, list[str]]:
    """The use's main source, and the sources it must combine to get its fields.

    The main source collects the most of the use's fields (the busiest among equals): its
    records a year measure the use's scale. The combination is empty when one source holds
    every field some source collects, else a small set covering them, largest share first.
    """
    collected = {f for f in fields if f in idx.field_sources}
    holds = {s: set(idx.expand(idx.sources[s].collects)) & collected for s in feeding}
    if not collected:
        return None, []

    def share(source: str, of: set[str]) -> tuple[int, int, int]:
        return len(holds[source] & of), idx.sources[source].records_per_year, -feeding.index(source)

    main = max(holds, key=lambda s: share(s, collected))
    if holds[main] == collected:
        return main, []
    cover: list[str] = []
    left = set(collected)
    while left:
        best = max(holds, key=lambda s: share(s, left))
        cover.append(best)
        left -= holds[best]
    return main, cover


def _listed_case(criteria: set[str]) -> str | None:
    """The Art. 35(3) case the met criteria amount to, if any."""
    for case, (needs, _) in LISTED_CASES.items():
        if needs <= criteria:
            return case
    return None
