"""Identity-verification codes: issued, counted and spent by conditional UPDATEs.

A guess first takes one of the code's attempts with ``UPDATE … SET attempts = attempts + 1
WHERE attempts < MAX AND NOT used AND expires_at > now AND code_hash = :seen``, and only a
guess whose UPDATE changed a row is compared with the code. Every backend serialises
concurrent UPDATEs of one row (a row lock on PostgreSQL and MariaDB, the write lock on SQLite)
and re-checks the condition after waiting, so however many guesses arrive at once, at most
``MAX_ATTEMPTS`` are ever compared. Spending the right code is the same kind of UPDATE
(``NOT used``), so one code verifies one requester once.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dsar.requests.tables import VerificationCode
from kernel.crypto import hash_secret, new_verification_code

__all__ = [
    "CODE_LIFETIME",
    "MAX_ATTEMPTS",
    "attempts_left",
    "current_hash",
    "issue",
    "refusal",
    "reserve_attempt",
    "spend",
]

CODE_LIFETIME: Final = timedelta(minutes=15)
"""How long an identity-verification code is valid."""
MAX_ATTEMPTS: Final = 5
"""Guesses allowed per code; then a new code (or verification in person) is needed."""


def issue(session: Session, request_id: str, *, now: datetime, replace: bool = False) -> str:
    """A new code for the request, stored as a hash, replacing any earlier one; the code."""
    code = new_verification_code()
    values = {
        "code_hash": hash_secret(code, low_entropy=True),
        "expires_at": now + CODE_LIFETIME,
        "attempts": 0,
        "used": False,
    }
    if replace:
        replaced = session.execute(
            update(VerificationCode)
            .where(VerificationCode.request_id == request_id)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(replaced, "rowcount", 0) == 1:
            return code
    session.add(VerificationCode(request_id=request_id, **values))
    return code


def current_hash(session: Session, request_id: str) -> str | None:
    """The stored hash of the request's code, as the guess will be compared with it."""
    return session.scalar(
        select(VerificationCode.code_hash).where(VerificationCode.request_id == request_id)
    )


def reserve_attempt(session: Session, request_id: str, *, code_hash: str, now: datetime) -> bool:
    """Take one attempt at the code whose hash is ``code_hash``; False when none is left."""
    taken = session.execute(
        update(VerificationCode)
        .where(
            VerificationCode.request_id == request_id,
            VerificationCode.code_hash == code_hash,
            VerificationCode.used.is_(False),
            VerificationCode.attempts < MAX_ATTEMPTS,
            VerificationCode.expires_at > now,
        )
        .values(attempts=VerificationCode.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return getattr(taken, "rowcount", 0) == 1


def attempts_left(session: Session, request_id: str) -> int:
    """Attempts the request's code has left."""
    used = session.scalar(
        select(VerificationCode.attempts).where(VerificationCode.request_id == request_id)
    )
    return max(0, MAX_ATTEMPTS - (used or 0))


def spend(session: Session, request_id: str, *, code_hash: str) -> bool:
    """Mark the code used; False when a concurrent right guess or a new code came first."""
    spent = session.execute(
        update(VerificationCode)
        .where(
            VerificationCode.request_id == request_id,
            VerificationCode.code_hash == code_hash,
            VerificationCode.used.is_(False),
        )
        .values(used=True)
        .execution_options(synchronize_session=False)
    )
    return getattr(spent, "rowcount", 0) == 1


def refusal(session: Session, request_id: str, *, now: datetime) -> str:
    """Why no attempt could be taken, in words saying what to do next."""
    stored = session.execute(
        select(VerificationCode.used, VerificationCode.attempts, VerificationCode.expires_at)
        .where(VerificationCode.request_id == request_id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    again = (
        f"ask for a new code (POST /v1/dsar/{request_id}/resend) or ask privacy staff to "
        "verify you in person"
    )
    if stored is None or stored.used or stored.attempts >= MAX_ATTEMPTS:
        return f"this code can no longer be used: {again}"
    if now >= stored.expires_at:
        return f"the code has expired: {again}"
    return f"a new code was sent meanwhile; use it, or {again}"
