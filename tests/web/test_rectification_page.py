"""A customer asks in the privacy center to correct their data (Art. 16), and staff apply it."""

from __future__ import annotations

import itertools
import re
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from dsar.requests.tables import Outbox, RequestRow
from kernel.db import transaction
from records.store import ingest, read_subject
from tests.support import staff_header
from tests.web.conftest import SHOTS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

_PHONES = itertools.count(6_000_000)
NAME = "Aino Mäki"


def _customer(app: FastAPI, email: str) -> str:
    phone = f"040{next(_PHONES):07d}"  # match_on phone: each test's customer is their own
    with transaction(app.state.sessions) as session:
        sid = ingest(
            session,
            app.state.store,
            "customer",
            source="service-desk",
            values={
                "name": NAME,
                "email": email,
                "phone": phone,
                "branch": "espoo",
                "city": "Espoo",
            },
        ).subject_id
        ingest(
            session,
            app.state.store,
            "vehicle",
            source="service-desk",
            subject={"id": sid},
            values={"plate": "RKS-101", "tyre_type": "summer"},
        )
        return sid


def _csrf(page: str) -> str:
    found = re.search(r'name="csrftoken" value="([^"]+)"', page)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def _code(app: FastAPI, request_id: str) -> str:
    with app.state.sessions() as session:
        body = session.scalars(
            select(Outbox.body).where(Outbox.request_id == request_id).order_by(Outbox.id.desc())
        ).first()
    assert body is not None
    found = re.search(r"\b(\d{6})\b", body)
    assert found
    return found.group(1)


def _verified(app: FastAPI, client: TestClient, email: str, *, kind: str = "rectification") -> str:
    """Open a request of ``kind`` through the page and verify it with the mailed code."""
    form = client.get("/privacy/request?lang=en")
    opened = client.post(
        "/privacy/request?lang=en",
        data={"csrftoken": _csrf(form.text), "type": kind, "email": email},
        follow_redirects=False,
    )
    assert opened.status_code == 303, "choosing a right and one email opens the request"
    where = str(opened.headers["location"])
    request_id = where.split("/")[-1].split("?")[0]
    page = client.get(where)
    entered = client.post(
        where,
        data={"csrftoken": _csrf(page.text), "code": _code(app, request_id)},
        follow_redirects=False,
    )
    assert entered.status_code == 303
    return request_id


def _details(app: FastAPI, request_id: str) -> dict[str, object]:
    with app.state.sessions() as session:
        row = session.get(RequestRow, request_id)
        assert row is not None
        return dict(row.details)


class _Controls(HTMLParser):
    """The change form's controls (name → attributes) and the ids its labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: dict[str, dict[str, str | None]] = {}
        self.labelled: set[str] = set()
        self.options: dict[str, list[str]] = {}
        self._select: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        name = found.get("name") or ""
        if tag in {"input", "select", "textarea"} and "." in name:
            self.controls[name] = found
        if tag == "select" and "." in name:
            self._select = name
            self.options[name] = []
        if tag == "option" and self._select:
            self.options[self._select].append(found.get("value") or "")
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def _controls(html: str) -> _Controls:
    parser = _Controls()
    parser.feed(html)
    return parser


def test_choosing_correct_your_data_opens_the_request_and_then_asks_what_to_correct(
    web_app: FastAPI,
) -> None:
    """Before: an identifier error. Now: the code page, then a form of labelled, empty fields."""
    _customer(web_app, "form.fields@example.fi")
    client = TestClient(web_app)
    request_id = _verified(web_app, client, "form.fields@example.fi")
    assert "changes" not in _details(web_app, request_id)
    page = client.get(f"/privacy/request/{request_id}?lang=en").text
    assert "Tell us what to correct" in page
    form = _controls(page)
    assert {"customer.name", "customer.city", "vehicle.tyre_type", "visit.mileage_km"} <= set(
        form.controls
    )
    assert "customer.email" not in form.controls and "customer.phone" not in form.controls
    assert not any(name.startswith("tyre_storage.") for name in form.controls)
    for name, attrs in form.controls.items():
        assert attrs.get("id") in form.labelled, f"{name} has a visible label"
        assert not attrs.get("value"), f"{name} is not prefilled"
    assert form.options["vehicle.tyre_type"] == ["", "summer", "winter", "all_season"]
    assert "Postitoimipaikka" in page and "Rengastyyppi" in page  # the strategy's labels
    assert NAME not in page and "RKS-101" not in page  # nothing held is shown
    finnish = client.get(f"/privacy/request/{request_id}?lang=fi")
    assert finnish.status_code == 200 and '<html lang="fi">' in finnish.text
    assert set(_controls(finnish.text).controls) == set(form.controls)


def test_a_stated_change_is_listed_and_staff_completion_writes_it_to_the_record(
    web_app: FastAPI,
) -> None:
    """The requester's new values are listed on the page; completing applies them."""
    sid = _customer(web_app, "stated@example.fi")
    client = TestClient(web_app)
    request_id = _verified(web_app, client, "stated@example.fi")
    staff = staff_header(web_app, "owner")
    early = TestClient(web_app).post(f"/v1/dsar/{request_id}/complete", headers=staff)
    assert early.status_code == 409 and "has not stated the changes" in early.json()["detail"]
    where = f"/privacy/request/{request_id}?lang=en"
    sent = client.post(
        f"/privacy/request/{request_id}/changes?lang=en",
        data={
            "csrftoken": _csrf(client.get(where).text),
            "customer.city": " Vantaa ",
            "vehicle.tyre_type": "winter",
            "customer.name": "",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303 and sent.headers["location"].endswith(f"{where}#stated")
    assert _details(web_app, request_id)["changes"] == {
        "customer.city": "Vantaa",
        "vehicle.tyre_type": "winter",
    }
    page = client.get(where).text
    listed = page.split('id="stated"', 1)[1].split("</section>", 1)[0]
    assert "What you asked us to correct" in listed
    assert "Postitoimipaikka" in listed and "Vantaa" in listed and "winter" in listed
    assert "You told us what to correct" in page
    done = TestClient(web_app).post(f"/v1/dsar/{request_id}/complete", headers=staff)
    assert done.status_code == 200, done.text
    with web_app.state.sessions() as session:
        data = read_subject(session, web_app.state.store, sid)
    assert data["customer"][0].values["city"] == "Vantaa"
    assert data["vehicle"][0].values["tyre_type"] == "winter"
    closed = client.get(where).text
    assert "Done" in closed and "Vantaa" in closed and 'action="/privacy' not in closed


def test_a_wrong_value_is_refused_with_its_field_marked_and_nothing_saved(
    web_app: FastAPI,
) -> None:
    """422: the form again with what was typed, the wrong field marked and its message linked."""
    _customer(web_app, "wrong.value@example.fi")
    client = TestClient(web_app)
    request_id = _verified(web_app, client, "wrong.value@example.fi")
    where = f"/privacy/request/{request_id}?lang=en"
    refused = client.post(
        f"/privacy/request/{request_id}/changes?lang=en",
        data={
            "csrftoken": _csrf(client.get(where).text),
            "customer.city": "Vantaa",
            "vehicle.model_year": "last spring",
        },
    )
    assert refused.status_code == 422
    assert "changes" not in _details(web_app, request_id)
    form = _controls(refused.text)
    wrong = form.controls["vehicle.model_year"]
    assert wrong.get("aria-invalid") == "true"
    message_id = f"{wrong['id']}-error"
    assert message_id in str(wrong.get("aria-describedby")).split()
    assert re.search(rf'id="{message_id}">Write a whole number', refused.text)
    assert form.controls["customer.city"].get("aria-invalid") is None
    assert form.controls["customer.city"].get("value") == "Vantaa"  # what they typed stays
    assert "Nothing was saved" in refused.text
    empty = client.post(
        f"/privacy/request/{request_id}/changes?lang=en",
        data={"csrftoken": _csrf(refused.text), "customer.city": "  "},
    )
    assert empty.status_code == 422 and "Fill in at least one thing" in empty.text
    switched = client.get(f"/privacy/request/{request_id}/changes?lang=fi", follow_redirects=False)
    assert switched.status_code == 303  # a refused form's language links lead back to the page
    assert switched.headers["location"] == f"/privacy/request/{request_id}?lang=fi#correct"


def test_the_change_form_needs_this_browsers_verified_rectification(web_app: FastAPI) -> None:
    """Another browser, or a request of another right, gets the code page and nothing saved."""
    _customer(web_app, "cookie.needed@example.fi")
    owner = TestClient(web_app)
    request_id = _verified(web_app, owner, "cookie.needed@example.fi")
    stranger = TestClient(web_app)
    token = _csrf(stranger.get("/privacy/request?lang=en").text)
    forged = stranger.post(
        f"/privacy/request/{request_id}/changes",
        data={"csrftoken": token, "customer.city": "Turku"},
    )
    assert forged.status_code == 404 and 'name="code"' in forged.text
    assert "changes" not in _details(web_app, request_id)
    access = _verified(web_app, owner, "cookie.needed@example.fi", kind="access")
    other = owner.post(
        f"/privacy/request/{access}/changes",
        data={"csrftoken": _csrf(owner.get("/privacy/request").text), "customer.city": "Turku"},
    )
    assert other.status_code == 404 and 'name="code"' in other.text


# ── in the browser ─────────────────────────────────────────────────────────────────────────


def _axe_serious(page: Page) -> list[str]:
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    violations = Axe().run(page).response["violations"]
    return [v["id"] for v in violations if v["impact"] in {"serious", "critical"}]


def _tab_to(page: Page, element_id: str, *, limit: int = 80) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} is not reachable with Tab")


@pytest.mark.browser
@pytest.mark.slow
def test_the_form_and_its_refusal_pass_axe_and_load_nothing_from_elsewhere(
    web_app: FastAPI, browser: Browser, base_url: str
) -> None:
    """axe-core: no serious or critical violation on the form, nor on the 422 that marks a field."""
    _customer(web_app, "axe.form@example.fi")
    context = browser.new_context()
    elsewhere: list[str] = []
    context.on("request", lambda r: None if r.url.startswith(base_url) else elsewhere.append(r.url))
    page = context.new_page()
    page.goto(f"{base_url}/privacy/request?lang=en")
    page.check("#type-rectification")
    page.fill("#email", "axe.form@example.fi")
    with page.expect_navigation():
        page.click("button[type=submit]")
    request_id = page.url.split("/privacy/request/")[1].split("?")[0]
    page.fill("#code", _code(web_app, request_id))
    with page.expect_navigation():
        page.click("button[type=submit]")
    assert page.locator("#correct").is_visible()
    assert _axe_serious(page) == []
    page.fill("#change-vehicle-model_year", "soon")
    with page.expect_navigation() as navigation:
        page.click("section[aria-labelledby=correct] button[type=submit]")
    response = navigation.value
    assert response is not None and response.status == 422
    field = page.locator("#change-vehicle-model_year")
    assert field.get_attribute("aria-invalid") == "true"
    assert page.locator("#change-vehicle-model_year-error").is_visible()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "rectification-refused-en.png", full_page=True)
    assert _axe_serious(page) == []
    assert elsewhere == []
    context.close()


@pytest.mark.browser
@pytest.mark.slow
def test_a_customer_corrects_their_data_with_the_keyboard_alone_without_javascript(
    web_app: FastAPI, browser: Browser, base_url: str
) -> None:
    """No script, no mouse: choose the right, verify, type the new city, send; staff apply it."""
    email = "keys.rectify@example.fi"
    sid = _customer(web_app, email)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{base_url}/privacy/request?lang=en")
    page.keyboard.press("Tab")  # the skip link
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.name") == "type":
            break
    for _ in range(3):  # access, portability, rectification
        if page.evaluate("document.activeElement.id") == "type-rectification":
            break
        page.keyboard.press("ArrowDown")  # moves to the next right and chooses it
    assert page.evaluate("document.activeElement.checked")
    _tab_to(page, "email")
    page.keyboard.type(email)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    request_id = page.url.split("/privacy/request/")[1].split("?")[0]
    _tab_to(page, "code")
    page.keyboard.type(_code(web_app, request_id))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    _tab_to(page, "change-customer-city")
    page.keyboard.type("Vantaa")
    _tab_to(page, "change-vehicle-tyre_type")
    page.keyboard.type("w")  # a closed select chooses the first value starting with the letter
    assert page.evaluate("document.activeElement.value") == "winter"
    _tab_to(page, "change-visit-mileage_km")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # Enter in a text field sends its form
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / "rectification-stated-en.png", full_page=True)
    listed = page.locator("section[aria-labelledby=stated]")
    assert "Vantaa" in listed.inner_text() and "winter" in listed.inner_text()
    staff = staff_header(web_app, "owner")
    done = TestClient(web_app).post(f"/v1/dsar/{request_id}/complete", headers=staff)
    assert done.status_code == 200, done.text
    with web_app.state.sessions() as session:
        data = read_subject(session, web_app.state.store, sid)
    assert data["customer"][0].values["city"] == "Vantaa"
    assert data["vehicle"][0].values["tyre_type"] == "winter"
    page.reload()
    assert "Done" in page.locator("main").inner_text()
    context.close()
