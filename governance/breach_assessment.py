"""What a breach touched: its scope read against the declarations, then counted in the database.

A scope names where the breach happened in the strategy's own terms. Each becomes a set of
fields and a filter on the rows of the entity tables that hold them:

* ``processor:ID``: the fields of every use that lists the processor among its recipients, and
  the rows holding any of them (what the processor was given, by the declarations: an upper
  bound, since a consent-based use sends only the data of those who consented);
* ``entity:NAME``: every field of the entity and every row of its table;
* ``field:ENTITY.FIELD``: that field, and the rows holding a value of it;
* ``source:ID``: the fields the source collects, and the rows it wrote or added values to
  (the row's ``source`` or a value's provenance).

``--since``/``--until`` keep the rows collected in that period. Counts are SQL aggregates
(``COUNT`` over a ``UNION`` of subject ids), never rows read into Python.

Encryption protects a field only where the breach is of the system of record itself
(``entity:`` and ``field:`` scopes) and only against disclosure: the field is stored as
AES-256-GCM under its subject's own key (kernel.keystore), which lives in a keystore apart
from the database, wrapped by the master key. At a processor or a collection point the data
is held as it was handed over or typed in, and an integrity or availability breach harms
ciphertext as much as clear text, so there every field in scope counts as exposed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, Text, and_, cast, func, or_, select, true, union
from sqlalchemy.orm import Session

from governance.breach_models import (
    Assessment,
    BreachKind,
    ProcessorFacts,
    Reason,
    Risk,
    ScopeKind,
)
from governance.errors import BreachError
from records.provenance_profiles import PROFILE_KEY
from records.store import RecordStore
from schemas.checks import EEA
from schemas.enums import SPECIAL_CATEGORIES, Category
from schemas.models import Strategy

__all__ = ["Exposure", "Scope", "assess", "exposure", "parse_scopes"]

_SCOPE_HELP = (
    "write KIND:TARGET with KIND one of processor, entity, field, source, e.g. "
    "processor:mailer, entity:customer, field:customer.email, source:booking-form"
)
_HIGH_RISK = frozenset({*SPECIAL_CATEGORIES, Category.CRIMINAL})


@dataclass(frozen=True)
class Scope:
    """One place a breach happened: a processor, an entity, a field or a source."""

    kind: ScopeKind
    target: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.target}"

    @property
    def in_system_of_record(self) -> bool:
        """Whether the breach is of the system of record's tables, where encryption holds."""
        return self.kind in {ScopeKind.ENTITY, ScopeKind.FIELD}


def _known(kind: str, value: str, names: Iterable[str], where: str) -> None:
    names = sorted(names)
    if value not in names:
        raise BreachError(
            f"scope {kind}:{value}: {where} declares no {kind} {value!r}; it declares "
            f"{', '.join(names) or 'none'}",
            field="scope",
        )


def parse_scope(text: str, strategy: Strategy) -> Scope:
    """``processor:mailer`` as a :class:`Scope`, checked against the strategy.

    Raises :class:`BreachError` naming the scope and what the strategy declares instead.
    """
    raw = text.strip()
    kind_text, sep, target = raw.partition(":")
    try:
        kind = ScopeKind(kind_text.strip().lower())
    except ValueError:
        kind = None
    target = target.strip()
    if not sep or kind is None or not target:
        raise BreachError(f"scope {raw!r}: {_SCOPE_HELP}", field="scope")
    index = strategy.index
    if kind is ScopeKind.PROCESSOR:
        _known("processor", target, index.processors, "organisation.yaml")
    elif kind is ScopeKind.SOURCE:
        _known("source", target, index.sources, "4-sources.yaml")
    elif kind is ScopeKind.ENTITY:
        _known("entity", target, index.entities, "5-system.yaml")
    else:
        entity, _, name = target.partition(".")
        _known("entity", entity, index.entities, "5-system.yaml")
        if name not in index.entities[entity].fields:
            raise BreachError(
                f"scope field:{target}: entity {entity} has no field {name!r}; write "
                f"field:ENTITY.FIELD with one of {', '.join(index.entities[entity].fields)}",
                field="scope",
            )
    return Scope(kind, target)


def parse_scopes(texts: Sequence[str], strategy: Strategy) -> list[Scope]:
    """Every scope given, in order, each once; at least one is needed."""
    if not texts:
        raise BreachError(f"give at least one scope: {_SCOPE_HELP}", field="scope")
    out: list[Scope] = []
    for text in texts:
        scope = parse_scope(text, strategy)
        if scope not in out:
            out.append(scope)
    return out


@dataclass
class _Reach:
    """One entity table's part of a breach: which fields, and which of its rows."""

    entity: str
    all_rows: bool = False
    held: set[str] = field(default_factory=set)
    """Field names whose value marks a row as touched."""
    sources: set[str] = field(default_factory=set)
    """Sources whose rows (or values) are touched."""
    fields: set[str] = field(default_factory=set)
    """Field names in scope."""


@dataclass(frozen=True)
class Exposure:
    """What a breach touches by the declarations alone (no counts)."""

    scopes: list[Scope]
    kind: BreachKind
    keys_compromised: bool
    fields: list[str]
    encrypted_fields: list[str]
    exposed_fields: list[str]
    categories: list[str]
    special_categories: list[str]
    data_subjects: list[str]
    uses: list[str]
    processors: list[ProcessorFacts]
    reaches: dict[str, _Reach]

    def verdict(
        self, strategy: Strategy, *, subjects: int | None = None, period: bool = False
    ) -> tuple[Risk, list[Reason]]:
        """The risk and its grounds; ``subjects`` (when counted) of 0 means nobody's data
        (in the period, when ``period`` says one was given)."""
        return _verdict(self, strategy, subjects=subjects, period=period)


def _ordered(refs: Iterable[str], strategy: Strategy) -> list[str]:
    position = {ref: i for i, ref in enumerate(strategy.index.fields)}
    return sorted(set(refs), key=lambda r: position.get(r, len(position)))


def _processor(strategy: Strategy, pid: str) -> ProcessorFacts:
    p = strategy.index.processors[pid]
    return ProcessorFacts(
        id=p.id,
        name=p.name,
        country=p.country,
        outside_eea=p.country.upper() not in EEA,
        transfer_safeguard=p.transfer_safeguard.value if p.transfer_safeguard else None,
        dpa_signed=p.dpa_signed,
    )


def exposure(
    strategy: Strategy,
    scopes: Sequence[Scope],
    *,
    kind: BreachKind = BreachKind.CONFIDENTIALITY,
    keys_compromised: bool = False,
) -> Exposure:
    """Fields, categories and protection of a breach of ``scopes``, from the declarations."""
    index = strategy.index
    reaches: dict[str, _Reach] = {}
    in_clear: set[str] = set()  # fields reached outside the system of record
    uses: set[str] = set()

    def reach(entity: str) -> _Reach:
        return reaches.setdefault(entity, _Reach(entity))

    for scope in scopes:
        if scope.kind is ScopeKind.ENTITY:
            r = reach(scope.target)
            r.all_rows = True
            refs = [f"{scope.target}.{f}" for f in index.entities[scope.target].fields]
        elif scope.kind is ScopeKind.FIELD:
            refs = [scope.target]
        elif scope.kind is ScopeKind.PROCESSOR:
            held_by = [u.id for u in strategy.uses if scope.target in u.recipients]
            uses.update(held_by)
            refs = sorted({ref for u in held_by for ref in index.use_fields[u]})
        else:
            refs = index.expand(index.sources[scope.target].collects)
            for entity in {ref.partition(".")[0] for ref in refs}:
                reach(entity).sources.add(scope.target)
        for ref in refs:
            entity, _, name = ref.partition(".")
            r = reach(entity)
            r.fields.add(name)
            if scope.kind in {ScopeKind.FIELD, ScopeKind.PROCESSOR}:
                r.held.add(name)
            if not scope.in_system_of_record:
                in_clear.add(ref)
    refs = _ordered((f"{e}.{n}" for e, r in reaches.items() for n in r.fields), strategy)
    if not uses or any(s.kind is not ScopeKind.PROCESSOR for s in scopes):
        uses.update(u for ref in refs for u in index.field_uses.get(ref, []))
    personal = [r for r in refs if index.fields[r].category is not Category.NON_PERSONAL]
    protects = kind is BreachKind.CONFIDENTIALITY and not keys_compromised
    encrypted = [
        r for r in personal if index.encrypted_at_rest(r) and r not in in_clear and protects
    ]
    held = {index.fields[r].category for r in personal}
    return Exposure(
        scopes=list(scopes),
        kind=kind,
        keys_compromised=keys_compromised,
        fields=refs,
        encrypted_fields=encrypted,
        exposed_fields=[r for r in personal if r not in encrypted],
        categories=[c.value for c in Category if c in held and c not in _HIGH_RISK],
        special_categories=[c.value for c in Category if c in held and c in _HIGH_RISK],
        data_subjects=sorted({d for u in uses for d in index.uses[u].data_subjects}),
        uses=[u.id for u in strategy.uses if u.id in uses],
        processors=[
            _processor(strategy, s.target) for s in scopes if s.kind is ScopeKind.PROCESSOR
        ],
        reaches=reaches,
    )


def _names(refs: Sequence[str]) -> str:
    return ", ".join(refs)


def _verdict(
    exp: Exposure, strategy: Strategy, *, subjects: int | None, period: bool
) -> tuple[Risk, list[Reason]]:
    index = strategy.index
    notes: list[Reason] = []
    if exp.keys_compromised and any(index.encrypted_at_rest(r) for r in exp.fields):
        notes.append(
            Reason(
                code="keys_compromised",
                text="the encryption keys were compromised too, or the data left decrypted, "
                "so fields encrypted at rest count as exposed",
            )
        )
    clear_elsewhere = [
        r
        for r in exp.exposed_fields
        if index.encrypted_at_rest(r) and exp.kind is BreachKind.CONFIDENTIALITY
    ]
    if clear_elsewhere and not exp.keys_compromised:
        notes.append(
            Reason(
                code="held_in_clear_outside",
                fields=clear_elsewhere,
                text=f"encrypted in the system of record ({_names(clear_elsewhere)}), but a "
                "processor or a collection point holds them in clear, as they were handed "
                "over or typed in",
            )
        )
    for p in exp.processors:
        if p.outside_eea:
            ground = (p.transfer_safeguard or "no transfer safeguard declared").replace("_", " ")
            notes.append(
                Reason(
                    code="outside_eea",
                    text=f"processor {p.id} processes the data in {p.country}, outside the "
                    f"EEA ({ground}): say so in the notification",
                )
            )
    if not exp.fields:
        return Risk.UNLIKELY, [
            Reason(code="no_fields", text="per the declarations no field is in scope"),
            *notes,
        ]
    if subjects == 0:
        return Risk.UNLIKELY, [
            Reason(
                code="nothing_held",
                text="the system of record holds no record in scope"
                + (" in the period given" if period else "")
                + ": nobody's data was touched",
            ),
            *notes,
        ]
    if not exp.exposed_fields:
        if exp.encrypted_fields:
            return Risk.UNLIKELY, [
                Reason(
                    code="all_encrypted",
                    fields=exp.encrypted_fields,
                    text="every personal-data field in scope is held only encrypted (AES-256-GCM "
                    "under each subject's own key) and the keys were not compromised, so the "
                    "data is unintelligible to whoever has it (Art. 34(3)(a)): record the "
                    "breach; it needs no notification unless that changes",
                ),
                *notes,
            ]
        return Risk.UNLIKELY, [
            Reason(code="no_personal_data", text="only non-personal fields are in scope"),
            *notes,
        ]
    high: list[Reason] = []
    special = [r for r in exp.exposed_fields if index.fields[r].category in SPECIAL_CATEGORIES]
    criminal = [r for r in exp.exposed_fields if index.fields[r].category is Category.CRIMINAL]
    if special:
        high.append(
            Reason(
                code="special_category",
                fields=special,
                text=f"special-category data (Art. 9) is exposed: {_names(special)}",
            )
        )
    if criminal:
        high.append(
            Reason(
                code="criminal_data",
                fields=criminal,
                text=f"criminal-offence data (Art. 10) is exposed: {_names(criminal)}",
            )
        )
    subject = index.subject_entity
    identifiers = [
        r
        for r in exp.exposed_fields
        if index.fields[r].category is Category.IDENTIFIER and r.partition(".")[0] == subject
    ]
    if identifiers and exp.kind is BreachKind.CONFIDENTIALITY:
        high.append(
            Reason(
                code="identifier_in_clear",
                fields=identifiers,
                text=f"identifiers of the data subjects themselves are disclosed in clear "
                f"({_names(identifiers)}): they enable identity theft",
            )
        )
    if high:
        return Risk.HIGH, [*high, *notes]
    verb = {
        BreachKind.CONFIDENTIALITY: "disclosed in clear",
        BreachKind.INTEGRITY: "altered",
        BreachKind.AVAILABILITY: "lost or out of reach",
    }[exp.kind]
    base = Reason(
        code="personal_data_exposed",
        fields=exp.exposed_fields,
        text=f"personal data was {verb} ({', '.join(exp.categories)}), none of it a special "
        "category: notify the authority; the subjects need not be told unless the "
        "circumstances make the risk high",
    )
    if exp.kind is BreachKind.AVAILABILITY:
        notes.append(
            Reason(
                code="restored",
                text="if the data was restored from a backup with no lasting effect on anyone, "
                "reassess it as unlikely with `tietotie breach update ID --risk unlikely`",
            )
        )
    return Risk.RISK, [base, *notes]


# ── counting in the system of record ─────────────────────────────────────────────────────────


def _period(table: Table, since: datetime | None, until: datetime | None) -> list[Any]:
    out: list[Any] = []
    if since is not None:
        out.append(table.c.collected_at >= since)
    if until is not None:
        out.append(table.c.collected_at < until)
    return out


def _touched(table: Table, reach: _Reach, profiles: dict[str, list[str]]) -> ColumnElement[bool]:
    """Rows holding a reached field, or written by a reached source (as the row's own or for
    one value); ``profiles``: per source, the keys of the provenance profiles naming it."""
    if reach.all_rows:
        return true()
    marks: list[ColumnElement[bool]] = [table.c[name].is_not(None) for name in sorted(reach.held)]
    for source in sorted(reach.sources):
        # Source ids are kebab-case ([a-z0-9-]), so they hold no LIKE wildcard. A value from
        # another source than its row's is stored as "field": "source" or "field": ["source",
        # "time"] (records.provenance); the JSON text is matched in both forms, with or
        # without a space after the colon.
        text = cast(table.c.provenance, Text)
        marks += [
            table.c.source == source,
            text.like(f'%["{source}",%'),
            text.like(f'%: "{source}"%'),
            text.like(f'%:"{source}"%'),
        ]
        # or the value's source is in the row's profile (records.provenance_profiles)
        if profiles.get(source):
            marks.append(table.c.provenance[PROFILE_KEY].as_string().in_(profiles[source]))
    return or_(*marks)


@dataclass(frozen=True)
class _Counts:
    subjects: int
    records: int
    by_entity: dict[str, int]
    exposed_subjects: int


def _count(
    session: Session,
    store: RecordStore,
    exp: Exposure,
    *,
    since: datetime | None,
    until: datetime | None,
) -> _Counts:
    exposed = set(exp.exposed_fields)
    touched_ids = []
    exposed_ids = []
    by_entity: dict[str, int] = {}
    sources = sorted({s for r in exp.reaches.values() if not r.all_rows for s in r.sources})
    profiles = {s: store.profiles.keys_mentioning(session, s) for s in sources}
    for entity in store.tables.order():
        r = exp.reaches.get(entity)
        if r is None:
            continue
        table = store.tables.table(entity)
        where = and_(_touched(table, r, profiles), *_period(table, since, until))
        by_entity[entity] = int(
            session.scalar(select(func.count()).select_from(table).where(where)) or 0
        )
        touched_ids.append(select(table.c.subject_id).where(where))
        names = sorted(n for n in r.fields if f"{entity}.{n}" in exposed)
        if names:
            held = or_(*(table.c[n].is_not(None) for n in names))
            exposed_ids.append(select(table.c.subject_id).where(where, held))

    def distinct(selects: list[Any]) -> int:
        if not selects:
            return 0
        ids = union(*selects).subquery()
        return int(session.scalar(select(func.count()).select_from(ids)) or 0)

    return _Counts(
        subjects=distinct(touched_ids),
        records=sum(by_entity.values()),
        by_entity=by_entity,
        exposed_subjects=distinct(exposed_ids),
    )


def assess(
    session: Session,
    store: RecordStore,
    scopes: Sequence[Scope],
    *,
    kind: BreachKind,
    since: datetime | None = None,
    until: datetime | None = None,
    keys_compromised: bool = False,
    now: datetime | None = None,
) -> Assessment:
    """What a breach of ``scopes`` touched: fields, categories, protection, counts and risk."""
    exp = exposure(store.strategy, scopes, kind=kind, keys_compromised=keys_compromised)
    counts = _count(session, store, exp, since=since, until=until)
    risk, reasons = exp.verdict(
        store.strategy, subjects=counts.subjects, period=since is not None or until is not None
    )
    return Assessment(
        fields=exp.fields,
        categories=exp.categories,
        special_categories=exp.special_categories,
        encrypted_fields=exp.encrypted_fields,
        exposed_fields=exp.exposed_fields,
        data_subjects=exp.data_subjects,
        uses=exp.uses,
        subjects=counts.subjects,
        records=counts.records,
        records_by_entity=counts.by_entity,
        exposed_subjects=counts.exposed_subjects,
        processors=exp.processors,
        risk=risk,
        reasons=reasons,
        computed_at=now or datetime.now(UTC),
    )
