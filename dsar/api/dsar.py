"""HTTP for data-subject requests: open, verify, follow, export, and the staff's decisions."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.api.deps import SessionDep, StrategyDep, require_duty
from dsar.auth import Staff, authenticate
from dsar.fulfil import Fulfiller, export_zip
from dsar.requests import RequestRow, Requests, RequestType, Status
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


class DsarOpened(BaseModel):
    """What the requester is told, whoever they are."""

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
        description="Bearer token for GET /v1/dsar/{id} and /export; shown once."
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


RequestsDep = Annotated[Requests, Depends(_requests)]
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
    """``requester`` or ``role:<id>`` of staff with the requests duty; AuthError otherwise."""
    token = (authorization or "").partition(" ")[2].strip()
    if token and service.is_requester(row, token):
        return "requester"
    try:
        staff = authenticate(session, strategy, authorization)
    except AuthError:
        raise AuthError(
            "send the access token you got when verifying, or a staff token", request_id=row.id
        ) from None
    if Duty.REQUESTS not in staff.duties:
        raise Forbidden(f"role {staff.role!r} does not have the duty 'requests'", role=staff.role)
    return f"role:{staff.role}"


def _view(row: RequestRow) -> DsarView:
    return DsarView(**Requests.view(row), result=row.result)


@router.post("", status_code=202, response_model=DsarOpened, summary="Open a request (anyone)")
def open_request(body: DsarCreate, session: SessionDep, service: RequestsDep) -> DsarOpened:
    """Receive a request. A code goes to the identifier if we hold it; the answer is the same
    either way, so an unverified request reveals nothing."""
    opened = service.open(session, type=body.type, identity=body.identity, details=body.details)
    session.commit()
    return DsarOpened(
        id=opened.request.id,
        status=Status(opened.request.status),
        due_at=opened.request.due_at.isoformat(),
    )


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
            session, request_id, actor=f"role:{staff.role}", note=body.note or ""
        )
    else:
        if not body.code:
            raise AuthError("send the code you received as 'code'", request_id=request_id)
        done = service.verify(session, request_id, code=body.code)
    session.commit()
    return DsarVerified(
        id=done.request.id, status=Status(done.request.status), access_token=done.requester_token
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
    _caller(session, strategy, service, row, authorization)
    return _view(row)


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
    fulfiller: FulfillerDep,
    audit: AuditDep,
    authorization: Authorization = None,
    format: Annotated[Literal["json", "zip"], Query()] = "json",
) -> Response:
    """Access: every record, external rows and the processing information (JSON, or a zip of
    CSV files with a README). Portability: what the subject provided, as JSON."""
    row = service.get(session, request_id)
    actor = _caller(session, strategy, service, row, authorization)
    if row.type not in {RequestType.ACCESS, RequestType.PORTABILITY}:
        raise Conflict(
            f"a {row.type} request has no export; see GET /v1/dsar/{request_id}",
            request_id=request_id,
        )
    if row.status not in {Status.VERIFIED, Status.IN_PROGRESS, Status.COMPLETED}:
        raise Conflict(f"the request is {row.status}; verify it first", request_id=request_id)
    if row.type == RequestType.ACCESS:
        bundle = fulfiller.access(session, row.subject_id, row.identity)
    else:
        bundle = fulfiller.portability(session, row.subject_id)
    audit.append(
        session,
        AuditEvent(
            actor=actor,
            action="dsar.exported",
            subject_id=row.subject_id,
            request_id=row.id,
            details={"format": format, "type": row.type},
        ),
    )
    if row.status != Status.COMPLETED:
        service.complete(
            session,
            row.id,
            actor=actor,
            result={"exported": format, "entities": {e: len(r) for e, r in bundle["data"].items()}},
        )
    session.commit()
    if format == "zip":
        return Response(
            export_zip(bundle)
            if row.type == RequestType.ACCESS
            else export_zip(
                {
                    **bundle,
                    "processing": fulfiller.access(session, row.subject_id, row.identity)[
                        "processing"
                    ],
                }
            ),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{row.id}.zip"'},
        )
    return JSONResponse(bundle)


@router.post(
    "/{request_id}/extend", response_model=DsarView, summary="Extend by two months (Art. 12(3))"
)
def extend(
    request_id: str, body: DsarReason, session: SessionDep, service: RequestsDep, staff: Handler
) -> DsarView:
    """Once, with a reason told to the requester."""
    row = service.extend(session, request_id, actor=f"role:{staff.role}", reason=body.reason)
    session.commit()
    return _view(row)


@router.post(
    "/{request_id}/reject",
    response_model=DsarView,
    summary="Refuse (Art. 12(5)), with a ground and a reason",
)
def reject(
    request_id: str, body: DsarReject, session: SessionDep, service: RequestsDep, staff: Handler
) -> DsarView:
    """The requester is told the reason and of their right to complain."""
    row = service.reject(
        session, request_id, actor=f"role:{staff.role}", ground=body.ground, reason=body.reason
    )
    session.commit()
    return _view(row)


@router.post(
    "/{request_id}/complete", response_model=DsarView, summary="Fulfil the request and close it"
)
def complete(
    request_id: str,
    session: SessionDep,
    service: RequestsDep,
    fulfiller: FulfillerDep,
    staff: Handler,
) -> DsarView:
    """Carry out the right the request asks for; the result says what was done and why."""
    row = service.get(session, request_id)
    if row.status not in {Status.VERIFIED, Status.IN_PROGRESS}:
        raise Conflict(
            f"the request is {row.status}; only a verified request can be fulfilled",
            request_id=request_id,
            status=row.status,
        )
    result = _fulfil(session, fulfiller, row)
    row = service.complete(session, request_id, actor=f"role:{staff.role}", result=result)
    session.commit()
    return _view(row)


def _fulfil(session: Session, fulfiller: Fulfiller, row: RequestRow) -> dict[str, Any]:
    kind = RequestType(row.type)
    if kind is RequestType.ACCESS:
        bundle = fulfiller.access(session, row.subject_id, row.identity)
        return {
            "entities": {e: len(r) for e, r in bundle["data"].items()},
            "external": bundle["external_status"],
            "export": f"/v1/dsar/{row.id}/export",
        }
    if kind is RequestType.PORTABILITY:
        data = fulfiller.portability(session, row.subject_id)["data"]
        return {
            "entities": {e: len(r) for e, r in data.items()},
            "export": f"/v1/dsar/{row.id}/export",
        }
    if kind is RequestType.RECTIFICATION:
        return fulfiller.rectify(
            session, row.subject_id, row.details.get("changes", {}), row.identity
        )
    if kind is RequestType.ERASURE:
        return fulfiller.erase(session, row.subject_id, row.identity, request_id=row.id)
    if kind is RequestType.RESTRICTION:
        return fulfiller.restrict(session, row.subject_id, request_id=row.id)
    return fulfiller.object(session, row.subject_id, request_id=row.id)
