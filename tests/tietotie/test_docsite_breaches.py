"""The staff site's breach register page: what to do when a breach is discovered, the authority,
and what a breach at each processor, collection point and entity would touch."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from schemas import Strategy, load_strategy
from tests.conftest import need
from tietotie.docsite import build_site, generate_site

REPO = Path(__file__).resolve().parents[2]
B2B = REPO / "tests" / "examples" / "b2b-wholesaler"
PAGE = "registers/breaches.md"
CHROMIUM = Path("/usr/bin/chromium")


def _strategy(path: Path) -> Strategy:
    loaded = load_strategy(path).strategy
    assert loaded is not None
    return loaded


def _row(page: str, marker: str) -> str:
    (line,) = [line for line in page.splitlines() if marker in line and line.startswith("|")]
    return line


def test_the_page_is_in_finnish_and_names_the_authority_and_the_72_hours() -> None:
    """The bundled company's page: its steps, the Finnish authority, the auditing roles."""
    site = generate_site(_strategy(REPO / "strategy"))
    page = site.files[PAGE]
    assert page.startswith("# Tietoturvaloukkaukset")
    assert "72 tunnin kuluttua" in page and "tietotie breach open" in page
    assert "Tietosuojavaltuutetun toimisto" in page and "<https://tietosuoja.fi>" in page
    assert "[`auditor`](../strategy/system.md#role-auditor)" in page
    registers = next(v for item in site.nav for k, v in item.items() if k == "Selosteet")
    assert {"Tietoturvaloukkaukset": PAGE} in registers


def test_each_place_gets_the_verdict_the_register_would_give() -> None:
    """The SMS gateway is outside the EEA; the web form takes health data in clear (high
    risk); the customer table's health note is protected by encryption."""
    page = generate_site(_strategy(REPO / "strategy")).files[PAGE]
    gateway = _row(page, "processor:sms-gateway")
    assert "US (ETA:n ulkopuolella, vakiosopimuslausekkeet" in gateway
    assert "riski: ilmoitus valvontaviranomaiselle 72 tunnissa" in gateway
    assert "korkea riski: ilmoitus myös asiakkaille" in _row(page, "source:booking-form")
    customer = _row(page, "entity:customer")
    assert "customer.accessibility_need" in customer and "terveys" in customer
    assert "korkea riski" not in customer


def test_an_english_controller_reads_the_page_in_english() -> None:
    """The B2B wholesaler's page is in English; its ERP provider is outside the EEA."""
    page = generate_site(_strategy(B2B)).files[PAGE]
    assert page.startswith("# Personal data breaches")
    assert "US (outside the EEA, standard contractual clauses" in _row(page, "processor:erp-cloud")
    assert "72 hours" in page


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The bundled strategy's site built with mkdocs (strict) and served on a local port."""
    need(CHROMIUM.exists(), f"Debian's chromium is not installed at {CHROMIUM}")
    out = build_site(strategy=REPO / "strategy", out=tmp_path_factory.mktemp("site"))
    handler = functools.partial(_Quiet, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.browser
@pytest.mark.slow
def test_staff_find_the_breach_page_from_the_registers_tab(site_url: str) -> None:
    """In Chromium, the registers tab leads to the page, whose table shows the SMS gateway
    outside the EEA and the booking form as a high risk."""
    from playwright.sync_api import sync_playwright

    from tests.web.conftest import ARGS

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        page = browser.new_page()
        page.goto(site_url)
        page.locator("nav.md-tabs").get_by_role("link", name="Selosteet").click()
        page.get_by_role("link", name="Tietoturvaloukkaukset").first.click()
        page.wait_for_url("**/registers/breaches/")
        assert (
            page.locator("article h1").inner_text().strip().rstrip("¶") == "Tietoturvaloukkaukset"
        )
        gateway = page.locator("article tr:has-text('processor:sms-gateway')")
        assert "ETA:n ulkopuolella" in gateway.inner_text()
        form = page.locator("article tr:has-text('source:booking-form')")
        assert "korkea riski" in form.inner_text()
        browser.close()


def test_built_with_data_the_page_lists_the_register_without_its_free_text(
    tmp_path: Path,
) -> None:
    """``docs build --with-data`` lists each breach: number, discovery, kind, scope, counts,
    risk and what is still to do; the recorder's description stays in the register only."""
    from governance.breach import list_breaches, open_breach
    from governance.breach_models import SupervisoryAuthority
    from kernel.db import transaction
    from records.store import ingest
    from tests.support import make_app
    from tietotie.docsite.breaches import published_register

    app = make_app(tmp_path)
    with transaction(app.state.sessions) as session:
        ingest(
            session,
            app.state.store,
            "customer",
            source="service-desk",
            values={
                "name": "Aino",
                "email": "a@example.fi",
                "phone": "0401234567",
                "branch": "espoo",
            },
        )
        open_breach(
            session,
            app.state.store,
            what="A laptop with the customer export was stolen from a car",
            kind="confidentiality",
            scope=["entity:customer"],
            authority=SupervisoryAuthority(
                name="Tietosuojavaltuutetun toimisto", url="https://tietosuoja.fi"
            ),
            actor="person:Pia Privacy (role:owner)",
            audit=app.state.audit,
        )
    with app.state.sessions() as session:
        entries = list_breaches(session)
    with published_register(entries):
        page = generate_site(app.state.strategy).files[PAGE]
    row = next(line for line in page.splitlines() if line.startswith("| 1 |"))
    assert "confidentiality" in row and "`entity:customer`" in row
    assert "| 1 | 1 |" in row  # one customer, one record
    assert "Rekisteröidyt loukkaukset" in page
    assert "laptop" not in page
    plain = generate_site(app.state.strategy).files[PAGE]
    assert "Rekisteröidyt loukkaukset" not in plain
