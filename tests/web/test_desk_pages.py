"""Privacy staff work requests at the desk: sign in with a personal token, the inbox, every
action under the person's name, the audit log, and a day's work in Chromium."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from audit.tables import AuditEntry
from dsar.auth import issue_token, revoke_token
from dsar.desk.sessions import IDLE_TIMEOUT, MAX_AGE
from dsar.requests.tables import RequestRow
from dsar.tables import desk_sessions
from dsar.web.i18n import translations
from kernel.db import transaction
from tests.dsar.erasure_support import WEBSHOP_ENV, create_orders, orders_of, webshop_strategy
from tests.support import make_app
from tests.web.conftest import SHOTS
from tests.web.test_request_pages import _axe_serious, _csrf, _customer, _mail, _open

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

PIA = "Pia Privacy"


def _token(app: FastAPI, role: str, name: str) -> str:
    with transaction(app.state.sessions) as session:
        return issue_token(session, app.state.strategy, role=role, name=name)


def _desk(app: FastAPI, token: str) -> TestClient:
    client = TestClient(app)
    form = client.get("/desk/login?lang=en")
    answer = client.post(
        "/desk/login?lang=en",
        data={"csrftoken": _csrf(form.text), "token": token},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return client


def _request(app: FastAPI, email: str, kind: str) -> str:
    where = _open(TestClient(app), email, kind=kind)
    return where.split("/")[-1].split("?")[0]


def _act(client: TestClient, request_id: str, action: str, **form: str) -> Any:
    page = client.get(f"/desk/requests/{request_id}?lang=en")
    return client.post(
        f"/desk/requests/{request_id}?lang=en",
        data={"csrftoken": _csrf(page.text), "action": action, **form},
        follow_redirects=False,
    )


def _actors(app: FastAPI, request_id: str) -> list[tuple[str, str]]:
    with app.state.sessions() as session:
        rows = session.execute(
            select(AuditEntry.actor, AuditEntry.action)
            .where(AuditEntry.request_id == request_id)
            .order_by(AuditEntry.seq)
        ).all()
    return [(r.actor, r.action) for r in rows]


def test_a_wrong_token_and_a_role_without_the_duty_open_nothing(web_app: FastAPI) -> None:
    """An unknown token is a 401, a mechanic's a 403; neither gets a desk cookie."""
    client = TestClient(web_app)
    form = client.get("/desk/login?lang=en")
    unknown = client.post(
        "/desk/login?lang=en", data={"csrftoken": _csrf(form.text), "token": "tt_" + "x" * 40}
    )
    assert unknown.status_code == 401 and "unknown or has been revoked" in unknown.text
    mechanic = client.post(
        "/desk/login?lang=en",
        data={"csrftoken": _csrf(form.text), "token": _token(web_app, "mechanic", "Matti")},
    )
    assert mechanic.status_code == 403 and "neither the requests nor the audit duty" in (
        mechanic.text
    )
    assert "tt_desk" not in client.cookies
    assert client.get("/desk/requests", follow_redirects=False).status_code == 303


def test_sign_in_sets_a_strict_desk_cookie_and_names_the_person(web_app: FastAPI) -> None:
    """The session cookie is HttpOnly, SameSite=Strict and scoped to /desk; the page names the
    person and role; the staff token itself is not in the cookie."""
    token = _token(web_app, "owner", PIA)
    client = TestClient(web_app)
    form = client.get("/desk/login?lang=en")
    answer = client.post(
        "/desk/login?lang=en",
        data={"csrftoken": _csrf(form.text), "token": token},
        follow_redirects=False,
    )
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/desk" in cookie
    assert token not in cookie
    page = client.get("/desk/requests?lang=en")
    assert f"{PIA} (owner)" in page.text


def test_the_inbox_orders_by_due_date_marks_overdue_and_filters(web_app: FastAPI) -> None:
    """Due first at the top, overdue marked, a long-unverified request flagged; filters by
    type and status; a filter that is no choice is said so."""
    _customer(web_app, "inbox.a@example.fi")
    late = _request(web_app, "inbox.a@example.fi", "access")
    soon = _request(web_app, "inbox.b@example.fi", "objection")
    with transaction(web_app.state.sessions) as session:
        session.execute(
            update(RequestRow)
            .where(RequestRow.id == late)
            .values(
                due_at=date.today() - timedelta(days=2),
                received_at=datetime.now(UTC) - timedelta(days=40),
            )
        )
    client = _desk(web_app, _token(web_app, "owner", PIA))
    page = client.get("/desk/requests?lang=en").text
    assert page.index(late) < page.index(soon)
    row = page[page.index(late) : page.index("</tr>", page.index(late))]
    assert "2 days overdue" in row and "Unverified for over 3 days" in row
    only = client.get("/desk/requests?lang=en&type=objection").text
    assert soon in only and late not in only
    wrong = client.get("/desk/requests?lang=en&status=lost")
    assert wrong.status_code == 422 and "not one of the choices" in wrong.text
    empty = client.get("/desk/requests?lang=en&type=portability&status=verified").text
    assert "No open request matches these filters." in empty


def test_every_action_is_audited_under_the_persons_name(web_app: FastAPI) -> None:
    """Verify in person, extend, complete; refuse another: each action names the person, and
    the requester is told of the extension and the refusal."""
    _customer(web_app, "actions@example.fi")
    client = _desk(web_app, _token(web_app, "owner", PIA))
    first = _request(web_app, "actions@example.fi", "access")
    empty = _act(client, first, "verify", note=" ")
    assert empty.status_code == 422 and "how the identity was checked" in empty.text
    assert _act(client, first, "verify", note="passport at the Espoo desk").status_code == 303
    assert _act(client, first, "extend", reason="Two systems to search.").status_code == 303
    again = _act(client, first, "extend", reason="Still more.")
    assert again.status_code == 422 and "only once" in again.text
    assert _act(client, first, "complete").status_code == 303
    second = _request(web_app, "actions@example.fi", "erasure")
    assert _act(client, second, "verify", note="known to the advisor").status_code == 303
    refused = _act(client, second, "reject", ground="excessive", reason="Asked daily.")
    assert refused.status_code == 303
    person = f"person:{PIA} (role:owner)"
    assert [a for a in _actors(web_app, first) if a[0] == person] == [
        (person, "dsar.verified"),
        (person, "dsar.extended"),
        (person, "dsar.completed"),
    ]
    assert (person, "dsar.rejected") in _actors(web_app, second)
    mail = _mail(web_app, second)
    assert mail is not None and "Asked daily." in mail.body
    page = client.get(f"/desk/requests/{first}?lang=en").text
    assert "Two systems to search." in page and not re.search(r"Your code is \d{6}", page)


def test_an_auditor_reads_the_log_but_not_the_inbox(web_app: FastAPI) -> None:
    """The audit duty opens the log (filters, verification); the inbox says it is not theirs."""
    client = _desk(web_app, _token(web_app, "auditor", "Aulis Auditor"))
    assert client.get("/desk?lang=en", follow_redirects=True).url.path == "/desk/audit"
    inbox = client.get("/desk/requests?lang=en")
    assert inbox.status_code == 403 and "requests duty" in inbox.text
    log = client.get("/desk/audit?lang=en&action=desk.signed_in").text
    assert "person:Aulis Auditor (role:auditor)" in log
    bad = client.get("/desk/audit?lang=en&since=yesterday")
    assert bad.status_code == 422 and "year-month-day" in bad.text
    checked = client.post("/desk/audit/verify?lang=en", data={"csrftoken": _csrf(log)})
    assert "The chain is intact" in checked.text
    advisor = _desk(web_app, _token(web_app, "service-advisor", "Sanna"))
    assert advisor.get("/desk/audit?lang=en").status_code == 403


def test_idleness_a_revoked_token_and_sign_out_end_the_session(web_app: FastAPI) -> None:
    """Twenty idle minutes, revoking the staff token or signing out: the next page is the
    sign-in page."""
    client = _desk(web_app, _token(web_app, "owner", "Idle Ida"))
    assert client.get("/desk/requests?lang=en").status_code == 200
    session_id = client.cookies["tt_desk"].split(":")[0]
    with transaction(web_app.state.sessions) as session:
        session.execute(
            update(desk_sessions)
            .where(desk_sessions.c.id == session_id)
            .values(seen_at=datetime.now(UTC) - timedelta(minutes=21))
        )
    assert client.get("/desk/requests", follow_redirects=False).status_code == 303

    token = _token(web_app, "owner", "Revoked Rea")
    revoked = _desk(web_app, token)
    with transaction(web_app.state.sessions) as session:
        (token_id,) = session.execute(
            select(desk_sessions.c.token_id).where(
                desk_sessions.c.id == revoked.cookies["tt_desk"].split(":")[0]
            )
        ).one()
        revoke_token(session, token_id)
    assert revoked.get("/desk/requests", follow_redirects=False).status_code == 303

    leaving = _desk(web_app, _token(web_app, "owner", "Leaving Leo"))
    page = leaving.get("/desk/requests?lang=en").text
    value = leaving.cookies["tt_desk"]
    out = leaving.post("/desk/logout?lang=en", data={"csrftoken": _csrf(page)})
    assert "You have signed out." in out.text
    replay = TestClient(web_app)
    replay.cookies.set("tt_desk", value, path="/desk")
    assert replay.get("/desk/requests", follow_redirects=False).status_code == 303


def test_retention_deletes_the_desk_sessions_that_have_ended(web_app: FastAPI) -> None:
    """Signed out, idle past IDLE_TIMEOUT or older than MAX_AGE: such a session opens no page
    again, and the purge deletes it (a dry run only counts); a live session stays."""
    now = datetime.now(UTC)
    clients = {
        name: _desk(web_app, _token(web_app, "owner", name)) for name in ("Live", "Idle", "Old")
    }
    ids = {name: c.cookies["tt_desk"].split(":")[0] for name, c in clients.items()}
    leaving = _desk(web_app, _token(web_app, "owner", "Gone"))
    page = leaving.get("/desk/requests?lang=en").text
    ids["Gone"] = leaving.cookies["tt_desk"].split(":")[0]
    leaving.post("/desk/logout?lang=en", data={"csrftoken": _csrf(page)})
    with transaction(web_app.state.sessions) as session:
        for name, values in (
            ("Idle", {"seen_at": now - IDLE_TIMEOUT}),
            ("Old", {"created_at": now - MAX_AGE}),
        ):
            session.execute(
                update(desk_sessions).where(desk_sessions.c.id == ids[name]).values(**values)
            )
    desk = web_app.state.services.desk

    def held() -> set[str]:
        with web_app.state.sessions() as session:
            kept = set(
                session.scalars(
                    select(desk_sessions.c.id).where(desk_sessions.c.id.in_(ids.values()))
                )
            )
        return {name for name, i in ids.items() if i in kept}

    with transaction(web_app.state.sessions) as session:
        assert desk.purge(session, dry_run=True) >= 3
    assert held() == {"Live", "Idle", "Old", "Gone"}
    with transaction(web_app.state.sessions) as session:
        assert desk.purge(session) >= 3
    assert held() == {"Live"}
    assert clients["Live"].get("/desk/requests", follow_redirects=False).status_code == 200


# ── a day at the desk, in the browser ─────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def shop_app(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[FastAPI]:
    """The app over a strategy with a webshop beside the system of record, its database not
    there yet (so the first erasure cannot reach it)."""
    folder = tmp_path_factory.mktemp("desk-day")
    monkey = pytest.MonkeyPatch()
    monkey.setenv(WEBSHOP_ENV, f"sqlite:///{folder / 'missing' / 'shop.db'}")
    request.addfinalizer(monkey.undo)
    yield make_app(folder, strategy=webshop_strategy(folder))


@pytest.fixture(scope="module")
def shop_url(shop_app: FastAPI) -> Iterator[str]:
    from tests.web.conftest import serve

    yield from serve(shop_app)


def _go(page: Page, url: str, shot: str) -> None:
    page.goto(url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{shot}.png", full_page=True)


def _verified_by_code(app: FastAPI, email: str, kind: str) -> tuple[TestClient, str]:
    """A request the customer opened and verified with the code, in their own browser."""
    client = TestClient(app)
    where = _open(client, email, kind=kind)
    request_id = where.split("/")[-1].split("?")[0]
    mail = _mail(app, request_id)
    code = re.search(r"\b(\d{6})\b", mail.body if mail else "")
    assert code, "no code was sent"
    page = client.get(where)
    client.post(where, data={"csrftoken": _csrf(page.text), "code": code.group(1)})
    return client, request_id


@pytest.mark.browser
@pytest.mark.slow
def test_a_day_at_the_desk(
    shop_app: FastAPI, shop_url: str, browser: Browser, tmp_path: Path
) -> None:
    """Sign in; verify an access in person and complete it; an erasure whose webshop is down,
    then its retry; an extension and a refusal; the requester's page shows each outcome; axe
    passes on every desk page; the audit log names the person for each action."""
    liisa = "liisa@example.fi"
    _customer(shop_app, liisa)
    access = _request(shop_app, liisa, "access")
    erasing, erasure = _verified_by_code(shop_app, liisa, "erasure")
    waiting, extended = _verified_by_code(shop_app, liisa, "portability")
    told, refused = _verified_by_code(shop_app, liisa, "restriction")
    token = _token(shop_app, "owner", PIA)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _go(page, f"{shop_url}/desk/login?lang=en", "desk-login-en")
    page.fill("#token", token)
    with page.expect_navigation():
        page.press("#token", "Enter")
    _go(page, f"{shop_url}/desk/requests?lang=en", "desk-inbox-en")
    assert page.locator("table.inbox tbody tr").count() == 4

    page.goto(f"{shop_url}/desk/requests/{access}?lang=en")
    page.fill("#note", "driving licence shown at the Espoo desk")
    with page.expect_navigation():
        page.click("text=Verify in person")
    with page.expect_navigation():
        page.click("button:has-text('Complete')")
    assert "Carried out. The requester has been told." in page.content()

    page.goto(f"{shop_url}/desk/requests/{erasure}?lang=en")
    with page.expect_navigation():
        page.click("button:has-text('Complete')")
    _go(page, page.url, "desk-erasure-pending-en")
    assert "Not reached" in page.content() and "Retry what did not finish" in page.content()
    shop = tmp_path / "shop.db"
    create_orders(f"sqlite:///{shop}")
    retry_env = pytest.MonkeyPatch()
    retry_env.setenv(WEBSHOP_ENV, f"sqlite:///{shop}")
    try:
        with page.expect_navigation():
            page.click("button:has-text('Retry what did not finish')")
    finally:
        retry_env.undo()
    _go(page, page.url, "desk-erasure-done-en")
    assert "Completed" in page.content()
    assert liisa not in orders_of(f"sqlite:///{shop}")

    page.goto(f"{shop_url}/desk/requests/{extended}?lang=en")
    page.fill("#reason-extend", "We must search the archive too.")
    with page.expect_navigation():
        page.click("text=Extend by two months")
    page.goto(f"{shop_url}/desk/requests/{refused}?lang=en")
    page.select_option("#ground", "manifestly_unfounded")
    page.fill("#reason-reject", "The data is not processed at all.")
    with page.expect_navigation():
        page.click("button:has-text('Refuse')")
    _go(page, page.url, "desk-request-en")
    _go(page, f"{shop_url}/desk/audit?lang=en", "desk-audit-en")
    customer = (
        f"{shop_url}/desk/subjects?lang=en&purpose=service-history&identifier=email&value={liisa}"
    )
    _go(page, customer, "desk-customer-en")
    desk_pages = [
        customer,
        f"{shop_url}/desk/login?lang=en",
        f"{shop_url}/desk/requests?lang=en",
        f"{shop_url}/desk/requests/{erasure}?lang=en",
        f"{shop_url}/desk/requests/{refused}?lang=en",
        f"{shop_url}/desk/audit?lang=en",
    ]
    cookies = context.cookies()
    context.close()
    checked = browser.new_context()
    checked.add_cookies(cookies)  # type: ignore[arg-type]  # Cookie and SetCookieParam agree
    axe_page = checked.new_page()
    for url in desk_pages:
        axe_page.goto(url)
        assert _axe_serious(axe_page) == [], url
    checked.close()

    # what each requester now reads on their own request page
    erased = erasing.get(f"/privacy/request/{erasure}?lang=en").text
    assert "What was erased and what was kept" in erased and "Done" in erased
    later = waiting.get(f"/privacy/request/{extended}?lang=en").text
    assert "We must search the archive too." in later and "(extended)" in later
    no = told.get(f"/privacy/request/{refused}?lang=en").text
    assert "The data is not processed at all." in no and "complain" in no
    person = f"person:{PIA} (role:owner)"
    with shop_app.state.sessions() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.actor == person)))
    assert {"desk.signed_in", "dsar.verified", "dsar.completed", "dsar.extended"} <= actions
    assert "dsar.rejected" in actions


def test_the_customer_view_is_masked_per_role_and_audited(web_app: FastAPI) -> None:
    """Found by email for a purpose the role holds: records, consents, restrictions, requests
    and campaigns in one page; the read is audited under the person's name with its purpose;
    an unknown value and a purpose not held are refused."""
    sid = _customer(web_app, "view.me@example.fi")
    _request(web_app, "view.me@example.fi", "access")
    client = _desk(web_app, _token(web_app, "service-advisor", "Sanna Service"))
    page = client.get(
        "/desk/subjects?lang=en&purpose=service-history&identifier=email&value=view.me@example.fi"
    )
    assert page.status_code == 200, page.text
    assert (
        sid in page.text and "Consents" in page.text and "Campaigns that reached them" in page.text
    )
    person = "person:Sanna Service (role:service-advisor)"
    with web_app.state.sessions() as session:
        reads = session.scalars(
            select(AuditEntry).where(
                AuditEntry.subject_id == sid, AuditEntry.action == "subject.read"
            )
        ).all()
    assert [r.actor for r in reads] == [person]
    assert json.loads(reads[0].details)["purpose"] == "service-history"
    missing = client.get(
        "/desk/subjects?lang=en&purpose=service-history&identifier=email&value=nobody@example.fi"
    )
    assert missing.status_code == 404 and "No customer with that value" in missing.text
    refused = client.get(
        "/desk/subjects?lang=en&purpose=bookkeeping&identifier=email&value=view.me@example.fi"
    )
    assert refused.status_code == 403


@pytest.mark.browser
@pytest.mark.slow
def test_the_desk_works_in_finnish_with_the_keyboard_alone(
    web_app: FastAPI, browser: Browser, base_url: str
) -> None:
    """Without JavaScript and without a mouse: sign in, open the first request of the inbox,
    verify it in person with a note; every page passes axe in Finnish."""
    _customer(web_app, "keys.desk@example.fi")
    request_id = _request(web_app, "keys.desk@example.fi", "objection")
    token = _token(web_app, "owner", "Kaisa Näppäin")
    context = browser.new_context(java_script_enabled=False, locale="fi-FI")
    page = context.new_page()
    page.goto(f"{base_url}/desk/login?lang=fi")
    for _ in range(30):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "token":
            break
    page.keyboard.type(token)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    page.goto(f"{base_url}/desk/requests?lang=fi&type=objection")
    _go(page, page.url, "desk-inbox-fi")
    for _ in range(40):
        page.keyboard.press("Tab")
        if request_id in str(page.evaluate("document.activeElement.href || ''")):
            break
    with page.expect_navigation():
        page.keyboard.press("Enter")
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "note":
            break
    page.keyboard.type("ajokortti näytetty Espoon tiskillä")
    page.keyboard.press("Tab")  # the Verify in person button
    with page.expect_navigation():
        page.keyboard.press("Enter")
    _go(page, page.url, "desk-request-fi")
    said = translations("fi").gettext("Verified in person. The requester can now be answered.")
    assert said != "Verified in person. The requester can now be answered."  # it is translated
    assert said in page.locator("main").inner_text()
    assert _actors(web_app, request_id)[-1] == (
        "person:Kaisa Näppäin (role:owner)",
        "dsar.verified",
    )
    cookies = context.cookies()
    context.close()
    checked = browser.new_context()
    checked.add_cookies(cookies)  # type: ignore[arg-type]  # Cookie and SetCookieParam agree
    axe_page = checked.new_page()
    for url in (
        f"{base_url}/desk/login?lang=fi",
        f"{base_url}/desk/requests?lang=fi",
        f"{base_url}/desk/requests/{request_id}?lang=fi",
        f"{base_url}/desk/subjects?lang=fi",
        f"{base_url}/desk/audit?lang=fi",
    ):
        axe_page.goto(url)
        assert _axe_serious(axe_page) == [], url
    checked.close()
