"""The life of a data-subject request: open, verify, extend, reject, complete (GDPR ch. III).

    received → awaiting_verification → verified → in_progress → completed
                        │                  │            │
                        └──────────────────┴────────────┴──→ rejected

Every transition is timestamped in the request's history and written to the audit log. An
unverified request reveals nothing: opening one does the same work and answers the same
whether or not the person is a customer; only afterwards (:meth:`Requests.deliver_code`) is a
code queued, and only ever to an identifier the system of record already holds. Messages are
delivered from the outbox after the answer (:mod:`dsar.requests.outbox`). The requester's token
expires; once the request is closed it reads only the answer kept at completion, and the
identifiers the request was opened with are kept only as keyed hashes.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.deadlines import due_date
from dsar.limits import Limit, RateLimits
from dsar.requests import codes
from dsar.requests.codes import CODE_LIFETIME, MAX_ATTEMPTS
from dsar.requests.enums import OPEN_STATUSES, RejectionGround, RequestType, Status
from dsar.requests.errors import AnswerGone
from dsar.requests.exports import Answers, ExportBuilder, ExportVault
from dsar.requests.intake import (
    CHANGES_STATED,
    as_json,
    check_changes,
    check_details,
    correctable_fields,
    parse_identity,
    parse_type,
)
from dsar.requests.messages import Composer, MessageKind, plain_english
from dsar.requests.notifier import MessageStatus, Notifier
from dsar.requests.outbox import HELD_ADDRESS_KEPT, KEYED, Deliveries, forget_held, send_due
from dsar.requests.tables import Outbox, RequestEvent, RequestRow
from kernel.crypto import hash_secret, new_secret_token, verify_secret
from kernel.errors import AuthError, Conflict, NotFound, RequestError, ValidationFailed
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from schemas.models import Strategy

__all__ = [
    "ANSWER_LIFETIME",
    "CODE_LIFETIME",
    "MAX_ATTEMPTS",
    "OPEN_STATUSES",
    "TOKEN_LIFETIME",
    "CodeDelivery",
    "Opened",
    "RejectionGround",
    "RequestType",
    "Requests",
    "Status",
    "SubjectFinder",
    "Verified",
]

TOKEN_LIFETIME: Final = timedelta(days=7)
"""How long a requester's token works after verification, while the request is open."""
ANSWER_LIFETIME: Final = timedelta(days=30)
"""How long a closed request's answer (and the requester's token to it) is kept."""
IDENTITY_KEY_PURPOSE: Final = "requests/identity"
"""Keyring label of the key that hashes a closed request's identifiers and outbox addresses."""
CODE_KEY_PURPOSE: Final = "requests/codes"
"""Keyring label of the key one-time codes (requests and sign-ins) are hashed under."""
EXPORT_KEY_PURPOSE: Final = "requests/export"
"""Keyring label of the key sealing answers of requesters the system of record does not hold."""
_SUPPRESSED_BODY: Final = "(not sent: over the cap of messages to this address)"


SubjectFinder = Callable[[Session, str, str], str | None]
"""``(session, identifier field, value) → subject id or None``."""


@dataclass(frozen=True, slots=True)
class CodeDelivery:
    """A code to queue once the requester has been answered, if the identifier is known."""

    request_id: str
    key: str
    value: str
    code: str = field(repr=False)
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Opened:
    """A newly opened request: what the requester is told, whoever they are.

    ``delivery`` holds the code when the caller deferred it (``open(..., defer=True)``): hand
    it to :meth:`Requests.deliver_code` after answering.
    """

    request: RequestRow
    delivery: CodeDelivery | None = None


@dataclass(frozen=True, slots=True)
class Verified:
    """A verified request and the token its requester reads the answer with (shown once)."""

    request: RequestRow
    requester_token: str


class Requests:
    """Data-subject requests over one strategy, audit log and notifier.

    ``limits`` are the rate limits of DESIGN §11 (None: none, for tests of other things);
    ``keyring`` gives the keys hashing closed requests' identifiers and sealing answers (None:
    a throwaway one); ``keystore`` seals a subject's answer under the subject's own key, so
    erasure shreds it; ``exports`` builds the answer of access and portability requests kept
    at completion.
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        find_subject: SubjectFinder,
        notifier: Notifier,
        audit: AuditLog | None = None,
        normalise: Callable[[str, str], str] | None = None,
        clock: Callable[[], datetime] | None = None,
        limits: RateLimits | None = None,
        keyring: Keyring | None = None,
        keystore: SubjectKeyStore | None = None,
        exports: ExportBuilder | None = None,
        token_lifetime: timedelta = TOKEN_LIFETIME,
        answer_lifetime: timedelta = ANSWER_LIFETIME,
        compose: Composer = plain_english,
    ) -> None:
        self.strategy = strategy
        self._compose = compose
        self._find = find_subject
        self._notifier = notifier
        self._audit = audit
        self._normalise = normalise or (lambda _field, value: value.strip())
        self._clock = clock or (lambda: datetime.now(UTC))
        self._limits = limits
        keys = keyring or Keyring.ephemeral()
        self._identity_key = keys.derive(IDENTITY_KEY_PURPOSE, version=1)
        self.code_key = keys.derive(CODE_KEY_PURPOSE, version=1)
        """The key verification codes are hashed under (:func:`kernel.crypto.hash_code`)."""
        self._token_lifetime = token_lifetime
        self._answer_lifetime = answer_lifetime
        self.answers = Answers(
            vault=ExportVault(key=keys.derive(EXPORT_KEY_PURPOSE, version=1), keystore=keystore),
            build=exports,
            lifetime=answer_lifetime,
            clock=self._now,
        )
        """The answers of access and portability requests, kept at completion."""
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

    def keyed(self, value: str) -> str:
        """The keyed hash an identifier is kept as once it is no longer needed in clear."""
        if value.startswith(KEYED):
            return value
        digest = hmac.new(self._identity_key, value.encode("utf-8", "surrogatepass"), "sha256")
        return KEYED + digest.hexdigest()

    def identify(self, identity: Mapping[str, Any]) -> tuple[str, str]:
        """The one identifier given, as ``(field, normalised value)``; RequestError if not."""
        return parse_identity(identity, identifiers=self._identifiers, normalise=self._normalise)

    def find_subject(self, session: Session, key: str, value: str) -> str | None:
        """The subject the system of record holds under ``key`` = ``value``, if any."""
        return self._find(session, key, value)

    @property
    def limits(self) -> RateLimits | None:
        """The rate limits of DESIGN §11 the service charges (None in some tests)."""
        return self._limits

    def now(self) -> datetime:
        """The service's clock."""
        return self._now()

    @staticmethod
    def _given(row: RequestRow) -> tuple[str, str]:
        ((key, value),) = row.identity.items()
        return key, str(value)

    def charge_opening(self, client: str | None, value: str) -> None:
        """Count one opening (or new code) per client address and per identifier; 429 over."""
        if self._limits is None:
            return
        if client is not None:
            self._limits.hit(Limit.OPEN_PER_CLIENT, client)
        self._limits.hit(Limit.OPEN_PER_IDENTIFIER, value)

    def queue_message(
        self, session: Session, *, request_id: str | None, to: str, subject: str, body: str
    ) -> None:
        """Queue a message, or record it suppressed when the identifier's cap is reached."""
        if self._limits is None or self._limits.take(Limit.MESSAGES_PER_IDENTIFIER, to):
            self._notifier.send(
                session, to=to, subject=subject, body=body, request_id=request_id, at=self._now()
            )
            return
        self._notifier.send(
            session,
            to=self.keyed(to),
            subject=subject,
            body=_SUPPRESSED_BODY,
            request_id=request_id,
            suppressed=True,
            at=self._now(),
        )

    # ── transitions ──────────────────────────────────────────────────────────────────────────

    def open(
        self,
        session: Session,
        *,
        type: str,
        identity: Mapping[str, Any],
        details: Mapping[str, Any] | None = None,
        client: str | None = None,
        defer: bool = False,
        language: str | None = None,
        changes_later: bool = False,
    ) -> Opened:
        """Receive a request and issue a verification code for it.

        The rate limits are charged first: per client address when ``client`` is given, and
        per identifier, whether or not it is a customer's. Up to the answer the work is the
        same for everyone. With ``defer`` the code waits in :attr:`Opened.delivery` for
        :meth:`deliver_code`, to be called after answering: a caller that answers someone over
        the network must defer. Without it (the CLI, scripts) the code is queued at once.
        With ``changes_later`` a rectification may come without ``details.changes``: the
        verified requester states them with :meth:`state_changes`.
        """
        kind = parse_type(type)
        key, value = self.identify(identity)
        checked = check_details(self.strategy, kind, details or {}, changes_later=changes_later)
        self.charge_opening(client, value)
        now = self._now()
        row = RequestRow(
            id=secrets.token_hex(16),
            type=kind,
            status=Status.RECEIVED,
            received_at=now,
            due_at=due_date(now.date(), country=self.strategy.controller.jurisdiction),
            extended=False,
            identity={key: value},
            details=checked,
            language=language,
        )
        session.add(row)
        self._record(session, row, Status.RECEIVED, actor="requester", action="dsar.received")
        code = codes.issue(session, row.id, key=self.code_key, now=now)
        self._record(
            session, row, Status.AWAITING_VERIFICATION, actor="system", action="dsar.code_sent"
        )
        session.flush()
        delivery = CodeDelivery(row.id, key, value, code, language)
        if defer:
            return Opened(row, delivery)
        self.deliver_code(session, delivery)
        return Opened(row)

    def resend(
        self, session: Session, request_id: str, *, client: str | None = None, defer: bool = False
    ) -> Opened:
        """A new code for an unverified request (the old one stops working), charged like
        opening a request; the same for everyone, like :meth:`open`."""
        row = self._open_row(
            session,
            request_id,
            allowed={Status.AWAITING_VERIFICATION},
            doing="send a new code for",
        )
        key, value = self._given(row)
        self.charge_opening(client, value)
        code = codes.issue(session, row.id, key=self.code_key, now=self._now(), replace=True)
        self._record(
            session,
            row,
            Status.AWAITING_VERIFICATION,
            actor="requester",
            action="dsar.code_sent",
            note="a new code was asked for",
        )
        session.flush()
        delivery = CodeDelivery(row.id, key, value, code, row.language)
        if defer:
            return Opened(row, delivery)
        self.deliver_code(session, delivery)
        return Opened(row)

    def deliver_code(self, session: Session, delivery: CodeDelivery) -> None:
        """Queue the code if the identifier belongs to a customer; a stranger is sent nothing.

        Called after the answer, so neither this lookup nor the message can be timed from
        outside; the message itself goes out with the outbox sender (:meth:`send_outbox`).
        """
        if self._find(session, delivery.key, delivery.value) is None:
            return
        subject, body = self.words(
            MessageKind.CODE,
            delivery.request_id,
            delivery.language,
            code=delivery.code,
            minutes=int(CODE_LIFETIME.total_seconds() // 60),
        )
        self.queue_message(
            session, request_id=delivery.request_id, to=delivery.value, subject=subject, body=body
        )

    def verify(self, session: Session, request_id: str, *, code: str) -> Verified:
        """Check the code. Each guess takes one of the code's attempts atomically before it is
        compared (:mod:`dsar.requests.codes`), and that attempt is committed at once, so a
        wrong guess counts however the call ends. Wrong guesses also count against the
        identifier across all its requests; when that limit is spent even the right code is
        refused (429) until its window passes."""
        row = self._open_row(
            session, request_id, allowed={Status.AWAITING_VERIFICATION}, doing="verify"
        )
        _, value = self._given(row)
        if self._limits is not None and not self._limits.allows(
            Limit.WRONG_CODES_PER_IDENTIFIER, value
        ):
            # A full window counts nothing more: hit() only raises RateLimited, with the
            # Retry-After of the window that is full.
            self._limits.hit(Limit.WRONG_CODES_PER_IDENTIFIER, value)
        now = self._now()
        guess = codes.check(session, request_id, code, key=self.code_key, now=now)
        if guess.why is not None:
            raise AuthError(guess.why, request_id=request_id)
        if not guess.right:
            if self._limits is not None:
                self._limits.take(Limit.WRONG_CODES_PER_IDENTIFIER, value)
            if self._audit is not None:
                self._audit.append(
                    session,
                    AuditEvent(
                        actor="requester",
                        action="dsar.verification_failed",
                        request_id=request_id,
                        details={"attempts_left": guess.left},
                    ),
                    at=now,
                )
            session.commit()
            then = (
                ""
                if guess.left
                else f"; ask for a new code (POST /v1/dsar/{request_id}/resend) or ask "
                "privacy staff to verify you in person"
            )
            raise AuthError(
                f"wrong code; {guess.left} attempt{'s' * (guess.left != 1)} left{then}",
                request_id=request_id,
            )
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
        key, value = self._given(row)
        row.subject_id = self._find(session, key, value)
        row.verified_by = method
        token = new_secret_token()
        row.requester_token_hash = hash_secret(token)
        row.requester_token_expires_at = self._now() + self._token_lifetime
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

    def _holds_token(self, row: RequestRow, token: str) -> bool:
        return row.requester_token_hash is not None and verify_secret(
            token, row.requester_token_hash
        )

    def _token_expired(self, row: RequestRow) -> bool:
        expires = row.requester_token_expires_at
        return expires is None or self._now() >= expires

    def is_requester(self, row: RequestRow, token: str) -> bool:
        """Whether ``token`` is the one handed to this request's requester and still works."""
        return self._holds_token(row, token) and not self._token_expired(row)

    def check_requester(self, row: RequestRow, token: str) -> bool:
        """Like :meth:`is_requester`, but the requester's own expired token is told why.

        A token expires ``token_lifetime`` after verification while the request is open; at
        closing it is renewed for ``answer_lifetime``, the time the answer is kept. An expired
        token of an open request raises :class:`AuthError`; of a closed one,
        :class:`AnswerGone` (410).
        """
        if not self._holds_token(row, token):
            return False
        if not self._token_expired(row):
            return True
        expired = row.requester_token_expires_at
        when = expired.date().isoformat() if expired else "verification"
        if row.closed_at is not None:
            raise AnswerGone(
                f"the answer to this request was kept until {when} and is no longer available; "
                "open a new request to receive your data as it is now",
                request_id=row.id,
            )
        raise AuthError(
            f"this access token expired on {when}; it works again once the request is answered "
            f"(due by {row.due_at.isoformat()}), to read the answer",
            request_id=row.id,
        )

    def start(self, session: Session, request_id: str, *, actor: str) -> RequestRow:
        """Staff take up a verified request."""
        row = self._open_row(session, request_id, allowed={Status.VERIFIED}, doing="start")
        self._record(session, row, Status.IN_PROGRESS, actor=actor, action="dsar.started")
        return row

    def state_changes(
        self,
        session: Session,
        request_id: str,
        *,
        changes: Mapping[str, Any],
        actor: str = "requester",
    ) -> RequestRow:
        """Art. 16: the verified requester states, or replaces, what a rectification corrects.

        Only :func:`~dsar.requests.intake.correctable_fields`, each value checked as the
        fulfiller checks it (:func:`~dsar.requests.intake.check_changes`); when one is wrong
        nothing is kept and :class:`ValidationFailed` lists them all. The history and the audit
        log name the fields, never the values.
        """
        row = self._open_row(
            session,
            request_id,
            allowed={Status.VERIFIED, Status.IN_PROGRESS},
            doing="state the changes of",
        )
        if row.type != RequestType.RECTIFICATION:
            raise Conflict(
                f"only a rectification has changes to state; this is a {row.type} request",
                request_id=request_id,
            )
        if not changes:
            why = "give at least one field to correct and its new value"
            raise ValidationFailed(why, field="changes", problems={"changes": why})
        allowed = {f"{e}.{f}" for e, fs in correctable_fields(self.strategy).items() for f in fs}
        region = self.strategy.controller.jurisdiction.upper()
        clean = check_changes(self.strategy, changes, region=region, allowed=allowed)
        row.details = {**row.details, "changes": as_json(self.strategy, clean)}
        refs = sorted(clean)
        self._record(
            session,
            row,
            Status(row.status),
            actor=actor,
            note=f"{CHANGES_STATED}: {', '.join(refs)}",
            action="dsar.changes_stated",
            details={"fields": refs},
        )
        session.flush()
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
        self._tell(session, row, MessageKind.EXTENDED, reason=reason, due=row.due_at.isoformat())
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
        self._tell(session, row, MessageKind.REJECTED, ground=why.value, reason=reason)
        self._close(session, row)
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
        self,
        session: Session,
        request_id: str,
        *,
        actor: str,
        result: Mapping[str, Any],
        answer: Mapping[str, Any] | None = None,
    ) -> RequestRow:
        """Record the fulfilment's result and close the request.

        An access or portability request keeps its answer as produced now: ``answer`` when
        the caller built it already, else the one the ``exports`` builder makes.
        """
        row = self._open_row(
            session, request_id, allowed={Status.VERIFIED, Status.IN_PROGRESS}, doing="complete"
        )
        row.result = dict(result)
        row.closed_at = self._now()
        self.answers.keep(session, row, answer)
        self._tell(session, row, MessageKind.COMPLETED)
        self._close(session, row)
        self._record(session, row, Status.COMPLETED, actor=actor, action="dsar.completed")
        return row

    def words(
        self, kind: MessageKind, request_id: str, language: str | None, **values: Any
    ) -> tuple[str, str]:
        return self._compose(
            kind,
            language,
            {
                "controller": self.strategy.controller.name,
                "reference": request_id[:8].upper(),
                "request_id": request_id,
                **values,
            },
        )

    def _tell(self, session: Session, row: RequestRow, kind: MessageKind, **values: Any) -> None:
        _, value = self._given(row)
        if row.subject_id is not None or row.status in {Status.VERIFIED, Status.IN_PROGRESS}:
            subject, body = self.words(kind, row.id, row.language, **values)
            self.queue_message(session, request_id=row.id, to=value, subject=subject, body=body)

    def _close(self, session: Session, row: RequestRow) -> None:
        """What closing keeps: the token renewed for the answer's lifetime, the identifiers
        and the addresses of messages no longer waiting for delivery as keyed hashes."""
        closed = row.closed_at or self._now()
        if row.requester_token_hash is not None:
            row.requester_token_expires_at = closed + self._answer_lifetime
        row.identity = {k: self.keyed(str(v)) for k, v in row.identity.items()}
        waiting = session.scalars(
            select(Outbox).where(Outbox.request_id == row.id, Outbox.status != MessageStatus.QUEUED)
        )
        for message in waiting:
            message.to = self.keyed(message.to)

    # ── messages ─────────────────────────────────────────────────────────────────────────────

    def forget_held_messages(self, session: Session, *, dry_run: bool = False) -> int:
        """Forget the addresses of messages of no request held longer than
        :data:`HELD_ADDRESS_KEPT`; how many were (or would be) forgotten."""
        before = self._now() - HELD_ADDRESS_KEPT
        return forget_held(session, self.keyed, before=before, dry_run=dry_run)

    def send_outbox(self, session: Session, *, limit: int = 50) -> Deliveries:
        """Deliver due messages through the notifier (the run commits as it goes)."""
        return send_due(session, self._notifier, clock=self._now, forget=self.keyed, limit=limit)

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

    def record_progress(
        self,
        session: Session,
        request_id: str,
        *,
        actor: str,
        result: Mapping[str, Any],
        note: str | None = None,
    ) -> RequestRow:
        """Keep the partial result of a fulfilment that is not finished; the request is (or
        becomes) ``in_progress``. A ``note`` adds it to the history, e.g. what is pending."""
        row = self._open_row(
            session,
            request_id,
            allowed={Status.VERIFIED, Status.IN_PROGRESS},
            doing="record progress on",
        )
        row.result = dict(result)
        if row.status != Status.IN_PROGRESS:
            self._record(
                session, row, Status.IN_PROGRESS, actor=actor, note=note, action="dsar.started"
            )
        elif note:
            self._record(
                session, row, Status.IN_PROGRESS, actor=actor, note=note, action="dsar.progress"
            )
        return row
