"""HTTP for pseudonymisation: batch tokens for a domain, and the audited way back."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field

from audit import AuditEvent, AuditLog
from dsar.api.deps import SessionDep, StaffDep, require_duty
from dsar.auth import Staff
from kernel.crypto import TokenMode, validate_domain
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
        description="Pseudonymisation domain, e.g. reporting.", examples=["reporting"]
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


@router.post("/pseudonymise", response_model=Tokens, summary="Tokens for a domain (staff)")
def pseudonymise(
    body: PseudonymiseBody, staff: StaffDep, session: SessionDep, crypto: CryptoDep, audit: AuditDep
) -> Tokens:
    """Deterministic within the domain and unlinkable across domains; audited by count."""
    domain = validate_domain(body.domain)
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
