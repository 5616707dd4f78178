"""Who may record a consent statement: staff through their own sources, the subject by receipt.

Whoever can record ``given`` can put anyone into a consent-based campaign (DESIGN §11), so:

* staff record through a source their role collects for (4-sources.yaml ``collected_by``),
  or with the ``consents`` duty (organisation.yaml); the access policy's row filters, applied
  where the subject is looked up, narrow which subjects (dsar.api.consents);
* the subject, without a token, only refuses or withdraws, and proves who they are with a
  receipt the controller signed for them earlier: the receipt is the proof the subject holds
  until the privacy center's verified channel exists.

Each refusal is a :class:`~kernel.errors.TietotieError` that says what to do.
"""

from __future__ import annotations

from collections.abc import Iterable

from consent.models import RecordedState
from consent.receipts import ReceiptSigner, verify_receipt
from kernel.errors import AuthError, Forbidden, KeyConfigError
from schemas.enums import Duty
from schemas.models import Source, Strategy

__all__ = ["authorise_staff", "check_self_service", "verify_subject_receipt"]


def authorise_staff(
    strategy: Strategy, *, role: str, duties: Iterable[Duty], source: Source
) -> None:
    """Refuse (:class:`Forbidden`) a staff statement through a source the role may not use.

    The role must collect for ``source`` (its ``collected_by``) or hold the ``consents`` duty.
    """
    if Duty.CONSENTS in set(duties) or source.collected_by == role:
        return
    own = [s.id for s in strategy.sources if s.collected_by == role]
    raise Forbidden(
        f"role {role!r} may not record consent through {source.id!r}: staff record consent "
        f"only through a source their role collects for (4-sources.yaml collected_by: "
        f"{source.collected_by}), or with the consents duty (organisation.yaml). {role} "
        f"collects for: {', '.join(own) or 'no source'}",
        role=role,
        source=source.id,
        duty=Duty.CONSENTS.value,
        article="7(1)",
    )


def check_self_service(state: RecordedState | str) -> None:
    """Refuse (:class:`AuthError`) a ``given`` without a staff token: only refusals and
    withdrawals, which can never harm the subject, are taken from the subject alone."""
    if RecordedState(state) is RecordedState.GIVEN:
        raise AuthError(
            "giving consent needs a staff token (Authorization: Bearer ...): until identity "
            "verification exists, only staff can show who gave it (Art. 7(1)). Withdrawing and "
            "refusing need no token, only the receipt of an earlier consent event of yours",
            parameter="state",
        )


def verify_subject_receipt(receipt: str | None, *, subject_id: str, signer: ReceiptSigner) -> None:
    """Refuse (:class:`AuthError`) a self-service call whose receipt does not prove the subject.

    The receipt must verify under the controller's receipt key of its version (derived from
    the keyring behind ``signer``) and name ``subject_id`` as its ``piiPrincipalId``. It is
    checked before anything is looked up, so the answer does not depend on who is a customer.
    """
    hint = (
        "without a staff token, send the receipt of an earlier consent event of yours "
        "(`receipt` from that answer, or the receipt file) with the subject id it names"
    )
    if not receipt:
        raise AuthError(f"no receipt: {hint}", parameter="receipt")
    check = verify_receipt(receipt)
    claims = check.claims or {}
    genuine = False
    if check.valid and check.key_version is not None:
        try:
            # The signature verified under the embedded key; the controller's key must be it.
            genuine = claims.get("publicKey") == signer.public_key_b64(check.key_version)
        except KeyConfigError:
            genuine = False  # a version our keyring never had
    if not genuine:
        raise AuthError(
            f"the receipt is not one the controller signed: {hint}", parameter="receipt"
        )
    if claims.get("piiPrincipalId") != subject_id:
        raise AuthError(
            f"the receipt names another subject than the id given: {hint}", parameter="receipt"
        )
