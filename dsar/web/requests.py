"""The privacy center's request pages (DESIGN §12): make a request, enter the code, follow it.

The pages call the same domain services as the JSON API (``dsar.requests``): opening answers
the same for everyone and looks the identifier up only after the answer; the code is checked
with the same atomic attempts and rate limits. A verified requester's token is kept in a cookie
scoped to that one request's pages (``HttpOnly``, ``SameSite=Strict``, ``Secure`` behind HTTPS)
until it expires; the page never shows it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, BackgroundTasks, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session, sessionmaker

from dsar.api.deps import SessionDep, StrategyDep
from dsar.api.dsar import RequestsDep
from dsar.fulfil import export_zip
from dsar.requests import Requests, RequestType
from dsar.requests.answering import EXPORTABLE, take_answer
from dsar.requests.codes import attempts_left
from dsar.requests.enums import Status
from dsar.requests.errors import AnswerGone
from dsar.requests.intake import CHANGES_STATED, correctable_fields
from dsar.requests.service import CodeDelivery
from dsar.requests.tables import RequestRow
from dsar.web.render import SECURITY_HEADERS, page_context, page_language, render, wait_minutes
from kernel.db import transaction
from kernel.errors import (
    AuthError,
    Conflict,
    NotFound,
    RateLimited,
    RequestError,
    TietotieError,
    ValidationFailed,
)
from schemas.models import Strategy

__all__ = ["router"]

router = APIRouter(prefix="/privacy/request", tags=["privacy center"], include_in_schema=False)

COOKIE: Final = "tt_request"
TYPES: Final = tuple(RequestType)


def _after(
    sessions: sessionmaker[Session], service: Requests, delivery: CodeDelivery | None
) -> None:
    """After the answer: queue the code (for a customer only) and send what is due."""
    if delivery is not None:
        with transaction(sessions) as session:
            service.deliver_code(session, delivery)
    with sessions() as session:
        service.send_outbox(session)


def _page(
    request: Request, strategy: Strategy, template: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    language = page_language(request, strategy.controller.language)
    return render(
        request,
        template,
        language=language,
        status_code=status_code,
        **context,
        **page_context(request, strategy),
    )


@router.get("", response_class=HTMLResponse)
def new_request(request: Request, strategy: StrategyDep) -> HTMLResponse:
    """Choose the right in plain words and give one identifier."""
    return _page(
        request,
        strategy,
        "request_new.html",
        types=TYPES,
        chosen=None,
        given={},
        problem=None,
        wait=0,
    )


@router.post("", response_class=HTMLResponse)
def open_request(
    request: Request,
    strategy: StrategyDep,
    service: RequestsDep,
    session: SessionDep,
    background: BackgroundTasks,
    type: Annotated[str, Form()] = "",
    email: Annotated[str, Form()] = "",
    phone: Annotated[str, Form()] = "",
) -> Response:
    """Open the request; everyone is sent on to the same code page."""
    given = {k: v.strip() for k, v in {"email": email, "phone": phone}.items() if v.strip()}
    given = {k: v for k, v in given.items() if k in page_context(request, strategy)["identifiers"]}
    problem = None
    if type not in TYPES:
        problem = "type"
    elif len(given) != 1:
        problem = "identifier"
    if problem is None:
        try:
            opened = service.open(
                session,
                type=type,
                identity=given,
                client=request.client.host if request.client else None,
                defer=True,
                language=page_language(request, strategy.controller.language),
                changes_later=True,  # a rectification's changes: the form on the request's page
            )
        except RateLimited as exc:
            return _page(
                request,
                strategy,
                "request_new.html",
                status_code=429,
                types=TYPES,
                chosen=type,
                given=given,
                problem="limited",
                wait=wait_minutes(exc.retry_after),
            )
        except RequestError:
            problem = "identifier"
        else:
            session.commit()
            background.add_task(_after, request.app.state.sessions, service, opened.delivery)
            language = page_language(request, strategy.controller.language)
            return RedirectResponse(
                f"/privacy/request/{opened.request.id}?lang={language}", status_code=303
            )
    return _page(
        request,
        strategy,
        "request_new.html",
        status_code=422,
        types=TYPES,
        chosen=type,
        given=given,
        problem=problem,
    )


def _token(request: Request, request_id: str) -> str | None:
    value = request.cookies.get(COOKIE, "")
    owner, _, token = value.partition(":")
    return token if owner == request_id and token else None


def _verified_row(
    request: Request, service: Requests, session: Session, request_id: str
) -> RequestRow | None:
    """The request when this browser holds its working requester token, else None."""
    token = _token(request, request_id)
    if token is None:
        return None
    try:
        row = service.get(session, request_id)
    except NotFound:
        return None
    try:
        return row if service.check_requester(row, token) else None
    except (AuthError, AnswerGone):
        return None


def _code_page(
    request: Request,
    strategy: Strategy,
    session: Session,
    request_id: str,
    *,
    status_code: int = 200,
    problem: str | None = None,
    wait: int = 0,
) -> HTMLResponse:
    left = attempts_left(session, request_id) if problem else None
    return _page(
        request,
        strategy,
        "request_code.html",
        status_code=status_code,
        request_id=request_id,
        problem=problem,
        left=left,
        wait=wait,
    )


@router.get("/{request_id}", response_class=HTMLResponse)
def request_page(
    request: Request,
    request_id: str,
    strategy: StrategyDep,
    service: RequestsDep,
    session: SessionDep,
) -> HTMLResponse:
    """The code form; once verified in this browser, the request's status and answer."""
    row = _verified_row(request, service, session, request_id)
    if row is None:
        return _code_page(request, strategy, session, request_id)
    return _status_page(request, strategy, row)


def _status_page(
    request: Request,
    strategy: Strategy,
    row: RequestRow,
    *,
    status_code: int = 200,
    typed: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
) -> HTMLResponse:
    """The verified request's page; ``typed`` and ``problems`` re-show a refused change form."""
    return _page(
        request,
        strategy,
        "request_status.html",
        status_code=status_code,
        row=row,
        events=list(row.events),
        result=json.loads(json.dumps(row.result or {}, default=str)),
        downloadable=row.type in EXPORTABLE
        and row.status in {Status.VERIFIED, Status.IN_PROGRESS, Status.COMPLETED},
        today=datetime.now(UTC).date(),
        **_rectification(strategy, row, typed or {}, problems or {}),
    )


def _rectification(
    strategy: Strategy, row: RequestRow, typed: dict[str, str], problems: dict[str, str]
) -> dict[str, Any]:
    """What the status page shows of a rectification: the form, and the changes stated."""
    rectifying = row.type == RequestType.RECTIFICATION
    fields = strategy.index.fields
    stated = (row.details or {}).get("changes", {}) if rectifying else {}
    return {
        "correctable": correctable_fields(strategy) if rectifying else {},
        "subject_entity": strategy.index.subject_entity,
        "correcting": rectifying and row.status in {Status.VERIFIED, Status.IN_PROGRESS},
        "stated": [
            (fields[ref], ref.partition(".")[2], value)
            for ref, value in stated.items()
            if ref in fields
        ],
        "changes_note": CHANGES_STATED,
        "typed": typed,
        "problems": problems,
    }


@router.post("/{request_id}", response_class=HTMLResponse)
def enter_code(
    request: Request,
    request_id: str,
    strategy: StrategyDep,
    service: RequestsDep,
    session: SessionDep,
    code: Annotated[str, Form()] = "",
) -> Response:
    """Check the code; on success keep the requester's token in a cookie for this request."""
    if not code.strip().isdigit():
        return _code_page(request, strategy, session, request_id, status_code=422, problem="format")
    try:
        verified = service.verify(session, request_id, code=code)
    except RateLimited as exc:
        return _code_page(
            request,
            strategy,
            session,
            request_id,
            status_code=429,
            problem="limited",
            wait=wait_minutes(exc.retry_after),
        )
    except (AuthError, NotFound, TietotieError):
        session.rollback()
        return _code_page(request, strategy, session, request_id, status_code=422, problem="wrong")
    session.commit()
    language = page_language(request, strategy.controller.language)
    answer = RedirectResponse(f"/privacy/request/{request_id}?lang={language}", status_code=303)
    expires = verified.request.requester_token_expires_at
    answer.set_cookie(
        COOKIE,
        f"{request_id}:{verified.requester_token}",
        max_age=int((expires - datetime.now(UTC)).total_seconds()) if expires else None,
        path=f"/privacy/request/{request_id}",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return answer


@router.post("/{request_id}/resend", response_class=HTMLResponse)
def resend(
    request: Request,
    request_id: str,
    strategy: StrategyDep,
    service: RequestsDep,
    session: SessionDep,
    background: BackgroundTasks,
) -> Response:
    """A new code (the old one stops working); the same answer for everyone."""
    try:
        opened = service.resend(
            session,
            request_id,
            client=request.client.host if request.client else None,
            defer=True,
        )
    except RateLimited as exc:
        return _code_page(
            request,
            strategy,
            session,
            request_id,
            status_code=429,
            problem="limited",
            wait=wait_minutes(exc.retry_after),
        )
    except TietotieError:
        session.rollback()
        return _code_page(request, strategy, session, request_id, problem="sent")
    session.commit()
    background.add_task(_after, request.app.state.sessions, service, opened.delivery)
    return _code_page(request, strategy, session, request_id, problem="sent")


@router.get("/{request_id}/export")
def download(
    request: Request,
    request_id: str,
    strategy: StrategyDep,
    service: RequestsDep,
    session: SessionDep,
    format: str = "json",
) -> Response:
    """The answer to download (JSON, or a zip of CSV files with a README)."""
    row = _verified_row(request, service, session, request_id)
    if row is None or row.type not in EXPORTABLE or format not in {"json", "zip"}:
        return _code_page(request, strategy, session, request_id, status_code=404)
    answer = take_answer(
        service, session, row, actor="requester", fmt=format, audit=request.app.state.audit
    )
    session.commit()
    bundle: dict[str, Any] = answer["bundle"]
    headers = {**SECURITY_HEADERS}
    if format == "zip":
        content = export_zip(
            bundle
            if row.type == RequestType.ACCESS
            else {**bundle, "processing": answer["processing"]}
        )
        headers["Content-Disposition"] = f'attachment; filename="{request_id}.zip"'
        return Response(content, media_type="application/zip", headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{request_id}.json"'
    return Response(
        json.dumps(bundle, ensure_ascii=False, indent=2, default=str),
        media_type="application/json",
        headers=headers,
    )


async def _typed_changes(request: Request) -> dict[str, str]:
    """The change form's filled-in fields (``entity.field``: text); an empty one is unchanged."""
    form = await request.form()
    return {
        name: value.strip()
        for name, value in form.multi_items()
        if name != "csrftoken" and isinstance(value, str) and value.strip()
    }


@router.post("/{request_id}/changes", response_class=HTMLResponse)
def state_changes(
    request: Request,
    request_id: str,
    strategy: StrategyDep,
    service: RequestsDep,
    session: SessionDep,
    typed: Annotated[dict[str, str], Depends(_typed_changes)],
) -> Response:
    """Art. 16: the verified requester says what to correct; then back to the request's page."""
    row = _verified_row(request, service, session, request_id)
    if row is None or row.type != RequestType.RECTIFICATION:
        return _code_page(request, strategy, session, request_id, status_code=404)
    try:
        service.state_changes(session, request_id, changes=typed)
    except ValidationFailed as exc:
        session.rollback()
        problems = exc.context.get("problems") or {str(exc.context.get("field")): exc.message}
        return _status_page(request, strategy, row, status_code=422, typed=typed, problems=problems)
    except Conflict:  # closed meanwhile: the page says where it stands
        session.rollback()
        row = service.get(session, request_id)
        return _status_page(request, strategy, row, status_code=409, problems={"request": "closed"})
    session.commit()
    language = page_language(request, strategy.controller.language)
    return RedirectResponse(
        f"/privacy/request/{request_id}?lang={language}#stated", status_code=303
    )


@router.get("/{request_id}/changes")
def changes_page(request: Request, request_id: str, strategy: StrategyDep) -> Response:
    """The form lives on the request's page (the language links of a refused form lead here)."""
    language = page_language(request, strategy.controller.language)
    where = f"/privacy/request/{quote(request_id, safe='')}?lang={language}#correct"
    return RedirectResponse(where, status_code=303)
