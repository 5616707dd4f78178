"""A staff member opens the built docs site in headless Chromium and finds fields and access."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from schemas import Strategy, load_strategy
from tests.conftest import ServiceEnv, need
from tests.web.test_request_pages import _axe_serious
from tietotie.docsite import build_site
from tietotie.docsite.labels import Labels

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

REPO = Path(__file__).resolve().parents[2]
SITE = REPO / "build" / "site"
SHOTS = REPO / "build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [pytest.mark.browser, pytest.mark.slow]

_OUTSIDE: dict[int, list[str]] = {}
"""Requests each page made to anything but the local site (which must be none)."""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def strategy() -> Strategy:
    result = load_strategy(REPO / "strategy")
    assert result.strategy is not None
    return result.strategy


@contextmanager
def _served(directory: Path) -> Iterator[str]:
    """``directory`` served over HTTP on a free local port, for as long as the block runs."""
    handler = functools.partial(_Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    """The bundled strategy's site, built into build/site and served on a free local port."""
    need(CHROMIUM.exists(), f"Debian's chromium is not installed at {CHROMIUM}")
    build_site(strategy=REPO / "strategy", out=SITE)
    with _served(SITE) as url:
        yield url


@pytest.fixture(scope="module")
def browser_page(site_url: str) -> Iterator[Page]:
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        outside: list[str] = []
        page.on(
            "request",
            lambda r: (
                outside.append(r.url)
                if not r.url.startswith(("http://127.0.0.1", "data:", "blob:"))
                else None
            ),
        )
        _OUTSIDE[id(page)] = outside
        yield page
        browser.close()


def _expanded(strategy: Strategy, refs: list[str]) -> set[str]:
    return set(strategy.index.expand(refs))


def _cell_texts(row: Locator) -> list[str]:
    return [c.inner_text().strip() for c in row.locator("td").all()]


def test_staff_find_every_subject_field_with_its_category_and_readers(
    strategy: Strategy, site_url: str, browser_page: Page
) -> None:
    """From the home page, the navigation leads to the customer's fields; each shows its
    category and exactly the roles the strategy lets read it."""
    page, fi = browser_page, Labels("fi")
    page.goto(site_url)
    page.screenshot(path=str(SHOTS / "home.png"))
    page.locator("nav.md-tabs").get_by_role("link", name="Kenttäluettelo").click()
    page.wait_for_url("**/fields/")
    subject = strategy.index.subject_entity
    assert subject is not None
    page.locator("article").get_by_role("link", name=subject, exact=True).first.click()
    page.wait_for_url(f"**/fields/{subject}/")
    headers = [h.inner_text().strip() for h in page.locator("article table th").all()]
    category_col, read_col = headers.index("Tietoryhmä"), headers.index("Lukuoikeus")
    for name, spec in strategy.system.entities[subject].fields.items():
        ref = f"{subject}.{name}"
        row = page.locator(f"article tr:has(#{name})")
        assert row.count() == 1, f"{ref} is not in the catalogue"
        cells = _cell_texts(row)
        assert fi.value("category", spec.category) in cells[category_col], ref
        readers = {g.role for g in strategy.system.access if ref in _expanded(strategy, g.read)}
        shown = {r.strip() for r in cells[read_col].split(",") if r.strip() not in ("", "–")}
        assert shown == readers, ref
    page.screenshot(path=str(SHOTS / "field-catalogue.png"), full_page=True)


def test_staff_read_masked_and_clear_cells_in_the_access_matrix(
    strategy: Strategy, site_url: str, browser_page: Page
) -> None:
    """The registers tab leads to the access matrix, whose cells say what the grants say:
    masked where a grant masks a field, read where it reads it."""
    page = browser_page
    page.goto(site_url)
    page.locator("nav.md-tabs").get_by_role("link", name="Selosteet").click()
    page.locator(".md-sidebar--primary").get_by_role("link", name="Käyttöoikeusmatriisi").click()
    page.wait_for_url("**/registers/access/")
    grant = next(g for g in strategy.system.access if g.masked and g.read)
    use = grant.for_[0]
    table = page.locator(f"xpath=//h2[@id='role-{grant.role}']/following::table[1]")
    headers = [h.inner_text().strip() for h in table.locator("th").all()]
    column = headers.index(use)
    for ref, expected in ((grant.masked[0], "peitetty"), (grant.read[0], "lukee")):
        row = table.locator("tr").filter(has=page.get_by_text(ref, exact=True))
        assert _cell_texts(row)[column].startswith(expected), (grant.role, use, ref)
    page.locator(f"h2#role-{grant.role}").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "access-matrix.png"))


def test_search_works_offline(site_url: str, browser_page: Page) -> None:
    """Searching the built site in Finnish finds the bookkeeping purpose, with nothing fetched
    from outside the site."""
    from playwright.sync_api import expect

    page = browser_page
    page.goto(site_url)
    page.locator("input.md-search__input").click()
    # The index loads in a web worker; a query typed before it is ready is not re-run.
    expect(page.locator(".md-search-result__meta")).to_have_text(
        "Kirjoita aloittaaksesi haun", timeout=20000
    )
    page.locator("input.md-search__input").press_sequentially("kirjanpito", delay=20)
    results = page.locator(".md-search-result__item")
    results.first.wait_for(timeout=15000)
    hrefs = [a.get_attribute("href") or "" for a in page.locator(".md-search-result a").all()]
    assert any("uses" in h or "ropa" in h for h in hrefs), hrefs
    page.screenshot(path=str(SHOTS / "search.png"))
    assert _OUTSIDE[id(page)] == []


def test_staff_see_the_aggregated_reports_drawn_from_the_data(
    strategy: Strategy, browser_page: Page, service_env: ServiceEnv
) -> None:
    """Built with data from a seeded database, the reports page shows each aggregated report's
    chart, loaded by the browser and fitting the page, and fetches nothing from outside."""
    from records.seed import seed
    from tietotie.app import open_services
    from tietotie.docsite.figures import build_figures
    from tietotie.settings import get_settings

    tmp_path = service_env()
    services = open_services(get_settings())
    seed(services.sessions, services.store, customers=400)
    figures = build_figures(services)
    services.engine.dispose()
    charted = sorted(r for r, f in figures.items() if f.png is not None)
    assert charted
    out = build_site(strategy=REPO / "strategy", out=tmp_path / "site", figures=figures)
    page = browser_page
    with _served(out) as url:
        page.goto(url + "strategy/reports/")
        images = page.locator("article img.tt-chart")
        assert images.count() == len(charted)
        page.wait_for_function(
            "() => [...document.querySelectorAll('article img.tt-chart')]"
            ".every(i => i.complete && i.naturalWidth > 0)",
            timeout=10000,
        )
        content = page.locator("article").bounding_box()
        assert content is not None
        for i in range(len(charted)):
            box = images.nth(i).bounding_box()
            assert box is not None and 0 < box["width"] <= content["width"] + 1
        images.first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "reports-with-data.png"))
    assert _OUTSIDE[id(page)] == []


@pytest.mark.parametrize(
    "path", ["", "fields/", "registers/access/", "guides/operators/", "guides/privacy-staff/"]
)
def test_pages_have_no_serious_accessibility_finding(
    site_url: str, browser_page: Page, path: str
) -> None:
    """axe-core finds nothing serious or critical on the home page, a catalogue, a register and
    the guides: the header, tabs, links, footer and code keep a 4.5:1 contrast."""
    browser_page.goto(site_url + path)
    assert _axe_serious(browser_page) == []
