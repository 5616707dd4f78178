"""``POST /v1/consents`` and ``GET /v1/subjects/{id}/consents``: the consent ledger over HTTP.

Who may call (DESIGN §6 says "staff or subject"):

* staff, with ``Authorization: Bearer <token>``, may record given, refused and withdrawn, and
  name the subject by its id or by one identifier;
* the subject, without a token, may only *refuse or withdraw* (which can never harm them) and
  must name themselves by their pseudonymous subject id, printed on every receipt they hold:
  an identifier such as an email would let anyone probe who is a customer. Giving consent
  without a token is refused until the identity-verification flow can prove who is asking.

A ``Sec-GPC: 1`` header refuses every consent-based direct-marketing and profiling use (see
:func:`consent.service.record_call`); the answer's ``gpc`` member says what it did.
"""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import APIRouter, Header, Request
from sqlalchemy import Engine

from consent.models import ConsentCreate, ConsentRecorded, SubjectConsents
from consent.receipts import ReceiptSigner
from consent.service import history, record_call, subject_consents
from consent.tables import install_guard
from dsar.api.deps import SessionDep, StaffDep, StoreDep, StrategyDep
from dsar.auth import authenticate
from kernel.errors import AuthError, NotFound
from records.store import find_subject, subject_exists

__all__ = ["router"]

router = APIRouter(tags=["consents"])

_guard_lock = threading.Lock()


def _signer(request: Request) -> ReceiptSigner:
    """The controller's receipt signer, from the keyring the app opened (made once per app)."""
    state = request.app.state
    signer: ReceiptSigner | None = getattr(state, "consent_signer", None)
    if signer is None:
        signer = state.consent_signer = ReceiptSigner(state.crypto.pseudonymiser.keyring)
    return signer


def _guarded(request: Request) -> None:
    """Install the ledger's append-only triggers once per app (migrations create no triggers)."""
    state = request.app.state
    if getattr(state, "consent_guard", False):
        return
    with _guard_lock:
        if not getattr(state, "consent_guard", False):
            engine: Engine = state.engine
            install_guard(engine)
            state.consent_guard = True


@router.post("/v1/consents", status_code=201, response_model=ConsentRecorded)
def post_consent(
    body: ConsentCreate,
    request: Request,
    session: SessionDep,
    strategy: StrategyDep,
    store: StoreDep,
    authorization: Annotated[str | None, Header()] = None,
    sec_gpc: Annotated[str | None, Header(alias="Sec-GPC")] = None,
) -> ConsentRecorded:
    """Record that a subject gave, refused or withdrew consent for a use; 201 with the receipt.

    Withdrawing is the same single call as giving, with ``"state": "withdrawn"`` (Art. 7(3)).
    """
    _guarded(request)
    staff = authenticate(session, strategy, authorization) if authorization else None
    named = body.subject.keys()
    if staff is None and set(named) != {"id"}:
        raise AuthError(
            "without a staff token, name the subject by the subject id on your consent "
            "receipt ({'id': ...}); finding a subject by an identifier needs a staff token",
            parameter="subject",
        )
    subject_id = find_subject(session, store, named)
    if subject_id is None:
        raise NotFound(f"no {store.subject_entity} matches the given subject", parameter="subject")
    recorded = record_call(
        session,
        strategy,
        body,
        signer=_signer(request),
        subject_id=subject_id,
        staff_role=staff.role if staff else None,
        gpc=(sec_gpc or "").strip() == "1",
    )
    session.commit()
    return recorded


@router.get("/v1/subjects/{subject_id}/consents", response_model=SubjectConsents)
def get_consents(
    subject_id: str, session: SessionDep, strategy: StrategyDep, store: StoreDep, staff: StaffDep
) -> SubjectConsents:
    """The current state per consent-based use and the full history of one subject (staff).

    A subject erased from the system of record keeps its consent history: it is the
    controller's proof under Art. 7(1) and holds only the pseudonymous id.
    """
    if not subject_exists(session, store, subject_id) and not history(session, subject_id):
        raise NotFound(f"no subject {subject_id!r}", subject_id=subject_id)
    return subject_consents(session, strategy, subject_id)
