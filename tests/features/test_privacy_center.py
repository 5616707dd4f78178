"""Bindings of privacy_center.feature: Debian's Chromium drives the pages of a running service.

The customer's steps click and type as a person would, finding controls by the words on the
page (in the page's own language, from the UI's catalogue); only privacy staff's part and the
checks of what the company now holds go past the pages, through the JSON API and the database.
"""

from __future__ import annotations

import io
import itertools
import json
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pytest_bdd import given, parsers, scenarios, then, when
from sqlalchemy import select

from consent.service import record_consent, subject_consents
from dsar.requests import Outbox
from dsar.web.i18n import translations
from kernel.db import transaction
from records.restrictions import active_flags
from records.store import read_subject
from tests.features.conftest import hold_customer
from tests.support import staff_header

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

scenarios("privacy_center.feature")

LOCALES = {"English": "en-GB", "Finnish": "fi-FI"}
"""The browser's language setting (its ``Accept-Language``) for each language a step names."""

_PHONES = itertools.count(4_000_000)  # one database serves the module: a phone per customer


@dataclass(frozen=True)
class Customer:
    """A person the company holds, as a scenario knows them."""

    email: str
    subject_id: str


@pytest.fixture
def client(web_app: FastAPI) -> TestClient:
    """The served app in-process: privacy staff's API calls and the store's own view."""
    return TestClient(web_app)


@pytest.fixture
def new_page(browser: Browser, base_url: str) -> Iterator[Callable[[str], Page]]:
    """Opens a page in a browser of its own (no cookies shared) set to a language."""
    contexts = []

    def open_page(language: str) -> Page:
        known = ", ".join(LOCALES)
        assert language in LOCALES, f"{language!r} is not a language the steps know: {known}"
        context = browser.new_context(locale=LOCALES[language], base_url=base_url)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def _state(client: TestClient) -> Any:
    return client.app.state  # type: ignore[attr-defined]


def _say(page: Page, text: str) -> str:
    """``text`` (an English UI string) in the language the page is written in."""
    # a locator waits for the document (evaluate would meet a page still navigating)
    language = str(page.locator("html").get_attribute("lang"))
    return str(translations(language).gettext(text))


def _request_id(page: Page) -> str:
    found = re.search(r"/privacy/request/([0-9a-f]{32})", page.url)
    assert found, f"the browser is not on a request's page but on {page.url}"
    return found.group(1)


def _code_mail(client: TestClient, request_id: str) -> str:
    """The body of the newest message with a code for ``request_id``.

    The code is queued after the answer (so opening answers alike for everyone): wait for it.
    """
    deadline = time.monotonic() + 20
    while True:
        with _state(client).sessions() as session:
            bodies = session.scalars(
                select(Outbox.body)
                .where(Outbox.request_id == request_id)
                .order_by(Outbox.id.desc())
            ).all()
        for body in bodies:
            if re.search(r"\b\d{6}\b", body):
                return body
        assert time.monotonic() < deadline, f"no code was sent for request {request_id}"
        time.sleep(0.05)


def _ask(page: Page, right: str, email: str) -> None:
    """From the privacy center's home: make a request for ``right`` naming ``email``."""
    page.get_by_role("link", name=_say(page, "Make a request")).first.click()
    page.get_by_role("radio", name=right, exact=True).check()
    page.get_by_label(_say(page, "Email"), exact=True).fill(email)
    page.get_by_role("button", name=_say(page, "Send"), exact=True).click()
    page.wait_for_url(re.compile(r"/privacy/request/[0-9a-f]{32}"))


def _enter(page: Page, code: str) -> None:
    page.get_by_label(_say(page, "Code"), exact=True).fill(code)
    with page.expect_navigation():  # to the status page, or the code page again (same URL)
        page.get_by_role("button", name=_say(page, "Verify"), exact=True).click()


# ── Given ────────────────────────────────────────────────────────────────────────────────────


@given(
    parsers.parse('"{email}" is a customer with a car and a past visit'),
    target_fixture="customer",
)
def a_customer(client: TestClient, email: str) -> Customer:
    phone = f"040{next(_PHONES):07d}"
    return Customer(email, hold_customer(client, email, visit=True, phone=phone))


@given(parsers.parse('the customer has consented to "{use}"'))
def has_consented(client: TestClient, customer: Customer, use: str) -> None:
    state = _state(client)
    with transaction(state.sessions) as session:
        record_consent(
            session,
            state.strategy,
            signer=state.consent_signer,
            subject_id=customer.subject_id,
            use=use,
            state="given",
            source="booking-form",
            notice="privacy-notice-2026-01",
        )


# ── When ─────────────────────────────────────────────────────────────────────────────────────


@when(parsers.parse("the customer opens the privacy center in {language}"), target_fixture="page")
def opens(new_page: Callable[[str], Page], language: str) -> Page:
    page = new_page(language)
    page.goto("/privacy")
    return page


@when(parsers.parse('the customer asks to "{right}", giving the email address'))
def asks(page: Page, customer: Customer, right: str) -> None:
    _ask(page, right, customer.email)


@when(
    parsers.parse('a stranger, "{email}", asks to "{right}" in {language} in another browser'),
    target_fixture="stranger_page",
)
def stranger_asks(new_page: Callable[[str], Page], email: str, right: str, language: str) -> Page:
    page = new_page(language)
    page.goto("/privacy")
    _ask(page, right, email)
    return page


@when("the customer enters the code from the email")
def enters_code(page: Page, client: TestClient) -> None:
    request_id = _request_id(page)
    mail = _code_mail(client, request_id)
    assert f"/privacy/request/{request_id}" in mail, "the email links to the request's page"
    code = re.search(r"\b(\d{6})\b", mail)
    assert code
    _enter(page, code.group(1))


@when("the customer enters a code other than the one in the email")
def enters_wrong_code(page: Page, client: TestClient) -> None:
    code = re.search(r"\b(\d{6})\b", _code_mail(client, _request_id(page)))
    assert code
    _enter(page, f"{(int(code.group(1)) + 1) % 1_000_000:06d}")


@when("privacy staff complete the request")
def staff_complete(page: Page, client: TestClient) -> None:
    answer = client.post(
        f"/v1/dsar/{_request_id(page)}/complete",
        headers=staff_header(client.app, "service-advisor"),
    )
    assert answer.status_code == 200, answer.text


@when("the customer opens the request's page again")
def opens_again(page: Page) -> None:
    page.goto(page.url.split("#")[0])  # a fragment alone would not load the page again


@when(parsers.parse('the customer downloads "{button}"'), target_fixture="download")
def downloads(page: Page, button: str) -> bytes:
    with page.expect_download() as started:
        page.get_by_role("link", name=button, exact=True).click()
    path = started.value.path()
    return path.read_bytes()


@when(parsers.parse('the customer writes "{value}" as the new "{label}" and sends it'))
def states_change(page: Page, value: str, label: str) -> None:
    page.get_by_label(label, exact=True).fill(value)
    with page.expect_navigation():
        page.get_by_role("button", name=_say(page, "Send"), exact=True).click()


@when("the customer signs in to manage consents with the email address")
def signs_in(page: Page, client: TestClient, customer: Customer) -> None:
    with page.expect_navigation():
        page.get_by_role("link", name=_say(page, "Manage your consents")).first.click()
    page.get_by_label(_say(page, "Email"), exact=True).fill(customer.email)
    page.get_by_role("button", name=_say(page, "Send me a code"), exact=True).click()
    page.wait_for_url(re.compile(r"/privacy/consents/sign-in/[0-9a-f]{32}"))
    deadline = time.monotonic() + 20
    while True:  # queued just after the page answers, like a request's code
        with _state(client).sessions() as session:
            body = session.scalars(
                select(Outbox.body).where(Outbox.to == customer.email).order_by(Outbox.id.desc())
            ).first()
        code = re.search(r"\b(\d{6})\b", body or "")
        if code:
            break
        assert time.monotonic() < deadline, f"no sign-in code was sent to {customer.email}"
        time.sleep(0.05)
    assert "/privacy/consents/sign-in/" in (body or ""), "the email links to the sign-in page"
    _enter(page, code.group(1))


@when(parsers.parse('the customer clicks "{button}" for "{use}"'))
def clicks_for(page: Page, button: str, use: str) -> None:
    with page.expect_navigation():
        page.locator(f"#use-{use}").get_by_role("button", name=button).click()


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


def _text(page: Page) -> str:
    return " ".join(page.locator("main").inner_text().split())


@then(parsers.parse('the page says "{text}"'))
def page_says(page: Page, text: str) -> None:
    assert text in _text(page), _text(page)


@then(parsers.parse('the file holds the customer\'s "{a}", "{b}" and "{c}" records'))
def file_holds(download: bytes, customer: Customer, a: str, b: str, c: str) -> None:
    bundle = json.loads(download)
    assert bundle["subject"] == customer.subject_id
    for entity in (a, b, c):
        assert bundle["data"].get(entity), f"the file holds no {entity} records"
    assert customer.email in json.dumps(bundle["data"]["customer"]), "the file is someone else's"


@then(parsers.parse('the zip holds a README and the customer\'s "{a}", "{b}" and "{c}" records'))
def zip_holds(download: bytes, a: str, b: str, c: str) -> None:
    names = zipfile.ZipFile(io.BytesIO(download)).namelist()
    assert any(n.upper().startswith("README") for n in names), names
    for entity in (a, b, c):
        assert f"data/{entity}.csv" in names, names


@then(parsers.parse('the page lists "{entity}" records as erased'))
def says_erased(page: Page, entity: str) -> None:
    erased = page.locator("main p", has_text=re.compile(r"^\s*Erased:"))
    assert re.search(rf"\b{re.escape(entity)} \(\d+\)", erased.inner_text()), _text(page)


@then(parsers.parse('the page lists "{entity}" records as kept because of "{law}"'))
def says_kept(page: Page, entity: str, law: str) -> None:
    kept = page.locator("main p", has_text=re.compile(r"^\s*Kept until"))
    lines = [" ".join(t.split()) for t in kept.all_inner_texts()]
    assert any(f": {entity} (" in line and law in line for line in lines), lines


@then(parsers.parse('the company no longer holds the customer\'s "{entity}" records'))
def no_longer_holds(client: TestClient, customer: Customer, entity: str) -> None:
    state = _state(client)
    with state.sessions() as session:
        data = read_subject(session, state.store, customer.subject_id)
    assert not data.get(entity), data.get(entity)


@then(parsers.parse('a "{kind}" stands against the customer in the company\'s records'))
@then(parsers.parse('an "{kind}" stands against the customer in the company\'s records'))
def stands(client: TestClient, customer: Customer, kind: str) -> None:
    with _state(client).sessions() as session:
        kinds = [f.kind for f in active_flags(session, customer.subject_id)]
    assert kind in kinds, kinds


@then(parsers.parse('the customer\'s consent to "{use}" is "{state}"'))
def consent_is(client: TestClient, customer: Customer, use: str, state: str) -> None:
    app_state = _state(client)
    with app_state.sessions() as session:
        current = subject_consents(session, app_state.strategy, customer.subject_id).current
    assert {c.use: c.state for c in current}[use] == state


@then("the stranger's page reads exactly like the customer's")
def reads_alike(page: Page, stranger_page: Page) -> None:
    assert stranger_page.title() == page.title()
    assert stranger_page.locator("body").inner_text() == page.locator("body").inner_text()
    assert re.sub("[0-9a-f]{32}", "ID", stranger_page.url) == re.sub("[0-9a-f]{32}", "ID", page.url)


@then(parsers.parse('the company\'s record of the customer holds "{value}" as "{field}"'))
def record_holds(client: TestClient, customer: Customer, value: str, field: str) -> None:
    app_state = _state(client)
    with app_state.sessions() as session:
        records = read_subject(session, app_state.store, customer.subject_id)
    assert [r.values.get(field) for r in records["customer"]] == [value]


@then(parsers.parse("the page offers {count:d} signed receipts to download"))
def receipts_offered(page: Page, count: int) -> None:
    assert page.locator("a[href^='/privacy/consents/receipts/']").count() == count
