"""Pydantic models of the seven-step strategy and of organisation.yaml (DESIGN §4)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, Field, ValidationInfo, field_validator

from schemas.enums import (
    SPECIAL_CATEGORIES,
    ActivationChannel,
    Art9Condition,
    Category,
    Chart,
    Duty,
    FieldType,
    IdentityLevel,
    LegalBasis,
    Operator,
    Protect,
    SourceChannel,
    TransferSafeguard,
    UseKind,
)
from schemas.primitives import (
    Duration,
    EntityName,
    FieldName,
    FieldRef,
    Id,
    StrictModel,
    split_ref,
)

__all__ = [
    "AccessGrant",
    "Activation",
    "Audience",
    "Condition",
    "Controller",
    "DpiaDeclaration",
    "Entity",
    "External",
    "ExternalTable",
    "FieldSpec",
    "FrequencyCap",
    "Goal",
    "Kpi",
    "Processor",
    "PseudonymDomain",
    "Question",
    "Report",
    "Role",
    "Source",
    "Strategy",
    "StrategyIndex",
    "System",
    "Use",
]


# ── organisation.yaml ────────────────────────────────────────────────────────────────────────


class Controller(StrictModel):
    """The controller of the processing and its contacts (Art. 30(1)(a))."""

    name: str = Field(description="Legal name of the controller.")
    business_id: str | None = Field(default=None, description="Business or company registry id.")
    address: str | None = Field(default=None, description="Postal address of the controller.")
    email: str | None = Field(default=None, description="Where data subjects write to.")
    dpo: str | None = Field(default=None, description="Data protection officer (Art. 37-39).")
    jurisdiction: str = Field(
        default="FI", description="ISO 3166-1 alpha-2 country of the lead authority."
    )
    language: str = Field(
        default="en", description="ISO 639-1 language of the strategy texts and generated pages."
    )
    large_scale_records_per_year: int = Field(
        default=10_000,
        ge=1,
        description=(
            "DPIA screening (WP248 criterion 5, Art. 35(3)(b)): a use is processing on a large "
            "scale when a source that feeds it collects at least this many records a year. "
            "The controller's own judgement of what is large for its population and sector, "
            "signed once for every use; 10000 when not declared."
        ),
    )


_DOMAIN_MAX = 64  # the limit kernel.crypto.validate_domain applies to every token's domain


def _domain(value: str) -> str:
    if len(value) > _DOMAIN_MAX:
        raise ValueError(f"a pseudonymisation domain has at most {_DOMAIN_MAX} characters")
    return value


PseudonymDomain = Annotated[Id, AfterValidator(_domain)]
"""A pseudonymisation domain: a kebab-case name of at most 64 characters (``analytics-extract``)."""


class Role(StrictModel):
    """Who may touch data: a department, function, location or a named person."""

    id: Id = Field(description="Role id, referred to by grants, owners and reports.")
    title: str | None = Field(default=None, description="Human title of the role.")
    department: str | None = Field(default=None, description="Department the role belongs to.")
    function: str | None = Field(default=None, description="Business function of the role.")
    location: str | None = Field(default=None, description="Location the role is bound to.")
    person: str | None = Field(default=None, description="A named person, when the role is one.")
    email: str | None = Field(
        default=None,
        description="The role's shared mailbox; with the requests duty it receives the "
        "deadline reminders of `tietotie dsar remind`.",
        examples=["huolto@rengasvirtanen.fi"],
    )
    duties: list[Duty] = Field(
        default_factory=list,
        description="Duties beyond reading data: requests, audit, reidentify, consents, "
        "pseudonymise.",
    )
    pseudonymise_domains: list[PseudonymDomain] = Field(
        default_factory=list,
        description="With the pseudonymise duty: the only domains the role may compute tokens "
        "of (POST /v1/pseudonymise); never the domain of a pseudonymised output it receives.",
    )


class Processor(StrictModel):
    """A recipient outside the controller that processes on its behalf (Art. 28)."""

    id: Id = Field(description="Processor id, referred to by uses' recipients.")
    name: str = Field(description="Legal name of the processor.")
    country: str = Field(description="ISO 3166-1 alpha-2 country where the data is processed.")
    dpa_signed: date | None = Field(
        default=None, description="Date the Art. 28(3) data processing agreement was signed."
    )
    transfer_safeguard: TransferSafeguard | None = Field(
        default=None, description="Ground for a transfer outside the EEA (Art. 44-49)."
    )


# ── 1-goal.yaml ──────────────────────────────────────────────────────────────────────────────


class Kpi(StrictModel):
    """A measurable indicator of a goal."""

    name: str = Field(description="What is measured.")
    baseline: float | None = Field(default=None, description="The value today.")
    target: float = Field(description="The value to reach.")
    unit: str | None = Field(default=None, description="Unit of the value (%, EUR, count).")
    by: date | None = Field(default=None, description="When the target should be reached.")


class Goal(StrictModel):
    """Step 1: a strategic goal the data must serve."""

    id: Id = Field(description="Goal id.")
    statement: str = Field(description="The goal in one sentence.")
    owner: Id = Field(description="Role id of the process owner.")
    kpis: list[Kpi] = Field(default_factory=list, description="How progress is measured.")
    value_eur_per_year: Decimal = Field(
        default=Decimal(0), ge=0, description="What reaching the goal is worth a year, in EUR."
    )


# ── 2-use.yaml ───────────────────────────────────────────────────────────────────────────────


class DpiaDeclaration(StrictModel):
    """A data protection impact assessment carried out for a use (Art. 35(7) and 35(11))."""

    ref: str = Field(
        min_length=1,
        description="Where the assessment is kept (document id or address), for an auditor.",
        examples=["DPIA-2026-02"],
    )
    done_on: date = Field(description="When the assessment, or its latest review, was finished.")
    outcome: str = Field(
        min_length=1,
        description=(
            "What it concluded: the remaining risk and the measures that reduce it; say so "
            "when the supervisory authority had to be consulted first (Art. 36)."
        ),
    )
    review_by: date = Field(
        description=(
            "When it is reviewed again at the latest (Art. 35(11)); `tietotie validate` warns "
            "once the date has passed for a use whose screening requires a DPIA."
        )
    )

    @field_validator("review_by")
    @classmethod
    def _review_after_assessment(cls, value: date, info: ValidationInfo) -> date:
        done_on = info.data.get("done_on")
        if isinstance(done_on, date) and value <= done_on:
            raise ValueError(f"review_by must come after done_on ({done_on.isoformat()})")
        return value


class Use(StrictModel):
    """Step 2: a purpose of processing (Art. 5(1)(b)), with its legal basis and retention."""

    id: Id = Field(description="Use id; also the consent purpose id for consent-based uses.")
    description: str = Field(default="", description="The purpose as told to data subjects.")
    serves: list[Id] = Field(default_factory=list, description="Goal ids this use serves.")
    kind: UseKind = Field(description="The kind of purpose.")
    legal_basis: LegalBasis = Field(description="Lawful basis under Art. 6(1).")
    consent_valid_for: Duration | None = Field(
        default=None, description="Consent-based uses: how long one consent lasts."
    )
    legitimate_interest_assessment: str | None = Field(
        default=None, description="The balancing test; required with legitimate_interests."
    )
    law: str | None = Field(
        default=None, description="The provision that imposes a legal obligation (Art. 6(3))."
    )
    special_category_condition: Art9Condition | None = Field(
        default=None, description="The Art. 9(2) condition for special-category fields."
    )
    data_subjects: list[str] = Field(
        default_factory=list, description="Categories of data subjects (Art. 30(1)(c))."
    )
    fields: list[FieldRef] = Field(
        default_factory=list, description="The fields this purpose needs (purpose limitation)."
    )
    recipients: list[Id] = Field(
        default_factory=list, description="Processor ids that receive the data (Art. 30(1)(d))."
    )
    retention: Duration | None = Field(
        default=None, description="How long the data is kept for this purpose (Art. 5(1)(e))."
    )
    automated_decision_making: bool = Field(
        default=False, description="Whether decisions are made solely by automated means (Art. 22)."
    )
    # What the DPIA screening (schemas.dpia) cannot read from the other declarations: the four
    # WP248 criteria only the controller can judge, and the assessment once it is done.
    vulnerable_subjects: bool = Field(
        default=False,
        description=(
            "DPIA screening, WP248 criterion 7: the data subjects are in a weaker position than "
            "the controller and cannot easily refuse or object (children, employees, patients, "
            "the elderly, asylum seekers)."
        ),
    )
    systematic_monitoring: bool = Field(
        default=False,
        description=(
            "DPIA screening, WP248 criterion 3: the use observes, monitors or tracks people "
            "systematically (a publicly accessible area, location, online behaviour), often "
            "without their knowing."
        ),
    )
    innovative_technology: bool = Field(
        default=False,
        description=(
            "DPIA screening, WP248 criterion 8: the use applies new technology or new "
            "organisational solutions whose effects on people are not yet known (face or "
            "fingerprint recognition, connected devices, AI models)."
        ),
    )
    blocks_right_or_service: bool = Field(
        default=False,
        description=(
            "DPIA screening, WP248 criterion 9: the processing itself can stop people using a "
            "service or contract or exercising a right (a credit check that refuses a contract)."
        ),
    )
    dpia: DpiaDeclaration | None = Field(
        default=None,
        description=(
            "The data protection impact assessment of this use (Art. 35), once it is done: "
            "`tietotie dpia` says which uses need one."
        ),
    )


# ── 3-questions.yaml ─────────────────────────────────────────────────────────────────────────


class Question(StrictModel):
    """Step 3: a question the data must answer, with its business value."""

    id: Id = Field(description="Question id.")
    text: str = Field(description="The question as the business asks it.")
    for_uses: list[Id] = Field(description="Use ids the question serves.")
    priority: int = Field(default=1, ge=1, description="1 is the most important.")
    value_eur_per_year: Decimal = Field(
        default=Decimal(0), ge=0, description="What answering it is worth a year, in EUR."
    )
    needs: list[FieldRef] = Field(default_factory=list, description="Fields needed to answer it.")


# ── 4-sources.yaml ───────────────────────────────────────────────────────────────────────────


class Source(StrictModel):
    """Step 4: where, by whom and at what cost data is collected (Art. 13-14)."""

    id: Id = Field(description="Source id, named on every record it writes.")
    channel: SourceChannel = Field(description="The channel of collection.")
    collected_by: Id = Field(description="Role id that collects.")
    cost_eur_per_record: Decimal = Field(
        default=Decimal(0), ge=0, description="Cost of collecting one record, in EUR."
    )
    records_per_year: int = Field(default=0, ge=0, description="Records collected a year.")
    collects: list[FieldRef] = Field(description="Fields this source may write.")
    consent_for: list[Id] = Field(
        default_factory=list, description="Consent-based uses whose consent it can capture."
    )
    notice: str | None = Field(default=None, description="Version of the privacy notice shown.")


# ── 5-system.yaml ────────────────────────────────────────────────────────────────────────────


_LABEL_MAX = 60


def _one_line_label(value: str) -> str:
    """A field label is short words on one line: it titles chart axes and table columns."""
    label = value.strip()
    if not label or "\n" in label or len(label) > _LABEL_MAX:
        raise ValueError(
            f"a field label is 1-{_LABEL_MAX} characters on one line, e.g. "
            "label: Käyntiaika; leave it out to show the field name"
        )
    return label


class FieldSpec(StrictModel):
    """A field of an entity in the system of record."""

    type: FieldType = Field(description="The value type.")
    category: Category = Field(description="The category of personal data.")
    required: bool = Field(default=False, description="Whether every record must have it.")
    protect: Protect = Field(
        default=Protect.NONE, description="How it leaves the system in pseudonymised outputs."
    )
    values: list[str] | None = Field(default=None, description="Allowed values of an enum.")
    label: Annotated[str, AfterValidator(_one_line_label)] | None = Field(
        default=None,
        description=(
            "What people read for the field, in the strategy's language (controller.language): "
            "chart axes and legends, the docs site's field catalogue. Default: the field name "
            "with spaces (visited_at: Visited at)."
        ),
        examples=["Käyntiaika", "Visit time"],
    )

    def shown_name(self, name: str) -> str:
        """The field's ``label``, else its ``name`` humanised (``visited_at``: "Visited at")."""
        return self.label or name.replace("_", " ").capitalize()


class Entity(StrictModel):
    """An entity of the system of record."""

    subject: bool = Field(default=False, description="The data-subject root; exactly one has it.")
    parent: EntityName | None = Field(default=None, description="The entity this one belongs to.")
    identifiers: list[FieldName] = Field(
        default_factory=list, description="Fields a data subject can be found by."
    )
    match_on: list[list[FieldName]] = Field(
        default_factory=list, description="Deduplication keys, tried in order."
    )
    retention: Duration | None = Field(
        default=None, description="Overrides the uses' retention for this entity's records."
    )
    fields: dict[FieldName, FieldSpec] = Field(description="The entity's fields.")


class Condition(StrictModel):
    """A condition on a field: an audience's `where` or an access grant's `rows`."""

    field: FieldRef = Field(description="The field tested.")
    op: Operator = Field(description="The operator.")
    value: Any = Field(default=None, description="The operand; a list for in/not_in.")


class AccessGrant(StrictModel):
    """Who may read, write or see masked which fields, for which uses (Art. 5(1)(f), 32)."""

    role: Id = Field(description="Role id granted.")
    for_: list[Id] = Field(alias="for", description="Use ids the grant is for.")
    read: list[FieldRef] = Field(default_factory=list, description="Fields readable in clear.")
    write: list[FieldRef] = Field(default_factory=list, description="Fields writable.")
    masked: list[FieldRef] = Field(default_factory=list, description="Fields shown masked only.")
    rows: list[Condition] = Field(
        default_factory=list, description="Row filter: only records matching every condition."
    )


class ExternalTable(StrictModel):
    """A table in another system of record that holds data of our subjects."""

    name: str = Field(description="Table name.")
    entity: EntityName = Field(description="The entity its rows correspond to.")
    subject_column: str = Field(description="Column holding the subject's identifier.")
    identifier: FieldName = Field(description="Which identifier of the subject that column holds.")


class External(StrictModel):
    """Another system of record that data-subject requests must reach."""

    id: Id = Field(description="External system id.")
    url_env: str = Field(description="Environment variable holding its SQLAlchemy URL.")
    tables: list[ExternalTable] = Field(description="Its tables that hold subjects' data.")


class System(StrictModel):
    """Step 5: the system of record."""

    name: str = Field(description="Name of the system of record.")
    entities: dict[EntityName, Entity] = Field(description="Entities and their fields.")
    access: list[AccessGrant] = Field(default_factory=list, description="Access grants by role.")
    external: list[External] = Field(
        default_factory=list, description="Other systems that requests must reach."
    )


# ── 6-reporting.yaml ─────────────────────────────────────────────────────────────────────────


class Report(StrictModel):
    """Step 6: a report, and how identifiable its rows are."""

    id: Id = Field(description="Report id.")
    answers: list[Id] = Field(description="Question ids the report answers.")
    audience: list[Id] = Field(description="Role ids that receive it.")
    fields: list[FieldRef] = Field(description="Fields it shows.")
    identity: IdentityLevel = Field(description="aggregated | pseudonymised | identified.")
    refresh: Duration | None = Field(default=None, description="How often it is rebuilt.")
    chart: Chart = Field(default=Chart.TABLE, description="How it is drawn.")


# ── 7-activation.yaml ────────────────────────────────────────────────────────────────────────


class Audience(StrictModel):
    """Who an activation reaches."""

    entity: EntityName = Field(description="The entity selected; the subject entity.")
    where: list[Condition] = Field(default_factory=list, description="All must hold.")


class FrequencyCap(StrictModel):
    """At most `max` contacts per `per` for one subject."""

    max: int = Field(ge=1, description="Most contacts in the period.")
    per: Duration = Field(description="The period.")


class Activation(StrictModel):
    """Step 7: a campaign or action that puts the data to use."""

    id: Id = Field(description="Activation id.")
    use: Id = Field(description="The use (purpose) it rests on.")
    channel: ActivationChannel = Field(description="How it reaches the subject.")
    audience: Audience = Field(description="Who it reaches.")
    message: str = Field(default="", description="What it says.")
    frequency_cap: FrequencyCap | None = Field(default=None, description="Contact limit.")
    owner: Id = Field(description="Role id accountable for it.")
    opt_out: str | None = Field(
        default=None,
        description="How a recipient objects (Art. 21(2)-(4)); needed with legitimate interests.",
    )


# ── the whole road ───────────────────────────────────────────────────────────────────────────


class Strategy(StrictModel):
    """organisation.yaml plus the seven steps, merged into one document."""

    controller: Controller = Field(description="The controller (Art. 30(1)(a)).")
    roles: list[Role] = Field(default_factory=list, description="Who may touch data.")
    processors: list[Processor] = Field(default_factory=list, description="Recipients outside.")
    goals: list[Goal] = Field(default_factory=list, description="Step 1: goals.")
    uses: list[Use] = Field(default_factory=list, description="Step 2: uses.")
    questions: list[Question] = Field(default_factory=list, description="Step 3: questions.")
    sources: list[Source] = Field(default_factory=list, description="Step 4: sources.")
    system: System = Field(description="Step 5: the system of record.")
    reports: list[Report] = Field(default_factory=list, description="Step 6: reports.")
    activations: list[Activation] = Field(default_factory=list, description="Step 7: activations.")

    @cached_property
    def index(self) -> StrategyIndex:
        """Lookups by id and field reference, built once."""
        return StrategyIndex(self)


# ── lookups over a loaded strategy ───────────────────────────────────────────────────────────

_T = TypeVar("_T")


def _by_id(items: Iterable[_T]) -> dict[str, _T]:
    out: dict[str, _T] = {}
    for item in items:
        out.setdefault(item.id, item)  # type: ignore[attr-defined]
    return out


class StrategyIndex:
    """Everything the checks, the compiler and the service look up, computed once."""

    def __init__(self, strategy: Strategy) -> None:
        s = strategy
        self.strategy = s
        self.roles = _by_id(s.roles)
        self.processors = _by_id(s.processors)
        self.goals = _by_id(s.goals)
        self.uses = _by_id(s.uses)
        self.questions = _by_id(s.questions)
        self.sources = _by_id(s.sources)
        self.reports = _by_id(s.reports)
        self.activations = _by_id(s.activations)
        self.entities: dict[str, Entity] = dict(s.system.entities)
        subjects = [name for name, e in self.entities.items() if e.subject]
        self.subject_entity: str | None = subjects[0] if len(subjects) == 1 else None

        self.fields: dict[str, FieldSpec] = {
            f"{name}.{field}": spec
            for name, entity in self.entities.items()
            for field, spec in entity.fields.items()
        }
        self.use_fields: dict[str, frozenset[str]] = {
            use.id: frozenset(self.expand(use.fields)) for use in self.uses.values()
        }
        field_uses: dict[str, list[str]] = defaultdict(list)
        for use_id, refs in self.use_fields.items():
            for ref in refs:
                field_uses[ref].append(use_id)
        self.field_uses: dict[str, list[str]] = dict(field_uses)
        field_sources: dict[str, list[str]] = defaultdict(list)
        for source in self.sources.values():
            for ref in self.expand(source.collects):
                field_sources[ref].append(source.id)
        self.field_sources: dict[str, list[str]] = dict(field_sources)

    def expand(self, refs: Iterable[str]) -> list[str]:
        """Expand ``entity.*`` into the entity's fields; unknown references are left out."""
        out: list[str] = []
        for ref in refs:
            entity, field = split_ref(ref)
            if field == "*":
                if entity in self.entities:
                    out.extend(f"{entity}.{f}" for f in self.entities[entity].fields)
            elif ref in self.fields:
                out.append(ref)
        return out

    def is_known(self, ref: str) -> bool:
        """Whether a reference names a declared field, or ``entity.*`` of a declared entity."""
        entity, field = split_ref(ref)
        return entity in self.entities if field == "*" else ref in self.fields

    def is_special(self, ref: str) -> bool:
        """Whether a field holds a special category (Art. 9) or criminal data (Art. 10)."""
        spec = self.fields.get(ref)
        return spec is not None and spec.category in SPECIAL_CATEGORIES

    def encrypted_at_rest(self, ref: str) -> bool:
        """Special categories and ``protect: encrypt`` fields are stored under the subject's key."""
        spec = self.fields.get(ref)
        return spec is not None and (
            spec.category in SPECIAL_CATEGORIES or spec.protect is Protect.ENCRYPT
        )

    def lineage(self, entity: str) -> list[str]:
        """The entity and its ancestors up to the subject root (cycles cut)."""
        chain: list[str] = []
        current: str | None = entity
        while current is not None and current in self.entities and current not in chain:
            chain.append(current)
            current = self.entities[current].parent
        return chain
