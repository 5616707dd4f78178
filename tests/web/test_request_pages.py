"""A customer makes a request in the privacy center, enters the code and downloads the answer."""

from __future__ import annotations

import io
import itertools
import json
import re
import zipfile
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from dsar.requests.tables import Outbox
from kernel.db import transaction
from records.store import ingest
from tests.web.conftest import SHOTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

_PHONES = itertools.count(5_000_000)


def _customer(app: FastAPI, email: str) -> str:
    with transaction(app.state.sessions) as session:
        return ingest(
            session,
            app.state.store,
            "customer",
            source="service-desk",
            values={
                "name": "Aino Mäki",
                "email": email,
                "phone": f"040{next(_PHONES):07d}",
                "branch": "espoo",
            },
        ).subject_id


def _csrf(page: str) -> str:
    found = re.search(r'name="csrftoken" value="([^"]+)"', page)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def _mail(app: FastAPI, request_id: str) -> Outbox | None:
    with app.state.sessions() as session:
        return session.scalars(
            select(Outbox).where(Outbox.request_id == request_id).order_by(Outbox.id.desc())
        ).first()


def _open(client: TestClient, email: str, *, kind: str = "access", lang: str = "en") -> str:
    form = client.get(f"/privacy/request?lang={lang}")
    answer = client.post(
        f"/privacy/request?lang={lang}",
        data={"csrftoken": _csrf(form.text), "type": kind, "email": email},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    return str(answer.headers["location"])


def test_a_customer_and_a_stranger_see_the_same_pages(web_app: FastAPI) -> None:
    """Opening a request answers the same redirect and the same code page for anyone."""
    _customer(web_app, "known.same@example.fi")
    pages = []
    for email in ("known.same@example.fi", "stranger.same@example.fi"):
        client = TestClient(web_app)
        where = _open(client, email)
        page = client.get(where).text
        pages.append(re.sub(r"[0-9a-f]{32}|csrftoken\" value=\"[^\"]+\"", "X", page))
    assert pages[0] == pages[1]


def test_a_form_without_its_csrf_token_is_refused(web_app: FastAPI) -> None:
    """A POST carrying the cookie but not the form's token opens nothing."""
    client = TestClient(web_app)
    client.get("/privacy/request?lang=en")
    answer = client.post("/privacy/request", data={"type": "access", "email": "forged@example.fi"})
    assert answer.status_code == 403


def test_a_request_needs_one_right_and_one_address(web_app: FastAPI) -> None:
    """No type, or both an email and a phone, re-shows the form with what to fix."""
    client = TestClient(web_app)
    token = _csrf(client.get("/privacy/request?lang=en").text)
    none = client.post("/privacy/request?lang=en", data={"csrftoken": token, "email": "a@b.fi"})
    assert none.status_code == 422 and "Choose one of the requests below." in none.text
    both = client.post(
        "/privacy/request?lang=en",
        data={"csrftoken": token, "type": "access", "email": "a@b.fi", "phone": "0401234567"},
    )
    assert both.status_code == 422 and "not both" in both.text


def test_the_code_mail_speaks_the_page_language_and_links_to_the_request(
    web_app: FastAPI,
) -> None:
    """A request made in English gets its code in English, with the page's address."""
    _customer(web_app, "mail.lang@example.fi")
    client = TestClient(web_app)
    where = _open(client, "mail.lang@example.fi", lang="en")
    request_id = where.split("/")[-1].split("?")[0]
    mail = _mail(web_app, request_id)
    assert mail is not None
    assert request_id[:8].upper() in mail.subject
    assert f"/privacy/request/{request_id}?lang=en" in mail.body
    assert "Your code is" in mail.body


def test_the_whole_access_journey_ends_in_a_download_kept_as_it_was(web_app: FastAPI) -> None:
    """Code, status page, JSON and zip downloads; the cookie is scoped, HttpOnly and strict."""
    sid = _customer(web_app, "journey@example.fi")
    client = TestClient(web_app)
    where = _open(client, "journey@example.fi")
    request_id = where.split("/")[-1].split("?")[0]
    page = client.get(where).text
    wrong = client.post(where, data={"csrftoken": _csrf(page), "code": "000000"})
    assert wrong.status_code == 422 and "4 attempts left" in wrong.text
    mail = _mail(web_app, request_id)
    assert mail is not None
    code = re.search(r"\b(\d{6})\b", mail.body)
    assert code
    right = client.post(
        where, data={"csrftoken": _csrf(wrong.text), "code": code.group(1)}, follow_redirects=False
    )
    assert right.status_code == 303
    cookie = right.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert f"Path=/privacy/request/{request_id}" in cookie
    status = client.get(where)
    assert "Download (JSON)" in status.text
    first = client.get(f"/privacy/request/{request_id}/export?format=json")
    assert first.status_code == 200 and json.loads(first.content)["subject"] == sid
    with transaction(web_app.state.sessions) as session:
        ingest(
            session,
            web_app.state.store,
            "vehicle",
            source="service-desk",
            subject={"id": sid},
            values={"plate": "LATER-1"},
        )
    again = client.get(f"/privacy/request/{request_id}/export?format=json")
    assert again.content == first.content  # the answer kept at completion, not live data
    archive = client.get(f"/privacy/request/{request_id}/export?format=zip")
    assert zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    assert "Done" in client.get(where).text


def test_another_browser_sees_only_the_code_form(web_app: FastAPI) -> None:
    """Without the cookie, a request's page and its download reveal nothing."""
    _customer(web_app, "other.browser@example.fi")
    where = _open(TestClient(web_app), "other.browser@example.fi")
    request_id = where.split("/")[-1].split("?")[0]
    stranger = TestClient(web_app)
    assert "Enter your code" in stranger.get(where).text
    download = stranger.get(f"/privacy/request/{request_id}/export?format=json")
    assert download.status_code == 404 and 'name="code"' in download.text  # the code form


# ── in the browser ─────────────────────────────────────────────────────────────────────────


def _axe_serious(page: Page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    violations = Axe().run(page).response["violations"]
    return [v["id"] for v in violations if v["impact"] in {"serious", "critical"}]


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("language", ["fi", "en"])
def test_a_customer_makes_and_verifies_a_request_with_the_keyboard_alone(
    web_app: FastAPI, browser: Browser, base_url: str, language: str
) -> None:
    """Without JavaScript: choose a right, type the email, send, type the code, verify."""
    email = f"keys.{language}@example.fi"
    _customer(web_app, email)
    checked = browser.new_context()
    audit_page = checked.new_page()
    audit_page.goto(f"{base_url}/privacy/request?lang={language}")
    assert _axe_serious(audit_page) == []
    checked.close()

    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base_url}/privacy/request?lang={language}")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"request-new-{language}.png", full_page=True)
    page.keyboard.press("Tab")  # the skip link
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "type":
            break
    page.keyboard.press("Space")  # the first right: access
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "email":
            break
    page.keyboard.type(email)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    request_id = page.url.split("/privacy/request/")[1].split("?")[0]
    page.screenshot(path=SHOTS / f"request-code-{language}.png", full_page=True)
    mail = _mail(web_app, request_id)
    assert mail is not None
    code = re.search(r"\b(\d{6})\b", mail.body)
    assert code
    page.keyboard.press("Tab")
    for _ in range(20):
        if page.evaluate("document.activeElement.id") == "code":
            break
        page.keyboard.press("Tab")
    page.keyboard.type(code.group(1))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.screenshot(path=SHOTS / f"request-status-{language}.png", full_page=True)
    assert page.locator("a.button[href$='format=json']").is_visible()
    context.close()


def test_the_json_api_writes_the_code_in_the_language_asked_for(web_app: FastAPI) -> None:
    """``POST /v1/dsar`` takes ``language``, else Accept-Language: the code mail follows."""
    _customer(web_app, "api.lang@example.fi")
    client = TestClient(web_app)
    said = client.post(
        "/v1/dsar",
        json={"type": "access", "identity": {"email": "api.lang@example.fi"}, "language": "en"},
    )
    assert said.status_code == 202
    mail = _mail(web_app, said.json()["id"])
    assert mail is not None and "Your code is" in mail.body
    heard = client.post(
        "/v1/dsar",
        json={"type": "access", "identity": {"email": "api.lang@example.fi"}},
        headers={"Accept-Language": "sv-FI,sv;q=0.9"},
    )
    mail = _mail(web_app, heard.json()["id"])
    assert mail is not None and "Din kod" in mail.body
    wrong = client.post(
        "/v1/dsar",
        json={"type": "access", "identity": {"email": "api.lang@example.fi"}, "language": "de"},
    )
    assert wrong.status_code == 422
