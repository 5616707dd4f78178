"""HTTP for pseudonymisation: batch tokens for a domain, and the audited way back.

Every call is in the audit log, refused ones too (:func:`audit_refusal`): counts, the domain
and, for re-identification, the reason the caller states; never a value or a token.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.api.deps import SessionDep, StaffDep
from dsar.auth import Staff
from kernel.crypto import TokenMode, validate_domain
from kernel.errors import CryptoError, Forbidden, TietotieError, TokenError
from records.store import FieldCrypto
from schemas.enums import Duty

__all__ = ["REASON_MAX", "REASON_MIN", "audit_refusal", "router"]

router = APIRouter(prefix="/v1", tags=["pseudonymisation"])
MAX_BATCH = 100_000
REASON_MIN: Final = 10
REASON_MAX: Final = 500
_EMAIL: Final = re.compile(r"[^\s@]+@[^\s@]+\.[^\s@]+")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tab and newlines are fine


def audit_refusal(
    session: Session,
    audit: AuditLog,
    why: TietotieError,
    *,
    actor: str,
    action: str,
    reason: str,
    subject_id: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> TietotieError:
    """Append an entry for a refused call and commit it at once; give back the error to raise.

    The request's session rolls back when the error is raised, so the entry is committed
    before: a refused attempt stays in the log. ``reason`` is a short code (``no_duty``,
    ``purpose_not_held``…); ``details`` hold ids and counts only, never values, and
    ``subject_id`` only a pseudonymous id known to exist.
    """
    audit.append(
        session,
        AuditEvent(
            actor=actor,
            action=action,
            subject_id=subject_id,
            details={**(details or {}), "reason": reason},
        ),
    )
    session.commit()
    return why


def _stated_reason(text: str) -> str:
    cleaned = " ".join(text.split())
    if not REASON_MIN <= len(cleaned) <= REASON_MAX:
        raise ValueError(
            f"say why you re-identify in {REASON_MIN} to {REASON_MAX} characters (it is "
            f"{len(cleaned)}), e.g. 'DSAR 3f2a… asks for the plates in the extract'; it goes to "
            "the audit log"
        )
    if _EMAIL.search(cleaned) or _CONTROL.search(text):
        raise ValueError(
            "the reason goes to the audit log, which holds no personal data: leave out email "
            "addresses (name a request id or a ticket instead) and control characters"
        )
    return cleaned


StatedReason = Annotated[str, AfterValidator(_stated_reason)]


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
    """Encrypt tokens of one domain to reverse, and why."""

    domain: str = Field(description="The domain the tokens were made in.")
    tokens: list[str] = Field(max_length=MAX_BATCH, description="encrypt tokens (e1.…).")
    reason: StatedReason = Field(
        description=(
            f"Why the tokens are reversed, {REASON_MIN}-{REASON_MAX} characters (a request id, "
            "a ticket): stored in the audit log as `stated_reason`. It is staff's text, so it "
            "must hold no personal data of the subject (an email address is refused)."
        ),
        examples=["DSAR 01J9Z… asks which plates the marketing extract held"],
    )


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
    audit_refusal(
        session,
        audit,
        why,
        actor=staff.actor,
        action="pseudonymise.refused",
        reason=str(why.context.get("reason")),
        details={"domain": domain, "mode": str(body.mode), "count": len(body.values)},
    )
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
            actor=staff.actor,
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
    body: ReidentifyBody, staff: StaffDep, session: SessionDep, crypto: CryptoDep, audit: AuditDep
) -> Values:
    """Only roles given the reidentify duty, with a stated ``reason``; every call is audited.

    The log gets the domain, the count and the stated reason (``stated_reason``), never a
    token or a value. Refused calls (403: no duty; 422: tokens that are not this domain's)
    are audited as ``reidentify.refused`` with what was refused and why.
    """
    domain = validate_domain(body.domain)
    facts = {"domain": domain, "count": len(body.tokens), "stated_reason": body.reason}
    actor = staff.actor
    if Duty.REIDENTIFY not in staff.duties:
        raise audit_refusal(
            session,
            audit,
            Forbidden(
                f"role {staff.role!r} does not have the duty 'reidentify': reversing tokens is "
                "for roles given that duty in organisation.yaml",
                role=staff.role,
                duty=Duty.REIDENTIFY.value,
            ),
            actor=actor,
            action="reidentify.refused",
            reason="no_duty",
            details=facts,
        )
    try:
        values = crypto.pseudonymiser.reidentify_many(domain, body.tokens)
    except TokenError as exc:
        raise audit_refusal(
            session,
            audit,
            exc,
            actor=actor,
            action="reidentify.refused",
            reason="invalid_token",
            details=facts,
        ) from None
    audit.append(session, AuditEvent(actor=actor, action="reidentify", details=facts))
    session.commit()
    return Values(domain=domain, values=values)
