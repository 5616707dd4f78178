"""Review a strategy change through what is compiled from it: the access policy, the privacy
notice, the record of processing, the database tables and the DPIA screening.

:mod:`governance.diff` calls these; each returns the :class:`~governance.diff_models.Change`\\ s
of its section.
"""

from __future__ import annotations

import json
import tempfile
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Final

from sqlalchemy import MetaData
from sqlalchemy.exc import SQLAlchemyError

from access_policy import Decision, Policy, compile_policy
from governance.diff_models import Change, Section
from kernel.db import make_engine
from kernel.errors import TietotieError
from records.migrations import Step, plan_upgrade, upgrade
from schemas.dpia import MISSING, REVIEW_DUE, UseScreening, screen
from schemas.enums import Category, LegalBasis, UseKind
from schemas.models import Condition, Strategy
from schemas.ropa import CSV_COLUMNS, build_ropa, ropa_rows
from schemas.tables import build_tables, new_metadata

__all__ = [
    "access_changes",
    "dpia_changes",
    "migration_changes",
    "notice_changes",
    "notice_facts",
    "ropa_changes",
]

_RANK: Final = {Decision.DENY: 0, Decision.MASK: 1, Decision.ALLOW: 2}
_SEEN: Final = {Decision.DENY: "denied", Decision.MASK: "seen masked", Decision.ALLOW: "read"}


def _ids(items: list[str] | set[str] | tuple[str, ...]) -> str:
    return ", ".join(items) if items else "none"


def _words(text: str | None) -> str:
    return " ".join((text or "").split())


# ── access ───────────────────────────────────────────────────────────────────────────────────


def _condition(c: Condition) -> str:
    return f"{c.field} {c.op.value} {json.dumps(c.value, default=str, ensure_ascii=False)}"


def _held(policy: Policy, strategy: Strategy) -> list[tuple[str, str]]:
    return [(r, u) for r in policy.roles for u in policy.uses if policy.holds(r, u)]


def access_changes(old: Strategy, new: Strategy) -> list[Change]:
    """Grants widened or narrowed, compared on the compiled policies (role × use × field), and
    duties given or taken away."""
    before, after = compile_policy(old), compile_policy(new)
    pairs = _held(after, new) + [p for p in _held(before, old) if not after.holds(*p)]
    out: list[Change] = []
    for role, use in pairs:
        change = _grant_change(before, after, role, use)
        if change is not None:
            out.append(change)
    out.extend(_duties(old, new))
    return out


def _grant_change(before: Policy, after: Policy, role: str, use: str) -> Change | None:
    had, has = before.holds(role, use), after.holds(role, use)
    seen_before = before.visible(role, use) if had else {}
    seen_now = after.visible(role, use) if has else {}
    order = list(after.use_fields(use)) + [
        f for f in before.use_fields(use) if f not in after.use_fields(use)
    ]
    # A field NEW no longer holds is denied to everyone: said once, under Fields, not per role.
    held = set(after.fields)
    order = [f for f in order if f in held]
    moves: dict[tuple[Decision, Decision], list[str]] = defaultdict(list)
    for ref in order:
        a, b = seen_before.get(ref, Decision.DENY), seen_now.get(ref, Decision.DENY)
        if a is not b:
            moves[(a, b)].append(ref)
    wider: list[str] = []
    narrower: list[str] = []
    for (a, b), refs in moves.items():
        words = f"{_SEEN[b]} (was {_SEEN[a]}): {', '.join(refs)}"
        (wider if _RANK[b] > _RANK[a] else narrower).append(words)
    wrote = before.writable(role, use) if had else frozenset()
    writes = after.writable(role, use) if has else frozenset()
    wrote = wrote & held
    if writes - wrote:
        wider.append(f"may now write {', '.join(f for f in order if f in writes - wrote)}")
    if wrote - writes:
        narrower.append(f"may no longer write {', '.join(f for f in order if f in wrote - writes)}")
    rows_before = {_condition(c) for c in before.row_filters(role, use)} if had else set()
    rows_now = {_condition(c) for c in after.row_filters(role, use)} if has else set()
    if had and has and rows_before != rows_now:
        if rows_now < rows_before:
            gone = "; ".join(sorted(rows_before - rows_now))
            wider.append(
                f"sees every row (the row filter {gone} is gone)"
                if not rows_now
                else f"fewer row conditions (dropped: {gone})"
            )
        elif rows_now > rows_before:
            narrower.append(f"rows also limited by {'; '.join(sorted(rows_now - rows_before))}")
        else:
            wider.append(
                f"row filter {'; '.join(sorted(rows_now))} "
                f"(was {'; '.join(sorted(rows_before))}): other rows may now be seen"
            )
    if has and not had:
        limit = "; ".join(sorted(rows_now)) or "every row"
        lead = f"role {role} now holds {use} (rows: {limit})"
    elif had and not has:
        lead = f"role {role} no longer holds {use}"
    else:
        lead = f"role {role} for {use}"
    if not wider and not narrower and had == has:
        return None
    parts = "; ".join(wider + narrower)
    return Change(
        Section.ACCESS,
        f"{role}/{use}",
        "widened" if wider else "narrowed",
        lead + (f": {parts}" if parts else ""),
        "wider access to personal data: check the role needs it for the purpose "
        "(Art. 5(1)(c), 25(2), 32(4))"
        if wider
        else None,
        {"holds": had, "fields": {f: d.value for f, d in seen_before.items()}},
        {"holds": has, "fields": {f: d.value for f, d in seen_now.items()}},
    )


def _duties(old: Strategy, new: Strategy) -> list[Change]:
    out: list[Change] = []
    before = old.index.roles
    for role in new.roles:
        was = before.get(role.id)
        had = set(was.duties) if was else set()
        gained = [d.value for d in role.duties if d not in had]
        lost = sorted(d.value for d in had - set(role.duties))
        domains = [
            d
            for d in role.pseudonymise_domains
            if d not in (was.pseudonymise_domains if was else [])
        ]
        parts = []
        if gained:
            parts.append(f"gains the duties {', '.join(gained)}")
        if domains:
            parts.append(f"may compute tokens of {', '.join(domains)}")
        if lost:
            parts.append(f"loses the duties {', '.join(lost)}")
        if was is None:
            out.append(
                Change(
                    Section.ACCESS,
                    role.id,
                    "role-added",
                    f"new role {role.id}" + (f": {'; '.join(parts)}" if parts else ""),
                    "a new role with duties over people's data and requests (Art. 24, 32(4))"
                    if gained
                    else None,
                )
            )
        elif parts:
            out.append(
                Change(
                    Section.ACCESS,
                    role.id,
                    "duties-widened" if gained or domains else "duties-narrowed",
                    f"role {role.id} " + "; ".join(parts),
                    "more power over people's data: re-identifying, recording consent, reading "
                    "the audit log or handling requests (Art. 32(4))"
                    if gained or domains
                    else None,
                    sorted(d.value for d in had),
                    sorted(d.value for d in role.duties),
                )
            )
    for role in old.roles:
        if role.id not in new.index.roles:
            out.append(
                Change(
                    Section.ACCESS,
                    role.id,
                    "role-removed",
                    f"role {role.id} is removed; its staff tokens stop working",
                )
            )
    return out


# ── the privacy notice ───────────────────────────────────────────────────────────────────────


def notice_facts(strategy: Strategy) -> dict[str, str]:
    """What the Art. 13/14 notice must say, as "topic → what it says": the controller and its
    contacts, and per purpose its description, legal basis, data categories, retention,
    recipients, automated decisions and right to object; per category, the channels it comes
    through (Art. 14(2)(f)). The same facts the privacy center's notice is built from."""
    index = strategy.index
    c = strategy.controller
    facts = {
        "the controller and its contacts": " | ".join(
            _words(x) for x in (c.name, c.business_id, c.address, c.email, c.dpo, c.jurisdiction)
        )
    }
    for use in strategy.uses:
        refs = index.use_fields.get(use.id, frozenset())
        categories = sorted({index.fields[r].category.value for r in refs} - {"non_personal"})
        recipients = [index.processors[p] for p in use.recipients if p in index.processors]
        objectable = use.kind is UseKind.DIRECT_MARKETING or use.legal_basis in {
            LegalBasis.LEGITIMATE_INTERESTS,
            LegalBasis.PUBLIC_TASK,
        }
        facts |= {
            f"the purpose {use.id}": _words(use.description),
            f"the legal basis of {use.id}": " | ".join(
                [use.legal_basis.value, _words(use.legitimate_interest_assessment), _words(use.law)]
            ),
            f"the data categories of {use.id}": ", ".join(categories),
            f"the retention of {use.id}": use.retention or "",
            f"the recipients of {use.id}": "; ".join(
                f"{p.name} ({p.country.upper()}, {p.transfer_safeguard or 'EEA'})"
                for p in recipients
            ),
            f"automated decisions in {use.id}": "yes" if use.automated_decision_making else "no",
            f"the right to object to {use.id}": "yes" if objectable else "no",
        }
    channels: dict[str, set[str]] = defaultdict(set)
    for source in strategy.sources:
        for ref in index.expand(source.collects):
            category = index.fields[ref].category
            if category is not Category.NON_PERSONAL:
                channels[category.value].add(source.channel.value)
    for kind, used in sorted(channels.items()):
        facts[f"where {kind} data comes from"] = ", ".join(sorted(used))
    return facts


def notice_changes(old: Strategy, new: Strategy) -> list[Change]:
    """The notice version that must change: a change in what the notice must say while a
    source still shows a notice id OLD showed is a finding."""
    was, now = notice_facts(old), notice_facts(new)
    topics = [k for k in [*now, *(k for k in was if k not in now)] if was.get(k) != now.get(k)]
    old_ids = sorted({s.notice for s in old.sources if s.notice})
    new_ids = sorted({s.notice for s in new.sources if s.notice})
    out: list[Change] = []
    if topics:
        said = {k: was.get(k) for k in topics}
        says = {k: now.get(k) for k in topics}
        stale: dict[str, list[str]] = defaultdict(list)
        for source in new.sources:
            if source.notice and source.notice in old_ids:
                stale[source.notice].append(source.id)
        for notice, sources in stale.items():
            out.append(
                Change(
                    Section.NOTICE,
                    notice,
                    "must-change",
                    f"what the privacy notice must say changed ({'; '.join(topics)}), but "
                    f"{', '.join(sources)} still show notice {notice}: publish the new notice "
                    "under a new id and name it in those sources' `notice`",
                    "people would be shown a notice version that no longer says what is done "
                    "with their data (Art. 12(1), 13, 14)",
                    said,
                    says,
                )
            )
        if not stale:
            out.append(
                Change(
                    Section.NOTICE,
                    _ids(new_ids),
                    "new-version" if new_ids else "no-version",
                    (
                        f"the notice version changes to {_ids(new_ids)} (was {_ids(old_ids)}); "
                        f"the new notice must say what changed: {'; '.join(topics)}"
                    )
                    if new_ids
                    else f"what the notice must say changed ({'; '.join(topics)}) and no "
                    "source names a notice version",
                    None if new_ids else "no notice version is shown to people (Art. 13, 14)",
                    said,
                    says,
                )
            )
    elif old_ids != new_ids:
        out.append(
            Change(
                Section.NOTICE,
                _ids(new_ids),
                "renamed",
                f"the notice version changes to {_ids(new_ids)} (was {_ids(old_ids)}), though "
                "nothing the notice must say changed",
                None,
                old_ids,
                new_ids,
            )
        )
    before = old.index.sources
    for source in new.sources:
        if source.notice:
            continue
        personal = [
            r
            for r in new.index.expand(source.collects)
            if new.index.fields[r].category is not Category.NON_PERSONAL
        ]
        was_source = before.get(source.id)
        if (personal or source.consent_for) and (was_source is None or was_source.notice):
            out.append(
                Change(
                    Section.NOTICE,
                    source.id,
                    "no-notice",
                    f"source {source.id} collects {_ids(personal)} but names no notice version",
                    "people must be told at collection what is done with their data (Art. 13)",
                    was_source.notice if was_source else None,
                    None,
                )
            )
    return out


# ── the record of processing ─────────────────────────────────────────────────────────────────


def ropa_changes(old: Strategy, new: Strategy) -> list[Change]:
    """The rows of ``ropa.csv`` (Art. 30) that are added, removed or changed, column by column."""
    was = {r["activity"]: r for r in ropa_rows(build_ropa(old))}
    now = {r["activity"]: r for r in ropa_rows(build_ropa(new))}
    out: list[Change] = []
    for activity, row in now.items():
        before = was.get(activity)
        if before is None:
            out.append(
                Change(
                    Section.ROPA,
                    activity,
                    "row-added",
                    f"a new RoPA row: {activity}",
                    None,
                    None,
                    row,
                )
            )
            continue
        columns = [c for c in CSV_COLUMNS if before[c] != row[c]]
        if columns:
            out.append(
                Change(
                    Section.ROPA,
                    activity,
                    "row-changed",
                    f"RoPA row {activity}: {', '.join(columns)}",
                    None,
                    {c: before[c] for c in columns},
                    {c: row[c] for c in columns},
                )
            )
    for activity, row in was.items():
        if activity not in now:
            out.append(
                Change(
                    Section.ROPA,
                    activity,
                    "row-removed",
                    f"RoPA row {activity} goes",
                    None,
                    row,
                    None,
                )
            )
    return out


# ── the database ─────────────────────────────────────────────────────────────────────────────


def _tables(strategy: Strategy) -> MetaData:
    # Only the entity tables depend on the strategy; every service table is the same on both
    # sides, so it cannot add a step.
    metadata = new_metadata()
    build_tables(strategy, metadata)
    return metadata


def _column(step: Step) -> str | None:
    if not step.kind.endswith("column"):
        return None
    return step.detail.split(":", 1)[0].split(" ", 1)[0]


def _step_item(step: Step) -> str:
    column = _column(step)
    return f"{step.table}.{column}" if column else step.table


def _step_summary(step: Step) -> str:
    column = _column(step)
    if column:  # "drop column vehicle.model_year: its values …", "add column customer.x DATE"
        return f"{step.kind} {step.table}.{step.detail}"
    return f"{step.kind} {step.table}" + (f": {step.detail}" if step.detail else "")


def migration_changes(old: Strategy, new: Strategy) -> list[Change]:
    """The steps of the migration from OLD's tables to NEW's, planned by the same code as
    ``tietotie db upgrade`` against a temporary SQLite database created from OLD."""
    try:
        with tempfile.TemporaryDirectory(prefix="tietotie-diff-") as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'old.db'}")
            try:
                upgrade(engine, _tables(old))
                plan = plan_upgrade(engine, _tables(new))
            finally:
                engine.dispose()
    except (TietotieError, SQLAlchemyError, KeyError, ValueError) as exc:
        return [
            Change(
                Section.MIGRATION,
                "database",
                "not-planned",
                f"the migration could not be planned: {exc}",
                "an unknown database change: run `tietotie db upgrade --dry-run` on a copy of "
                "the database and review it",
            )
        ]
    return [
        Change(
            Section.MIGRATION,
            _step_item(step),
            step.kind.replace(" ", "-"),
            _step_summary(step),
            "a destructive step: the data it drops is lost for good, including data people "
            "may ask for (Art. 15) or the law requires to be kept; back up the database first "
            "(`tietotie db upgrade` refuses it without --allow-destructive)"
            if step.destructive
            else None,
        )
        for step in plan.steps
    ]


# ── the DPIA screening ───────────────────────────────────────────────────────────────────────


_PROBLEM: Final = {
    MISSING: "no DPIA is declared",
    REVIEW_DUE: "its DPIA is past its review date",
}


def _verdict(
    use: str,
    was: UseScreening | None,
    now: UseScreening,
    *,
    added: list[str],
    dropped: list[str],
    shown: str,
) -> tuple[str, str, str | None] | None:
    """What changed in one use's screening: (kind, summary, why it needs sign-off), or None."""
    was_required = was is not None and was.required
    if now.required and not was_required:
        why = (
            "a DPIA is required before the processing starts (Art. 35(1)), with the DPO's "
            "advice (Art. 35(2))"
        )
        return "now-required", f"{use} now needs a DPIA ({shown})", why
    if was_required and not now.required:
        return "no-longer-required", f"{use} no longer needs a DPIA ({shown})", None
    if now.required and added:
        why = "the DPIA must be reviewed for the new risk (Art. 35(11))"
        return "criteria-added", f"{use} meets more DPIA criteria ({shown})", why
    if now.problem and (was is None or was.problem != now.problem):
        why = "a required DPIA is missing or past its review (Art. 35(1), 35(11))"
        return "problem", f"{use}: {_PROBLEM.get(now.problem, now.problem)} ({shown})", why
    if added or dropped:
        return "criteria-changed", f"{use}: DPIA {shown}", None
    before_ref = was.declared.ref if was is not None and was.declared else None
    after_ref = now.declared.ref if now.declared else None
    if before_ref != after_ref:
        return (
            "declared",
            f"{use} declares DPIA {after_ref or 'none'} (was {before_ref or 'none'})",
            None,
        )
    return None


def dpia_changes(old: Strategy, new: Strategy, *, today: date | None = None) -> list[Change]:
    """Uses whose DPIA screening (Art. 35, :func:`schemas.dpia.screen`) changed verdict,
    criteria, problem or declared DPIA."""
    before = {s.use: s for s in screen(old, today=today)}
    out: list[Change] = []
    for now in screen(new, today=today):
        was = before.get(now.use)
        old_criteria = list(was.criteria) if was is not None else []
        added = [c for c in now.criteria if c not in old_criteria]
        dropped = [c for c in old_criteria if c not in now.criteria]
        shown = f"criteria: {_ids(now.criteria)}"
        if added:
            shown += f"; added {', '.join(added)}"
        if dropped:
            shown += f"; dropped {', '.join(dropped)}"
        if now.declared is not None:
            shown += f"; DPIA {now.declared.ref}"
        verdict = _verdict(now.use, was, now, added=added, dropped=dropped, shown=shown)
        if verdict is None:
            continue
        kind, summary, why = verdict
        out.append(
            Change(
                Section.DPIA,
                now.use,
                kind,
                summary,
                why,
                {"required": was is not None and was.required, "criteria": old_criteria},
                {"required": now.required, "criteria": list(now.criteria)},
            )
        )
    return out
