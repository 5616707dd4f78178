"""The request desk: privacy staff's pages under ``/desk`` (DESIGN §13).

Staff sign in with their personal staff token (:mod:`dsar.desk.sessions`); the browser then
holds ``tt_desk`` (``HttpOnly``, ``SameSite=Strict``, scoped to ``/desk``, ``Secure`` behind
HTTPS) until sign-out or 20 idle minutes. Every page shows only what the person's duties
allow: the inbox and the actions need ``requests``, the audit log needs ``audit``. Actions call
the same domain services as the JSON API and the CLI (:mod:`dsar.requests`,
:mod:`dsar.completion`) and are audited under the person's name. Server-rendered, no script,
CSRF-guarded forms, like the privacy center.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from activation.audiences import contact_log
from consent.service import subject_consents
from dsar.api.deps import SessionDep, StrategyDep
from dsar.api.subjects import find_for, subject_view
from dsar.completion import complete_request, retry_erasure
from dsar.desk.audit_view import AuditFilter, search_audit
from dsar.desk.sessions import DeskSession, DeskSessions
from dsar.requests import OPEN_STATUSES, RejectionGround, RequestType, Status
from dsar.requests.tables import Outbox, RequestRow
from dsar.web.render import page_language, render
from kernel.errors import AccessDenied, AuthError, Forbidden, NotFound, TietotieError
from records.restrictions import active_flags
from schemas.enums import Duty
from schemas.models import Strategy

__all__ = ["COOKIE", "router"]

router = APIRouter(prefix="/desk", tags=["request desk"], include_in_schema=False)

COOKIE: Final = "tt_desk"
UNVERIFIED_AFTER: Final = timedelta(days=3)
"""An unverified request this old is flagged: the requester may need another way to prove who
they are (or the request is abandoned and can be refused under Art. 12(6))."""
_CODE = re.compile(r"\b\d{6}\b")


def _sessions(request: Request) -> DeskSessions:
    desk: DeskSessions = request.app.state.services.desk
    return desk


DeskDep = Annotated[DeskSessions, Depends(_sessions)]


def _language(request: Request, strategy: Strategy) -> str:
    return page_language(request, strategy.controller.language)


def _page(
    request: Request,
    strategy: Strategy,
    template: str,
    *,
    desk: DeskSession | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    token = request.scope.get("csrftoken")
    staff = desk.staff if desk else None
    return render(
        request,
        template,
        language=_language(request, strategy),
        status_code=status_code,
        controller=strategy.controller.name,
        strategy_lang=strategy.controller.language,
        csrftoken=token() if callable(token) else "",
        staff=staff,
        can_requests=staff is not None and Duty.REQUESTS in staff.duties,
        can_audit=staff is not None and Duty.AUDIT in staff.duties,
        **context,
    )


def _current(request: Request, desks: DeskSessions, session: Session) -> DeskSession | None:
    session_id, _, secret = request.cookies.get(COOKIE, "").partition(":")
    found = desks.resolve(session, session_id, secret)
    if found is not None:
        session.commit()  # the idle clock restarts
    return found


def _to_login(request: Request, strategy: Strategy) -> RedirectResponse:
    return RedirectResponse(f"/desk/login?lang={_language(request, strategy)}", status_code=303)


def _forbidden(request: Request, strategy: Strategy, desk: DeskSession, duty: Duty) -> Response:
    return _page(
        request, strategy, "desk_forbidden.html", desk=desk, status_code=403, duty=duty.value
    )


def _admit(
    request: Request,
    strategy: Strategy,
    desks: DeskSessions,
    session: Session,
    duty: Duty | None = None,
) -> DeskSession | Response:
    """The signed-in person, if they hold ``duty``; else the page to answer with instead (the
    sign-in page, or the page saying the duty is missing)."""
    desk = _current(request, desks, session)
    if desk is None:
        return _to_login(request, strategy)
    if duty is not None and duty not in desk.staff.duties:
        return _forbidden(request, strategy, desk, duty)
    return desk


# ── signing in and out ────────────────────────────────────────────────────────────────────


@router.get("", response_class=HTMLResponse)
def desk_home(
    request: Request, strategy: StrategyDep, desks: DeskDep, session: SessionDep
) -> Response:
    """Signed in: the inbox (or the audit log for an auditor); otherwise the sign-in page."""
    desk = _current(request, desks, session)
    if desk is None:
        return _to_login(request, strategy)
    where = "requests" if Duty.REQUESTS in desk.staff.duties else "audit"
    return RedirectResponse(f"/desk/{where}?lang={_language(request, strategy)}", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, strategy: StrategyDep) -> HTMLResponse:
    """The sign-in form: a personal staff token."""
    ended = request.query_params.get("ended")
    return _page(
        request,
        strategy,
        "desk_login.html",
        desk=None,
        problem="signed_out" if ended == "1" else None,
    )


@router.post("/login", response_class=HTMLResponse)
def login(
    request: Request,
    strategy: StrategyDep,
    desks: DeskDep,
    session: SessionDep,
    token: Annotated[str, Form()] = "",
) -> Response:
    """Check the token once and open a session; the token itself is not kept in the browser."""
    try:
        opened = desks.sign_in(session, token)
    except Forbidden:
        session.rollback()
        return _page(
            request, strategy, "desk_login.html", desk=None, status_code=403, problem="duty"
        )
    except AuthError:
        session.rollback()
        return _page(
            request, strategy, "desk_login.html", desk=None, status_code=401, problem="token"
        )
    session.commit()
    answer = RedirectResponse(f"/desk?lang={_language(request, strategy)}", status_code=303)
    answer.set_cookie(
        COOKIE,
        f"{opened.id}:{opened.secret}",
        path="/desk",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


@router.post("/logout")
def logout(
    request: Request, strategy: StrategyDep, desks: DeskDep, session: SessionDep
) -> Response:
    """End the session at once; the cookie is cleared."""
    desk = _current(request, desks, session)
    if desk is not None:
        desks.sign_out(session, desk)
        session.commit()
    answer = RedirectResponse(
        f"/desk/login?lang={_language(request, strategy)}&ended=1", status_code=303
    )
    answer.delete_cookie(COOKIE, path="/desk")
    return answer


# ── the inbox ─────────────────────────────────────────────────────────────────────────────


def _flags(session: Session, rows: list[RequestRow], now: datetime) -> dict[str, list[str]]:
    """What needs a human, per request id: long unverified, a failed message, a pending step."""
    ids = [r.id for r in rows]
    failed: set[str] = set()
    if ids:
        failed = {
            str(rid)
            for rid in session.scalars(
                select(Outbox.request_id)
                .where(Outbox.request_id.in_(ids), Outbox.status == "failed")
                .distinct()
            )
        }
    flags: dict[str, list[str]] = {}
    for row in rows:
        mine = []
        if row.status == Status.AWAITING_VERIFICATION and now - row.received_at > UNVERIFIED_AFTER:
            mine.append("unverified")
        if row.id in failed:
            mine.append("message_failed")
        if row.status == Status.IN_PROGRESS and (row.result or {}).get("pending"):
            mine.append("pending")
        flags[row.id] = mine
    return flags


@router.get("/requests", response_class=HTMLResponse)
def inbox(
    request: Request,
    strategy: StrategyDep,
    desks: DeskDep,
    session: SessionDep,
    type: str = "",
    status: str = "",
) -> Response:
    """Open requests by due date: days left, overdue marked, what needs a human flagged."""
    desk = _admit(request, strategy, desks, session, Duty.REQUESTS)
    if isinstance(desk, Response):
        return desk
    problem = None
    if type and type not in set(RequestType):
        problem, type = "type", ""
    if status and status not in OPEN_STATUSES:
        problem, status = "status", ""
    query = select(RequestRow).where(RequestRow.status.in_([str(s) for s in OPEN_STATUSES]))
    if type:
        query = query.where(RequestRow.type == type)
    if status:
        query = query.where(RequestRow.status == status)
    rows = list(session.scalars(query.order_by(RequestRow.due_at, RequestRow.received_at)))
    now = datetime.now(UTC)
    today = now.date()
    closed = session.scalar(
        select(func.count()).select_from(RequestRow).where(RequestRow.closed_at.is_not(None))
    )
    return _page(
        request,
        strategy,
        "desk_inbox.html",
        desk=desk,
        status_code=422 if problem else 200,
        rows=rows,
        days_left={r.id: (r.due_at - today).days for r in rows},
        flags=_flags(session, rows, now),
        types=list(RequestType),
        statuses=[s for s in Status if s in OPEN_STATUSES],
        chosen_type=type,
        chosen_status=status,
        problem=problem,
        closed=closed or 0,
    )


# ── one request ───────────────────────────────────────────────────────────────────────────


def _messages(session: Session, request_id: str) -> list[dict[str, Any]]:
    """The messages sent to the requester, their codes blanked: staff never need a code."""
    rows = session.scalars(
        select(Outbox).where(Outbox.request_id == request_id).order_by(Outbox.id)
    )
    return [
        {
            "at": m.at,
            "subject": m.subject,
            "status": m.status,
            "body": _CODE.sub("······", m.body),
            "error": m.last_error,
        }
        for m in rows
    ]


def _request_page(
    request: Request,
    strategy: Strategy,
    session: Session,
    desk: DeskSession,
    request_id: str,
    *,
    status_code: int = 200,
    problem: str | None = None,
    done: str | None = None,
) -> Response:
    try:
        row = request.app.state.services.requests.get(session, request_id)
    except NotFound:
        return _page(
            request,
            strategy,
            "desk_missing.html",
            desk=desk,
            status_code=404,
            request_id=request_id,
        )
    today = datetime.now(UTC).date()
    return _page(
        request,
        strategy,
        "desk_request.html",
        desk=desk,
        status_code=status_code,
        row=row,
        events=list(row.events),
        messages=_messages(session, row.id),
        result=json.loads(json.dumps(row.result or {}, default=str)),
        days_left=(row.due_at - today).days,
        grounds=list(RejectionGround),
        problem=problem,
        done=done,
        is_open=row.status in OPEN_STATUSES,
    )


@router.get("/requests/{request_id}", response_class=HTMLResponse)
def request_page(
    request: Request, request_id: str, strategy: StrategyDep, desks: DeskDep, session: SessionDep
) -> Response:
    """A request: its facts, history, messages, result, and the actions its state allows."""
    desk = _admit(request, strategy, desks, session, Duty.REQUESTS)
    if isinstance(desk, Response):
        return desk
    done = request.query_params.get("done")
    return _request_page(
        request, strategy, session, desk, request_id, done=done if done in _ACTIONS else None
    )


_ACTIONS: Final = frozenset({"verify", "extend", "reject", "complete", "retry"})


@router.post("/requests/{request_id}", response_class=HTMLResponse)
def act(
    request: Request,
    request_id: str,
    strategy: StrategyDep,
    desks: DeskDep,
    session: SessionDep,
    action: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    ground: Annotated[str, Form()] = "",
) -> Response:
    """Verify in person, extend, refuse, complete or retry, as the signed-in person."""
    desk = _admit(request, strategy, desks, session, Duty.REQUESTS)
    if isinstance(desk, Response):
        return desk
    if action not in _ACTIONS:
        return _request_page(
            request,
            strategy,
            session,
            desk,
            request_id,
            status_code=422,
            problem=f"unknown action {action[:40]!r}: use one of {', '.join(sorted(_ACTIONS))}",
        )
    services = request.app.state.services
    requests, actor = services.requests, desk.staff.actor
    try:
        if action == "verify":
            requests.verify_in_person(session, request_id, actor=actor, note=note)
        elif action == "extend":
            requests.extend(session, request_id, actor=actor, reason=reason)
        elif action == "reject":
            requests.reject(session, request_id, actor=actor, ground=ground, reason=reason)
        else:
            run = complete_request if action == "complete" else retry_erasure
            run(
                session,
                request_id,
                requests=requests,
                fulfiller=services.fulfiller,
                audit=services.audit,
                actor=actor,
            )
    except NotFound:
        session.rollback()
        return _request_page(request, strategy, session, desk, request_id, status_code=404)
    except TietotieError as exc:
        session.rollback()
        return _request_page(
            request, strategy, session, desk, request_id, status_code=422, problem=exc.message
        )
    session.commit()
    with services.sessions() as fresh:
        requests.send_outbox(fresh)  # the requester hears of it now, not at the next run
    return RedirectResponse(
        f"/desk/requests/{request_id}?lang={_language(request, strategy)}&done={action}",
        status_code=303,
    )


# ── a customer, all in one place ──────────────────────────────────────────────────────────


def _customer_view(
    request: Request, session: Session, desk: DeskSession, subject_id: str, purpose: str
) -> dict[str, Any]:
    """Records (masked per the role's policy, and audited), consents, restrictions, requests
    and the campaigns that reached the customer."""
    state = request.app.state
    records = subject_view(
        request, session, state.store, state.policy, desk.staff, subject_id, purpose=purpose
    )
    consents = subject_consents(session, state.strategy, subject_id)
    flags = active_flags(session, subject_id)
    requests = list(
        session.scalars(
            select(RequestRow)
            .where(RequestRow.subject_id == subject_id)
            .order_by(RequestRow.received_at.desc())
        )
    )
    log = contact_log.c
    sends = session.execute(
        select(log.activation, log.channel, func.count(), func.max(log.sent_at))
        .where(log.subject_id == subject_id)
        .group_by(log.activation, log.channel)
        .order_by(func.max(log.sent_at).desc())
    ).all()
    return {
        "records": records["records"],
        "masked": records["masked"],
        "consents": consents.current,
        "flags": flags,
        "requests": requests,
        "sends": [
            {"activation": a, "channel": c, "count": n, "last": last} for a, c, n, last in sends
        ],
    }


@router.get("/subjects", response_class=HTMLResponse)
def customers(
    request: Request,
    strategy: StrategyDep,
    desks: DeskDep,
    session: SessionDep,
    purpose: str = "",
    identifier: str = "",
    value: str = "",
) -> Response:
    """Find a customer by an identifier, for a purpose the role holds; then the 360° view."""
    desk = _admit(request, strategy, desks, session)
    if isinstance(desk, Response):
        return desk
    policy = request.app.state.policy
    held = [u.id for u in strategy.uses if policy.holds(desk.staff.role, u.id)]
    subject = strategy.index.subject_entity
    identifiers = list(strategy.system.entities[subject].identifiers) if subject else []
    context: dict[str, Any] = {
        "purposes": held,
        "identifiers": identifiers,
        "chosen": {"purpose": purpose, "identifier": identifier, "value": value},
        "view": None,
        "problem": None,
        "subject_id": None,
        "labels": {
            f"{entity}.{name}": spec.shown_name(name)
            for entity, spec_entity in strategy.system.entities.items()
            for name, spec in spec_entity.fields.items()
        },
    }
    if not value.strip():
        return _page(request, strategy, "desk_subjects.html", desk=desk, **context)
    status_code = 200
    try:
        if purpose not in held:
            raise Forbidden(
                f"your role does not hold the purpose {purpose!r}; choose one it holds",
                parameter="purpose",
            )
        subject_id = find_for(
            request,
            session,
            request.app.state.store,
            policy,
            desk.staff,
            purpose=purpose,
            key=identifier,
            value=value.strip(),
        )
        context["view"] = _customer_view(request, session, desk, subject_id, purpose)
        context["subject_id"] = subject_id
        session.commit()
    except NotFound:
        session.commit()  # the refusal's audit entry, if any
        context["problem"] = "not_found"
        status_code = 404
    except TietotieError as exc:
        session.commit()
        context["problem"] = exc.message
        status_code = 403 if isinstance(exc, Forbidden | AccessDenied) else 422
    return _page(
        request, strategy, "desk_subjects.html", desk=desk, status_code=status_code, **context
    )


# ── the audit log ─────────────────────────────────────────────────────────────────────────


def _day(text: str, name: str) -> tuple[date | None, str | None]:
    if not text:
        return None, None
    try:
        return date.fromisoformat(text), None
    except ValueError:
        return None, name


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    strategy: StrategyDep,
    desks: DeskDep,
    session: SessionDep,
    actor: str = "",
    action: str = "",
    subject: str = "",
    since: str = "",
    until: str = "",
    after: int = 0,
) -> Response:
    """The log, newest first, filtered by actor, action, subject and dates."""
    desk = _admit(request, strategy, desks, session, Duty.AUDIT)
    if isinstance(desk, Response):
        return desk
    first, bad_since = _day(since, "since")
    last, bad_until = _day(until, "until")
    wanted = AuditFilter(
        actor=actor.strip() or None,
        action=action.strip() or None,
        subject_id=subject.strip() or None,
        since=first,
        until=last,
        before=after or None,
    )
    page = search_audit(session, wanted)
    return _page(
        request,
        strategy,
        "desk_audit.html",
        desk=desk,
        status_code=422 if bad_since or bad_until else 200,
        entries=page.entries,
        older=page.older,
        filters={
            "actor": actor,
            "action": action,
            "subject": subject,
            "since": since,
            "until": until,
        },
        problem=bad_since or bad_until,
        verification=None,
    )


@router.post("/audit/verify", response_class=HTMLResponse)
def verify_audit(
    request: Request, strategy: StrategyDep, desks: DeskDep, session: SessionDep
) -> Response:
    """Walk the whole hash chain now and say whether it is intact, and where it breaks."""
    desk = _admit(request, strategy, desks, session, Duty.AUDIT)
    if isinstance(desk, Response):
        return desk
    audit = request.app.state.audit
    verification = audit.verify(session)
    page = search_audit(session, AuditFilter())
    return _page(
        request,
        strategy,
        "desk_audit.html",
        desk=desk,
        entries=page.entries,
        older=page.older,
        filters={"actor": "", "action": "", "subject": "", "since": "", "until": ""},
        problem=None,
        verification=verification,
    )
