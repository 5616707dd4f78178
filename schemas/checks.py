"""Cross-step checks: does the road hold together from goal to activation? (DESIGN §4)

Each check appends findings to one list, so a single run reports every problem at once. A
dangling reference with a likely fix (a typo) is reported once: the findings that would vanish
with that fix (the field it meant is then "held for no use", grants reach outside the use) are
counted on it instead of being listed.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from schemas.countries import is_country_code
from schemas.dpia import LISTED_CASES, MISSING, screen
from schemas.enums import (
    Duty,
    FieldType,
    IdentityLevel,
    LegalBasis,
    Operator,
    OutputDomain,
    SourceChannel,
    UseKind,
)
from schemas.findings import Finding
from schemas.loader import LoadResult, SourceMap, finding, load_strategy
from schemas.models import Condition, Strategy, StrategyIndex, Use
from schemas.primitives import parse_duration, split_ref

__all__ = ["EEA", "check_strategy", "received_domains", "validate"]

EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)
"""The EU member states plus Iceland, Liechtenstein and Norway: no Chapter V transfer inside."""

_NUMERIC = {FieldType.INTEGER, FieldType.DECIMAL}
_TEMPORAL = {FieldType.DATE, FieldType.DATETIME}
_ORDERED = _NUMERIC | _TEMPORAL

Path_ = tuple[str | int, ...]


@dataclass(eq=False)
class _Cause:
    """A dangling reference's finding, and how many follow-on findings it explains."""

    index: int
    hidden: int = 0


Meant = Mapping[str, _Cause]
"""What dangling references most likely meant (a field or an id) → the finding that says so."""


def validate(path: str) -> LoadResult:
    """Load a strategy and run every check; the result holds all findings, errors first."""
    result = load_strategy(path)
    if result.strategy is not None:
        result.findings.extend(check_strategy(result.strategy, result.source_map))
    result.findings.sort(key=lambda f: (f.severity != "error", f.file, f.line, f.column))
    return result


def check_strategy(strategy: Strategy, source_map: SourceMap | None = None) -> list[Finding]:
    """Every cross-step check over a strategy whose shape is valid."""
    checker = _Checker(strategy, source_map or SourceMap())
    checker.run()
    return checker.out


def received_domains(strategy: Strategy) -> dict[str, dict[str, str]]:
    """Role id → {domain: why} for every pseudonymised output of the service the role receives.

    A role receives tokens of :attr:`OutputDomain.REPORTING` as a pseudonymised report's
    audience, of :attr:`OutputDomain.MASKED_READ` through a ``masked:`` field of its grants,
    and of :attr:`OutputDomain.ACTIVATION_EXPORT` when it holds an activation's use with a
    masked field of the subject entity (the audience export shows it). Grants merge per role
    and use as the access policy merges them: a field read in clear is not masked.
    """
    idx = strategy.index
    out: dict[str, dict[str, str]] = {}

    def note(role: str, domain: OutputDomain, why: str) -> None:
        out.setdefault(role, {}).setdefault(domain.value, why)

    for rep in strategy.reports:
        if rep.identity is IdentityLevel.PSEUDONYMISED:
            for role in rep.audience:
                note(
                    role, OutputDomain.REPORTING, f"it receives the pseudonymised report '{rep.id}'"
                )
    read: dict[tuple[str, str], set[str]] = {}
    shown_masked: dict[tuple[str, str], set[str]] = {}
    for grant in strategy.system.access:
        for use in grant.for_:
            read.setdefault((grant.role, use), set()).update(idx.expand(grant.read))
            shown_masked.setdefault((grant.role, use), set()).update(idx.expand(grant.masked))
    masked_by = {
        key: sorted((refs - read[key]) & idx.use_fields.get(key[1], frozenset()))
        for key, refs in shown_masked.items()
    }
    for (role, use), refs in masked_by.items():
        if refs:
            note(role, OutputDomain.MASKED_READ, f"it reads {refs[0]} masked for '{use}'")
    subject = idx.subject_entity
    for act in strategy.activations:
        for (role, use), refs in masked_by.items():
            shown = [r for r in refs if split_ref(r)[0] == subject]
            if use == act.use and shown:
                note(
                    role,
                    OutputDomain.ACTIVATION_EXPORT,
                    f"it receives the audience of '{act.id}' with {shown[0]} masked",
                )
    return out


class _Checker:
    def __init__(self, strategy: Strategy, smap: SourceMap) -> None:
        self.s = strategy
        self.idx = StrategyIndex(strategy)
        self.smap = smap
        self.out: list[Finding] = []
        self.causes: list[_Cause] = []
        # what the typos of uses' fields, serves, and sources' collects, consent_for meant
        self.meant_fields: dict[str, dict[str, _Cause]] = {}
        self.meant_goals: dict[str, _Cause] = {}
        self.meant_collected: dict[str, _Cause] = {}
        self.meant_capture: dict[str, _Cause] = {}
        self.meant_grant_uses: list[Meant] = []  # per grant: the uses its typos meant

    def add(self, rule: str, message: str, path: Path_) -> _Cause:
        self.out.append(finding(rule, message, self.smap.at(path), path))
        return _Cause(len(self.out) - 1)

    def run(self) -> None:
        self.duplicate_ids()
        self.organisation()
        self.system()
        self.uses()
        self.sources()  # before questions, reports and activations: what collects meant
        self.questions()
        self.access()
        self.reports()
        self.activations()
        self.minimisation()
        self.impact_assessments()
        for cause in self.causes:
            if cause.hidden:
                f = self.out[cause.index]
                n = cause.hidden
                message = (
                    f"{f.message} (this also explains {n} other finding{'s' * (n != 1)}, "
                    "not shown: fix this first)"
                )
                self.out[cause.index] = replace(f, message=message, explains=n)

    def follow_on(self, stray: Iterable[str], meant: Meant) -> bool:
        """Whether a finding about ``stray`` goes away once the dangling references behind
        ``meant`` are fixed; if so it is counted on their findings rather than reported."""
        stray = list(stray)
        if not stray or any(s not in meant for s in stray):
            return False
        for cause in {id(meant[s]): meant[s] for s in stray}.values():
            cause.hidden += 1
        return True

    # ── helpers ──────────────────────────────────────────────────────────────────────────────

    def ref_ids(
        self, ids: Iterable[str], known: dict[str, Any], rule: str, kind: str, path: Path_
    ) -> dict[str, _Cause]:
        """Report undeclared ids; the ids they most likely meant → their findings."""
        meant: dict[str, _Cause] = {}
        for j, ident in enumerate(ids):
            meant.update(self.ref_id(ident, known, rule, kind, (*path, j)))
        return meant

    def ref_id(
        self, ident: str, known: dict[str, Any], rule: str, kind: str, path: Path_
    ) -> dict[str, _Cause]:
        if ident in known:
            return {}
        close = difflib.get_close_matches(ident, list(known), n=1)
        tip = f"; did you mean '{close[0]}'?" if close else ""
        cause = self.add(rule, f"{kind} '{ident}' is not declared{tip}", path)
        if not close:
            return {}
        self.causes.append(cause)
        return {close[0]: cause}

    def fields_known(self, refs: Sequence[str], path: Path_) -> dict[str, _Cause]:
        """Report dangling field references; the fields they most likely meant → findings."""
        meant: dict[str, _Cause] = {}
        for j, ref in enumerate(refs):
            meant.update(self.field_known(ref, (*path, j)) or {})
        return meant

    def field_known(self, ref: str, path: Path_) -> dict[str, _Cause] | None:
        """``None`` when ``ref`` is declared; else report it, and return what it meant."""
        if self.idx.is_known(ref):
            return None
        entity, field = split_ref(ref)
        if entity not in self.idx.entities:
            close = difflib.get_close_matches(entity, list(self.idx.entities), n=1)
            tip = f"; did you mean '{close[0]}'?" if close else ""
            guess = f"{close[0]}.{field}" if close else ""
            message = f"'{ref}': entity '{entity}' is not declared{tip}"
        else:
            names = list(self.idx.entities[entity].fields)
            close = difflib.get_close_matches(field, names, n=1)
            tip = f"; did you mean '{entity}.{close[0]}'?" if close else ""
            guess = f"{entity}.{close[0]}" if close else ""
            message = f"'{ref}': '{entity}' has no field '{field}'{tip}"
        cause = self.add("unknown-field", message, path)
        fields = self.idx.expand([guess]) if guess and self.idx.is_known(guess) else []
        if fields:
            self.causes.append(cause)
        return {f: cause for f in fields}

    def outside(
        self,
        refs: Sequence[str],
        scope: tuple[frozenset[str], Meant],
        path: Path_,
        what: str,
        use_ids: Iterable[str],
    ) -> None:
        """Report each reference that reaches a field outside the fields of ``use_ids``."""
        allowed, meant = scope
        for j, ref in enumerate(refs):
            stray = [f for f in self.idx.expand([ref]) if f not in allowed]
            if stray and not self.follow_on(stray, meant):
                self.add(
                    "field-outside-use",
                    f"{what} touches {', '.join(stray)}, which {_which(use_ids)}",
                    (*path, j),
                )

    def uses_fields(
        self, use_ids: Iterable[str], meant_uses: Meant | None = None
    ) -> tuple[frozenset[str], Meant]:
        """The fields of some uses, and what the dangling references among them (and among
        those uses' fields) meant."""
        out: set[str] = set()
        meant: dict[str, _Cause] = {}
        for use_id in use_ids:
            out |= self.idx.use_fields.get(use_id, frozenset())
            meant.update(self.meant_fields.get(use_id, {}))
        for use_id, cause in (meant_uses or {}).items():
            meant.update(dict.fromkeys(self.idx.use_fields.get(use_id, frozenset()), cause))
            meant.update(self.meant_fields.get(use_id, {}))
        return frozenset(out), meant

    # ── the checks ───────────────────────────────────────────────────────────────────────────

    def duplicate_ids(self) -> None:
        kinds: list[tuple[Path_, Sequence[Any]]] = [
            (("roles",), self.s.roles),
            (("processors",), self.s.processors),
            (("goals",), self.s.goals),
            (("uses",), self.s.uses),
            (("questions",), self.s.questions),
            (("sources",), self.s.sources),
            (("reports",), self.s.reports),
            (("activations",), self.s.activations),
            (("system", "external"), self.s.system.external),
        ]
        for path, items in kinds:
            seen: dict[str, int] = {}
            for i, item in enumerate(items):
                if item.id in seen:
                    first = self.smap.at((*path, seen[item.id], "id"))
                    self.add(
                        "duplicate-id",
                        f"id '{item.id}' is already used at line {first.line}",
                        (*path, i, "id"),
                    )
                else:
                    seen[item.id] = i

    def organisation(self) -> None:
        if not is_country_code(self.s.controller.jurisdiction):
            self.add(
                "invalid-country",
                f"jurisdiction '{self.s.controller.jurisdiction}' is not a country code",
                ("controller", "jurisdiction"),
            )
        for i, p in enumerate(self.s.processors):
            if not is_country_code(p.country):
                self.add(
                    "invalid-country",
                    f"country '{p.country}' of processor '{p.id}' is not a country code",
                    ("processors", i, "country"),
                )
            elif p.country not in EEA and p.transfer_safeguard is None:
                self.add(
                    "transfer-without-safeguard",
                    f"processor '{p.id}' processes in "
                    f"{p.country}, outside the EEA, without a safeguard",
                    ("processors", i, "country"),
                )
        for i, g in enumerate(self.s.goals):
            self.ref_id(g.owner, self.idx.roles, "unknown-role", "role", ("goals", i, "owner"))
        self.pseudonymise_duties()

    def pseudonymise_duties(self) -> None:
        received = received_domains(self.s)
        for i, role in enumerate(self.s.roles):
            here: Path_ = ("roles", i)
            if Duty.PSEUDONYMISE in role.duties and not role.pseudonymise_domains:
                self.add(
                    "pseudonymise-without-domains",
                    f"role '{role.id}' has the pseudonymise duty but no pseudonymise_domains",
                    (*here, "duties", role.duties.index(Duty.PSEUDONYMISE)),
                )
            if role.pseudonymise_domains and Duty.PSEUDONYMISE not in role.duties:
                self.add(
                    "pseudonymise-domains-without-duty",
                    f"role '{role.id}' lists pseudonymise_domains but not the pseudonymise duty",
                    (*here, "pseudonymise_domains"),
                )
            for j, domain in enumerate(role.pseudonymise_domains):
                why = received.get(role.id, {}).get(domain)
                if why is not None:
                    self.add(
                        "pseudonymise-received-domain",
                        f"role '{role.id}' may pseudonymise into '{domain}', yet {why}: it "
                        "could compute the tokens of those rows from clear values",
                        (*here, "pseudonymise_domains", j),
                    )

    def system(self) -> None:
        ents = self.idx.entities
        base: Path_ = ("system", "entities")
        subjects = [n for n, e in ents.items() if e.subject]
        if len(subjects) != 1:
            names = ", ".join(subjects) or "none"
            self.add(
                "subject-entity",
                f"{len(subjects)} entities are marked subject: true ({names}); exactly one must be",
                base,
            )
        root = self.idx.subject_entity
        for name, entity in ents.items():
            here = (*base, name)
            if entity.parent is not None and entity.parent not in ents:
                self.ref_id(entity.parent, ents, "unknown-entity", "entity", (*here, "parent"))
            elif not entity.subject and root is not None:
                chain = self.idx.lineage(name)
                if chain[-1] != root:
                    why = "has no parent" if entity.parent is None else "never reaches it"
                    self.add(
                        "entity-parent",
                        f"entity '{name}' {why}: its chain must lead to "
                        f"the subject entity '{root}'",
                        here,
                    )
            for fname, spec in entity.fields.items():
                has_values = bool(spec.values)
                if (spec.type is FieldType.ENUM) != has_values:
                    msg = (
                        "an enum needs values"
                        if not has_values
                        else f"values are only for enums, not {spec.type}"
                    )
                    self.add("enum-values", f"{name}.{fname}: {msg}", (*here, "fields", fname))
            if not entity.subject and (entity.identifiers or entity.match_on):
                self.add(
                    "identifier-not-field",
                    f"entity '{name}' is not the subject entity; "
                    "identifiers and match_on belong on the subject",
                    here,
                )
        if root is not None:
            subject = ents[root]
            for j, ident in enumerate(subject.identifiers):
                if ident not in subject.fields:
                    self.add(
                        "identifier-not-field",
                        f"identifier '{ident}' is not a field of '{root}'",
                        (*base, root, "identifiers", j),
                    )
            for j, keys in enumerate(subject.match_on):
                for k, key in enumerate(keys):
                    if key not in subject.fields:
                        self.add(
                            "identifier-not-field",
                            f"match key '{key}' is not a field of '{root}'",
                            (*base, root, "match_on", j, k),
                        )
        for i, ext in enumerate(self.s.system.external):
            for t, table in enumerate(ext.tables):
                here = ("system", "external", i, "tables", t)
                self.ref_id(table.entity, ents, "unknown-entity", "entity", (*here, "entity"))
                if root is not None and table.identifier not in ents[root].identifiers:
                    self.add(
                        "identifier-not-field",
                        f"'{table.identifier}' is not an identifier of '{root}'",
                        (*here, "identifier"),
                    )

    def uses(self) -> None:
        for i, use in enumerate(self.s.uses):
            here: Path_ = ("uses", i)
            self.meant_goals.update(
                self.ref_ids(use.serves, self.idx.goals, "unknown-goal", "goal", (*here, "serves"))
            )
            self.ref_ids(
                use.recipients,
                self.idx.processors,
                "unknown-processor",
                "processor",
                (*here, "recipients"),
            )
            self.meant_fields[use.id] = self.fields_known(use.fields, (*here, "fields"))
            basis = use.legal_basis
            if not use.serves and basis is not LegalBasis.LEGAL_OBLIGATION:
                self.add("use-serves-no-goal", f"use '{use.id}' serves no goal", (*here, "id"))
            if basis is LegalBasis.LEGAL_OBLIGATION and not use.law:
                self.add(
                    "law-missing",
                    f"use '{use.id}' rests on a legal obligation but cites no law",
                    (*here, "legal_basis"),
                )
            if basis is LegalBasis.LEGITIMATE_INTERESTS and not use.legitimate_interest_assessment:
                self.add(
                    "li-without-assessment",
                    f"use '{use.id}' rests on legitimate interests without an assessment",
                    (*here, "legal_basis"),
                )
            if basis is LegalBasis.CONSENT and not use.consent_valid_for:
                self.add(
                    "consent-validity-missing",
                    f"consent for '{use.id}' never expires",
                    (*here, "legal_basis"),
                )
            if use.retention is None:
                self.add(
                    "use-without-retention",
                    f"use '{use.id}' keeps data for no stated period",
                    (*here, "id"),
                )
            if use.special_category_condition is None:
                special = sorted(f for f in self.idx.use_fields[use.id] if self.idx.is_special(f))
                if special:
                    j = next(
                        j
                        for j, ref in enumerate(use.fields)
                        if set(self.idx.expand([ref])) & set(special)
                    )
                    self.add(
                        "special-category-without-condition",
                        f"use '{use.id}' needs "
                        f"{', '.join(special)} but names no Art. 9(2) condition",
                        (*here, "fields", j),
                    )
        served = {g for use in self.s.uses for g in use.serves}
        for i, goal in enumerate(self.s.goals):
            if goal.id not in served and not self.follow_on([goal.id], self.meant_goals):
                self.add("goal-not-served", f"no use serves goal '{goal.id}'", ("goals", i, "id"))

    def questions(self) -> None:
        for i, q in enumerate(self.s.questions):
            here: Path_ = ("questions", i)
            meant = self.ref_ids(
                q.for_uses, self.idx.uses, "unknown-use", "use", (*here, "for_uses")
            )
            self.fields_known(q.needs, (*here, "needs"))
            scope = self.uses_fields(q.for_uses, meant)
            self.outside(q.needs, scope, (*here, "needs"), f"question '{q.id}'", q.for_uses)
            self.collected(q.needs, (*here, "needs"), f"question '{q.id}'")

    def collected(self, refs: Sequence[str], path: Path_, what: str) -> None:
        for j, ref in enumerate(refs):
            missing = [f for f in self.idx.expand([ref]) if f not in self.idx.field_sources]
            if missing and not self.follow_on(missing, self.meant_collected):
                self.add(
                    "field-not-collected",
                    f"{what} needs {', '.join(missing)}, which no source collects",
                    (*path, j),
                )

    def sources(self) -> None:
        needed_by: dict[str, list[int]] = {}  # field → questions that need it
        for qi, q in enumerate(self.s.questions):
            for ref in self.idx.expand(q.needs):
                needed_by.setdefault(ref, []).append(qi)
        capturable: set[str] = set()
        for i, src in enumerate(self.s.sources):
            here: Path_ = ("sources", i)
            self.ref_id(
                src.collected_by, self.idx.roles, "unknown-role", "role", (*here, "collected_by")
            )
            self.meant_collected.update(self.fields_known(src.collects, (*here, "collects")))
            self.meant_capture.update(
                self.ref_ids(
                    src.consent_for, self.idx.uses, "unknown-use", "use", (*here, "consent_for")
                )
            )
            for j, use_id in enumerate(src.consent_for):
                use = self.idx.uses.get(use_id)
                if use is not None and use.legal_basis is not LegalBasis.CONSENT:
                    self.add(
                        "consent-for-non-consent-use",
                        f"source '{src.id}' captures consent "
                        f"for '{use_id}', whose basis is {use.legal_basis}",
                        (*here, "consent_for", j),
                    )
            capturable.update(src.consent_for)
            collects = set(self.idx.expand(src.collects))
            cost = src.cost_eur_per_record * src.records_per_year
            fed = {qi for ref in collects for qi in needed_by.get(ref, ())}
            worth = sum((self.s.questions[qi].value_eur_per_year for qi in fed), Decimal(0))
            if cost > worth:
                self.add(
                    "cost-exceeds-value",
                    f"source '{src.id}' costs {cost:.2f} EUR a year "
                    f"but the questions it feeds are worth {worth:.2f} EUR",
                    (*here, "cost_eur_per_record"),
                )
        online = {
            u
            for s in self.s.sources
            if s.channel is SourceChannel.PRIVACY_CENTER
            for u in s.consent_for
        }
        for i, use in enumerate(self.s.uses):
            if use.legal_basis is LegalBasis.CONSENT and use.id not in online:
                self.add(
                    "consent-not-withdrawable-online",
                    f"customers cannot give or withdraw consent for '{use.id}' in the privacy "
                    "center: no source with channel privacy_center lists it in consent_for",
                    ("uses", i, "legal_basis"),
                )
        for i, use in enumerate(self.s.uses):
            if (
                use.legal_basis is LegalBasis.CONSENT
                and use.id not in capturable
                and not self.follow_on([use.id], self.meant_capture)
            ):
                self.add(
                    "consent-not-capturable",
                    f"no source can capture consent for '{use.id}'",
                    ("uses", i, "legal_basis"),
                )

    def access(self) -> None:
        for i, grant in enumerate(self.s.system.access):
            here: Path_ = ("system", "access", i)
            self.ref_id(grant.role, self.idx.roles, "unknown-role", "role", (*here, "role"))
            meant = self.ref_ids(grant.for_, self.idx.uses, "unknown-use", "use", (*here, "for"))
            self.meant_grant_uses.append(meant)
            scope = self.uses_fields(grant.for_, meant)
            of = f"of '{grant.role}' for {_ids(grant.for_)}"
            for action in ("read", "write", "masked"):
                refs = getattr(grant, action)
                self.fields_known(refs, (*here, action))
                self.outside(refs, scope, (*here, action), f"the {action} grant {of}", grant.for_)
            both = set(self.idx.expand(grant.read)) & set(self.idx.expand(grant.masked))
            if both:
                self.add(
                    "read-and-masked",
                    f"the grant {of} both reads and masks {', '.join(sorted(both))}",
                    (*here, "masked"),
                )
            self.conditions(grant.rows, (*here, "rows"), scope, f"the row filter {of}", grant.for_)

    def conditions(
        self,
        conds: Sequence[Condition],
        path: Path_,
        scope: tuple[frozenset[str], Meant],
        what: str,
        use_ids: Iterable[str],
    ) -> None:
        for j, cond in enumerate(conds):
            here = (*path, j)
            if self.field_known(cond.field, (*here, "field")) is not None:
                continue
            if split_ref(cond.field)[1] == "*":
                self.add(
                    "unknown-field",
                    f"a condition needs one field, not '{cond.field}'",
                    (*here, "field"),
                )
                continue
            self.outside([cond.field], scope, here, what, use_ids)
            problem = _condition_problem(cond, self.idx.fields[cond.field])
            if problem:
                rule, message = problem
                self.add(
                    rule,
                    f"{cond.field} {cond.op}: {message}",
                    (*here, "op" if rule == "operator-type-mismatch" else "value"),
                )

    def reports(self) -> None:
        for i, rep in enumerate(self.s.reports):
            here: Path_ = ("reports", i)
            meant_q = self.ref_ids(
                rep.answers, self.idx.questions, "unknown-question", "question", (*here, "answers")
            )
            self.ref_ids(rep.audience, self.idx.roles, "unknown-role", "role", (*here, "audience"))
            self.fields_known(rep.fields, (*here, "fields"))
            use_ids = {
                u
                for q in rep.answers
                if q in self.idx.questions
                for u in self.idx.questions[q].for_uses
            }
            meant_uses = {
                u: cause for q, cause in meant_q.items() for u in self.idx.questions[q].for_uses
            }
            scope = self.uses_fields(sorted(use_ids), meant_uses)
            what = f"report '{rep.id}'"
            self.outside(rep.fields, scope, (*here, "fields"), what, sorted(use_ids))
            self.collected(rep.fields, (*here, "fields"), f"report '{rep.id}'")
            if rep.identity != "identified":
                continue
            shown = set(self.idx.expand(rep.fields))
            for j, role in enumerate(rep.audience):
                readable: set[str] = set()
                meant: dict[str, _Cause] = {}  # readable once the grants' typos are fixed
                for grant, typos in zip(self.s.system.access, self.meant_grant_uses, strict=True):
                    if grant.role != role:
                        continue
                    if not use_ids or use_ids & set(grant.for_):
                        readable |= set(self.idx.expand(grant.read))
                    for cause in {id(c): c for u, c in typos.items() if u in use_ids}.values():
                        meant.update(dict.fromkeys(self.idx.expand(grant.read), cause))
                hidden = sorted(shown - readable)
                if role in self.idx.roles and hidden and not self.follow_on(hidden, meant):
                    self.add(
                        "identified-report-without-access",
                        f"report '{rep.id}' shows {', '.join(hidden)} in clear to '{role}', "
                        f"which no read grant of '{role}' for {_ids(sorted(use_ids))} allows",
                        (*here, "audience", j),
                    )

    def activations(self) -> None:
        for i, act in enumerate(self.s.activations):
            here: Path_ = ("activations", i)
            meant = self.ref_id(act.use, self.idx.uses, "unknown-use", "use", (*here, "use"))
            self.ref_id(act.owner, self.idx.roles, "unknown-role", "role", (*here, "owner"))
            entity = act.audience.entity
            if entity not in self.idx.entities:
                self.ref_id(
                    entity,
                    self.idx.entities,
                    "unknown-entity",
                    "entity",
                    (*here, "audience", "entity"),
                )
            elif self.idx.subject_entity and entity != self.idx.subject_entity:
                self.add(
                    "audience-not-subject",
                    f"the audience selects '{entity}', not the "
                    f"subject entity '{self.idx.subject_entity}'",
                    (*here, "audience", "entity"),
                )
            self.conditions(
                act.audience.where,
                (*here, "audience", "where"),
                self.uses_fields([act.use], meant),
                f"activation '{act.id}'",
                [act.use],
            )
            self.collected(
                [c.field for c in act.audience.where if self.idx.is_known(c.field)],
                (*here, "audience", "where"),
                f"activation '{act.id}'",
            )
            use = self.idx.uses.get(act.use)
            if use is None or use.kind is not UseKind.DIRECT_MARKETING:
                continue
            basis = use.legal_basis
            if basis is LegalBasis.LEGITIMATE_INTERESTS and not act.opt_out:
                self.add(
                    "activation-basis-invalid",
                    f"'{act.id}' markets on legitimate interests but declares no opt_out route",
                    (*here, "use"),
                )
            elif basis not in {LegalBasis.CONSENT, LegalBasis.LEGITIMATE_INTERESTS}:
                self.add(
                    "activation-basis-invalid",
                    f"'{act.id}' is direct marketing resting on {basis}",
                    (*here, "use"),
                )

    def retention_overrides(self) -> None:
        """An entity's own retention counts only for fields a legal obligation lists."""
        legal = [u.id for u in self.s.uses if _legal(u)]
        listed = {f for u in legal for f in self.idx.use_fields[u]}
        meant = {f: c for u in legal for f, c in self.meant_fields.get(u, {}).items()}
        for name, entity in self.idx.entities.items():
            refs = [f"{name}.{f}" for f in entity.fields]
            if not entity.retention or listed.intersection(refs):
                continue
            if not self.follow_on([r for r in refs if r in meant][:1], meant):
                self.add(
                    "retention-override-unused",
                    f"entity '{name}' keeps rows for {entity.retention}, but no legal-obligation "
                    "use lists its fields, so that retention applies to none of them",
                    ("system", "entities", name, "retention"),
                )

    def impact_assessments(self) -> None:
        """A use whose DPIA screening requires one declares it, and reviews it in time."""
        for i, (use, screening) in enumerate(zip(self.s.uses, screen(self.s), strict=True)):
            if screening.problem is None:
                continue
            n = len(screening.criteria)
            met = f"{n} of the 9 WP248 criteria ({', '.join(screening.criteria)})"
            if screening.listed_case:
                case = screening.listed_case
                met += f", a case of Art. {case} ({LISTED_CASES[case][1]})"
            if screening.problem == MISSING:
                self.add(
                    "dpia-required",
                    f"use '{use.id}' meets {met}, so it needs a DPIA, but declares none",
                    ("uses", i, "id"),
                )
            elif use.dpia is not None:
                self.add(
                    "dpia-required",
                    f"the DPIA {use.dpia.ref} of '{use.id}' was due for review on "
                    f"{use.dpia.review_by.isoformat()}; the use meets {met}",
                    ("uses", i, "dpia", "review_by"),
                )

    def minimisation(self) -> None:
        meant = {f: c for fields in self.meant_fields.values() for f, c in fields.items()}
        self.retention_overrides()
        for name, entity in self.idx.entities.items():
            for fname in entity.fields:
                ref = f"{name}.{fname}"
                if ref not in self.idx.field_uses and not self.follow_on([ref], meant):
                    self.add(
                        "field-without-purpose",
                        f"{name}.{fname} is held for no use",
                        ("system", "entities", name, "fields", fname),
                    )


def _legal(use: Use) -> bool:
    return use.legal_basis is LegalBasis.LEGAL_OBLIGATION


def _ids(ids: Sequence[str]) -> str:
    return ", ".join(f"'{i}'" for i in ids) or "no use"


def _which(use_ids: Iterable[str]) -> str:
    """Who does not list a field: "use 'a' does not list in its fields" and so on."""
    ids = list(dict.fromkeys(use_ids))
    if not ids:
        return "no use it serves lists in its fields"
    if len(ids) == 1:
        return f"use '{ids[0]}' does not list in its fields"
    return f"none of its uses ({_ids(ids)}) lists in its fields"


def _is_temporal_value(value: Any) -> bool:
    if isinstance(value, date | datetime):
        return True
    if isinstance(value, str):
        try:
            datetime.fromisoformat(value)
        except ValueError:
            return False
        return True
    return False


def _fits(value: Any, spec: Any) -> bool:
    kind = spec.type
    if kind in _NUMERIC:
        return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
    if kind in _TEMPORAL:
        return _is_temporal_value(value)
    if kind is FieldType.BOOLEAN:
        return isinstance(value, bool)
    if kind is FieldType.ENUM:
        return value in (spec.values or [])
    return isinstance(value, str | int) and not isinstance(value, bool)


def _condition_problem(cond: Condition, spec: Any) -> tuple[str, str] | None:
    op, kind, value = cond.op, spec.type, cond.value
    if op in {Operator.BEFORE, Operator.AFTER, Operator.WITHIN} and kind not in _TEMPORAL:
        return "operator-type-mismatch", f"'{op}' needs a date or datetime field, not {kind}"
    if op in {Operator.LT, Operator.LE, Operator.GT, Operator.GE} and kind not in _ORDERED:
        return "operator-type-mismatch", f"'{op}' needs a number or date field, not {kind}"
    if op in {Operator.IN, Operator.NOT_IN}:
        if not isinstance(value, list) or not value:
            return "condition-value-invalid", "give a non-empty list of values"
        bad = [v for v in value if not _fits(v, spec)]
        return ("condition-value-invalid", f"{bad!r} do not fit {kind}") if bad else None
    if op is Operator.EXISTS:
        if value is not None and not isinstance(value, bool):
            return "condition-value-invalid", "exists takes true, false or no value"
        return None
    if op is Operator.WITHIN:
        try:
            parse_duration(str(value))
        except ValueError:
            return "condition-value-invalid", f"{value!r} is not a duration such as P1Y"
        return None
    if not _fits(value, spec):
        allowed = f" (one of {', '.join(spec.values or [])})" if kind is FieldType.ENUM else ""
        return "condition-value-invalid", f"{value!r} does not fit {kind}{allowed}"
    return None
