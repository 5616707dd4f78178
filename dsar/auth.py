"""Staff bearer tokens: issued once per person and role, stored only as hashes, checked on
every request; the person behind a token is who the audit log names."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from audit import AuditLog, person_actor, person_room
from dsar.tables import staff_tokens
from kernel.crypto import hash_secret, new_secret_token, verify_secret
from kernel.errors import AuthError, Forbidden, ValidationFailed
from schemas.enums import Duty
from schemas.models import Strategy

__all__ = [
    "Staff",
    "TokenInfo",
    "authenticate",
    "check_token",
    "check_token_name",
    "issue_token",
    "list_tokens",
    "require_duty",
    "revoke_named",
    "revoke_token",
    "staff_of",
    "unnamed",
]

_PREFIX = "tt_"
_UNNAMED = re.compile(r"token-\d+")


def unnamed(token_id: int) -> str:
    """What the audit log calls the holder of a token issued without a name."""
    return f"token-{token_id}"


@dataclass(frozen=True)
class Staff:
    """The caller behind a valid token: its role and what the token was issued to."""

    token_id: int
    role: str
    name: str | None
    duties: frozenset[Duty]
    pseudonymise_domains: frozenset[str] = frozenset()
    """The domains the role's pseudonymise duty names (organisation.yaml)."""

    @property
    def person(self) -> str:
        """Who holds the token: its name, or ``token-<id>`` for one issued without a name."""
        return self.name or unnamed(self.token_id)

    @property
    def actor(self) -> str:
        """How the audit log and a request's history name this person:
        ``person:<name> (role:<role>)``."""
        return person_actor(self.person, role=self.role)

    def audit_as(self, audit: AuditLog) -> AuditLog:
        """``audit``, recording what code acting for this role appends under this person."""
        return audit.as_person(self.person, role=self.role)


@dataclass(frozen=True)
class TokenInfo:
    """What may be shown about a token: never the token, nor its hash."""

    id: int
    role: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def person(self) -> str:
        """The name, or ``token-<id>`` as the audit log calls an unnamed token's holder."""
        return self.name or unnamed(self.id)


def check_token_name(name: str, *, role: str) -> str:
    """``name`` stripped, or :class:`ValidationFailed` saying what a holder's name may be.

    The audit log names the person and the role in one actor of at most 80 characters, so a
    name may be as long as what the role's id leaves; it may not hold control characters or
    parentheses (the actor's own punctuation), nor look like ``token-<id>``, which stands for
    the holders of tokens issued without a name.
    """
    clean = name.strip()
    room = person_room(role)
    problem = None
    if not clean:
        problem = "give the name of the person who will hold the token"
    elif len(clean) > room:
        problem = (
            f"a name may be at most {room} characters with role {role!r} (the audit log names "
            f"the person and the role in 80); this one has {len(clean)}"
        )
    elif any(unicodedata.category(c).startswith("C") or c in "()" for c in clean):
        problem = "a name may not hold control characters or parentheses"
    elif _UNNAMED.fullmatch(clean):
        problem = f"{clean!r} stands for an unnamed token in the audit log: give a real name"
    if problem is not None:
        raise ValidationFailed(problem, field="name", problems={"name": problem})
    return clean


def issue_token(
    session: Session,
    strategy: Strategy,
    *,
    role: str,
    name: str | None = None,
) -> str:
    """A new bearer token for ``role``, held by ``name``; only its hash is stored, so show it
    once.

    Raises :class:`AuthError` for a role that organisation.yaml does not declare and
    :class:`ValidationFailed` for a name :func:`check_token_name` refuses. ``tietotie token
    issue`` always gives a name; a token without one is named ``token-<id>`` in the audit log.
    """
    if role not in strategy.index.roles:
        raise AuthError(
            f"unknown role {role!r}: organisation.yaml declares "
            f"{', '.join(sorted(strategy.index.roles))}",
            role=role,
        )
    if name is not None:
        name = check_token_name(name, role=role)
    token = _PREFIX + new_secret_token()
    session.execute(
        staff_tokens.insert().values(
            token_hash=hash_secret(token), role=role, name=name, created_at=datetime.now(UTC)
        )
    )
    return token


def authenticate(session: Session, strategy: Strategy, authorization: str | None) -> Staff:
    """The staff member behind an ``Authorization: Bearer <token>`` header, or AuthError."""
    if not authorization:
        raise AuthError(
            "missing Authorization header: send `Authorization: Bearer <token>` "
            "(issue one with `tietotie token issue --role ROLE`)"
        )
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthError("the Authorization header must be `Bearer <token>`")
    return check_token(session, strategy, token)


def check_token(session: Session, strategy: Strategy, token: str) -> Staff:
    """The staff member a bearer token belongs to; AuthError for an unknown or revoked one."""
    token = token.strip()
    if len(token) < 20:
        raise AuthError("unknown or revoked token")
    row = session.execute(
        select(
            staff_tokens.c.id,
            staff_tokens.c.token_hash,
            staff_tokens.c.role,
            staff_tokens.c.name,
            staff_tokens.c.revoked_at,
        ).where(staff_tokens.c.token_hash == hash_secret(token))
    ).first()
    # The lookup is by a hash of 256 random bits; the constant-time check guards the compare.
    if row is None or row.revoked_at is not None or not verify_secret(token, row.token_hash):
        raise AuthError("unknown or revoked token")
    staff = staff_of(strategy, token_id=row.id, role=row.role, name=row.name)
    if staff is None:
        raise AuthError(
            f"the token's role {row.role!r} is no longer in organisation.yaml", role=row.role
        )
    return staff


def staff_of(strategy: Strategy, *, token_id: int, role: str, name: str | None) -> Staff | None:
    """The staff member of a token's row, with its role's duties; None when the role has left
    organisation.yaml (the token then opens nothing)."""
    declared = strategy.index.roles.get(role)
    if declared is None:
        return None
    return Staff(
        token_id=token_id,
        role=role,
        name=name,
        duties=frozenset(declared.duties),
        pseudonymise_domains=frozenset(declared.pseudonymise_domains),
    )


def require_duty(staff: Staff, duty: Duty | str) -> Staff:
    """``staff`` if its role has ``duty``; :class:`Forbidden` (403) otherwise."""
    wanted = Duty(duty)
    if wanted not in staff.duties:
        raise Forbidden(
            f"role {staff.role!r} does not have the duty {wanted.value!r}",
            role=staff.role,
            duty=wanted.value,
        )
    return staff


def revoke_named(session: Session, *, name: str) -> int:
    """Revoke every active token issued under ``name``; how many were active."""
    result = session.execute(
        update(staff_tokens)
        .where(staff_tokens.c.name == name, staff_tokens.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def list_tokens(session: Session) -> list[TokenInfo]:
    """Every token ever issued, oldest first, as :class:`TokenInfo` (no token, no hash)."""
    rows = session.execute(
        select(
            staff_tokens.c.id,
            staff_tokens.c.role,
            staff_tokens.c.name,
            staff_tokens.c.created_at,
            staff_tokens.c.revoked_at,
        ).order_by(staff_tokens.c.id)
    )
    return [TokenInfo(r.id, r.role, r.name, r.created_at, r.revoked_at) for r in rows]


def revoke_token(session: Session, token_id: int) -> bool:
    """Revoke a token by its id; True if it was active."""
    result = session.execute(
        update(staff_tokens)
        .where(staff_tokens.c.id == token_id, staff_tokens.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
