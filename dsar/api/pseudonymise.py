"""HTTP for pseudonymisation: batch tokens for a domain, and the audited way back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.api.deps import SessionDep, StaffDep, require_duty
from dsar.auth import Staff
from kernel.crypto import TokenMode, validate_domain
from kernel.errors import CryptoError, Forbidden
from records.store import FieldCrypto
from schemas.enums import Duty

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["pseudonymisation"])
MAX_BATCH = 100_000


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PseudonymiseBody(_Body):
    """Values to turn into tokens of one domain."""

    domain: str = Field(
        description="Pseudonymisation domain: one the caller's pseudonymise duty names.",
        examples=["mailer-suppression"],
    )
    values: list[str] = Field(
        max_length=MAX_BATCH, description="The values, in order.", examples=[["liisa@example.fi"]]
    )
    mode: TokenMode = Field(
        default=TokenMode.HMAC,
        description="hmac (one-way) or encrypt (reversible only through /v1/reidentify).",
    )


class Tokens(BaseModel):
    """Tokens in the order of the values."""

    domain: str = Field(description="The domain.")
    tokens: list[str] = Field(description="One token per value.")


class ReidentifyBody(_Body):
    """Encrypt tokens of one domain to reverse."""

    domain: str = Field(description="The domain the tokens were made in.")
    tokens: list[str] = Field(max_length=MAX_BATCH, description="encrypt tokens (e1.…).")


class Values(BaseModel):
    """The original values, in the order of the tokens."""

    domain: str = Field(description="The domain.")
    values: list[str] = Field(description="One value per token.")


def _crypto(request: Request) -> FieldCrypto:
    crypto: FieldCrypto = request.app.state.crypto
    return crypto


def _audit(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit
    return log


CryptoDep = Annotated[FieldCrypto, Depends(_crypto)]
AuditDep = Annotated[AuditLog, Depends(_audit)]


def _refuse(
    session: Session, audit: AuditLog, staff: Staff, body: PseudonymiseBody, why: Forbidden
) -> Forbidden:
    """Audit a refused call (counts and the domain name, never a value) and give the error.

    The entry is committed at once: the request's session rolls back when the error is raised.
    """
    try:
        domain: str | None = validate_domain(body.domain)
    except CryptoError:
        domain = None  # only a well-formed name goes to the log, never free text
    audit.append(
        session,
        AuditEvent(
            actor=f"role:{staff.role}",
            action="pseudonymise.refused",
            details={
                "domain": domain,
                "mode": str(body.mode),
                "count": len(body.values),
                "reason": why.context.get("reason"),
            },
        ),
    )
    session.commit()
    return why


@router.post(
    "/pseudonymise",
    response_model=Tokens,
    summary="Tokens for a domain (duty pseudonymise, its domains only; audited)",
)
def pseudonymise(
    body: PseudonymiseBody, staff: StaffDep, session: SessionDep, crypto: CryptoDep, audit: AuditDep
) -> Tokens:
    """Deterministic within the domain and unlinkable across domains; audited by count.

    Only a role with the ``pseudonymise`` duty, and only into a domain its
    ``pseudonymise_domains`` names: whoever can compute a domain's tokens from clear values can
    re-identify every output pseudonymised in it, so `tietotie validate` keeps each role away
    from the domains of the outputs it receives. Refusals (403) are audited too.
    """
    if Duty.PSEUDONYMISE not in staff.duties:
        raise _refuse(
            session,
            audit,
            staff,
            body,
            Forbidden(
                f"role {staff.role!r} does not have the duty 'pseudonymise': computing tokens "
                "is for roles given that duty and a list of pseudonymise_domains in "
                "organisation.yaml",
                role=staff.role,
                duty=Duty.PSEUDONYMISE.value,
                reason="no_duty",
            ),
        )
    domain = validate_domain(body.domain)
    if domain not in staff.pseudonymise_domains:
        allowed = ", ".join(sorted(staff.pseudonymise_domains))
        raise _refuse(
            session,
            audit,
            staff,
            body,
            Forbidden(
                f"role {staff.role!r} may pseudonymise only into {allowed}, not {domain!r}: "
                "add the domain to its pseudonymise_domains in organisation.yaml if it "
                "really needs it (never the domain of an output the role receives)",
                role=staff.role,
                duty=Duty.PSEUDONYMISE.value,
                domain=domain,
                reason="domain_not_named",
            ),
        )
    tokens = crypto.pseudonymiser.tokenise_many(domain, body.values, body.mode)
    audit.append(
        session,
        AuditEvent(
            actor=f"role:{staff.role}",
            action="pseudonymise",
            details={"domain": domain, "mode": str(body.mode), "count": len(tokens)},
        ),
    )
    session.commit()
    return Tokens(domain=domain, tokens=tokens)


@router.post(
    "/reidentify",
    response_model=Values,
    summary="Reverse encrypt tokens (duty reidentify, audited)",
)
def reidentify(
    body: ReidentifyBody,
    session: SessionDep,
    crypto: CryptoDep,
    audit: AuditDep,
    staff: Annotated[Staff, Depends(require_duty(Duty.REIDENTIFY))],
) -> Values:
    """Only roles given the reidentify duty; every call is in the audit log."""
    domain = validate_domain(body.domain)
    values = crypto.pseudonymiser.reidentify_many(domain, body.tokens)
    audit.append(
        session,
        AuditEvent(
            actor=f"role:{staff.role}",
            action="reidentify",
            details={"domain": domain, "count": len(values)},
        ),
    )
    session.commit()
    return Values(domain=domain, values=values)
