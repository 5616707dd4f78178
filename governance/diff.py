"""Review a strategy change: what it changes for the people whose data it is (DESIGN §15).

:func:`compare` takes two loaded strategies, OLD and NEW, and returns a
:class:`~governance.diff_models.StrategyDiff`: one :class:`~governance.diff_models.Change` per
finding, each saying whether a data protection officer must sign it off and why. This module
compares fields (held and collected) and uses; :mod:`governance.diff_flows` consent,
recipients and transfers, and retention; :mod:`governance.diff_derived` what is compiled from
the declarations (access policy, privacy notice, RoPA, database migration, DPIA screening).

What needs sign-off leans to the side of asking: anything that lets more data be held, used,
seen, kept longer or sent further needs it; what only narrows is reported without.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Final

from governance.diff_derived import (
    access_changes,
    dpia_changes,
    migration_changes,
    notice_changes,
    ropa_changes,
)
from governance.diff_flows import consent_changes, recipient_changes, retention_changes
from governance.diff_models import SECTION_TITLES, Change, Section, StrategyDiff
from schemas.enums import SPECIAL_CATEGORIES, Category, LegalBasis, Protect
from schemas.models import FieldSpec, Strategy, Use

__all__ = ["SECTION_TITLES", "Change", "Section", "StrategyDiff", "compare"]

_PROTECT_RANK: Final = {Protect.NONE: 0, Protect.HMAC: 1, Protect.ENCRYPT: 2}

_NEW_PERSONAL_DATA: Final = (
    "new personal data: a use must need it (Art. 5(1)(c)) and the notice must say it is "
    "collected (Art. 13(1)(c), 14(1)(d))"
)
_SPECIAL_NOTE: Final = (
    "; it is a special category (Art. 9) or criminal data (Art. 10): every use of it needs an "
    "Art. 9(2) condition, and a DPIA may be required (Art. 35(3)(b))"
)


def compare(
    old: Strategy,
    new: Strategy,
    *,
    old_label: str = "OLD",
    new_label: str = "NEW",
    today: date | None = None,
    migration: bool = True,
) -> StrategyDiff:
    """Everything that changes from ``old`` to ``new``, section by section.

    ``today`` dates the DPIA screening (a DPIA past its review date); ``migration=False``
    skips planning the database migration (it builds a temporary SQLite database).
    """
    diff = StrategyDiff(old_label=old_label, new_label=new_label)
    diff.changes.extend(_fields(old, new))
    diff.changes.extend(_uses(old, new))
    diff.changes.extend(consent_changes(old, new))
    diff.changes.extend(recipient_changes(old, new))
    diff.changes.extend(retention_changes(old, new))
    diff.changes.extend(access_changes(old, new))
    diff.changes.extend(notice_changes(old, new))
    diff.changes.extend(ropa_changes(old, new))
    if migration:
        diff.changes.extend(migration_changes(old, new))
    else:
        diff.notes.append("the database migration was not planned (asked not to)")
    diff.changes.extend(dpia_changes(old, new, today=today))
    order = list(Section)
    diff.changes.sort(key=lambda c: order.index(c.section))
    return diff


# ── small words ──────────────────────────────────────────────────────────────────────────────


def _ids(items: Iterable[str]) -> str:
    listed = list(items)
    return ", ".join(listed) if listed else "none"


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def _special(category: Category) -> bool:
    return category in SPECIAL_CATEGORIES or category is Category.CRIMINAL


def _category(category: Category) -> str:
    if category in SPECIAL_CATEGORIES:
        return f"{category.value}, a special category"
    if category is Category.CRIMINAL:
        return "criminal, Art. 10"
    return category.value


def _spec(spec: FieldSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_defaults=True)


def _ordered(refs: Iterable[str], order: Iterable[str]) -> list[str]:
    wanted = set(refs)
    return [r for r in order if r in wanted]


# ── fields held and collected ────────────────────────────────────────────────────────────────


def _fields(old: Strategy, new: Strategy) -> list[Change]:
    oi, ni = old.index, new.index
    out: list[Change] = []
    for ref, spec in ni.fields.items():
        if ref in oi.fields:
            continue
        why = None
        if spec.category is not Category.NON_PERSONAL:
            why = _NEW_PERSONAL_DATA + (_SPECIAL_NOTE if _special(spec.category) else "")
        out.append(
            Change(
                Section.FIELDS,
                ref,
                "added",
                f"new field {ref} ({_category(spec.category)}), collected by "
                f"{_ids(ni.field_sources.get(ref, []))}, for {_ids(ni.field_uses.get(ref, []))}",
                why,
                None,
                _spec(spec),
            )
        )
    for ref, spec in oi.fields.items():
        if ref not in ni.fields:
            out.append(
                Change(
                    Section.FIELDS,
                    ref,
                    "removed",
                    f"field {ref} ({_category(spec.category)}) is no longer held; the migration "
                    "drops the values it holds",
                    None,
                    _spec(spec),
                    None,
                )
            )
    for ref, spec in ni.fields.items():
        before = oi.fields.get(ref)
        if before is not None:
            parts, why = _spec_changes(before, spec)
            if parts:
                out.append(
                    Change(
                        Section.FIELDS,
                        ref,
                        "changed",
                        f"{ref}: " + "; ".join(parts),
                        why,
                        _spec(before),
                        _spec(spec),
                    )
                )
    out.extend(_collection(old, new))
    out.extend(_sources(old, new))
    return out


def _spec_changes(before: FieldSpec, after: FieldSpec) -> tuple[list[str], str | None]:
    parts: list[str] = []
    why: list[str] = []
    if before.category is not after.category:
        parts.append(f"category {before.category.value} → {after.category.value}")
        if _special(after.category) and not _special(before.category):
            why.append("it now holds a special category (Art. 9) or criminal data (Art. 10)")
        elif before.category is Category.NON_PERSONAL:
            why.append("it now holds personal data (Art. 4(1))")
    if before.protect is not after.protect:
        parts.append(f"protect {before.protect.value} → {after.protect.value}")
        if _PROTECT_RANK[after.protect] < _PROTECT_RANK[before.protect]:
            why.append(
                f"its protection is weaker ({before.protect.value} → {after.protect.value}): "
                "it leaves pseudonymised outputs less protected (Art. 25(1), 32(1)(a))"
            )
    if before.type is not after.type:
        parts.append(f"type {before.type.value} → {after.type.value}")
    if (before.values or []) != (after.values or []):
        added = [v for v in after.values or [] if v not in (before.values or [])]
        dropped = [v for v in before.values or [] if v not in (after.values or [])]
        parts.append(
            "values"
            + (f" added: {', '.join(added)}" if added else "")
            + (";" if added and dropped else "")
            + (f" dropped: {', '.join(dropped)}" if dropped else "")
        )
    if before.required != after.required:
        parts.append("now required" if after.required else "no longer required")
    return parts, "; ".join(why) or None


def _collection(old: Strategy, new: Strategy) -> list[Change]:
    """Fields held before and after whose collection by any source starts or stops."""
    oi, ni = old.index, new.index
    out: list[Change] = []
    for ref, spec in ni.fields.items():
        if ref not in oi.fields:
            continue  # a new field: said above, with its sources
        was, now = oi.field_sources.get(ref, []), ni.field_sources.get(ref, [])
        if now and not was:
            personal = spec.category is not Category.NON_PERSONAL
            why = _NEW_PERSONAL_DATA + (_SPECIAL_NOTE if _special(spec.category) else "")
            out.append(
                Change(
                    Section.FIELDS,
                    ref,
                    "newly-collected",
                    f"{ref} is now collected, by {_ids(now)}; no source collected it before",
                    why if personal else None,
                    [],
                    list(now),
                )
            )
        elif was and not now:
            out.append(
                Change(
                    Section.FIELDS,
                    ref,
                    "no-longer-collected",
                    f"no source collects {ref} any more (it was collected by {_ids(was)})",
                    None,
                    list(was),
                    [],
                )
            )
    return out


def _sources(old: Strategy, new: Strategy) -> list[Change]:
    oi, ni = old.index, new.index
    out: list[Change] = []
    for sid, src in ni.sources.items():
        before = oi.sources.get(sid)
        collects = ni.expand(src.collects)
        if before is None:
            out.append(
                Change(
                    Section.FIELDS,
                    sid,
                    "source-added",
                    f"new source {sid} ({src.channel.value}, by {src.collected_by}) collects "
                    f"{_ids(collects)}; notice {src.notice or 'none'}",
                    None,
                    None,
                    collects,
                )
            )
            continue
        had = oi.expand(before.collects)
        parts = []
        gained = [r for r in collects if r not in had]
        lost = [r for r in had if r not in collects]
        if gained:
            parts.append(f"now also collects {', '.join(gained)}")
        if lost:
            parts.append(f"no longer collects {', '.join(lost)}")
        if src.channel is not before.channel:
            parts.append(f"channel {before.channel.value} → {src.channel.value}")
        if set(src.consent_for) != set(before.consent_for):
            parts.append(
                f"captures consent for {_ids(src.consent_for)} (was {_ids(before.consent_for)})"
            )
        if parts:
            out.append(
                Change(Section.FIELDS, sid, "source-changed", f"source {sid}: " + "; ".join(parts))
            )
    for sid, src in oi.sources.items():
        if sid not in ni.sources:
            out.append(
                Change(
                    Section.FIELDS,
                    sid,
                    "source-removed",
                    f"source {sid} ({src.channel.value}) no longer collects anything",
                )
            )
    return out


# ── uses and purposes ────────────────────────────────────────────────────────────────────────


def _uses(old: Strategy, new: Strategy) -> list[Change]:
    oi, ni = old.index, new.index
    out: list[Change] = []
    for use in new.uses:
        before = oi.uses.get(use.id)
        if before is None:
            fields = _ordered(ni.use_fields[use.id], ni.fields)
            why = (
                "a new purpose: its legal basis (Art. 6(1)), its compatibility with the purposes "
                "the data was collected for (Art. 6(4)) and its RoPA entry (Art. 30) need the "
                "DPO's review"
            )
            if use.legal_basis is LegalBasis.CONSENT:
                why += "; it rests on consent, which must be asked before the data is used for it"
            out.append(
                Change(
                    Section.USES,
                    use.id,
                    "added",
                    f"new use {use.id} ({use.kind.value}, {use.legal_basis.value}): "
                    f"{_words(use.description) or 'no description'}; fields {_ids(fields)}",
                    why,
                    None,
                    use.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                )
            )
        else:
            out.extend(_use_changes(before, use, old, new))
    for use in old.uses:
        if use.id in ni.uses:
            continue
        orphaned = [
            r for r in _ordered(oi.use_fields[use.id], oi.fields) if not ni.field_uses.get(r)
        ]
        summary = f"use {use.id} ({use.legal_basis.value}) is removed"
        if orphaned:
            summary += f"; no use holds {', '.join(orphaned)} any more"
        if use.legal_basis is LegalBasis.CONSENT:
            summary += "; the consents recorded for it no longer allow anything"
        out.append(
            Change(
                Section.USES,
                use.id,
                "removed",
                summary,
                None,
                use.model_dump(mode="json", by_alias=True, exclude_defaults=True),
                None,
            )
        )
    return out


def _use_changes(before: Use, use: Use, old: Strategy, new: Strategy) -> list[Change]:
    out: list[Change] = []

    def add(kind: str, summary: str, why: str | None, was: Any, now: Any) -> None:
        out.append(Change(Section.USES, use.id, kind, summary, why, was, now))

    if _words(before.description) != _words(use.description):
        add(
            "purpose-changed",
            f"the purpose of {use.id} as told to people changed: {_words(use.description)!r}",
            "a changed purpose: check it is compatible with the one the data was collected for "
            "(Art. 5(1)(b), 6(4)); the notice and the RoPA change with it",
            _words(before.description),
            _words(use.description),
        )
    if before.kind is not use.kind:
        add(
            "kind-changed",
            f"{use.id} is now {use.kind.value} (was {before.kind.value})",
            "a different kind of purpose (direct marketing carries the right to object, "
            "Art. 21(2); profiling may need a DPIA, Art. 35(3)(a))",
            before.kind.value,
            use.kind.value,
        )
    if before.legal_basis is not use.legal_basis:
        why = (
            "a new legal basis (Art. 6(1)): the basis is set before processing starts and may "
            "not be swapped to justify going on (EDPB Guidelines 05/2020 on consent, section 6); "
            "people must be told (Art. 13(1)(c))"
        )
        if before.legal_basis is LegalBasis.CONSENT:
            why += "; the consents recorded for it stop being its basis"
        add(
            "legal-basis-changed",
            f"{use.id} rests on {use.legal_basis.value} (was {before.legal_basis.value})",
            why,
            before.legal_basis.value,
            use.legal_basis.value,
        )
    # Only on legitimate interests: an assessment dropped with a move off that basis is said by
    # the legal basis change above.
    if use.legal_basis is LegalBasis.LEGITIMATE_INTERESTS and _words(
        before.legitimate_interest_assessment
    ) != _words(use.legitimate_interest_assessment):
        add(
            "interest-assessment-changed",
            f"the legitimate interest assessment of {use.id} changed",
            "the balancing test changed (Art. 6(1)(f)): the DPO reviews it",
            before.legitimate_interest_assessment,
            use.legitimate_interest_assessment,
        )
    if _words(before.law) != _words(use.law):
        add(
            "law-changed",
            f"{use.id} cites {use.law or 'no law'} (was {before.law or 'no law'})",
            "the legal obligation it rests on changed (Art. 6(1)(c), 6(3))",
            before.law,
            use.law,
        )
    if before.special_category_condition != use.special_category_condition:
        add(
            "art9-condition-changed",
            f"the Art. 9(2) condition of {use.id} is "
            f"{use.special_category_condition or 'none'} "
            f"(was {before.special_category_condition or 'none'})",
            "special categories are processed on a different Art. 9(2) condition",
            before.special_category_condition,
            use.special_category_condition,
        )
    new_subjects = [s for s in use.data_subjects if s not in before.data_subjects]
    gone_subjects = [s for s in before.data_subjects if s not in use.data_subjects]
    if new_subjects or gone_subjects:
        add(
            "data-subjects-changed",
            f"{use.id} concerns {_ids(use.data_subjects)} (was {_ids(before.data_subjects)})",
            "new categories of data subjects (Art. 30(1)(c))" if new_subjects else None,
            list(before.data_subjects),
            list(use.data_subjects),
        )
    had = old.index.use_fields[use.id]
    has = new.index.use_fields[use.id]
    gained = _ordered(has - had, new.index.fields)
    lost = _ordered(had - has, old.index.fields)
    if gained or lost:
        parts = ([f"now also uses {', '.join(gained)}"] if gained else []) + (
            [f"no longer uses {', '.join(lost)}"] if lost else []
        )
        add(
            "fields-changed",
            f"{use.id} " + "; ".join(parts),
            "the purpose processes more data (Art. 5(1)(b)-(c))" if gained else None,
            _ordered(had, old.index.fields),
            _ordered(has, new.index.fields),
        )
    if before.automated_decision_making != use.automated_decision_making:
        add(
            "automated-decisions-changed",
            f"{use.id} "
            + (
                "now makes decisions by automated means alone"
                if use.automated_decision_making
                else "no longer makes decisions by automated means alone"
            ),
            "automated decisions with legal or similar effects (Art. 22, 13(2)(f))"
            if use.automated_decision_making
            else None,
            before.automated_decision_making,
            use.automated_decision_making,
        )
    if before.consent_valid_for != use.consent_valid_for:
        add(
            "consent-validity-changed",
            f"one consent to {use.id} lasts {use.consent_valid_for or 'without a limit'} "
            f"(was {before.consent_valid_for or 'without a limit'})",
            None,
            before.consent_valid_for,
            use.consent_valid_for,
        )
    if set(before.serves) != set(use.serves):
        add(
            "goals-changed",
            f"{use.id} serves {_ids(use.serves)} (was {_ids(before.serves)})",
            None,
            list(before.serves),
            list(use.serves),
        )
    return out
