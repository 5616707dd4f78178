"""Handing the requester their Art. 15 or Art. 20 answer: built and kept once, then served.

The JSON API and the privacy center both call :func:`take_answer`: the first download of a
verified access or portability request builds the answer, completes the request and keeps the
answer sealed; every later download serves that kept answer, never live data, until it expires.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.requests.enums import RequestType, Status
from dsar.requests.service import Requests
from dsar.requests.tables import RequestRow
from kernel.errors import Conflict

__all__ = ["EXPORTABLE", "take_answer"]

EXPORTABLE = frozenset({RequestType.ACCESS, RequestType.PORTABILITY})
"""The request types whose answer is a download."""


def take_answer(
    service: Requests,
    session: Session,
    row: RequestRow,
    *,
    actor: str,
    fmt: str,
    audit: AuditLog | None,
) -> dict[str, Any]:
    """The answer of ``row`` (``{"bundle": …, "processing": …}``); the caller commits.

    :class:`Conflict` for a request that has no download or is not verified yet.
    """
    if row.type not in EXPORTABLE:
        raise Conflict(f"a {row.type} request has no export", request_id=row.id)
    if row.status not in {Status.VERIFIED, Status.IN_PROGRESS, Status.COMPLETED}:
        raise Conflict(f"the request is {row.status}; verify it first", request_id=row.id)
    fresh = row.status != Status.COMPLETED
    answer = service.answers.build(session, row) if fresh else service.answers.of(session, row)
    if answer is None:
        raise Conflict("this service keeps no answers to export", request_id=row.id)
    bundle: dict[str, Any] = answer["bundle"]
    if audit is not None:
        audit.append(
            session,
            AuditEvent(
                actor=actor,
                action="dsar.exported",
                subject_id=row.subject_id,
                request_id=row.id,
                details={"format": fmt, "type": row.type},
            ),
        )
    if fresh:
        service.complete(
            session,
            row.id,
            actor=actor,
            result={"exported": fmt, "entities": {e: len(r) for e, r in bundle["data"].items()}},
            answer=answer,
        )
    return answer
