"""``POST /v1/consents`` and ``GET /v1/subjects/{id}/consents``: the consent ledger over HTTP.

Who may call (DESIGN §6 says "staff or subject", §11 says how):

* staff, with ``Authorization: Bearer <token>``, record given, refused and withdrawn only
  through a source their role collects for (or with the ``consents`` duty), and only for
  subjects within their row filters (those of the use when the role holds it, else of any use
  it holds). They name the subject by its id or by an identifier they read in clear; a subject
  that does not exist and one outside their row filters are the same 404;
* the subject, without a token, may only *refuse or withdraw* (which can never harm them),
  must name themselves by their pseudonymous subject id, and must prove it with a receipt the
  controller signed for that id earlier (``receipt``): an id alone can be guessed or read off
  someone else's receipt. Such calls are rate-limited per client address. Giving consent
  without a token is refused until the identity-verification flow can prove who is asking.

Consent history is read within the same row filters: a subject outside them is "not found",
as an unknown one is. A subject erased from the system of record has no row to filter; its
history is for roles with the requests, audit or consents duty.

A ``Sec-GPC: 1`` header refuses every consent-based direct-marketing and profiling use (see
:func:`consent.service.record_call`); the answer's ``gpc`` member says what it did.

The audit log gets one ``consent.recorded`` entry per event recorded, and refused calls too:
``consent.record.refused`` (a source the role does not collect for, an identifier it may not
read, a subject it cannot reach, a subject's call without a valid receipt) and
``consents.read.refused``. They name declared ids and pseudonymous subject ids only: never an
identifier, never the text of a refused call.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from audit import AuditLog
from consent.models import ConsentCreate, ConsentRecorded, SubjectConsents
from consent.receipts import ReceiptSigner
from consent.service import authorise_call, history, record_call, subject_consents
from dsar.api.deps import PolicyDep, SessionDep, StaffDep, StoreDep, StrategyDep
from dsar.api.pseudonymise import audit_refusal
from dsar.api.subjects import name_subject, reachable
from dsar.auth import authenticate
from dsar.limits import Limit, RateLimits
from kernel.errors import AccessDenied, AuthError, Forbidden, NotFound
from records.store import find_subject, subject_exists
from schemas.enums import Duty
from schemas.models import Strategy

__all__ = ["router"]

router = APIRouter(tags=["consents"])

_ERASED_HISTORY_DUTIES = frozenset({Duty.REQUESTS, Duty.AUDIT, Duty.CONSENTS})
"""Duties whose roles read the consent history of a subject no longer in the system of record."""


def _signer(request: Request) -> ReceiptSigner:
    """The controller's receipt signer, from the keyring the app opened (made once per app)."""
    state = request.app.state
    signer: ReceiptSigner | None = getattr(state, "consent_signer", None)
    if signer is None:
        signer = state.consent_signer = ReceiptSigner(state.crypto.pseudonymiser.keyring)
    return signer


def _declared(strategy: Strategy, body: ConsentCreate) -> dict[str, Any]:
    """The body's use and source, for the log, only when the strategy declares them."""
    index = strategy.index
    return {
        "use": body.use if body.use in index.uses else None,
        "source": body.source if body.source in index.sources else None,
        "state": str(body.state),
    }


@router.post("/v1/consents", status_code=201, response_model=ConsentRecorded)
def post_consent(
    body: ConsentCreate,
    request: Request,
    session: SessionDep,
    strategy: StrategyDep,
    store: StoreDep,
    policy: PolicyDep,
    authorization: Annotated[str | None, Header()] = None,
    sec_gpc: Annotated[str | None, Header(alias="Sec-GPC")] = None,
) -> ConsentRecorded:
    """Record that a subject gave, refused or withdrew consent for a use; 201 with the receipt.

    Withdrawing is the same single call as giving, with ``"state": "withdrawn"`` (Art. 7(3)).
    Everything the caller may not do is refused before the subject is looked up, and audited.
    """
    staff = authenticate(session, strategy, authorization) if authorization else None
    signer = _signer(request)
    audit: AuditLog = request.app.state.audit
    actor = f"role:{staff.role}" if staff else "subject"
    if staff is None:
        limits: RateLimits = request.app.state.limits
        limits.hit(Limit.CONSENT_PER_CLIENT, request.client.host if request.client else "")
    duties = staff.duties if staff else frozenset()
    try:
        authorise_call(
            strategy,
            body,
            signer=signer,
            staff_role=staff.role if staff else None,
            staff_duties=duties,
        )
    except AuthError as exc:  # Forbidden for staff; a subject's call without a valid receipt
        raise audit_refusal(
            session,
            audit,
            exc,
            actor=actor,
            action="consent.record.refused",
            reason="source_not_collected" if isinstance(exc, Forbidden) else "not_proven",
            details=_declared(strategy, body),
        ) from None
    named = body.subject.keys()
    if staff is None:
        subject_id = find_subject(session, store, named)  # the receipt proved this id
        if subject_id is None:
            raise NotFound(f"no {store.subject_entity} {named['id']!r}", parameter="subject")
    else:
        # Row filters of the use when the role holds it, else of every use it holds.
        uses = [body.use] if policy.holds(staff.role, body.use) else None
        try:
            subject_id = name_subject(
                session, store, policy, role=staff.role, named=named, uses=uses
            )
        except (AccessDenied, NotFound) as exc:
            unreadable = isinstance(exc, AccessDenied)
            raise audit_refusal(
                session,
                audit,
                exc,
                actor=actor,
                action="consent.record.refused",
                reason="identifier_not_readable" if unreadable else "subject_not_reachable",
                details={
                    **_declared(strategy, body),
                    "field": str(exc.context.get("field")) if unreadable else None,
                },
            ) from None
    recorded = record_call(
        session,
        strategy,
        body,
        signer=signer,
        subject_id=subject_id,
        staff_role=staff.role if staff else None,
        staff_duties=duties,
        gpc=(sec_gpc or "").strip() == "1",
        audit=audit,
    )
    session.commit()
    return recorded


@router.get("/v1/subjects/{subject_id}/consents", response_model=SubjectConsents)
def get_consents(
    request: Request,
    subject_id: str,
    session: SessionDep,
    strategy: StrategyDep,
    store: StoreDep,
    policy: PolicyDep,
    staff: StaffDep,
) -> SubjectConsents:
    """The current state per consent-based use and the full history of one subject (staff).

    Read within the role's row filters: a subject outside them is not found, like an unknown
    one. A subject erased from the system of record keeps its consent history (the
    controller's proof under Art. 7(1), holding only the pseudonymous id); with no row left to
    filter, it is shown to roles with the requests, audit or consents duty. A refused read is
    audited (``consents.read.refused``); the id is logged only when it is a subject's.
    """
    if subject_exists(session, store, subject_id):
        visible = reachable(session, store, policy, role=staff.role, subject_id=subject_id)
        reason = "outside_row_filter"
    else:
        recorded = bool(history(session, subject_id))
        visible = bool(staff.duties & _ERASED_HISTORY_DUTIES) and recorded
        reason = "erased_needs_duty" if recorded else "no_such_subject"
    if not visible:
        raise audit_refusal(
            session,
            request.app.state.audit,
            NotFound(f"no subject {subject_id!r} for this role", subject_id=subject_id),
            actor=f"role:{staff.role}",
            action="consents.read.refused",
            reason=reason,
            subject_id=None if reason == "no_such_subject" else subject_id,
        )
    return subject_consents(session, strategy, subject_id)
