"""HTTP for data-subject requests: open, verify, follow, export, and the staff's decisions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session, sessionmaker

from audit import AuditLog, actor_person, actor_role
from dsar.api.deps import SessionDep, StrategyDep, require_duty
from dsar.auth import Staff, authenticate
from dsar.completion import Completion, complete_request, retry_erasure
from dsar.fulfil import Fulfiller, export_zip
from dsar.requests import CodeDelivery, Opened, RequestRow, Requests, RequestType, Status
from dsar.requests.answering import EXPORTABLE, take_answer
from dsar.web.i18n import choose_language
from kernel.db import transaction
from kernel.errors import AuthError, Conflict, Forbidden
from schemas.enums import Duty
from schemas.models import Strategy

__all__ = ["router"]

router = APIRouter(prefix="/v1/dsar", tags=["data-subject requests"])


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DsarCreate(_Body):
    """A request from a data subject."""

    type: RequestType = Field(
        description="access, portability, rectification, erasure, restriction or objection."
    )
    identity: dict[str, str] = Field(
        description='One identifier, e.g. {"email": …}.', examples=[{"email": "liisa@example.fi"}]
    )
    details: dict[str, Any] = Field(
        default_factory=dict,
        description='Rectification: {"changes": {"entity.field": value}}.',
        examples=[{"changes": {"customer.phone": "+358401234567"}}],
    )
    language: Literal["fi", "en", "sv"] | None = Field(
        default=None,
        description="The language the requester's messages are written in (codes, extension, "
        "refusal, answer); default: the best of Accept-Language, else the controller's.",
    )


class DsarOpened(BaseModel):
    """What the requester is told, whoever they are: the same status and shape for a customer
    and a stranger, before anything depends on which they are."""

    id: str = Field(description="The request id; keep it to follow the request.")
    status: Status = Field(description="Where the request stands.")
    due_at: str = Field(description="The last day of the answer (YYYY-MM-DD).")


class DsarVerify(_Body):
    """A code from the requester, or an in-person check by staff."""

    code: str | None = Field(default=None, description="The code sent to the identifier.")
    method: Literal["code", "in_person"] = Field(
        default="code", description="How identity was verified."
    )
    note: str | None = Field(default=None, description="In person: how identity was checked.")


class DsarVerified(BaseModel):
    """A verified request and the token its requester reads the answer with."""

    id: str = Field(description="The request id.")
    status: Status = Field(description="verified.")
    access_token: str = Field(
        description="Bearer token for GET /v1/dsar/{id} and /export; shown once. It expires "
        "(see expires_at); once the request is closed it reads only the answer kept then."
    )
    expires_at: str = Field(
        description="When the token stops working while the request is open (ISO 8601); at "
        "closing it is renewed for as long as the answer is kept."
    )


class DsarReason(_Body):
    """A reason told to the requester."""

    reason: str = Field(min_length=1, description="Why, in words the requester understands.")


class DsarReject(DsarReason):
    """A refusal with its ground."""

    ground: str = Field(
        description="manifestly_unfounded, excessive, identity_not_verified or exemption."
    )


class DsarView(BaseModel):
    """Status, due date and history."""

    id: str
    type: str
    status: str
    received_at: str
    due_at: str
    extended: bool
    reason: str | None
    history: list[dict[str, Any]]
    result: dict[str, Any] | None = None


def _requests(request: Request) -> Requests:
    service: Requests = request.app.state.requests
    return service


def _fulfiller(request: Request) -> Fulfiller:
    service: Fulfiller = request.app.state.fulfiller
    return service


def _audit(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit
    return log


def _sessions(request: Request) -> sessionmaker[Session]:
    """Sessions for work after the answer (the request's own session is closed by then)."""
    sessions: sessionmaker[Session] = request.app.state.sessions
    return sessions


def _client(request: Request) -> str | None:
    """The client address the per-client rate limits count."""
    return request.client.host if request.client else None


RequestsDep = Annotated[Requests, Depends(_requests)]
SessionsDep = Annotated[sessionmaker[Session], Depends(_sessions)]
FulfillerDep = Annotated[Fulfiller, Depends(_fulfiller)]
AuditDep = Annotated[AuditLog, Depends(_audit)]
Handler = Annotated[Staff, Depends(require_duty(Duty.REQUESTS))]
Authorization = Annotated[
    str | None, Header(description="Bearer: a staff token, or the requester's access token.")
]


def _caller(
    session: Session,
    strategy: Strategy,
    service: Requests,
    row: RequestRow,
    authorization: str | None,
) -> str:
    """``requester``, or the actor of staff with the requests duty; AuthError otherwise."""
    token = (authorization or "").partition(" ")[2].strip()
    if token and service.check_requester(row, token):
        return "requester"
    try:
        staff = authenticate(session, strategy, authorization)
    except AuthError:
        raise AuthError(
            "send the access token you got when verifying, or a staff token", request_id=row.id
        ) from None
    if Duty.REQUESTS not in staff.duties:
        raise Forbidden(f"role {staff.role!r} does not have the duty 'requests'", role=staff.role)
    return staff.actor


def _view(row: RequestRow, *, requester: bool = False) -> DsarView:
    """The request as staff see it; the requester sees staff in its history by role only,
    never by name."""
    view = Requests.view(row)
    if requester:
        view["history"] = [
            {**e, "actor": f"role:{actor_role(e['actor'])}"}
            if actor_person(str(e["actor"])) is not None
            else e
            for e in view["history"]
        ]
    return DsarView(**view, result=row.result)


def _after_answer(
    sessions: sessionmaker[Session], service: Requests, delivery: CodeDelivery | None
) -> None:
    """Runs once the response is sent: queue the code (for a customer only), send what is due.

    A failing transport leaves its messages queued for a later run, with the reason kept.
    """
    if delivery is not None:
        with transaction(sessions) as session:
            service.deliver_code(session, delivery)
    with sessions() as session:
        service.send_outbox(session)


def _opened(opened: Opened) -> DsarOpened:
    return DsarOpened(
        id=opened.request.id,
        status=Status(opened.request.status),
        due_at=opened.request.due_at.isoformat(),
    )


@router.post("", status_code=202, response_model=DsarOpened, summary="Open a request (anyone)")
def open_request(
    body: DsarCreate,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    sessions: SessionsDep,
    service: RequestsDep,
) -> DsarOpened:
    """Receive a request. The answer is the same for everyone, in status, body and the work
    done before it: whether the identifier is a customer's is looked up only after the answer,
    and a code is then queued and sent to it, so neither a slow nor a failing mail server shows.
    Rate-limited per identifier and per client address (429 with Retry-After)."""
    opened = service.open(
        session,
        type=body.type,
        identity=body.identity,
        details=body.details,
        client=_client(request),
        defer=True,
        language=body.language
        or choose_language(
            None,
            request.headers.get("accept-language"),
            default=service.strategy.controller.language,
        ),
    )
    session.commit()
    background.add_task(_after_answer, sessions, service, opened.delivery)
    return _opened(opened)


@router.post(
    "/{request_id}/resend",
    status_code=202,
    response_model=DsarOpened,
    summary="A new verification code (anyone)",
)
def resend(
    request_id: str,
    request: Request,
    background: BackgroundTasks,
    session: SessionDep,
    sessions: SessionsDep,
    service: RequestsDep,
) -> DsarOpened:
    """For an unverified request whose code was spent (five wrong codes) or expired: a new
    code replaces it. Answered like opening a request: the same for everyone, the code queued
    after the answer, and rate-limited the same way."""
    opened = service.resend(session, request_id, client=_client(request), defer=True)
    session.commit()
    background.add_task(_after_answer, sessions, service, opened.delivery)
    return _opened(opened)


@router.get("", response_model=list[DsarView], summary="Requests nearing their deadline")
def nearing(
    session: SessionDep,
    service: RequestsDep,
    _: Handler,
    within_days: Annotated[int, Query(ge=0, le=365)] = 7,
) -> list[DsarView]:
    """Open requests due within ``within_days`` days, overdue first (duty requests)."""
    return [_view(r) for r in service.nearing_deadline(session, within_days=within_days)]


@router.post(
    "/{request_id}/verify",
    response_model=DsarVerified,
    summary="Verify identity: a code, or staff in person",
)
def verify(
    request_id: str,
    body: DsarVerify,
    session: SessionDep,
    strategy: StrategyDep,
    service: RequestsDep,
    authorization: Authorization = None,
) -> DsarVerified:
    """The requester sends the code; staff with the requests duty may verify in person."""
    if body.method == "in_person":
        staff = authenticate(session, strategy, authorization)
        if Duty.REQUESTS not in staff.duties:
            raise Forbidden(
                f"role {staff.role!r} does not have the duty 'requests'", role=staff.role
            )
        done = service.verify_in_person(
            session, request_id, actor=staff.actor, note=body.note or ""
        )
    else:
        if not body.code:
            raise AuthError("send the code you received as 'code'", request_id=request_id)
        done = service.verify(session, request_id, code=body.code)
    session.commit()
    expires = done.request.requester_token_expires_at
    return DsarVerified(
        id=done.request.id,
        status=Status(done.request.status),
        access_token=done.requester_token,
        expires_at=expires.isoformat() if expires else "",
    )


@router.get("/{request_id}", response_model=DsarView, summary="Status, due date and history")
def status(
    request_id: str,
    session: SessionDep,
    strategy: StrategyDep,
    service: RequestsDep,
    authorization: Authorization = None,
) -> DsarView:
    """For the verified requester (their access token) or staff with the requests duty."""
    row = service.get(session, request_id)
    return _view(
        row, requester=_caller(session, strategy, service, row, authorization) == "requester"
    )


@router.get(
    "/{request_id}/export",
    summary="The Art. 15 / Art. 20 bundle",
    responses={200: {"content": {"application/json": {}, "application/zip": {}}}},
)
def export(
    request_id: str,
    session: SessionDep,
    strategy: StrategyDep,
    service: RequestsDep,
    audit: AuditDep,
    authorization: Authorization = None,
    format: Annotated[Literal["json", "zip"], Query()] = "json",
) -> Response:
    """Access: every record, external rows and the processing information (JSON, or a zip of
    CSV files with a README). Portability: what the subject provided, as JSON.

    The first download completes the request, and the answer is kept (sealed) as it is then;
    every later download serves that answer, never live data, until it expires (410)."""
    row = service.get(session, request_id)
    actor = _caller(session, strategy, service, row, authorization)
    if row.type not in EXPORTABLE:
        raise Conflict(
            f"a {row.type} request has no export; see GET /v1/dsar/{request_id}",
            request_id=request_id,
        )
    answer = take_answer(service, session, row, actor=actor, fmt=format, audit=audit)
    bundle: dict[str, Any] = answer["bundle"]
    session.commit()
    if format == "zip":
        return Response(
            export_zip(bundle)
            if row.type == RequestType.ACCESS
            else export_zip({**bundle, "processing": answer["processing"]}),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{row.id}.zip"'},
        )
    return JSONResponse(bundle)


@router.post(
    "/{request_id}/extend", response_model=DsarView, summary="Extend by two months (Art. 12(3))"
)
def extend(
    request_id: str,
    body: DsarReason,
    background: BackgroundTasks,
    session: SessionDep,
    sessions: SessionsDep,
    service: RequestsDep,
    staff: Handler,
) -> DsarView:
    """Once, with a reason told to the requester (sent after the answer)."""
    row = service.extend(session, request_id, actor=staff.actor, reason=body.reason)
    session.commit()
    background.add_task(_after_answer, sessions, service, None)
    return _view(row)


@router.post(
    "/{request_id}/reject",
    response_model=DsarView,
    summary="Refuse (Art. 12(5)), with a ground and a reason",
)
def reject(
    request_id: str,
    body: DsarReject,
    background: BackgroundTasks,
    session: SessionDep,
    sessions: SessionsDep,
    service: RequestsDep,
    staff: Handler,
) -> DsarView:
    """The requester is told the reason and of their right to complain (sent after the
    answer); the request's identifiers are then kept only as keyed hashes."""
    row = service.reject(
        session, request_id, actor=staff.actor, ground=body.ground, reason=body.reason
    )
    session.commit()
    background.add_task(_after_answer, sessions, service, None)
    return _view(row)


@router.post(
    "/{request_id}/complete",
    response_model=DsarView,
    summary="Fulfil the request and close it",
    responses={202: {"model": DsarView, "description": "An erasure not yet finished: retry"}},
)
def complete(
    request_id: str,
    session: SessionDep,
    service: RequestsDep,
    fulfiller: FulfillerDep,
    audit: AuditDep,
    staff: Handler,
    response: Response,
) -> DsarView:
    """Carry out the right the request asks for; the result says what was done and why.

    An erasure runs as a recorded plan: while any system (the main database, the keystore, an
    external system) is not done, the request stays ``in_progress`` and the answer is 202 with
    a result saying per system what was done, when, and what is pending. Calling this again,
    or ``POST /v1/dsar/{id}/retry``, resumes only the unfinished steps.
    """
    done = complete_request(
        session,
        request_id,
        requests=service,
        fulfiller=fulfiller,
        audit=audit,
        actor=staff.actor,
    )
    session.commit()
    return _answer(done, response)


def _answer(done: Completion, response: Response) -> DsarView:
    """The request after fulfilment: 202 while an erasure has a step still pending."""
    if not done.finished:
        response.status_code = 202
    return _view(done.request)


@router.post(
    "/{request_id}/retry",
    response_model=DsarView,
    summary="Resume an unfinished erasure",
    responses={202: {"model": DsarView, "description": "Still not finished: retry later"}},
)
def retry(
    request_id: str,
    session: SessionDep,
    service: RequestsDep,
    fulfiller: FulfillerDep,
    audit: AuditDep,
    staff: Handler,
    response: Response,
) -> DsarView:
    """Run again only the steps of an erasure that are not done (a system that was not
    reached, or a run that was interrupted); 200 and ``completed`` once every step is done."""
    done = retry_erasure(
        session,
        request_id,
        requests=service,
        fulfiller=fulfiller,
        audit=audit,
        actor=staff.actor,
    )
    session.commit()
    return _answer(done, response)
