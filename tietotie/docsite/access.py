"""The access matrix page, from the compiled policy: who may read, see masked or write what."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from access_policy import compile_policy
from access_policy.models import Decision, MatrixRow
from schemas import Strategy
from tietotie.docsite.context import Context, entity_page
from tietotie.docsite.md import code, heading, link, table
from tietotie.docsite.steps import condition_text

__all__ = ["AccessView", "access_page", "access_view", "roles_with_uses"]


@dataclass
class _Cell:
    read: set[str] = field(default_factory=set)
    masked: set[str] = field(default_factory=set)
    write: set[str] = field(default_factory=set)


@dataclass
class AccessView:
    """The policy's matrix rows folded by field and role: for which uses a role reads a field."""

    cells: dict[str, dict[str, _Cell]] = field(default_factory=dict)

    @classmethod
    def from_rows(cls, rows: Iterable[MatrixRow]) -> AccessView:
        """Fold ``Policy.matrix_rows()``; deny is the default and is not stored."""
        cells: dict[str, dict[str, _Cell]] = defaultdict(dict)
        for row in rows:
            cell = cells[row.field].setdefault(row.role, _Cell())
            if row.read is Decision.ALLOW:
                cell.read.add(row.use)
            elif row.read is Decision.MASK:
                cell.masked.add(row.use)
            if row.write is Decision.ALLOW:
                cell.write.add(row.use)
        return cls(dict(cells))

    def readers(self, ref: str) -> dict[str, set[str]]:
        """Role → uses for which it reads ``ref`` in clear."""
        return {r: c.read for r, c in self.cells.get(ref, {}).items() if c.read}

    def masked(self, ref: str) -> dict[str, set[str]]:
        """Role → uses for which it sees ``ref`` masked."""
        return {r: c.masked for r, c in self.cells.get(ref, {}).items() if c.masked}

    def writers(self, ref: str) -> dict[str, set[str]]:
        """Role → uses for which it may write ``ref``."""
        return {r: c.write for r, c in self.cells.get(ref, {}).items() if c.write}

    def cell(self, ref: str, role: str) -> _Cell:
        """What ``role`` may do with ``ref``, per use."""
        return self.cells.get(ref, {}).get(role, _Cell())


def access_view(strategy: Strategy) -> AccessView:
    """Compile the strategy's access policy and fold its matrix."""
    return AccessView.from_rows(compile_policy(strategy).matrix_rows())


def roles_with_uses(ctx: Context, by_role: dict[str, set[str]]) -> str:
    """Role links, each with the uses it holds the right for in its tooltip."""
    out = []
    for role in sorted(by_role):
        uses = ", ".join(sorted(by_role[role]))
        target = ctx.to("access", f"role-{role}")
        out.append(f'[{code(role)}]({target} "{uses}")')
    return ", ".join(out) if out else "–"


def _summary(ctx: Context, cell: _Cell) -> str:
    t = ctx.labels
    parts = []
    if cell.read:
        parts.append(t("dec.read"))
    elif cell.masked:
        parts.append(t("dec.masked"))
    if cell.read and cell.masked:
        parts.append(t("dec.masked_some"))
    if cell.write:
        parts.append(t("dec.write"))
    return ", ".join(parts) if parts else "–"


def access_page(ctx: Context, view: AccessView) -> str:
    """The access matrix: an overview role × field, then each role use by use."""
    s, t, index = ctx.strategy, ctx.labels, ctx.index
    roles = [r.id for r in s.roles]
    out = [
        "---",
        "hide:",
        "  - navigation",
        "---",
        "",
        f"# {t('access')}",
        "",
        t.intro("access"),
        "",
    ]
    out += [f"## {t('access_overview')} {{ #section-overview }}", ""]
    rows = []
    for ref in index.fields:
        entity, name = ref.split(".", 1)
        rows.append(
            [link(code(ref), ctx.to(entity_page(entity), name))]
            + [_summary(ctx, view.cell(ref, role)) for role in roles]
        )
    out.append(
        table([t("field")] + [link(code(r), ctx.to("access", f"role-{r}")) for r in roles], rows)
    )
    out.append("")
    grants_by_role: dict[str, list[str]] = defaultdict(list)
    rows_by_role_use: dict[tuple[str, str], list[str]] = {}
    for g in s.system.access:
        for use in g.for_:
            if use not in grants_by_role[g.role]:
                grants_by_role[g.role].append(use)
            if g.rows:
                rows_by_role_use[(g.role, use)] = [condition_text(ctx, c) for c in g.rows]
    for role in roles:
        title = index.roles[role].title
        out += [heading(2, code(role) + (f" — {title}" if title else ""), f"role-{role}"), ""]
        uses = [u for u in grants_by_role.get(role, []) if u in index.uses]
        if not uses:
            out += [t("access_none"), ""]
            continue
        out.append(f"{t('role')}: {ctx.role(role)}")
        out.append("")
        filters = [
            f"- {ctx.uses([u])}: " + " ∧ ".join(rows_by_role_use[(role, u)])
            for u in uses
            if (role, u) in rows_by_role_use
        ]
        if filters:
            out += [f"**{t('rows')}**", "", *filters, ""]
        body = []
        for ref in index.fields:
            cell = view.cell(ref, role)
            if not (cell.read or cell.masked or cell.write):
                continue
            entity, name = ref.split(".", 1)
            body.append(
                [link(code(ref), ctx.to(entity_page(entity), name))]
                + [_use_cell(ctx, cell, u) for u in uses]
            )
        out.append(table([t("field")] + [link(code(u), ctx.to("uses", u)) for u in uses], body))
        out.append("")
    return "\n".join(out)


def _use_cell(ctx: Context, cell: _Cell, use: str) -> str:
    t = ctx.labels
    parts = []
    if use in cell.read:
        parts.append(t("dec.read"))
    elif use in cell.masked:
        parts.append(t("dec.masked"))
    if use in cell.write:
        parts.append(t("dec.write"))
    return ", ".join(parts) if parts else "–"
