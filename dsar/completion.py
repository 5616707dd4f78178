"""Carrying out a verified request and closing it: one path for the HTTP API and the CLI.

``POST /v1/dsar/{id}/complete``, ``…/retry`` and ``tietotie dsar complete`` all call
:func:`complete_request` (or :func:`retry_erasure`), so a right is fulfilled the same way
whoever asks: access, portability, rectification, restriction and objection in the caller's
transaction, erasure as its recorded plan that commits step by step (:mod:`dsar.erasure`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from audit import AuditLog
from dsar.fulfil import Fulfiller
from dsar.requests import RequestRow, Requests, RequestType, Status
from kernel.errors import Conflict

__all__ = ["Completion", "complete_request", "fulfil_right", "retry_erasure"]


@dataclass(frozen=True)
class Completion:
    """The request after fulfilment, and whether every step is done.

    ``finished`` is False only for an erasure with a step still pending (an external system
    not reached, a run cut short): the request stays ``in_progress`` and its result says what
    is pending; completing or retrying it again resumes only those steps.
    """

    request: RequestRow
    finished: bool


def complete_request(
    session: Session,
    request_id: str,
    *,
    requests: Requests,
    fulfiller: Fulfiller,
    audit: AuditLog,
    actor: str,
) -> Completion:
    """Fulfil the right a verified (or in-progress) request asks for and close it.

    :class:`Conflict` for a request in any other state. The caller commits; an erasure has
    committed its own steps by then.
    """
    row = requests.get(session, request_id)
    if row.status not in {Status.VERIFIED, Status.IN_PROGRESS}:
        raise Conflict(
            f"the request is {row.status}; only a verified request can be fulfilled",
            request_id=request_id,
            status=row.status,
        )
    if row.type == RequestType.ERASURE:
        return _erase(
            session, row, requests=requests, fulfiller=fulfiller, audit=audit, actor=actor
        )
    result = fulfil_right(session, fulfiller, row)
    return Completion(requests.complete(session, request_id, actor=actor, result=result), True)


def retry_erasure(
    session: Session,
    request_id: str,
    *,
    requests: Requests,
    fulfiller: Fulfiller,
    audit: AuditLog,
    actor: str,
) -> Completion:
    """Run again only the unfinished steps of an erasure in progress; :class:`Conflict` for
    any other request."""
    row = requests.get(session, request_id)
    if row.type != RequestType.ERASURE or row.status != Status.IN_PROGRESS:
        raise Conflict(
            f"only an erasure that is in progress can be retried; this {row.type} request is "
            f"{row.status} (fulfil a verified request with POST /v1/dsar/{request_id}/complete)",
            request_id=request_id,
            status=row.status,
        )
    return _erase(session, row, requests=requests, fulfiller=fulfiller, audit=audit, actor=actor)


def fulfil_right(session: Session, fulfiller: Fulfiller, row: RequestRow) -> dict[str, Any]:
    """Every right but erasure, in the caller's transaction; the result to close it with."""
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
    if kind is RequestType.RESTRICTION:
        return fulfiller.restrict(session, row.subject_id, request_id=row.id)
    if kind is RequestType.OBJECTION:
        return fulfiller.object(session, row.subject_id, request_id=row.id)
    raise AssertionError(f"{kind} requests are carried out step by step by complete_request")


def _erase(
    session: Session,
    row: RequestRow,
    *,
    requests: Requests,
    fulfiller: Fulfiller,
    audit: AuditLog,
    actor: str,
) -> Completion:
    """Run or resume the request's erasure; it commits step by step and moves the request."""
    outcome = fulfiller.erase_request(
        session,
        row.id,
        subject_id=row.subject_id,
        identity=row.identity,
        actor=actor,
        requests=requests,
        audit=audit,
    )
    return Completion(requests.get(session, row.id), outcome.finished)
