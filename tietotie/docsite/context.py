"""Where each generated page lives, and links to any declaration from any page."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Strategy, StrategyIndex
from schemas.primitives import split_ref
from tietotie.docsite.labels import Labels
from tietotie.docsite.md import code, esc, link, rel

__all__ = ["PAGES", "Context", "chart_path", "entity_page"]

PAGES: dict[str, str] = {
    "home": "index.md",
    "road": "strategy/road.md",
    "goals": "strategy/goals.md",
    "uses": "strategy/uses.md",
    "questions": "strategy/questions.md",
    "sources": "strategy/sources.md",
    "system": "strategy/system.md",
    "reports": "strategy/reports.md",
    "activations": "strategy/activations.md",
    "fields": "fields/index.md",
    "ropa": "registers/ropa.md",
    "dpia": "registers/dpia.md",
    "retention": "registers/retention.md",
    "access": "registers/access.md",
    "consent": "registers/consent.md",
    "requests": "registers/requests.md",
    "breaches": "registers/breaches.md",
    "api": "guides/api.md",
}
"""Docs-relative paths of the generated pages; the URLs follow from them and stay stable."""

ROPA_CSV = "registers/ropa.csv"
ROAD_MERMAID = "strategy/road.mmd"


def chart_path(report_id: str) -> str:
    """The chart image of one aggregated report, in a build with data."""
    return f"charts/{report_id}.png"


def entity_page(entity: str) -> str:
    """The catalogue page of one entity."""
    return f"fields/{entity}.md"


@dataclass
class Context:
    """One strategy, its labels, and the page being written (links are relative to it)."""

    strategy: Strategy
    labels: Labels
    page: str = "index.md"
    public_url: str | None = None
    """Where customers reach the service (``TIETOTIE_PUBLIC_URL``), when it is set."""

    @property
    def index(self) -> StrategyIndex:
        """The strategy's lookups."""
        return self.strategy.index

    def on(self, page_key_or_path: str) -> Context:
        """The same context, writing the page ``page_key_or_path``."""
        path = PAGES.get(page_key_or_path, page_key_or_path)
        return Context(self.strategy, self.labels, path, self.public_url)

    def to(self, target: str, anchor: str = "") -> str:
        """A link target from the current page to a page key or path."""
        return rel(self.page, PAGES.get(target, target), anchor)

    def _ids(self, kind: str, ids: list[str], known: dict[str, object]) -> str:
        out = [link(code(i), self.to(kind, i)) if i in known else code(i) for i in ids]
        return ", ".join(out) if out else "–"

    def goals(self, ids: list[str]) -> str:
        """Links to goals."""
        return self._ids("goals", ids, self.index.goals)  # type: ignore[arg-type]

    def uses(self, ids: list[str]) -> str:
        """Links to uses."""
        return self._ids("uses", ids, self.index.uses)  # type: ignore[arg-type]

    def questions(self, ids: list[str]) -> str:
        """Links to questions."""
        return self._ids("questions", ids, self.index.questions)  # type: ignore[arg-type]

    def sources(self, ids: list[str]) -> str:
        """Links to sources."""
        return self._ids("sources", ids, self.index.sources)  # type: ignore[arg-type]

    def reports(self, ids: list[str]) -> str:
        """Links to reports."""
        return self._ids("reports", ids, self.index.reports)  # type: ignore[arg-type]

    def activations(self, ids: list[str]) -> str:
        """Links to activations."""
        return self._ids("activations", ids, self.index.activations)  # type: ignore[arg-type]

    def role(self, role_id: str) -> str:
        """A link to a role on the system page, shown by its title when it has one."""
        role = self.index.roles.get(role_id)
        if role is None:
            return code(role_id)
        text = f"{esc(role.title)} ({code(role_id)})" if role.title else code(role_id)
        return link(text, self.to("system", f"role-{role_id}"))

    def roles(self, ids: list[str]) -> str:
        """Links to roles, by id."""
        out = [
            link(code(i), self.to("system", f"role-{i}")) if i in self.index.roles else code(i)
            for i in ids
        ]
        return ", ".join(out) if out else "–"

    def processors(self, ids: list[str]) -> str:
        """Links to processors, by name."""
        out = []
        for pid in ids:
            proc = self.index.processors.get(pid)
            text = esc(proc.name) if proc else code(pid)
            out.append(link(text, self.to("system", f"processor-{pid}")) if proc else text)
        return ", ".join(out) if out else "–"

    def field(self, ref: str, *, labelled: bool = False) -> str:
        """A link to a field (or ``entity.*``) in the catalogue; ``labelled``: in the form
        "label (`entity.field`)", the label in the strategy's language."""
        entity, name = split_ref(ref)
        if entity not in self.index.entities:
            return code(ref)
        if name == "*":
            return link(code(ref), self.to(entity_page(entity)))
        spec = self.index.fields.get(ref)
        if spec is None:
            return code(ref)
        linked = link(code(ref), self.to(entity_page(entity), name))
        return f"{esc(spec.shown_name(name))} ({linked})" if labelled else linked

    def fields(self, refs: list[str], *, labelled: bool = False) -> str:
        """Links to fields (``labelled``: each as "label (`entity.field`)")."""
        return ", ".join(self.field(r, labelled=labelled) for r in refs) if refs else "–"
