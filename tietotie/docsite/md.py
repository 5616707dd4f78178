"""Small helpers that write safe Markdown: escaped text, tables and links between pages."""

from __future__ import annotations

import html
import posixpath
import re
from collections.abc import Iterable, Sequence

__all__ = ["code", "esc", "heading", "link", "props", "rel", "table"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}|#+!~<>])")
_LIST_START = re.compile(r"^(\s*\d+)([.)])", re.MULTILINE)


def esc(text: object) -> str:
    """Text from the strategy as literal Markdown: no markup, no HTML, one line."""
    raw = " ".join(str(text).split())
    raw = html.escape(raw, quote=False)
    raw = _MD_SPECIAL.sub(r"\\\1", raw).replace("&lt;", "\\<").replace("&gt;", "\\>")
    # "7. marraskuuta" at the start of a paragraph must not become a numbered list
    return _LIST_START.sub(r"\1\\\2", raw)


def code(text: object) -> str:
    """An id or field reference as inline code."""
    raw = str(text).replace("`", "'")
    return f"`{raw}`"


def heading(level: int, text: str, anchor: str) -> str:
    """A heading with an explicit anchor (attr_list), so links never depend on slugging."""
    return f"{'#' * level} {text} {{ #{anchor} }}"


def rel(from_page: str, to_page: str, anchor: str = "") -> str:
    """The Markdown link target from one docs-relative page to another (``a/b.md#x``)."""
    if from_page == to_page:
        target = ""
    else:
        target = posixpath.relpath(to_page, posixpath.dirname(from_page) or ".")
    return f"{target}#{anchor}" if anchor else target


def link(text: str, target: str) -> str:
    """A Markdown link; ``text`` is used as given (escape it first if it comes from YAML)."""
    return f"[{text}]({target})"


def _cell(value: str) -> str:
    return value.replace("\n", " ")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table; cells are Markdown already (escape YAML text with :func:`esc`)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(c) or " " for c in row) + " |")
    return "\n".join(lines)


def props(rows: Iterable[tuple[str, str]]) -> str:
    """A key/value table without a header row; pairs with an empty value are left out."""
    body = table(["", ""], [(f"**{k}**", v) for k, v in rows if v])
    return f'<div class="tt-props" markdown>\n\n{body}\n\n</div>'
