"""Review a strategy change, part two: consent, recipients and transfers, retention.

Where people's data goes and for how long, and whether the consents already given still cover
it. :func:`governance.diff.compare` calls these.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Final

from governance.diff_models import Change, Section
from schemas.checks import EEA
from schemas.enums import LegalBasis
from schemas.models import Processor, Strategy
from schemas.primitives import parse_duration
from schemas.tables import field_retention

__all__ = ["consent_changes", "recipient_changes", "retention_changes"]

_ANCHOR: Final = date(2000, 1, 1)


def _ids(items: Iterable[str]) -> str:
    listed = list(items)
    return ", ".join(listed) if listed else "none"


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


def _ordered(refs: Iterable[str], order: Iterable[str]) -> list[str]:
    wanted = set(refs)
    return [r for r in order if r in wanted]


def _length(duration: str | None) -> date | None:
    return None if duration is None else _ANCHOR + parse_duration(duration)


def _retention_word(duration: str | None) -> str:
    return duration or "no limit declared"


def _outside(processor: Processor) -> bool:
    return processor.country.upper() not in EEA


def _where(processor: Processor) -> str:
    if not _outside(processor):
        return processor.country
    safeguard = processor.transfer_safeguard
    shown = safeguard.value.replace("_", " ") if safeguard else "no safeguard declared"
    return f"{processor.country}, outside the EEA: {shown}"


# ── consent ──────────────────────────────────────────────────────────────────────────────────


def consent_changes(old: Strategy, new: Strategy) -> list[Change]:
    """Consent-based uses of NEW that the consents recorded under OLD no longer cover."""
    oi, ni = old.index, new.index
    out: list[Change] = []
    for use in new.uses:
        if use.legal_basis is not LegalBasis.CONSENT:
            continue
        askers = [s.id for s in new.sources if use.id in s.consent_for]
        before = oi.uses.get(use.id)
        if before is None:
            out.append(
                Change(
                    Section.CONSENT,
                    use.id,
                    "consent-needed",
                    f"new consent-based use {use.id}: nobody has consented to it yet; sources "
                    f"that can ask: {_ids(askers)}",
                )
            )
            continue
        reasons: list[str] = []
        if before.legal_basis is not LegalBasis.CONSENT:
            reasons.append(f"it rested on {before.legal_basis.value}, so nobody has consented")
        else:
            if _words(before.description) != _words(use.description):
                reasons.append("its purpose as told to people changed")
            if before.kind is not use.kind:
                reasons.append(f"it became {use.kind.value} (was {before.kind.value})")
            gained = _ordered(ni.use_fields[use.id] - oi.use_fields[use.id], ni.fields)
            if gained:
                reasons.append(f"it now also uses {', '.join(gained)}")
            if use.automated_decision_making and not before.automated_decision_making:
                reasons.append("it now makes automated decisions")
            sent = [
                ni.processors[p]
                for p in use.recipients
                if p in ni.processors and p not in before.recipients
            ]
            abroad = [p for p in sent if _outside(p)]
            if abroad:
                reasons.append(
                    "its data now goes outside the EEA, to "
                    + ", ".join(f"{p.id} ({p.country})" for p in abroad)
                )
        if before.legal_basis is not LegalBasis.CONSENT:
            why = (
                f"consent must be given before the data is used on it (Art. 6(1)(a), 7(1)) and "
                f"nobody has given it yet: ask first (sources that can: {_ids(askers)})"
            )
        else:
            why = (
                "consent covers only what people were told when they gave it (Art. 4(11), "
                f"7(1)): consents recorded for {use.id} before this change must not be "
                f"relied on for the changed use. Ask again (sources that can: "
                f"{_ids(askers)}), or declare the changed purpose under a new use id so "
                "its consents start from none"
            )
        if reasons:
            out.append(
                Change(
                    Section.CONSENT,
                    use.id,
                    "new-consent",
                    f"consent-based use {use.id} needs new consent: {'; '.join(reasons)}",
                    why,
                    _words(before.description),
                    _words(use.description),
                )
            )
    return out


# ── recipients and transfers ─────────────────────────────────────────────────────────────────


def recipient_changes(old: Strategy, new: Strategy) -> list[Change]:
    oi, ni = old.index, new.index
    out: list[Change] = []
    had: dict[str, list[str]] = defaultdict(list)
    has: dict[str, list[str]] = defaultdict(list)
    for use in old.uses:
        for pid in use.recipients:
            had[pid].append(use.id)
    for use in new.uses:
        for pid in use.recipients:
            has[pid].append(use.id)
    for pid, processor in ni.processors.items():
        gained = [u for u in has.get(pid, []) if u not in had.get(pid, [])]
        before = oi.processors.get(pid)
        if gained:
            abroad = _outside(processor)
            newly_abroad = abroad and (before is None or not _outside(before) or not had.get(pid))
            why = (
                f"a new recipient: an Art. 28(3) contract must be in place (signed: "
                f"{processor.dpa_signed or 'not declared'}) and the notice must name it "
                "(Art. 13(1)(e))"
            )
            if abroad:
                why += (
                    "; a transfer outside the EEA (Art. 44-49) on "
                    + (
                        processor.transfer_safeguard.value.replace("_", " ")
                        if processor.transfer_safeguard
                        else "no declared safeguard"
                    )
                    + " (Art. 13(1)(f))"
                )
            out.append(
                Change(
                    Section.RECIPIENTS,
                    pid,
                    "new-transfer" if newly_abroad else "new-recipient",
                    f"{processor.name} ({_where(processor)}) now receives the data of "
                    f"{', '.join(gained)}",
                    why,
                    had.get(pid, []),
                    has.get(pid, []),
                )
            )
        lost = [u for u in had.get(pid, []) if u not in has.get(pid, [])]
        if lost:
            out.append(
                Change(
                    Section.RECIPIENTS,
                    pid,
                    "no-longer-receives",
                    f"{processor.name} no longer receives the data of {', '.join(lost)}",
                    None,
                    had.get(pid, []),
                    has.get(pid, []),
                )
            )
        if before is not None:
            out.extend(_processor_changes(before, processor, receives=bool(has.get(pid))))
    for pid, processor in oi.processors.items():
        if pid not in ni.processors:
            out.append(
                Change(
                    Section.RECIPIENTS,
                    pid,
                    "removed",
                    f"processor {processor.name} ({processor.country}) is removed"
                    + (f"; it received the data of {', '.join(had[pid])}" if had.get(pid) else ""),
                )
            )
    return out


def _processor_changes(before: Processor, after: Processor, *, receives: bool) -> list[Change]:
    parts: list[str] = []
    why: list[str] = []
    if before.country.upper() != after.country.upper():
        parts.append(f"processes in {after.country} (was {before.country})")
        if _outside(after) and not _outside(before):
            why.append("the data now leaves the EEA (Art. 44-49, 13(1)(f))")
        else:
            why.append("the data is processed in another country (Art. 13(1)(f), 30(1)(e))")
    if before.transfer_safeguard != after.transfer_safeguard:
        parts.append(
            f"transfer safeguard {after.transfer_safeguard or 'none'} "
            f"(was {before.transfer_safeguard or 'none'})"
        )
        if _outside(after):
            why.append("the ground of a transfer outside the EEA changed (Art. 44-49)")
    if before.dpa_signed != after.dpa_signed:
        parts.append(
            f"processing agreement signed {after.dpa_signed or 'not declared'} "
            f"(was {before.dpa_signed or 'not declared'})"
        )
        if after.dpa_signed is None:
            why.append("no Art. 28(3) contract is declared any more")
    if before.name != after.name:
        parts.append(f"name {after.name!r} (was {before.name!r})")
    if not parts:
        return []
    return [
        Change(
            Section.RECIPIENTS,
            after.id,
            "changed",
            f"processor {after.id}: " + "; ".join(parts),
            "; ".join(why) if why and receives else None,
            before.model_dump(mode="json", exclude_defaults=True),
            after.model_dump(mode="json", exclude_defaults=True),
        )
    ]


# ── retention ────────────────────────────────────────────────────────────────────────────────


def _longer(old: str | None, new: str | None) -> bool:
    """Whether ``new`` keeps data longer than ``old`` (no declared limit is the longest)."""
    a, b = _length(old), _length(new)
    if b is None:
        return a is not None
    return a is not None and b > a


def retention_changes(old: Strategy, new: Strategy) -> list[Change]:
    oi, ni = old.index, new.index
    out: list[Change] = []
    longer_why = "data is kept longer (Art. 5(1)(e), 13(2)(a)): the DPO checks the need for it"
    for use in new.uses:
        before = oi.uses.get(use.id)
        if before is None or before.retention == use.retention:
            continue
        longer = _longer(before.retention, use.retention)
        out.append(
            Change(
                Section.RETENTION,
                use.id,
                "longer" if longer else "shorter",
                f"{use.id} keeps its data {_retention_word(use.retention)} "
                f"(was {_retention_word(before.retention)})"
                + ("" if longer else "; `tietotie retention run` erases what is past it"),
                longer_why if longer else None,
                before.retention,
                use.retention,
            )
        )
    for name, entity in ni.entities.items():
        was = oi.entities.get(name)
        if was is None or was.retention == entity.retention:
            continue
        longer = _longer(was.retention, entity.retention) and entity.retention is not None
        out.append(
            Change(
                Section.RETENTION,
                name,
                "entity-longer" if longer else "entity-changed",
                f"entity {name} declares retention {entity.retention or 'none'} "
                f"(was {was.retention or 'none'})",
                longer_why if longer else None,
                was.retention,
                entity.retention,
            )
        )
    # The effect, field by field, grouped by the change (one line for many fields).
    moved: dict[tuple[str | None, str | None], list[str]] = defaultdict(list)
    for ref in ni.fields:
        if ref not in oi.fields:
            continue
        a, b = field_retention(old, ref), field_retention(new, ref)
        if a != b:
            moved[(a, b)].append(ref)
    for (a, b), refs in moved.items():
        out.append(
            Change(
                Section.RETENTION,
                f"{a or 'none'}→{b or 'none'}",
                "fields-kept",
                f"kept {b or 'for no use'} (was {a or 'for no use'}): {', '.join(refs)}",
                None,
                a,
                b,
            )
        )
    return out
