"""A strategy review written out: Markdown for a pull request, JSON for tools."""

from __future__ import annotations

import json
from typing import Any, Final

from governance.diff_models import SECTION_TITLES, Change, Section, StrategyDiff

__all__ = ["to_json", "to_markdown"]

_INTRO: Final = {
    Section.MIGRATION: "Planned by the code of `tietotie db upgrade`, against a temporary SQLite "
    "database created from OLD's tables.",
    Section.ROPA: "The rows of `ropa.csv` (`tietotie compile`) that change; the changes that "
    "cause them are listed in the sections above.",
}


def _md(text: str) -> str:
    """``text`` safe inside Markdown prose: no stray emphasis or HTML (code spans are kept)."""
    for char, escaped in (("\\", "\\\\"), ("*", "\\*"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(char, escaped)
    return text


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return _md(" ".join(text.split())).replace("|", "\\|") or "(empty)"


def _bullet(change: Change, numbers: dict[str, int]) -> str:
    number = numbers.get(change.id)
    mark = f"**sign-off {number}** " if number is not None else ""
    return f"- {mark}{_md(change.summary)}"


def _ropa(change: Change) -> list[str]:
    lines = [f"- {_md(change.summary)}"]
    if change.kind != "row-changed":
        return lines
    old: dict[str, Any] = change.old or {}
    new: dict[str, Any] = change.new or {}
    lines += [
        "",
        "  <details><summary>old and new values</summary>",
        "",
        "  | column | OLD | NEW |",
        "  |---|---|---|",
        *(f"  | {c} | {_cell(old.get(c))} | {_cell(new.get(c))} |" for c in old),
        "",
        "  </details>",
        "",
    ]
    return lines


def _migration(changes: list[Change], numbers: dict[str, int]) -> list[str]:
    lines = ["| step | destructive |", "|---|---|"]
    for change in changes:
        number = numbers.get(change.id)
        lines.append(
            f"| {_cell(change.summary)} | "
            + (f"**yes** (sign-off {number})" if number is not None else "no")
            + " |"
        )
    return lines


def to_markdown(diff: StrategyDiff) -> str:
    """The review as Markdown for a pull request: the findings that need a sign-off first,
    then every section, each saying so when nothing in it changed."""
    signed = diff.needs_sign_off
    numbers = {c.id: i for i, c in enumerate(signed, start=1)}
    lines = [f"# Strategy review: `{diff.old_label}` → `{diff.new_label}`", ""]
    if signed:
        lines.append(
            f"**{len(signed)} finding{'s' * (len(signed) != 1)} need"
            f"{'s' * (len(signed) == 1)} the data protection officer's sign-off.**"
        )
    else:
        lines.append("**Nothing here needs the data protection officer's sign-off.**")
    lines.append("")
    for note in diff.notes:
        lines.append(f"> Note: {_md(note)}")
    if diff.notes:
        lines.append("")
    if signed:
        lines += ["## Needs the DPO's sign-off", ""]
        for i, change in enumerate(signed, start=1):
            title = SECTION_TITLES[change.section]
            lines.append(f"{i}. **{title}, {_md(change.item)}**: {_md(change.summary)}  ")
            lines.append(f"   Why: {_md(change.sign_off or '')} (`{change.id}`)")
        lines.append("")
    for section in Section:
        changes = diff.section(section)
        lines += [f"## {SECTION_TITLES[section]}", ""]
        if not changes:
            lines += ["No change.", ""]
            continue
        if section in _INTRO:
            lines += [_INTRO[section], ""]
        if section is Section.MIGRATION:
            lines += _migration(changes, numbers)
        elif section is Section.ROPA:
            for change in changes:
                lines += _ropa(change)
        else:
            lines += [_bullet(c, numbers) for c in changes]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def to_json(diff: StrategyDiff) -> str:
    """The review as a JSON document (:meth:`StrategyDiff.to_dict`)."""
    return json.dumps(diff.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
