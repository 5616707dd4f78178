"""The validation rules page: a section per rule of ``schemas.rules.RULES``, anchored by id."""

from __future__ import annotations

from collections.abc import Mapping

from schemas import Rule
from tietotie.docsite.md import code, esc

__all__ = ["rules_markdown"]


def rules_markdown(rules: Mapping[str, Rule]) -> str:
    """A summary table and a section per rule; ``tietotie validate`` links to ``#<rule-id>``."""
    out = ["| rule | severity | what it finds |", "|---|---|---|"]
    for rule in rules.values():
        out.append(f"| [{code(rule.id)}](#{rule.id}) | {rule.severity} | {esc(rule.title)} |")
    out.append("")
    for rule in rules.values():
        out += [f"## {rule.id} {{ #{rule.id} }}", "", f"**{esc(rule.title)}.**", ""]
        facts = [
            f"Severity: **{rule.severity}**"
            + (
                " (exits non-zero)"
                if str(rule.severity) == "error"
                else " (reported, exit code unaffected)"
            )
        ]
        if rule.article:
            facts.append(f"GDPR: {esc(rule.article)}")
        out += ["  \n".join(facts), "", f"**What to do:** {esc(rule.hint)}", ""]
        out += [
            f"Find it in a run: `tietotie validate --format json` lists it as "
            f"{code(chr(34) + 'rule' + chr(34) + ': ' + chr(34) + rule.id + chr(34))}.",
            "",
        ]
    return "\n".join(out)
