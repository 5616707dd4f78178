"""Staff bearer tokens: issued once per role, stored only as hashes, checked on every request."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from dsar.tables import staff_tokens
from kernel.crypto import hash_secret, new_secret_token, verify_secret
from kernel.errors import AuthError, Forbidden
from schemas.enums import Duty
from schemas.models import Strategy

__all__ = ["Staff", "authenticate", "issue_token", "require_duty", "revoke_named", "revoke_token"]

_PREFIX = "tt_"


@dataclass(frozen=True)
class Staff:
    """The caller behind a valid token: its role and what the token was issued to."""

    token_id: int
    role: str
    name: str | None
    duties: frozenset[Duty]
    pseudonymise_domains: frozenset[str] = frozenset()
    """The domains the role's pseudonymise duty names (organisation.yaml)."""


def issue_token(
    session: Session,
    strategy: Strategy,
    *,
    role: str,
    name: str | None = None,
) -> str:
    """A new bearer token for ``role``; only its hash is stored, so show it once.

    Raises :class:`AuthError` for a role that organisation.yaml does not declare.
    """
    if role not in strategy.index.roles:
        raise AuthError(
            f"unknown role {role!r}: organisation.yaml declares "
            f"{', '.join(sorted(strategy.index.roles))}",
            role=role,
        )
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
    role = strategy.index.roles.get(row.role)
    if role is None:
        raise AuthError(
            f"the token's role {row.role!r} is no longer in organisation.yaml", role=row.role
        )
    return Staff(
        token_id=row.id,
        role=row.role,
        name=row.name,
        duties=frozenset(role.duties),
        pseudonymise_domains=frozenset(role.pseudonymise_domains),
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


def revoke_token(session: Session, token_id: int) -> bool:
    """Revoke a token by its id; True if it was active."""
    result = session.execute(
        update(staff_tokens)
        .where(staff_tokens.c.id == token_id, staff_tokens.c.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
