"""Assemble every generated page of the site from one strategy, plus the navigation."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File

from schemas import Strategy, validate
from schemas.ropa import build_ropa
from tietotie.docsite import steps
from tietotie.docsite.access import access_page, access_view
from tietotie.docsite.breaches import breaches_page, current_register
from tietotie.docsite.catalogue import entity_catalogue_page, fields_index_page, retention_page
from tietotie.docsite.context import (
    PAGES,
    ROAD_MERMAID,
    ROPA_CSV,
    Context,
    chart_path,
    entity_page,
)
from tietotie.docsite.dpia import dpia_page
from tietotie.docsite.errors import DocsBuildError
from tietotie.docsite.figures import ReportFigure
from tietotie.docsite.labels import Labels
from tietotie.docsite.openapi import openapi_markdown
from tietotie.docsite.registers import consent_page, ropa_csv, ropa_page
from tietotie.docsite.requests import requests_page
from tietotie.docsite.road import build_road, road_page

__all__ = ["GUIDES", "GeneratedSite", "generate_site", "load_checked_strategy", "url_for_page"]

GUIDES: list[tuple[str, str]] = [
    ("Process owners", "guides/process-owners.md"),
    ("Validation rules", "guides/validation-rules.md"),
    ("Privacy staff", "guides/privacy-staff.md"),
    ("Auditors", "guides/auditors.md"),
    ("Operators", "guides/operators.md"),
]
"""The hand-written guides in ``docs/guides/`` (English), in navigation order."""


@dataclass
class GeneratedSite:
    """What a build adds: the home page's body, pages and files by docs-relative path, the nav."""

    language: str
    site_name: str
    home: str = ""
    files: dict[str, str] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    nav: list[Any] = field(default_factory=list)


def load_checked_strategy(path: Path) -> Strategy:
    """The strategy at ``path``; DocsBuildError naming its first errors when it has any."""
    result = validate(str(path))
    errors = [f for f in result.findings if f.severity == "error"]
    if result.strategy is None or errors:
        shown = "; ".join(f"{f.position}: {f.rule} {f.message}" for f in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        raise DocsBuildError(
            f"the strategy at {path} has {len(errors)} error(s): {shown}{more}. "
            f"Run `tietotie validate --strategy {path}` and fix them before building the docs.",
            file=str(path),
        )
    return result.strategy


def url_for_page(page: str, *, use_directory_urls: bool) -> Callable[[str, str], str]:
    """A function giving the relative URL from ``page`` to a page and anchor, as mkdocs will."""
    here = File(page, None, "", use_directory_urls)

    def url_for(target: str, anchor: str) -> str:
        url = File(target, None, "", use_directory_urls).url_relative_to(here)
        return f"{url}#{anchor}" if anchor else url

    return url_for


def generate_site(
    strategy: Strategy,
    *,
    use_directory_urls: bool = True,
    openapi: dict[str, Any] | None = None,
    figures: Mapping[str, ReportFigure] | None = None,
    public_url: str | None = None,
) -> GeneratedSite:
    """Every page about the strategy, in its language; the API page when ``openapi`` is given;
    the aggregated reports' numbers and charts when ``figures`` (built from data) are; the
    privacy center's full links when ``public_url`` (where customers reach the service) is."""
    labels = Labels(strategy.controller.language)
    t = labels
    ctx = Context(strategy, labels, public_url=public_url)
    site = GeneratedSite(language=labels.language, site_name=strategy.controller.name)
    files = site.files
    site.home = steps.home_page(ctx.on("home"))
    road = build_road(strategy)
    road_md, mermaid = road_page(
        ctx.on("road"),
        road,
        url_for_page(PAGES["road"], use_directory_urls=use_directory_urls),
    )
    files[PAGES["road"]] = road_md
    files[ROAD_MERMAID] = mermaid
    files[PAGES["goals"]] = steps.goals_page(ctx.on("goals"))
    files[PAGES["uses"]] = steps.uses_page(ctx.on("uses"))
    files[PAGES["questions"]] = steps.questions_page(ctx.on("questions"))
    files[PAGES["sources"]] = steps.sources_page(ctx.on("sources"))
    files[PAGES["system"]] = steps.system_page(ctx.on("system"))
    files[PAGES["reports"]] = steps.reports_page(ctx.on("reports"), figures)
    for report_id, figure in (figures or {}).items():
        if figure.png is not None:
            site.images[chart_path(report_id)] = figure.png
    files[PAGES["activations"]] = steps.activations_page(ctx.on("activations"))
    view = access_view(strategy)
    files[PAGES["fields"]] = fields_index_page(ctx.on("fields"))
    for entity in strategy.system.entities:
        page = entity_page(entity)
        files[page] = entity_catalogue_page(ctx.on(page), entity, view)
    entries = build_ropa(strategy)
    files[PAGES["ropa"]] = ropa_page(ctx.on("ropa"), entries)
    files[ROPA_CSV] = ropa_csv(entries)
    files[PAGES["dpia"]] = dpia_page(ctx.on("dpia"))
    files[PAGES["retention"]] = retention_page(ctx.on("retention"))
    files[PAGES["access"]] = access_page(ctx.on("access"), view)
    files[PAGES["consent"]] = consent_page(ctx.on("consent"))
    files[PAGES["requests"]] = requests_page(ctx.on("requests"))
    files[PAGES["breaches"]] = breaches_page(ctx.on("breaches"), current_register())
    if openapi is not None:
        files[PAGES["api"]] = openapi_markdown(openapi)

    step_keys = ["goals", "uses", "questions", "sources", "system", "reports", "activations"]
    guides: list[Any] = [{title: path} for title, path in GUIDES]
    if openapi is not None:
        guides.append({"API reference": PAGES["api"]})
    site.nav = [
        {t("home"): PAGES["home"]},
        {t("road"): PAGES["road"]},
        {t("steps"): [{f"{i}. {t(k)}": PAGES[k]} for i, k in enumerate(step_keys, 1)]},
        {
            t("fields"): [PAGES["fields"]]
            + [{entity: entity_page(entity)} for entity in strategy.system.entities]
        },
        {
            t("registers"): [
                {t(k): PAGES[k]}
                for k in ("ropa", "dpia", "retention", "access", "consent", "requests", "breaches")
            ]
        },
        {t("guides"): guides},
    ]
    return site
