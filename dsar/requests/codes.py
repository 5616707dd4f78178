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

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import inspect, select, update
from sqlalchemy.orm import Session

from dsar.requests.tables import VerificationCode
from kernel.crypto import hash_code, new_verification_code, verify_code

__all__ = [
    "CODE_LIFETIME",
    "MAX_ATTEMPTS",
    "Guess",
    "attempts_left",
    "check",
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

CodeTable = type[Any]
"""A mapped class with ``code_hash``, ``expires_at``, ``attempts`` and ``used`` columns and a
one-column primary key naming what the code proves (a request, a privacy-center sign-in)."""


def _owner(table: CodeTable) -> Any:
    (key,) = inspect(table).primary_key
    return key


def issue(
    session: Session,
    owner: str,
    *,
    key: bytes,
    now: datetime,
    replace: bool = False,
    table: CodeTable = VerificationCode,
) -> str:
    """A new code for ``owner``, stored as its keyed hash under ``key`` (kernel.crypto
    hash_code), replacing any earlier one; the code."""
    code = new_verification_code()
    values = {
        "code_hash": hash_code(key, owner, code),
        "expires_at": now + CODE_LIFETIME,
        "attempts": 0,
        "used": False,
    }
    column = _owner(table)
    if replace:
        replaced = session.execute(
            update(table)
            .where(column == owner)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if getattr(replaced, "rowcount", 0) == 1:
            return code
    session.add(table(**{column.key: owner}, **values))
    return code


def current_hash(
    session: Session, owner: str, *, table: CodeTable = VerificationCode
) -> str | None:
    """The stored hash of the owner's code, as the guess will be compared with it."""
    return session.scalar(select(table.code_hash).where(_owner(table) == owner))


def reserve_attempt(
    session: Session,
    owner: str,
    *,
    code_hash: str,
    now: datetime,
    table: CodeTable = VerificationCode,
) -> bool:
    """Take one attempt at the code whose hash is ``code_hash``; False when none is left."""
    taken = session.execute(
        update(table)
        .where(
            _owner(table) == owner,
            table.code_hash == code_hash,
            table.used.is_(False),
            table.attempts < MAX_ATTEMPTS,
            table.expires_at > now,
        )
        .values(attempts=table.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return getattr(taken, "rowcount", 0) == 1


def attempts_left(session: Session, owner: str, *, table: CodeTable = VerificationCode) -> int:
    """Attempts the owner's code has left."""
    used = session.scalar(select(table.attempts).where(_owner(table) == owner))
    return max(0, MAX_ATTEMPTS - (used or 0))


def spend(
    session: Session, owner: str, *, code_hash: str, table: CodeTable = VerificationCode
) -> bool:
    """Mark the code used; False when a concurrent right guess or a new code came first."""
    spent = session.execute(
        update(table)
        .where(_owner(table) == owner, table.code_hash == code_hash, table.used.is_(False))
        .values(used=True)
        .execution_options(synchronize_session=False)
    )
    return getattr(spent, "rowcount", 0) == 1


def refusal(
    session: Session,
    owner: str,
    *,
    now: datetime,
    again: str | None = None,
    table: CodeTable = VerificationCode,
) -> str:
    """Why no attempt could be taken, in words saying what to do next (``again``)."""
    stored = session.execute(
        select(table.used, table.attempts, table.expires_at)
        .where(_owner(table) == owner)
        .execution_options(populate_existing=True)
    ).one_or_none()
    again = again or (
        f"ask for a new code (POST /v1/dsar/{owner}/resend) or ask privacy staff to "
        "verify you in person"
    )
    if stored is None or stored.used or stored.attempts >= MAX_ATTEMPTS:
        return f"this code can no longer be used: {again}"
    if now >= stored.expires_at:
        return f"the code has expired: {again}"
    return f"a new code was sent meanwhile; use it, or {again}"


@dataclass(frozen=True, slots=True)
class Guess:
    """How one guess at a code ended: ``right``, or refused with ``why`` and ``left``."""

    right: bool
    left: int = 0
    why: str | None = None
    """Set when no attempt could be taken at all (spent, expired, replaced)."""


def check(
    session: Session,
    owner: str,
    code: str,
    *,
    key: bytes,
    now: datetime,
    again: str | None = None,
    table: CodeTable = VerificationCode,
) -> Guess:
    """One guess: take an attempt (committed at once, so it counts however the call ends),
    compare, and spend the code when it is right. Commits the attempt; on a right guess the
    spending is left in the session for the caller's commit."""
    seen = current_hash(session, owner, table=table)
    if seen is None or not reserve_attempt(session, owner, code_hash=seen, now=now, table=table):
        session.rollback()
        return Guess(right=False, why=refusal(session, owner, now=now, again=again, table=table))
    session.commit()
    if not verify_code(key, owner, code, seen):
        return Guess(right=False, left=attempts_left(session, owner, table=table))
    if not spend(session, owner, code_hash=seen, table=table):
        session.rollback()
        return Guess(right=False, why=refusal(session, owner, now=now, again=again, table=table))
    return Guess(right=True)
