"""The staff site built with data: aggregated reports, their numbers and charts, no person."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from audit.tables import AuditEntry
from records.seed import seed
from schemas import load_strategy
from schemas.enums import Chart, IdentityLevel
from schemas.models import Report
from tests.conftest import ServiceEnv
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.docsite import build_site
from tietotie.docsite.figures import build_figures
from tietotie.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
runner = CliRunner()

pytestmark = pytest.mark.slow


@pytest.fixture
def seeded(service_env: ServiceEnv) -> dict[str, list[str]]:
    """A database of 300 synthetic customers of the bundled strategy; their emails and names."""
    service_env()
    services = open_services(get_settings())
    seed(services.sessions, services.store, customers=300)
    customer = services.store.tables.subject_table
    with services.sessions() as session:
        people = session.execute(select(customer.c.email, customer.c.name)).all()
    services.engine.dispose()
    return {"emails": [e for e, _ in people if e], "names": [n for _, n in people if n]}


def _aggregated() -> list[Report]:
    """The bundled strategy's aggregated reports (the only ones a site with data shows)."""
    strategy = load_strategy(ROOT / "strategy").strategy
    assert strategy is not None
    return [r for r in strategy.reports if r.identity is IdentityLevel.AGGREGATED]


def test_docs_build_with_data_shows_each_aggregated_report_and_no_one_in_it(
    seeded: dict[str, list[str]], tmp_path: Path
) -> None:
    """--with-data puts a chart and its numbers under each aggregated report, says row-level
    reports are not published, audits each build, and no customer's email or name appears."""
    out = tmp_path / "site"
    result = runner.invoke(get_app(), ["docs", "build", "--with-data", "--out", str(out)])
    assert result.exit_code == 0, result.output
    aggregated = _aggregated()
    charted = [r.id for r in aggregated if r.chart is not Chart.TABLE]
    assert charted, "the bundled strategy declares charted aggregated reports"
    page = (out / "strategy" / "reports" / "index.html").read_text("utf-8")
    for report_id in charted:
        image = out / "charts" / f"{report_id}.png"
        assert image.read_bytes().startswith(PNG)
        assert f'src="../../charts/{report_id}.png"' in page
        assert f"{report_id}:" in result.output  # the command says what it built
    assert page.count("Koottu ") == len(aggregated)  # one caption per aggregated report
    assert "Rivitason raporttia ei julkaista" in page
    every_page = "".join(p.read_text("utf-8") for p in out.rglob("*.html"))
    bare = build_site(strategy=ROOT / "strategy", out=tmp_path / "bare")
    declared = "".join(p.read_text("utf-8") for p in bare.rglob("*.html"))  # staff names
    leaked = [e for e in seeded["emails"] if e in every_page]
    leaked += [n for n in seeded["names"] if n in every_page and n not in declared]
    assert leaked == []
    services = open_services(get_settings())
    with services.sessions() as session:
        builds = [
            json.loads(e.details)["report"]
            for e in session.scalars(select(AuditEntry).where(AuditEntry.action == "report.build"))
        ]
    services.engine.dispose()
    assert sorted(builds) == sorted(r.id for r in aggregated)


def test_a_build_without_data_has_no_charts_and_no_numbers(tmp_path: Path) -> None:
    """The default build publishes the declarations only: no chart folder, no captions."""
    out = build_site(strategy=ROOT / "strategy", out=tmp_path / "site")
    assert not (out / "charts").exists()
    page = (out / "strategy" / "reports" / "index.html").read_text("utf-8")
    assert "Koottu " not in page and "<img" not in page


def test_groups_under_k_are_counted_but_never_drawn(seeded: dict[str, list[str]]) -> None:
    """With k above every group's size each report shows no group and says how many it hid."""
    services = open_services(get_settings())
    try:
        figures = build_figures(services, k=10_000)
    finally:
        services.engine.dispose()
    assert figures
    for figure in figures.values():
        assert figure.groups == 0
    assert sum(f.suppressed_subjects for f in figures.values()) > 0


def test_with_data_on_a_database_that_cannot_be_opened_fails_clearly(
    service_env: ServiceEnv,
) -> None:
    """An unreachable database is an error naming it, and no site is written."""
    out = service_env("postgresql+psycopg://nobody@127.0.0.1:9/none") / "site"
    result = runner.invoke(get_app(), ["docs", "build", "--with-data", "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "error" in result.output and "database" in result.output.lower()
    assert not (out / "index.html").exists()
