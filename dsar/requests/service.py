"""The life of a data-subject request: open, verify, extend, reject, complete (GDPR ch. III).

    received → awaiting_verification → verified → in_progress → completed
                        │                  │            │
                        └──────────────────┴────────────┴──→ rejected

Every transition is timestamped in the request's history and written to the audit log. An
unverified request reveals nothing: opening one answers the same whether or not the person is
a customer, and a code is only ever sent to an identifier the system of record already holds.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.deadlines import due_date
from dsar.requests.notifier import Notifier
from dsar.requests.tables import RequestEvent, RequestRow, VerificationCode
from kernel.crypto import hash_secret, new_secret_token, new_verification_code, verify_secret
from kernel.errors import AuthError, Conflict, NotFound, RequestError
from schemas.models import Strategy

__all__ = [
    "CODE_LIFETIME",
    "MAX_ATTEMPTS",
    "OPEN_STATUSES",
    "Opened",
    "RejectionGround",
    "RequestType",
    "Requests",
    "Status",
    "SubjectFinder",
    "Verified",
]

CODE_LIFETIME = timedelta(minutes=15)
"""How long an identity-verification code is valid."""
MAX_ATTEMPTS = 5
"""Wrong codes allowed before the code is spent and a new request is needed."""


class RequestType(StrEnum):
    """The rights a data subject exercises, by article of the GDPR."""

    ACCESS = "access"
    """Art. 15: confirmation, a copy of the data and the processing information."""
    PORTABILITY = "portability"
    """Art. 20: the data the subject provided, machine-readable."""
    RECTIFICATION = "rectification"
    """Art. 16: inaccurate data corrected."""
    ERASURE = "erasure"
    """Art. 17: data erased where no ground keeps it."""
    RESTRICTION = "restriction"
    """Art. 18: processing restricted to storage."""
    OBJECTION = "objection"
    """Art. 21: processing for direct marketing stops at once."""


class Status(StrEnum):
    """Where a request stands."""

    RECEIVED = "received"
    AWAITING_VERIFICATION = "awaiting_verification"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset(
    {Status.RECEIVED, Status.AWAITING_VERIFICATION, Status.VERIFIED, Status.IN_PROGRESS}
)


class RejectionGround(StrEnum):
    """Why a request may be refused."""

    MANIFESTLY_UNFOUNDED = "manifestly_unfounded"
    """Art. 12(5)(b)."""
    EXCESSIVE = "excessive"
    """Art. 12(5)(b), in particular because of its repetitive character."""
    IDENTITY_NOT_VERIFIED = "identity_not_verified"
    """Art. 12(2) and 12(6): the controller cannot identify the data subject."""
    EXEMPTION = "exemption"
    """A restriction under Art. 23 or an exception within the right itself (e.g. Art. 17(3))."""


SubjectFinder = Callable[[Session, str, str], str | None]
"""``(session, identifier field, value) → subject id or None``."""


@dataclass(frozen=True, slots=True)
class Opened:
    """A newly opened request: what the requester is told, whoever they are."""

    request: RequestRow


@dataclass(frozen=True, slots=True)
class Verified:
    """A verified request and the token its requester reads the answer with (shown once)."""

    request: RequestRow
    requester_token: str


class Requests:
    """Data-subject requests over one strategy, audit log and notifier."""

    def __init__(
        self,
        strategy: Strategy,
        *,
        find_subject: SubjectFinder,
        notifier: Notifier,
        audit: AuditLog | None = None,
        normalise: Callable[[str, str], str] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.strategy = strategy
        self._find = find_subject
        self._notifier = notifier
        self._audit = audit
        self._normalise = normalise or (lambda _field, value: value.strip())
        self._clock = clock or (lambda: datetime.now(UTC))
        subject = strategy.index.subject_entity
        self._identifiers = tuple(strategy.system.entities[subject].identifiers) if subject else ()

    # ── helpers ──────────────────────────────────────────────────────────────────────────────

    def _now(self) -> datetime:
        return self._clock()

    def _record(
        self,
        session: Session,
        row: RequestRow,
        status: Status,
        *,
        actor: str,
        note: str | None = None,
        action: str,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        row.status = status
        session.add(
            RequestEvent(request_id=row.id, at=self._now(), status=status, actor=actor, note=note)
        )
        if self._audit is not None:
            self._audit.append(
                session,
                AuditEvent(
                    actor=actor,
                    action=action,
                    subject_id=row.subject_id,
                    request_id=row.id,
                    details={"type": row.type, "status": str(status), **(details or {})},
                ),
                at=self._now(),
            )

    def get(self, session: Session, request_id: str) -> RequestRow:
        """The request, or NotFound."""
        row = session.get(RequestRow, request_id)
        if row is None:
            raise NotFound(f"no request {request_id!r}", request_id=request_id)
        return row

    def _open_row(
        self, session: Session, request_id: str, *, allowed: set[Status], doing: str
    ) -> RequestRow:
        row = self.get(session, request_id)
        if row.status not in allowed:
            raise Conflict(
                f"cannot {doing} a request that is {row.status}",
                request_id=request_id,
                status=row.status,
            )
        return row

    def _identity(self, identity: Mapping[str, Any]) -> tuple[str, str]:
        if len(identity) != 1:
            raise RequestError(
                'give exactly one identifier in \'identity\', e.g. {"email": "…"}; '
                f"this controller knows subjects by {', '.join(self._identifiers)}",
                field="identity",
            )
        ((key, value),) = identity.items()
        if key not in self._identifiers:
            raise RequestError(
                f"'{key}' is not an identifier; use one of {', '.join(self._identifiers)}",
                field=f"identity.{key}",
            )
        if not isinstance(value, str) or not value.strip():
            raise RequestError(
                f"identity.{key} must be a non-empty string", field=f"identity.{key}"
            )
        try:
            return key, self._normalise(key, value)
        except (ValueError, TypeError) as exc:
            raise RequestError(f"identity.{key}: {exc}", field=f"identity.{key}") from None

    def _check_details(self, kind: RequestType, details: Mapping[str, Any]) -> dict[str, Any]:
        if kind is not RequestType.RECTIFICATION:
            return dict(details)
        changes = details.get("changes")
        if not isinstance(changes, dict) or not changes:
            raise RequestError(
                'a rectification needs details.changes: {"entity.field": new value}',
                field="details.changes",
            )
        unknown = [ref for ref in changes if ref not in self.strategy.index.fields]
        if unknown:
            raise RequestError(
                f"details.changes names unknown fields: {', '.join(unknown)}",
                field="details.changes",
            )
        return dict(details)

    # ── transitions ──────────────────────────────────────────────────────────────────────────

    def open(
        self,
        session: Session,
        *,
        type: str,
        identity: Mapping[str, Any],
        details: Mapping[str, Any] | None = None,
    ) -> Opened:
        """Receive a request and send a verification code to the identifier, if it is known."""
        try:
            kind = RequestType(type)
        except ValueError:
            raise RequestError(
                f"'{type}' is not a request type; use one of "
                f"{', '.join(t.value for t in RequestType)}",
                field="type",
            ) from None
        key, value = self._identity(identity)
        now = self._now()
        row = RequestRow(
            id=secrets.token_hex(16),
            type=kind,
            status=Status.RECEIVED,
            received_at=now,
            due_at=due_date(now.date(), country=self.strategy.controller.jurisdiction),
            extended=False,
            identity={key: value},
            details=self._check_details(kind, details or {}),
        )
        session.add(row)
        self._record(session, row, Status.RECEIVED, actor="requester", action="dsar.received")
        code = new_verification_code()
        session.add(
            VerificationCode(
                request_id=row.id,
                code_hash=hash_secret(code, low_entropy=True),
                expires_at=now + CODE_LIFETIME,
                attempts=0,
                used=False,
            )
        )
        if self._find(session, key, value) is not None:
            self._notifier.send(
                session,
                to=value,
                request_id=row.id,
                subject=f"{self.strategy.controller.name}: confirm your request",
                body=f"Your code is {code}. It is valid for "
                f"{int(CODE_LIFETIME.total_seconds() // 60)} minutes. If you did not ask "
                f"{self.strategy.controller.name} about your data, ignore this message.",
            )
        self._record(
            session, row, Status.AWAITING_VERIFICATION, actor="system", action="dsar.code_sent"
        )
        session.flush()
        return Opened(row)

    def verify(self, session: Session, request_id: str, *, code: str) -> Verified:
        """Check the code; a wrong code is counted (and committed) before the call fails."""
        row = self._open_row(
            session, request_id, allowed={Status.AWAITING_VERIFICATION}, doing="verify"
        )
        stored = session.get(VerificationCode, request_id)
        now = self._now()
        if stored is None or stored.used or stored.attempts >= MAX_ATTEMPTS:
            raise AuthError(
                "this code can no longer be used; open a new request", request_id=request_id
            )
        if now >= stored.expires_at:
            raise AuthError("the code has expired; open a new request", request_id=request_id)
        stored.attempts += 1
        if not verify_secret(code.strip(), stored.code_hash):
            left = MAX_ATTEMPTS - stored.attempts
            if self._audit is not None:
                self._audit.append(
                    session,
                    AuditEvent(
                        actor="requester",
                        action="dsar.verification_failed",
                        request_id=row.id,
                        details={"attempts_left": left},
                    ),
                    at=now,
                )
            session.commit()
            raise AuthError(
                f"wrong code; {left} attempt{'s' * (left != 1)} left", request_id=request_id
            )
        stored.used = True
        return self._mark_verified(session, row, method="code", actor="requester")

    def verify_in_person(
        self, session: Session, request_id: str, *, actor: str, note: str
    ) -> Verified:
        """Staff with the requests duty saw the requester's proof of identity themselves."""
        if not note.strip():
            raise RequestError("say how the identity was checked in 'note'", field="note")
        row = self._open_row(
            session, request_id, allowed={Status.AWAITING_VERIFICATION}, doing="verify"
        )
        return self._mark_verified(session, row, method="in_person", actor=actor, note=note)

    def _mark_verified(
        self, session: Session, row: RequestRow, *, method: str, actor: str, note: str | None = None
    ) -> Verified:
        ((key, value),) = row.identity.items()
        row.subject_id = self._find(session, key, value)
        row.verified_by = method
        token = new_secret_token()
        row.requester_token_hash = hash_secret(token)
        self._record(
            session,
            row,
            Status.VERIFIED,
            actor=actor,
            note=note,
            action="dsar.verified",
            details={"method": method, "known_subject": row.subject_id is not None},
        )
        session.flush()
        return Verified(row, token)

    def is_requester(self, row: RequestRow, token: str) -> bool:
        """Whether ``token`` is the one handed to this request's verified requester."""
        return row.requester_token_hash is not None and verify_secret(
            token, row.requester_token_hash
        )

    def start(self, session: Session, request_id: str, *, actor: str) -> RequestRow:
        """Staff take up a verified request."""
        row = self._open_row(session, request_id, allowed={Status.VERIFIED}, doing="start")
        self._record(session, row, Status.IN_PROGRESS, actor=actor, action="dsar.started")
        return row

    def extend(self, session: Session, request_id: str, *, actor: str, reason: str) -> RequestRow:
        """Art. 12(3): extend once by two further months, telling the requester why."""
        if not reason.strip():
            raise RequestError("an extension needs a reason to tell the requester", field="reason")
        row = self._open_row(session, request_id, allowed=set(OPEN_STATUSES), doing="extend")
        if row.extended:
            raise Conflict(
                "a request can be extended only once (Art. 12(3))",
                request_id=request_id,
                article="Art. 12(3)",
            )
        row.extended = True
        row.reason = reason
        row.due_at = due_date(
            row.received_at.date(), extended=True, country=self.strategy.controller.jurisdiction
        )
        self._tell(
            session,
            row,
            f"We need more time to answer your request. {reason} "
            f"We will answer by {row.due_at.isoformat()}.",
        )
        self._record(
            session,
            row,
            Status(row.status),
            actor=actor,
            note=reason,
            action="dsar.extended",
            details={"due_at": row.due_at.isoformat()},
        )
        return row

    def reject(
        self, session: Session, request_id: str, *, actor: str, ground: str, reason: str
    ) -> RequestRow:
        """Refuse with a ground and a reason; the requester is told they may complain."""
        try:
            why = RejectionGround(ground)
        except ValueError:
            raise RequestError(
                f"'{ground}' is not a ground; use one of "
                f"{', '.join(g.value for g in RejectionGround)}",
                field="ground",
            ) from None
        if not reason.strip():
            raise RequestError("a refusal needs a reason to tell the requester", field="reason")
        row = self._open_row(session, request_id, allowed=set(OPEN_STATUSES), doing="reject")
        row.reason = reason
        row.closed_at = self._now()
        self._tell(
            session,
            row,
            f"We cannot act on your request ({why.value}): {reason} "
            "You may lodge a complaint with the supervisory authority and seek a "
            "judicial remedy (Art. 12(4) GDPR).",
        )
        self._record(
            session,
            row,
            Status.REJECTED,
            actor=actor,
            note=reason,
            action="dsar.rejected",
            details={"ground": why.value},
        )
        return row

    def complete(
        self, session: Session, request_id: str, *, actor: str, result: Mapping[str, Any]
    ) -> RequestRow:
        """Record the fulfilment's result and close the request."""
        row = self._open_row(
            session, request_id, allowed={Status.VERIFIED, Status.IN_PROGRESS}, doing="complete"
        )
        row.result = dict(result)
        row.closed_at = self._now()
        self._record(session, row, Status.COMPLETED, actor=actor, action="dsar.completed")
        return row

    def _tell(self, session: Session, row: RequestRow, body: str) -> None:
        ((_, value),) = row.identity.items()
        if row.subject_id is not None or row.status in {Status.VERIFIED, Status.IN_PROGRESS}:
            self._notifier.send(
                session,
                to=value,
                request_id=row.id,
                subject=f"{self.strategy.controller.name}: your request",
                body=body,
            )

    # ── views ────────────────────────────────────────────────────────────────────────────────

    def nearing_deadline(
        self, session: Session, *, within_days: int = 7, today: date | None = None
    ) -> list[RequestRow]:
        """Open requests due within ``within_days`` (overdue ones first)."""
        day = today or self._now().date()
        query = (
            select(RequestRow)
            .where(RequestRow.status.in_([s.value for s in OPEN_STATUSES]))
            .where(RequestRow.due_at <= day + timedelta(days=within_days))
            .order_by(RequestRow.due_at)
        )
        return list(session.execute(query).scalars())

    @staticmethod
    def view(row: RequestRow) -> dict[str, Any]:
        """Status, due date and history, as the requester and staff see them."""
        return {
            "id": row.id,
            "type": row.type,
            "status": row.status,
            "received_at": row.received_at.isoformat(),
            "due_at": row.due_at.isoformat(),
            "extended": row.extended,
            "reason": row.reason,
            "history": [
                {"at": e.at.isoformat(), "status": e.status, "actor": e.actor, "note": e.note}
                for e in row.events
            ],
        }
