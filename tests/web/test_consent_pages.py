"""A customer signs in to the privacy center by a code and gives and withdraws consent."""

from __future__ import annotations

import json
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from consent.receipts import verify_receipt
from consent.service import history, subject_consents
from dsar.requests.tables import Outbox, SignInRow
from tests.web.conftest import SHOTS
from tests.web.test_request_pages import _axe_serious, _csrf, _customer

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def _code(app: FastAPI, email: str) -> str:
    """The latest code sent to ``email``. The code is queued just after the page answers (a
    background task), so over real HTTP it may arrive a moment later: read until it does."""
    deadline = time.monotonic() + 20
    while True:
        with app.state.sessions() as session:
            body = session.scalars(
                select(Outbox.body).where(Outbox.to == email).order_by(Outbox.id.desc())
            ).first()
        found = re.search(r"\b(\d{6})\b", body or "")
        if found:
            return found.group(1)
        assert time.monotonic() < deadline, f"no code was sent to {email}"
        time.sleep(0.05)


def _start(client: TestClient, email: str, *, lang: str = "en") -> str:
    form = client.get(f"/privacy/consents?lang={lang}")
    answer = client.post(
        f"/privacy/consents?lang={lang}",
        data={"csrftoken": _csrf(form.text), "email": email},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    return str(answer.headers["location"])


def _sign_in(app: FastAPI, client: TestClient, email: str, **headers: str) -> str:
    where = _start(client, email)
    page = client.get(where)
    answer = client.post(
        where,
        data={"csrftoken": _csrf(page.text), "code": _code(app, email)},
        headers=headers,
        follow_redirects=False,
    )
    assert answer.status_code == 303
    return str(answer.headers["set-cookie"])


def _choose(client: TestClient, use: str, state: str, **headers: str) -> Any:
    page = client.get("/privacy/consents?lang=en", headers=headers)
    return client.post(
        "/privacy/consents/choice?lang=en",
        data={"csrftoken": _csrf(page.text), "use": use, "state": state},
        headers=headers,
        follow_redirects=False,
    )


def _lawful(app: FastAPI, subject_id: str) -> set[str]:
    """The consent purposes the ledger lets the controller act on now (audiences read it)."""
    with app.state.sessions() as session:
        state = subject_consents(session, app.state.strategy, subject_id)
    return {c.use for c in state.current if c.lawful}


def _card(page: str, use: str) -> str:
    start = page.index(f'id="use-{use}"')
    return page[start : page.index("</section>", start)]


def test_a_customer_and_a_stranger_see_the_same_sign_in_pages(web_app: FastAPI) -> None:
    """Starting a sign-in answers the same redirect and the same code page for anyone."""
    _customer(web_app, "known.consent@example.fi")
    pages = []
    for email in ("known.consent@example.fi", "stranger.consent@example.fi"):
        client = TestClient(web_app)
        page = client.get(_start(client, email)).text
        pages.append(re.sub(r"[0-9a-f]{32}|csrftoken\" value=\"[^\"]+\"", "X", page))
    assert pages[0] == pages[1]


def test_give_and_withdraw_one_click_each_with_signed_receipts(web_app: FastAPI) -> None:
    """Signed in: each purpose with its state; give, then withdraw; both receipts verify and the
    audience follows at once."""
    email = "gives@example.fi"
    sid = _customer(web_app, email)
    client = TestClient(web_app)
    cookie = _sign_in(web_app, client, email)
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Path=/privacy/consents" in cookie
    page = client.get("/privacy/consents?lang=en").text
    assert "Not asked yet" in _card(page, "seasonal-reminders")
    assert ">Give</button>" in _card(page, "seasonal-reminders")

    given = _choose(client, "seasonal-reminders", "given")
    assert given.status_code == 303
    page = client.get(given.headers["location"]).text
    card = _card(page, "seasonal-reminders")
    assert "You have given consent" in card and ">Withdraw</button>" in card
    assert "privacy-notice-2026-01" in card
    assert _lawful(web_app, sid) == {"seasonal-reminders"}

    withdrawn = _choose(client, "seasonal-reminders", "withdrawn")
    assert withdrawn.status_code == 303
    page = client.get(withdrawn.headers["location"]).text
    assert "You have withdrawn consent" in _card(page, "seasonal-reminders")
    assert _lawful(web_app, sid) == set()
    with web_app.state.sessions() as session:
        events = history(session, sid)
        audited = web_app.state.audit.entries(session, subject_id=sid, limit=50)
    recorded = [e for e in audited if e.action == "consent.recorded"]
    assert [(e.actor, json.loads(e.details)["state"]) for e in recorded] == [
        ("subject", "given"),
        ("subject", "withdrawn"),
    ]
    assert "privacy.signed_in" in {e.action for e in audited}
    assert [e.state for e in events] == ["given", "withdrawn"]
    assert {e.method for e in events} == {"privacy_center"}
    assert {e.source for e in events} == {"privacy-center"}
    for event in events:
        download = client.get(f"/privacy/consents/receipts/{event.id}")
        assert download.status_code == 200
        assert "attachment" in download.headers["content-disposition"]
        check = verify_receipt(json.loads(download.content)["receipt"])
        assert check.valid and check.claims and check.claims["piiPrincipalId"] == sid


def test_a_receipt_is_only_for_its_own_subject(web_app: FastAPI) -> None:
    """Another signed-in customer asking for someone's receipt gets a 404."""
    first, second = "receipt.one@example.fi", "receipt.two@example.fi"
    sid = _customer(web_app, first)
    _customer(web_app, second)
    owner = TestClient(web_app)
    _sign_in(web_app, owner, first)
    assert _choose(owner, "seasonal-reminders", "given").status_code == 303
    with web_app.state.sessions() as session:
        (event,) = history(session, sid)
    other = TestClient(web_app)
    _sign_in(web_app, other, second)
    assert other.get(f"/privacy/consents/receipts/{event.id}").status_code == 404
    nobody = TestClient(web_app)
    assert nobody.get(f"/privacy/consents/receipts/{event.id}").status_code == 401


def test_global_privacy_control_refuses_marketing_and_blocks_giving_it(web_app: FastAPI) -> None:
    """Sec-GPC: 1 at sign-in refuses the direct-marketing consent; giving it is refused while
    the signal is sent; a consent of another kind can still be given."""
    email = "gpc@example.fi"
    sid = _customer(web_app, email)
    client = TestClient(web_app)
    _sign_in(web_app, client, email, **{"Sec-GPC": "1"})
    page = client.get("/privacy/consents?lang=en", headers={"Sec-GPC": "1"}).text
    assert "Global Privacy Control" in page
    marketing = _card(page, "seasonal-reminders")
    assert "You have said no" in marketing and ">Give</button>" not in marketing
    assert ">Give</button>" in _card(page, "accessibility-service")
    refused = _choose(client, "seasonal-reminders", "given", **{"Sec-GPC": "1"})
    assert refused.status_code == 409
    assert _choose(client, "accessibility-service", "given").status_code == 303
    with web_app.state.sessions() as session:
        states = {(e.use, e.state, e.method) for e in history(session, sid)}
    assert states == {
        ("seasonal-reminders", "refused", "gpc_signal"),
        ("accessibility-service", "given", "privacy_center"),
    }


def test_signing_out_ends_the_sign_in_and_a_lapsed_one_changes_nothing(
    web_app: FastAPI,
) -> None:
    """After sign-out the old cookie opens nothing; a lapsed sign-in cannot give consent."""
    email = "signout@example.fi"
    sid = _customer(web_app, email)
    client = TestClient(web_app)
    cookie = _sign_in(web_app, client, email)
    value = cookie.split(";")[0].split("=", 1)[1]
    page = client.get("/privacy/consents?lang=en").text
    out = client.post("/privacy/consents/sign-out?lang=en", data={"csrftoken": _csrf(page)})
    assert "You have signed out." in out.text
    replay = TestClient(web_app)
    replay.cookies.set("tt_consents", value, path="/privacy/consents")
    assert "Send me a code" in replay.get("/privacy/consents?lang=en").text

    again = TestClient(web_app)
    _sign_in(web_app, again, email)
    page = again.get("/privacy/consents?lang=en").text
    signin_id = value.split(":")[0]
    with web_app.state.sessions() as session:
        session.execute(
            update(SignInRow)
            .where(SignInRow.id != signin_id, SignInRow.subject_id == sid)
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        session.commit()
    lapsed = again.post(
        "/privacy/consents/choice?lang=en",
        data={"csrftoken": _csrf(page), "use": "seasonal-reminders", "state": "given"},
    )
    assert lapsed.status_code == 401 and "Your sign-in has ended" in lapsed.text
    with web_app.state.sessions() as session:
        assert history(session, sid) == []


def test_forty_wrong_codes_at_once_over_http_take_five_attempts(
    web_app: FastAPI, base_url: str
) -> None:
    """Real HTTP, real threads: however many guesses arrive, five are compared."""
    email = "guessed@example.fi"
    _customer(web_app, email)
    with httpx.Client(base_url=base_url, follow_redirects=True) as client:
        form = client.get("/privacy/consents?lang=en")
        started = client.post(
            "/privacy/consents?lang=en", data={"csrftoken": _csrf(form.text), "email": email}
        )
        where = str(started.url)
        token = _csrf(started.text)
        right = _code(web_app, email)
        wrong = "000000" if right != "000000" else "111111"
        cookies = dict(client.cookies)
    start = threading.Barrier(40, timeout=30)

    def guess() -> int:
        with httpx.Client(cookies=cookies, timeout=60) as own:
            start.wait()
            return own.post(where, data={"csrftoken": token, "code": wrong}).status_code

    with ThreadPoolExecutor(40) as pool:
        codes = [f.result(timeout=120) for f in [pool.submit(guess) for _ in range(40)]]
    assert set(codes) <= {422, 429} and 500 not in codes
    with web_app.state.sessions() as session:
        signin_id = where.split("/sign-in/")[1].split("?")[0]
        assert web_app.state.services.signins.attempts_left(session, signin_id) == 0
    with httpx.Client(cookies=cookies) as late:
        answer = late.post(where, data={"csrftoken": token, "code": right})
    assert answer.status_code in {422, 429} and "tt_consents" not in answer.headers.get(
        "set-cookie", ""
    )


# ── in the browser ─────────────────────────────────────────────────────────────────────────


def _tab_to(page: Page, selector: str, *, limit: int = 60) -> None:
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")


@pytest.mark.browser
@pytest.mark.slow
@pytest.mark.parametrize("language", ["fi", "en"])
def test_a_customer_manages_consents_with_the_keyboard_alone(
    web_app: FastAPI, browser: Browser, base_url: str, language: str
) -> None:
    """Without JavaScript: type the email, the code, give a consent, withdraw it; every page
    passes axe and nothing is loaded from another host."""
    email = f"consent.keys.{language}@example.fi"
    _customer(web_app, email)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    elsewhere: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(base_url) else elsewhere.append(r.url),
    )
    seen: list[str] = []
    page.goto(f"{base_url}/privacy/consents?lang={language}")
    seen.append(page.url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"consents-sign-in-{language}.png", full_page=True)
    _tab_to(page, "#email")
    page.keyboard.type(email)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    seen.append(page.url)
    page.screenshot(path=SHOTS / f"consents-code-{language}.png", full_page=True)
    _tab_to(page, "#code")
    page.keyboard.type(_code(web_app, email))
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "/privacy/consents" in page.url and "sign-in" not in page.url
    _tab_to(page, "#use-seasonal-reminders button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.screenshot(path=SHOTS / f"consents-given-{language}.png", full_page=True)
    card = page.locator("#use-seasonal-reminders")
    withdraw = "Peru" if language == "fi" else "Withdraw"
    assert card.locator("button").inner_text().startswith(withdraw)
    _tab_to(page, "#use-seasonal-reminders button")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    give = "Anna" if language == "fi" else "Give"
    assert page.locator("#use-seasonal-reminders button").inner_text().startswith(give)
    assert len(page.locator("a[href^='/privacy/consents/receipts/']").all()) == 2
    cookies = context.cookies()
    context.close()
    assert elsewhere == []

    checked = browser.new_context()
    checked.add_cookies(cookies)  # type: ignore[arg-type]  # Cookie and SetCookieParam agree
    audit_page = checked.new_page()
    for url in [*seen, f"{base_url}/privacy/consents?lang={language}"]:
        audit_page.goto(url)
        assert _axe_serious(audit_page) == [], url
    checked.close()
