"""The API's /docs and /redoc render offline: their scripts come from the server itself."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

if TYPE_CHECKING:
    from playwright.sync_api import Browser


def test_the_doc_pages_name_only_local_assets(web_app: FastAPI) -> None:
    """Every script and stylesheet of /docs and /redoc is a path on this server."""
    client = TestClient(web_app)
    for path in ("/docs", "/redoc"):
        page = client.get(path)
        assert page.status_code == 200
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets, path
        assert all(a.startswith("/") and not a.startswith("//") for a in assets), assets
        for asset in assets:
            assert client.get(asset).status_code == 200, asset


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize(("path", "ready"), [("/docs", ".swagger-ui .info"), ("/redoc", "h1")])
def test_the_doc_pages_render_in_chromium_without_another_host(
    browser: Browser, base_url: str, path: str, ready: str
) -> None:
    """Swagger UI and ReDoc draw the API description; nothing is loaded from another host.

    ReDoc's footer asks for its logo from its makers' CDN; the page's policy blocks that
    request before it leaves the browser (its failure is "csp"); any other request to
    another host fails this test, whatever the network would have answered.
    """
    context = browser.new_context()
    page = context.new_page()
    asked: list[str] = []
    blocked: list[str] = []
    local = (base_url, f"blob:{base_url}")  # blob: URLs are the page's own memory
    page.on("request", lambda r: None if r.url.startswith(local) else asked.append(r.url))
    page.on(
        "requestfailed",
        lambda r: blocked.append(r.url) if r.failure == "csp" else None,
    )
    page.goto(f"{base_url}{path}")
    page.wait_for_selector(ready, timeout=20_000)
    assert "tietotie" in page.inner_text("body")
    page.wait_for_timeout(500)  # let a late image request settle into its failure event
    assert sorted(asked) == sorted(blocked)
    context.close()
