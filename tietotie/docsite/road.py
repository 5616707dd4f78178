"""The road as a diagram: goal → use → question → field → source → report → activation.

Material for MkDocs draws Mermaid with a script it fetches from a CDN at view time, which
fails offline and would send every reader's address to a third party. So the diagram is
laid out here, at build time, as inline SVG with a link on every box; the same graph is
kept as Mermaid source (shown on the page and saved as ``road.mmd``) for tools that draw it.
"""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from schemas import Strategy
from tietotie.docsite.context import PAGES, ROAD_MERMAID, Context, entity_page
from tietotie.docsite.md import esc

__all__ = ["COLUMNS", "Road", "build_road", "road_page"]

COLUMNS = ("goal", "use", "question", "field", "source", "report", "activation")
"""The seven columns, left to right."""

_PAGE_OF = {
    "goal": "goals",
    "use": "uses",
    "question": "questions",
    "source": "sources",
    "report": "reports",
    "activation": "activations",
}

UrlFor = Callable[[str, str], str]
"""(docs-relative target page, anchor) → the URL to put in an ``href`` on the road page."""


@dataclass
class _Node:
    kind: str
    id: str
    label: str
    tooltip: str
    page: str
    anchor: str
    group: str = ""


@dataclass
class Road:
    """The graph of the road: nodes per column and the edges between neighbouring columns."""

    columns: dict[str, list[_Node]] = field(default_factory=dict)
    edges: list[tuple[tuple[str, str], tuple[str, str]]] = field(default_factory=list)


def _order(nodes: list[_Node], neighbours: dict[str, list[float]]) -> list[_Node]:
    """Barycentre ordering: a node sits near the average position of its neighbours."""

    def key(pair: tuple[int, _Node]) -> tuple[float, int]:
        i, node = pair
        pos = neighbours.get(node.id)
        return (sum(pos) / len(pos) if pos else float(i), i)

    return [n for _, n in sorted(enumerate(nodes), key=key)]


def build_road(strategy: Strategy) -> Road:
    """The nodes and edges of the road, ordered to keep lines from crossing."""
    ix = strategy.index
    road = Road()
    road.columns["goal"] = [
        _Node("goal", g.id, g.id, g.statement, PAGES["goals"], g.id) for g in strategy.goals
    ]
    road.columns["use"] = [
        _Node("use", u.id, u.id, u.description, PAGES["uses"], u.id) for u in strategy.uses
    ]
    road.columns["question"] = [
        _Node("question", q.id, q.id, q.text, PAGES["questions"], q.id) for q in strategy.questions
    ]
    road.columns["field"] = [
        _Node(
            "field",
            ref,
            ref.split(".", 1)[1],
            ref,
            entity_page(ref.split(".", 1)[0]),
            ref.split(".", 1)[1],
            group=ref.split(".", 1)[0],
        )
        for ref in ix.fields
    ]
    road.columns["source"] = [
        _Node("source", s.id, s.id, f"{s.channel}", PAGES["sources"], s.id)
        for s in strategy.sources
    ]
    road.columns["report"] = [
        _Node("report", r.id, r.id, str(r.identity), PAGES["reports"], r.id)
        for r in strategy.reports
    ]
    road.columns["activation"] = [
        _Node("activation", a.id, a.id, a.message, PAGES["activations"], a.id)
        for a in strategy.activations
    ]
    edges: set[tuple[tuple[str, str], tuple[str, str]]] = set()
    for u in strategy.uses:
        edges.update((("goal", g), ("use", u.id)) for g in u.serves if g in ix.goals)
    for q in strategy.questions:
        edges.update((("use", u), ("question", q.id)) for u in q.for_uses if u in ix.uses)
        edges.update((("question", q.id), ("field", f)) for f in ix.expand(q.needs))
    for ref, sources in ix.field_sources.items():
        edges.update((("field", ref), ("source", s)) for s in sources)
    for r in strategy.reports:
        shown = set(ix.expand(r.fields))
        for s in strategy.sources:
            if shown & set(ix.expand(s.collects)):
                edges.add((("source", s.id), ("report", r.id)))
        report_uses = {u for q in r.answers if q in ix.questions for u in ix.questions[q].for_uses}
        edges.update(
            (("report", r.id), ("activation", a.id))
            for a in strategy.activations
            if a.use in report_uses
        )
    road.edges = sorted(edges)
    # Two sweeps of barycentre ordering; fields keep their declared order (grouped by entity).
    for _ in range(2):
        for i, kind in enumerate(COLUMNS):
            if kind == "field" or i == 0:
                continue
            left = {n.id: p for p, n in enumerate(road.columns[COLUMNS[i - 1]])}
            pos: dict[str, list[float]] = defaultdict(list)
            for (ak, a), (bk, b) in road.edges:
                if ak == COLUMNS[i - 1] and bk == kind and a in left:
                    pos[b].append(left[a])
            road.columns[kind] = _order(road.columns[kind], pos)
        for i in range(len(COLUMNS) - 2, -1, -1):
            kind = COLUMNS[i]
            if kind == "field":
                continue
            right = {n.id: p for p, n in enumerate(road.columns[COLUMNS[i + 1]])}
            pos = defaultdict(list)
            for (ak, a), (bk, b) in road.edges:
                if ak == kind and bk == COLUMNS[i + 1] and b in right:
                    pos[a].append(right[b])
            road.columns[kind] = _order(road.columns[kind], pos)
    return road


# ── SVG ──────────────────────────────────────────────────────────────────────────────────────

_NODE_W, _NODE_H, _PITCH_X, _PITCH_Y, _TOP, _GROUP_H = 170, 22, 215, 27, 44, 20
_MAX_CHARS = 23


def _short(text: str) -> str:
    return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"


def _layout(
    road: Road,
) -> tuple[dict[tuple[str, str], tuple[float, float]], list[tuple[str, float, float]], float]:
    """Top-left corner of every node, entity group labels, and the drawing's height."""
    heights: dict[str, float] = {}
    for kind, nodes in road.columns.items():
        groups = len({n.group for n in nodes if n.group})
        heights[kind] = len(nodes) * _PITCH_Y + groups * _GROUP_H
    total = max(heights.values(), default=0.0)
    where: dict[tuple[str, str], tuple[float, float]] = {}
    groups_at: list[tuple[str, float, float]] = []
    for col, kind in enumerate(COLUMNS):
        nodes = road.columns.get(kind, [])
        x = col * _PITCH_X
        y = _TOP + (total - heights[kind]) / 2
        current = None
        for node in nodes:
            if node.group and node.group != current:
                current = node.group
                groups_at.append((node.group, x, y + 14))
                y += _GROUP_H
            where[(kind, node.id)] = (x, y)
            y += _PITCH_Y
    return where, groups_at, total + _TOP + 10


def road_svg(road: Road, ctx: Context, url_for: UrlFor) -> str:
    """The road as inline SVG; every box links to its step (or field) and shows its text."""
    t = ctx.labels
    where, groups, height = _layout(road)
    width = (len(COLUMNS) - 1) * _PITCH_X + _NODE_W
    out = [
        f'<svg class="tt-road" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} '
        f'{height:.0f}" width="{width}" height="{height:.0f}" role="img" '
        f'aria-label="{html.escape(t("road"))}">'
    ]
    for col, kind in enumerate(COLUMNS):
        x = col * _PITCH_X + _NODE_W / 2
        out.append(
            f'<text class="tt-col" x="{x:.0f}" y="18" text-anchor="middle">'
            f"{html.escape(t('step.' + kind))}</text>"
        )
    for (ak, a), (bk, b) in road.edges:
        if (ak, a) not in where or (bk, b) not in where:
            continue
        x1, y1 = where[(ak, a)]
        x2, y2 = where[(bk, b)]
        x1, y1, y2 = x1 + _NODE_W, y1 + _NODE_H / 2, y2 + _NODE_H / 2
        mid = (x1 + x2) / 2
        out.append(
            f'<path class="tt-edge tt-edge-{ak}" d="M{x1:.0f},{y1:.1f} C{mid:.0f},'
            f'{y1:.1f} {mid:.0f},{y2:.1f} {x2:.0f},{y2:.1f}"/>'
        )
    for entity, x, y in groups:
        href = html.escape(url_for(entity_page(entity), ""))
        out.append(
            f'<a href="{href}"><text class="tt-group" x="{x:.0f}" y="{y:.0f}">'
            f"{html.escape(entity)}</text></a>"
        )
    for kind in COLUMNS:
        for node in road.columns.get(kind, []):
            x, y = where[(kind, node.id)]
            href = html.escape(url_for(node.page, node.anchor))
            tip = html.escape(" ".join(node.tooltip.split()))
            out.append(
                f'<a class="tt-node tt-node-{kind}" href="{href}" data-id="{html.escape(node.id)}">'
                f"<title>{html.escape(node.id)}: {tip}</title>"
                f'<rect x="{x:.0f}" y="{y:.0f}" width="{_NODE_W}" height="{_NODE_H}" rx="5"/>'
                f'<text x="{x + 8:.0f}" y="{y + 15:.0f}">{html.escape(_short(node.label))}</text>'
                "</a>"
            )
    out.append("</svg>")
    return "".join(out)


# ── Mermaid ──────────────────────────────────────────────────────────────────────────────────

_UNSAFE = re.compile(r"[^A-Za-z0-9_]")


def _mid(kind: str, node_id: str) -> str:
    return f"{kind[0]}_{_UNSAFE.sub('_', node_id)}"


def road_mermaid(road: Road, ctx: Context, url_for: UrlFor) -> str:
    """The same graph as a Mermaid flowchart, with ``click`` links to the steps."""
    t = ctx.labels
    lines = ["flowchart LR"]
    for kind in COLUMNS:
        lines.append(f'  subgraph {kind}["{t("step." + kind)}"]')
        for node in road.columns.get(kind, []):
            label = node.id.replace('"', "'")
            lines.append(f'    {_mid(kind, node.id)}["{label}"]')
        lines.append("  end")
    for (ak, a), (bk, b) in road.edges:
        lines.append(f"  {_mid(ak, a)} --> {_mid(bk, b)}")
    for kind in COLUMNS:
        for node in road.columns.get(kind, []):
            lines.append(f'  click {_mid(kind, node.id)} "{url_for(node.page, node.anchor)}"')
    return "\n".join(lines) + "\n"


def road_page(ctx: Context, road: Road, url_for: UrlFor) -> tuple[str, str]:
    """The road page's Markdown and the Mermaid source saved beside it."""
    t = ctx.labels
    mermaid = road_mermaid(road, ctx, url_for)
    page = [
        "---",
        "hide:",
        "  - navigation",
        "  - toc",
        "---",
        "",
        f"# {t('road')}",
        "",
        esc(t.intro("road")),
        "",
        # the diagram repeats every id and text of the other pages: keep it out of search
        f'<div class="tt-road-wrap" data-search-exclude>{road_svg(road, ctx, url_for)}</div>',
        "",
        esc(t.intro("road_edges")),
        "",
        "<div data-search-exclude markdown>",
        "",
        f'??? note "{t("download_mermaid")}"',
        "",
        "    " + esc(t.intro("road_mermaid")) + f" [{ROAD_MERMAID.rsplit('/', 1)[-1]}]"
        f"({ROAD_MERMAID.rsplit('/', 1)[-1]})",
        "",
        "    ```text",
        *("    " + line for line in mermaid.splitlines()),
        "    ```",
        "",
        "</div>",
        "",
    ]
    return "\n".join(page), mermaid
