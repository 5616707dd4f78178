"""HTTP for auditors: read the hash-chained audit log and verify it."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from audit import MAX_SEQ, AuditLog
from dsar.api.deps import SessionDep, require_duty
from dsar.auth import Staff
from schemas.enums import Duty

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])
Auditor = Annotated[Staff, Depends(require_duty(Duty.AUDIT))]


def _audit(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit
    return log


AuditDep = Annotated[AuditLog, Depends(_audit)]


class AuditEntryPublic(BaseModel):
    """One entry: who did what to which pseudonymous subject or request, chained by hash."""

    seq: int = Field(description="Position in the chain, from 1.")
    at: str = Field(description="When, ISO 8601 UTC.")
    actor: str = Field(
        description="person:<name> (role:<id>) for staff with a personal token, role:<id>, "
        "requester, subject or system."
    )
    action: str = Field(description="What was done, e.g. dsar.verified.")
    subject_id: str | None = Field(description="Pseudonymous subject id, if any.")
    request_id: str | None = Field(description="Data-subject request id, if any.")
    details: dict[str, Any] = Field(description="Ids, codes and counts; never personal data.")
    prev_hash: str = Field(description="Hash of the entry before.")
    hash: str = Field(description="HMAC-SHA-256 of this entry chained to the one before.")


class AuditVerification(BaseModel):
    """The verdict on the whole chain."""

    ok: bool = Field(description="True when no entry was edited, removed, reordered or cut off.")
    entries: int = Field(description="Entries walked.")
    head_seq: int = Field(description="The last sequence number the head records.")
    breaks: list[dict[str, Any]] = Field(description="Each break: seq and problem.")


@router.get("", response_model=list[AuditEntryPublic], summary="Read the audit log")
def entries(
    session: SessionDep,
    audit: AuditDep,
    _: Auditor,
    after: Annotated[int, Query(ge=0, le=MAX_SEQ, description="Entries after this seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    subject_id: str | None = None,
    request_id: str | None = None,
) -> list[AuditEntryPublic]:
    """A page of entries in chain order (duty audit)."""
    rows = audit.entries(
        session, after=after, limit=limit, subject_id=subject_id, request_id=request_id
    )
    return [
        AuditEntryPublic(
            seq=r.seq,
            at=r.at,
            actor=r.actor,
            action=r.action,
            subject_id=r.subject_id,
            request_id=r.request_id,
            details=json.loads(r.details),
            prev_hash=r.prev_hash,
            hash=r.hash,
        )
        for r in rows
    ]


@router.get("/verify", response_model=AuditVerification, summary="Verify the chain")
def verify(session: SessionDep, audit: AuditDep, _: Auditor) -> AuditVerification:
    """Walk the whole chain and report every break (duty audit)."""
    result = audit.verify(session)
    return AuditVerification(
        ok=result.ok,
        entries=result.entries,
        head_seq=result.head_seq,
        breaks=[{"seq": b.seq, "problem": b.problem} for b in result.breaks],
    )
