"""Signing a customer in to the privacy center by a code sent to one identifier (DESIGN §12).

A sign-in proves, like a request's code, that the person holds an identifier the system of
record knows: then they may see and change their own consents. It shares everything with the
request service (:class:`~dsar.requests.Requests`): the identifiers and their normalising, the
rate limits per client and per identifier, the codes and their atomic attempts
(:mod:`dsar.requests.codes`), the outbox and its per-identifier cap, and the composer that
writes in the customer's language.

Opening does the same work and answers the same for everyone; the subject is looked up only
afterwards (:meth:`SignIns.deliver_code`), so a stranger is sent nothing and can never sign in.
The identifier is never stored in clear. A verified sign-in gives the browser a token (kept
only as a hash) that works until :data:`SESSION_LIFETIME` has passed or the customer signs out.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Final

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.limits import Limit
from dsar.requests import codes
from dsar.requests.codes import CODE_LIFETIME
from dsar.requests.messages import MessageKind
from dsar.requests.service import Requests
from dsar.requests.tables import SignInCode, SignInRow
from kernel.crypto import hash_secret, new_secret_token, verify_secret
from kernel.db import purge
from kernel.errors import AuthError, NotFound

__all__ = ["KEPT_AFTER_LAPSE", "SESSION_LIFETIME", "SignInDelivery", "SignIns", "SignedIn"]

SESSION_LIFETIME: Final = timedelta(minutes=30)
"""How long a verified sign-in works: long enough to read and choose, short on a shared PC."""
KEPT_AFTER_LAPSE: Final = timedelta(days=1)
"""How long a lapsed or ended sign-in stays, so a late code still gets "sign in again" rather
than "no such sign-in"; ``tietotie retention run`` deletes it after that."""
_AGAIN: Final = "sign in again for a new code"


@dataclass(frozen=True, slots=True)
class SignInDelivery:
    """A code to send once the person has been answered, if the identifier is known."""

    signin_id: str
    key: str
    value: str
    code: str = field(repr=False)
    language: str | None = None


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A verified sign-in: the subject it proves, and the browser's token (shown once)."""

    row: SignInRow
    token: str = field(repr=False)


class SignIns:
    """Privacy-center sign-ins over the request service's identifiers, limits and outbox."""

    def __init__(
        self,
        requests: Requests,
        *,
        audit: AuditLog | None = None,
        lifetime: timedelta = SESSION_LIFETIME,
    ) -> None:
        self._requests = requests
        self._audit = audit
        self._lifetime = lifetime

    @property
    def requests(self) -> Requests:
        """The request service whose identifiers, limits and outbox sign-ins share."""
        return self._requests

    def open(
        self,
        session: Session,
        *,
        identity: Mapping[str, Any],
        purpose: str = "consents",
        client: str | None = None,
        language: str | None = None,
    ) -> SignInDelivery:
        """Start a sign-in; the same work for everyone. Send the code with :meth:`deliver_code`
        after answering. Charged like opening a request (429 over the limits)."""
        key, value = self._requests.identify(identity)
        self._requests.charge_opening(client, value)
        now = self._requests.now()
        row = SignInRow(
            id=secrets.token_hex(16),
            purpose=purpose,
            identity_field=key,
            identity_hash=self._requests.keyed(value),
            language=language,
            created_at=now,
            expires_at=now + CODE_LIFETIME,
        )
        session.add(row)
        session.flush()
        code = codes.issue(session, row.id, key=self._requests.code_key, now=now, table=SignInCode)
        session.flush()
        return SignInDelivery(row.id, key, value, code, language)

    def deliver_code(self, session: Session, delivery: SignInDelivery) -> None:
        """Queue the code when the identifier is a customer's; a stranger is sent nothing."""
        subject_id = self._requests.find_subject(session, delivery.key, delivery.value)
        if subject_id is None:
            return
        session.execute(
            update(SignInRow)
            .where(SignInRow.id == delivery.signin_id)
            .values(subject_id=subject_id)
            .execution_options(synchronize_session=False)
        )
        subject, body = self._requests.words(
            MessageKind.SIGN_IN,
            delivery.signin_id,
            delivery.language,
            code=delivery.code,
            minutes=int(CODE_LIFETIME.total_seconds() // 60),
        )
        self._requests.queue_message(
            session, request_id=None, to=delivery.value, subject=subject, body=body
        )

    def _row(self, session: Session, signin_id: str) -> SignInRow:
        row = session.get(SignInRow, signin_id) if len(signin_id) <= 32 else None
        if row is None:
            raise NotFound(f"no sign-in {signin_id!r}", signin_id=signin_id)
        return row

    def verify(self, session: Session, signin_id: str, *, code: str) -> SignedIn:
        """Check the code with the same atomic attempts as a request's; AuthError when wrong
        (``left`` attempts in its context), RateLimited when the identifier guessed too often.
        The caller commits."""
        row = self._row(session, signin_id)
        limits = self._requests.limits
        if limits is not None and not limits.allows(
            Limit.WRONG_CODES_PER_IDENTIFIER, row.identity_hash
        ):
            limits.hit(Limit.WRONG_CODES_PER_IDENTIFIER, row.identity_hash)
        now = self._requests.now()
        guess = codes.check(
            session,
            signin_id,
            code,
            key=self._requests.code_key,
            now=now,
            again=_AGAIN,
            table=SignInCode,
        )
        if not guess.right:
            if guess.why is None and limits is not None:
                limits.take(Limit.WRONG_CODES_PER_IDENTIFIER, row.identity_hash)
            raise AuthError(guess.why or "wrong code", signin_id=signin_id, left=guess.left)
        token = new_secret_token()
        row.token_hash = hash_secret(token)
        row.verified_at = now
        row.expires_at = now + self._lifetime
        if self._audit is not None and row.subject_id is not None:
            self._audit.append(
                session,
                AuditEvent(
                    actor="subject",
                    action="privacy.signed_in",
                    subject_id=row.subject_id,
                    details={"purpose": row.purpose, "by": row.identity_field},
                ),
                at=now,
            )
        session.flush()
        return SignedIn(row, token)

    def attempts_left(self, session: Session, signin_id: str) -> int:
        """Attempts the sign-in's code has left."""
        return codes.attempts_left(session, signin_id, table=SignInCode)

    def subject(self, session: Session, signin_id: str, token: str) -> str | None:
        """The subject a browser's sign-in proves, or None (unknown, wrong, lapsed, ended)."""
        try:
            row = self._row(session, signin_id)
        except NotFound:
            return None
        if row.token_hash is None or row.ended_at is not None or row.subject_id is None:
            return None
        if row.expires_at is None or self._requests.now() >= row.expires_at:
            return None
        return row.subject_id if verify_secret(token, row.token_hash) else None

    def end(self, session: Session, signin_id: str) -> None:
        """Sign out: the token stops working at once."""
        session.execute(
            update(SignInRow)
            .where(SignInRow.id == signin_id, SignInRow.ended_at.is_(None))
            .values(ended_at=self._requests.now(), token_hash=None)
            .execution_options(synchronize_session=False)
        )

    def purge(self, session: Session, *, dry_run: bool = False) -> int:
        """Delete the sign-ins (their codes with them) that lapsed or ended more than
        :data:`KEPT_AFTER_LAPSE` ago; how many were (or would be) deleted."""
        cutoff = self._requests.now() - KEPT_AFTER_LAPSE
        lapsed = or_(SignInRow.expires_at <= cutoff, SignInRow.ended_at <= cutoff)
        return purge(session, SignInRow, lapsed, dry_run=dry_run)
