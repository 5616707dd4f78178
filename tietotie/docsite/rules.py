"""The validation rules page: a section per rule of ``schemas.rules.RULES``, anchored by id.

The sections live in the repository file ``docs/guides/validation-rules.md`` (below its
marker), so the link ``tietotie validate`` prints works in a checkout as well as on the built
site. ``python -m tietotie.docsite.rules`` rewrites them after a rule or an example changes;
a test fails while the file and the table disagree.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path

from schemas import RULES, Rule
from tietotie.docsite.md import code, esc

__all__ = ["GENERATED_MARKER", "RULES_PAGE", "rules_markdown", "rules_page"]

RULES_PAGE = Path("docs/guides/validation-rules.md")
"""The page, relative to the repository root (what the CLI's hints link to)."""
GENERATED_MARKER = (
    "<!-- generated from schemas/rules.py and schemas/rule_examples.py by "
    "`python -m tietotie.docsite.rules`: edit those, not the text below -->"
)


def _text(text: str) -> str:
    """Our own prose as Markdown: escaped like YAML text, but with ``<`` and ``>`` as entities
    (Python-Markdown has no backslash escape for ``<``, so ``\\<`` would show its backslash)."""
    return esc(text).replace("\\<", "&lt;").replace("\\>", "&gt;")


_QUOTED = re.compile(r"'([^'\s]+)'")


def _title(text: str) -> str:
    """A rule's title, a quoted token in it (``'<<'``) as inline code."""
    parts = _QUOTED.split(text)
    return "".join(code(p) if i % 2 else _spaced(p) for i, p in enumerate(parts))


def _spaced(text: str) -> str:
    """:func:`_text`, keeping the spaces at either end (they part it from inline code)."""
    before = " " if text[:1].isspace() else ""
    after = " " if text[-1:].isspace() else ""
    return before + _text(text) + after if text.strip() else text


def _snippet(text: str) -> list[str]:
    """An example as a fenced block (YAML or a command line), or as a sentence."""
    if text.startswith("#"):
        return ["```yaml", text.rstrip("\n"), "```"]
    if text.startswith("$"):
        return ["```console", text.rstrip("\n"), "```"]
    return [_text(text)]


def rules_markdown(rules: Mapping[str, Rule]) -> str:
    """A summary table and a section per rule; ``tietotie validate`` links to ``#<rule-id>``."""
    out = ["| rule | severity | what it finds |", "|---|---|---|"]
    for rule in rules.values():
        out.append(f"| [{code(rule.id)}](#{rule.id}) | {rule.severity} | {_title(rule.title)} |")
    out.append("")
    for rule in rules.values():
        out += [f"## {rule.id} {{ #{rule.id} }}", "", f"**{_title(rule.title)}.**", ""]
        facts = [
            f"Severity: **{rule.severity}**"
            + (
                " (exits non-zero)"
                if str(rule.severity) == "error"
                else " (reported, exit code unaffected)"
            )
        ]
        if rule.article:
            facts.append(f"GDPR: {_text(rule.article)}")
        out += ["  \n".join(facts), "", f"**What to do:** {_text(rule.hint)}", ""]
        out += ["The mistake:", "", *_snippet(rule.example.mistake), ""]
        out += ["The fix:", "", *_snippet(rule.example.fix), ""]
        out += [
            f"Find it in a run: `tietotie validate --format json` lists it as "
            f"{code(chr(34) + 'rule' + chr(34) + ': ' + chr(34) + rule.id + chr(34))}.",
            "",
        ]
    return "\n".join(out)


def rules_page(current: str, rules: Mapping[str, Rule] = RULES) -> str:
    """The page's text with everything below :data:`GENERATED_MARKER` generated afresh."""
    head, found, _ = current.partition(GENERATED_MARKER)
    if not found:
        raise ValueError(f"{RULES_PAGE} has lost its marker line: {GENERATED_MARKER}")
    return f"{head}{GENERATED_MARKER}\n\n{rules_markdown(rules)}"


def main(root: Path = Path()) -> int:
    """Rewrite the generated part of the page; say whether it changed."""
    path = root / RULES_PAGE
    before = path.read_text(encoding="utf-8")
    after = rules_page(before)
    if after != before:
        path.write_text(after, encoding="utf-8")
    print(f"{path}: {'rewritten' if after != before else 'up to date'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
