"""A customer reads the privacy center's home page and the privacy notice (Art. 12-14)."""

from __future__ import annotations

import io
import re
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.web.conftest import SHOTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def client(web_app: FastAPI) -> TestClient:
    return TestClient(web_app)


def test_the_page_language_follows_the_query_then_the_browser_then_the_controller(
    client: TestClient,
) -> None:
    """?lang wins, then Accept-Language, then the controller's language (Finnish)."""
    assert '<html lang="en">' in client.get("/privacy?lang=en").text
    assert (
        '<html lang="sv">'
        in client.get("/privacy", headers={"Accept-Language": "sv-FI,sv;q=0.9,en;q=0.5"}).text
    )
    assert (
        '<html lang="fi">'
        in client.get("/privacy", headers={"Accept-Language": "de-DE,de;q=0.9"}).text
    )
    assert '<html lang="fi">' in client.get("/privacy?lang=xx").text


def test_every_page_forbids_scripts_and_other_hosts(client: TestClient) -> None:
    """The Content-Security-Policy allows nothing from elsewhere and no script at all."""
    for path in ("/privacy", "/privacy/notice"):
        answer = client.get(path)
        assert answer.status_code == 200
        policy = answer.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src" not in policy
        assert "frame-ancestors 'none'" in policy
        assert not re.search(r'(src|href)="(https?:)?//', answer.text.split("<main", 1)[0])
        assert "<script" not in answer.text


def test_the_notice_tells_every_purpose_with_its_basis_retention_and_recipients(
    web_app: FastAPI, client: TestClient
) -> None:
    """Each use of the strategy is a purpose on the page, with the facts Art. 13 asks for."""
    page = client.get("/privacy/notice?lang=en").text
    strategy = web_app.state.strategy
    for use in strategy.uses:
        assert f'id="purpose-{use.id}"' in page
    assert "Kirjanpitolaki 1336/1997" in page  # the law of the legal-obligation use
    assert "Our legitimate interest" in page  # the interest in words, where that is the basis
    assert "6 years" in page and "2 years" in page
    assert "TextRelay Inc." in page and "standard contractual clauses" in page
    assert "United States" in page and "No: inside the EEA" in page
    assert "Version privacy-notice-2026-01" in page and "January 1, 2026" in page
    assert "Tietosuojavaltuutetun toimisto" in page and "tietosuoja@om.fi" in page
    assert "Mikko Lehtinen" in page  # the data protection contact


def test_the_first_layer_links_to_every_detail_on_the_page(client: TestClient) -> None:
    """Every link of the short first layer leads to a section that exists (EDPB layering)."""
    page = client.get("/privacy/notice?lang=en").text
    short = page.split('id="short"', 1)[1].split("</section>", 1)[0]
    targets = re.findall(r'href="#([\w-]+)"', short)
    assert len(targets) >= 6
    for target in targets:
        assert f'id="{target}"' in page


def test_the_printable_notice_is_a_pdf_with_the_same_facts(client: TestClient) -> None:
    """The PDF holds the controller, the purposes' laws and the authority, in the asked language."""
    from pypdf import PdfReader

    answer = client.get("/privacy/notice.pdf?lang=en")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/pdf"
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    text = " ".join(text.split())
    assert "Renkaat & Huolto Virtanen Oy" in text
    assert "Kirjanpitolaki 1336/1997" in text
    assert "Tietosuojavaltuutetun toimisto" in text
    assert "Your rights" in text


def test_finnish_pages_are_in_finnish(client: TestClient) -> None:
    """The home page and the notice speak Finnish by default, for a Finnish controller."""
    home = client.get("/privacy").text
    notice = client.get("/privacy/notice").text
    assert "Tietosuojaseloste" in home
    assert "Oikeutesi" in notice


# ── in the browser ─────────────────────────────────────────────────────────────────────────


def _open(browser: Browser, url: str, *, javascript: bool = True) -> tuple[Page, list[str]]:
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1100, "height": 900}
    )
    page = context.new_page()
    elsewhere: list[str] = []
    origin = url.split("/privacy", 1)[0]
    page.on("request", lambda r: None if r.url.startswith(origin) else elsewhere.append(r.url))
    page.goto(url)
    return page, elsewhere


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("language", ["fi", "en"])
@pytest.mark.parametrize("path", ["/privacy", "/privacy/notice"])
def test_pages_have_no_serious_accessibility_violation_and_load_nothing_from_elsewhere(
    browser: Browser, base_url: str, path: str, language: str
) -> None:
    """axe-core finds no serious or critical violation; no request leaves the server."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    page, elsewhere = _open(browser, f"{base_url}{path}?lang={language}")
    for details in page.locator("details").all():
        details.evaluate("element => { element.open = true }")
    results = Axe().run(page)
    serious = [
        (v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in {"serious", "critical"}
    ]
    SHOTS.mkdir(parents=True, exist_ok=True)
    name = path.strip("/").replace("/", "-")
    page.screenshot(path=SHOTS / f"{name}-{language}.png", full_page=True)
    assert serious == []
    assert elsewhere == []
    page.context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_the_notice_works_with_the_keyboard_alone_and_without_javascript(
    browser: Browser, base_url: str
) -> None:
    """Tab reaches the skip link first; Enter on a purpose opens its details; no script runs."""
    page, _ = _open(browser, f"{base_url}/privacy/notice?lang=en", javascript=False)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("location.hash") == "#main"
    first = page.locator("details.purpose").first
    assert first.evaluate("element => element.open") is False
    first.locator("summary").focus()
    page.keyboard.press("Enter")
    assert first.evaluate("element => element.open") is True
    assert first.locator("dl").is_visible()
    page.context.close()
