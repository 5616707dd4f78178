"""A customer stops marketing messages from the link in one (RFC 8058, Art. 21(3))."""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from kernel.db import transaction
from records.restrictions import FlagKind, active_flags
from records.store import ingest
from tests.web.conftest import SHOTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser

CAMPAIGN = "november-tyre-campaign"


_PHONES = itertools.count(4_000_000)


def _customer(app: FastAPI, email: str) -> str:
    phone = f"040{next(_PHONES):07d}"  # match_on phone: each test's customer is their own
    with transaction(app.state.sessions) as session:
        return ingest(
            session,
            app.state.store,
            "customer",
            source="service-desk",
            values={"name": "Aino Mäki", "email": email, "phone": phone, "branch": "espoo"},
        ).subject_id


def _objections(app: FastAPI, subject_id: str) -> list[str]:
    with app.state.sessions() as session:
        return [f.scope for f in active_flags(session, subject_id) if f.kind == FlagKind.OBJECTION]


@pytest.fixture(scope="module")
def client(web_app: FastAPI) -> TestClient:
    return TestClient(web_app)


def test_the_link_opens_a_page_with_one_button_and_changes_nothing_yet(
    web_app: FastAPI, client: TestClient
) -> None:
    """Opening the link (mail scanners do) only shows the page; the button records."""
    sid = _customer(web_app, "aino.page@example.fi")
    url = web_app.state.services.links.url(CAMPAIGN, sid).split("8000", 1)[-1]
    page = client.get(f"{url}?lang=en")
    assert page.status_code == 200
    assert "Stop the messages" in page.text and '<form method="post"' in page.text
    assert _objections(web_app, sid) == []


def test_a_mail_clients_one_click_post_records_the_objection_without_sign_in(
    web_app: FastAPI, client: TestClient
) -> None:
    """POST List-Unsubscribe=One-Click answers 200 and the objection stands at once."""
    sid = _customer(web_app, "aino.click@example.fi")
    path = "/privacy/unsubscribe/" + web_app.state.services.links.token(CAMPAIGN, sid)
    answer = client.post(
        path,
        content="List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200
    assert _objections(web_app, sid) == ["direct_marketing"]
    again = client.post(f"{path}?lang=en", data={"List-Unsubscribe": "One-Click"})
    assert "You had already stopped them" in again.text
    assert _objections(web_app, sid) == ["direct_marketing"]


def test_a_broken_link_says_so_and_records_nothing(client: TestClient) -> None:
    """A tampered token gets a 404 page in plain words, on GET and POST alike."""
    for answer in (
        client.get("/privacy/unsubscribe/u1.abc.def?lang=en"),
        client.post("/privacy/unsubscribe/u1.abc.def?lang=en"),
    ):
        assert answer.status_code == 404
        assert "This link does not work" in answer.text


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("language", ["fi", "en"])
def test_unsubscribing_works_with_the_keyboard_and_without_javascript(
    web_app: FastAPI, browser: Browser, base_url: str, language: str
) -> None:
    """Tab to the button, press Enter, read the confirmation; axe finds nothing serious."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    sid = _customer(web_app, f"aino.keys.{language}@example.fi")
    token = web_app.state.services.links.token(CAMPAIGN, sid)
    url = f"{base_url}/privacy/unsubscribe/{token}?lang={language}"
    checked = browser.new_context()  # axe-core is a script: it needs JavaScript to run
    audit_page = checked.new_page()
    audit_page.goto(url)
    violations = Axe().run(audit_page).response["violations"]
    checked.close()
    assert [v["id"] for v in violations if v["impact"] in {"serious", "critical"}] == []
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"unsubscribe-{language}.png", full_page=True)
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "BUTTON":
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.locator("[role=status]").is_visible()
    page.screenshot(path=SHOTS / f"unsubscribed-{language}.png", full_page=True)
    assert _objections(web_app, sid) == ["direct_marketing"]
    context.close()
