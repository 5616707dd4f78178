"""Staff sessions of the request desk: a personal staff token opens one, idleness ends it.

Signing in proves the token once (:func:`dsar.auth.check_token`); the browser then holds a
session secret of its own, kept here only as a hash, so the staff token never travels again. A
session ends at sign-out, after :data:`IDLE_TIMEOUT` without a page, after :data:`MAX_AGE` in
any case, and at once when its staff token is revoked or its role leaves organisation.yaml
(each page checks the token's row again). The desk is for roles with the ``requests`` or
``audit`` duty; a token of another role opens nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.auth import Staff, check_token, staff_of
from dsar.tables import desk_sessions, staff_tokens
from kernel.crypto import hash_secret, new_secret_token, verify_secret
from kernel.db import purge
from kernel.errors import Forbidden
from schemas.enums import Duty
from schemas.models import Strategy

__all__ = ["DESK_DUTIES", "IDLE_TIMEOUT", "MAX_AGE", "DeskSession", "DeskSessions"]

IDLE_TIMEOUT: Final = timedelta(minutes=20)
"""A session with no page for this long has ended."""
MAX_AGE: Final = timedelta(hours=10)
"""No session outlives a working day."""
DESK_DUTIES: Final = frozenset({Duty.REQUESTS, Duty.AUDIT})
"""The duties the desk is for."""
_SEEN_EVERY: Final = timedelta(minutes=1)
"""How stale the recorded last page may be before a page writes it again."""


@dataclass(frozen=True, slots=True)
class DeskSession:
    """A signed-in person: who they are, and the browser's secret (shown once, at sign-in)."""

    id: str
    staff: Staff
    secret: str = field(default="", repr=False)


class DeskSessions:
    """Open, resolve and end desk sessions over one strategy and audit log."""

    def __init__(
        self,
        strategy: Strategy,
        *,
        audit: AuditLog | None = None,
        clock: Callable[[], datetime] | None = None,
        idle: timedelta = IDLE_TIMEOUT,
        max_age: timedelta = MAX_AGE,
    ) -> None:
        self.strategy = strategy
        self._audit = audit
        self._clock = clock or (lambda: datetime.now(UTC))
        self._idle = idle
        self._max_age = max_age

    def sign_in(self, session: Session, token: str) -> DeskSession:
        """A new session for the holder of ``token``: AuthError for an unknown or revoked
        token, Forbidden for a role with neither the requests nor the audit duty. Audited."""
        staff = check_token(session, self.strategy, token)
        if not staff.duties & DESK_DUTIES:
            raise Forbidden(
                f"role {staff.role!r} has neither the requests nor the audit duty: the desk is "
                "for privacy staff (organisation.yaml duties)",
                role=staff.role,
            )
        now = self._clock()
        secret = new_secret_token()
        opened = DeskSession(secrets.token_hex(16), staff, secret)
        session.execute(
            desk_sessions.insert().values(
                id=opened.id,
                secret_hash=hash_secret(secret),
                token_id=staff.token_id,
                created_at=now,
                seen_at=now,
            )
        )
        self._log(session, staff, "desk.signed_in", now)
        return opened

    def resolve(self, session: Session, session_id: str, secret: str) -> DeskSession | None:
        """The live session a browser's cookie names, its idle clock restarted; else None."""
        if not session_id or len(session_id) > 32 or not secret:
            return None
        row = session.execute(
            select(
                desk_sessions.c.secret_hash,
                desk_sessions.c.created_at,
                desk_sessions.c.seen_at,
                desk_sessions.c.ended_at,
                staff_tokens.c.id,
                staff_tokens.c.role,
                staff_tokens.c.name,
                staff_tokens.c.revoked_at,
            )
            .join(staff_tokens, staff_tokens.c.id == desk_sessions.c.token_id)
            .where(desk_sessions.c.id == session_id)
        ).first()
        now = self._clock()
        if (
            row is None
            or row.ended_at is not None
            or row.revoked_at is not None
            or now >= row.seen_at + self._idle
            or now >= row.created_at + self._max_age
            or not verify_secret(secret, row.secret_hash)
        ):
            return None
        staff = staff_of(self.strategy, token_id=row.id, role=row.role, name=row.name)
        if staff is None or not staff.duties & DESK_DUTIES:
            return None
        if now - row.seen_at >= _SEEN_EVERY:  # the idle clock, without a write on every page
            session.execute(
                update(desk_sessions).where(desk_sessions.c.id == session_id).values(seen_at=now)
            )
        return DeskSession(session_id, staff)

    def sign_out(self, session: Session, desk: DeskSession) -> None:
        """End the session now; audited."""
        now = self._clock()
        session.execute(
            update(desk_sessions)
            .where(desk_sessions.c.id == desk.id, desk_sessions.c.ended_at.is_(None))
            .values(ended_at=now)
        )
        self._log(session, desk.staff, "desk.signed_out", now)

    def purge(self, session: Session, *, dry_run: bool = False) -> int:
        """Delete the sessions that have ended: signed out, idle too long or past their age
        (none of them opens a page again); how many were (or would be) deleted."""
        now = self._clock()
        ended = or_(
            desk_sessions.c.ended_at.is_not(None),
            desk_sessions.c.seen_at <= now - self._idle,
            desk_sessions.c.created_at <= now - self._max_age,
        )
        return purge(session, desk_sessions, ended, dry_run=dry_run)

    def _log(self, session: Session, staff: Staff, action: str, at: datetime) -> None:
        if self._audit is not None:
            self._audit.append(session, AuditEvent(actor=staff.actor, action=action), at=at)
