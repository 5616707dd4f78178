"""The access matrix (role × use × field → read, write) as CSV, JSON and Markdown."""

from __future__ import annotations

import csv
import io
import json
from enum import StrEnum
from pathlib import Path
from typing import Any

from access_policy.service import Policy

__all__ = ["MatrixFormat", "export_matrix", "matrix_document", "write_matrix"]


class MatrixFormat(StrEnum):
    """The formats the access matrix is written in."""

    CSV = "csv"
    JSON = "json"
    MD = "md"


_HEADER = ("role", "use", "field", "read", "write")


def matrix_document(policy: Policy) -> dict[str, Any]:
    """The matrix as a JSON-ready document: rows, row filters, and the default (deny)."""
    filters = []
    for role in policy.roles:
        for use in policy.held_uses(role):
            conditions = policy.row_filters(role, use)
            if conditions:
                filters.append(
                    {
                        "role": role,
                        "use": use,
                        "conditions": [c.model_dump(mode="json") for c in conditions],
                    }
                )
    return {
        "default": "deny",
        "roles": list(policy.roles),
        "uses": list(policy.uses),
        "rows": [
            row._asdict() | {"read": str(row.read), "write": str(row.write)}
            for row in policy.matrix_rows()
        ],
        "row_filters": filters,
    }


def export_matrix(policy: Policy, fmt: MatrixFormat | str) -> str:
    """The access matrix in ``fmt`` (csv | json | md); every cell not listed is deny."""
    try:
        kind = MatrixFormat(fmt)
    except ValueError:
        raise ValueError(
            f"unknown matrix format {fmt!r}: use one of {', '.join(MatrixFormat)}"
        ) from None
    if kind is MatrixFormat.JSON:
        return json.dumps(matrix_document(policy), indent=2, ensure_ascii=False) + "\n"
    if kind is MatrixFormat.CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(_HEADER)
        writer.writerows(policy.matrix_rows())
        return buffer.getvalue()
    return _markdown(policy)


def write_matrix(policy: Policy, out: Path, *, stem: str = "access-matrix") -> list[Path]:
    """Write ``<stem>.csv``, ``<stem>.json`` and ``<stem>.md`` into ``out``; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in MatrixFormat:
        path = out / f"{stem}.{fmt.value}"
        path.write_text(export_matrix(policy, fmt), encoding="utf-8")
        written.append(path)
    return written


def _markdown(policy: Policy) -> str:
    lines = [
        "# Access matrix",
        "",
        "Who may read, see masked, or write which field, for which use. Anything not listed "
        "here is denied.",
        "",
    ]
    for role in policy.roles:
        uses = policy.held_uses(role)
        lines += [f"## {role}", ""]
        if not uses:
            lines += ["Holds no use: every field is denied.", ""]
            continue
        for use in uses:
            lines += [f"### {role} for {use}", ""]
            conditions = policy.row_filters(role, use)
            if conditions:
                said = "; ".join(f"`{c.field} {c.op} {c.value}`" for c in conditions)
                lines += [f"Only rows where {said}.", ""]
            lines += ["| field | read | write |", "|---|---|---|"]
            for row in policy.matrix_rows_for(role, use):
                lines.append(f"| `{row.field}` | {row.read} | {row.write} |")
            lines.append("")
    return "\n".join(lines)
