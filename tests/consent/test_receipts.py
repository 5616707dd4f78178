"""Consent receipts: Kantara v1.1 claims, signed by the controller, and what verification says."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.receipts import (
    KANTARA_VERSION,
    KeySource,
    ReceiptFacts,
    ReceiptSigner,
    build_claims,
    canonical_json,
    decode_claims,
    verify_receipt,
)
from kernel.keys import Keyring
from tests.consent.support import bundled

pytestmark = pytest.mark.consent

FACTS = ReceiptFacts(
    record_id="0190a1b2c3d4" + "e" * 20,
    subject_id="5" * 32,
    use="accessibility-service",
    state="given",
    event_time=datetime(2026, 1, 5, 10, 30, tzinfo=UTC),
    expires_at=datetime(2028, 1, 5, 10, 30, tzinfo=UTC),
    source="service-desk",
    channel="point_of_sale",
    notice="privacy-notice-2026-01",
    language="fi",
    jurisdiction="FI",
    method="staff",
    withdrawal_method="withdraw at the desk",
    evidence={"form": "paper-v2"},
)


def _receipt(signer: ReceiptSigner, facts: ReceiptFacts = FACTS) -> str:
    return signer.sign(build_claims(bundled(), facts, public_key=signer.public_key_b64()))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_receipt_has_the_kantara_fields_and_only_the_pseudonymous_id(signer: ReceiptSigner) -> None:
    """The claims follow Kantara v1.1; the only subject reference is piiPrincipalId."""
    claims = decode_claims(_receipt(signer))
    for name in (
        "version",
        "jurisdiction",
        "consentTimestamp",
        "collectionMethod",
        "consentReceiptID",
        "publicKey",
        "language",
        "piiPrincipalId",
        "piiControllers",
        "policyUrl",
        "services",
        "sensitive",
        "spiCat",
    ):
        assert name in claims, name
    assert claims["version"] == KANTARA_VERSION
    assert claims["consentTimestamp"] == int(FACTS.event_time.timestamp())
    assert claims["piiPrincipalId"] == FACTS.subject_id
    controller = claims["piiControllers"][0]
    assert controller["piiController"] == "Renkaat & Huolto Virtanen Oy"
    assert controller["businessId"] == "2745193-6"
    purpose = claims["services"][0]["purposes"][0]
    assert purpose["consentType"] == "EXPLICIT"
    assert purpose["purposeCategory"] == ["Contracted Service"]
    assert "P2Y" in purpose["termination"]
    # accessibility-service needs customer.accessibility_need: health, a special category.
    assert claims["sensitive"] is True and claims["spiCat"] == ["health"]
    assert claims["extensions"]["evidenceDigest"].startswith("sha256:")
    assert "paper-v2" not in json.dumps(claims)


def test_a_receipt_verifies_against_the_keyring_a_pinned_key_and_its_own_key(
    signer: ReceiptSigner, keyring: Keyring
) -> None:
    """Each way of verifying accepts a genuine receipt and says which key proved it."""
    receipt = _receipt(signer)
    by_keyring = verify_receipt(receipt, keyring=keyring)
    assert by_keyring.valid and by_keyring.key_source is KeySource.KEYRING
    assert by_keyring.key_version == 1
    pinned = verify_receipt(receipt, public_key=signer.public_key())
    assert pinned.valid and pinned.key_source is KeySource.PINNED
    embedded = verify_receipt(receipt)
    assert embedded.valid and "integrity only" in embedded.reason


def test_a_tampered_receipt_fails(signer: ReceiptSigner, keyring: Keyring) -> None:
    """Changing the state in the payload, or a byte of the signature, breaks verification."""
    header, payload, signature = _receipt(signer).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["extensions"]["state"] = "withdrawn"
    forged = f"{header}.{_b64(canonical_json(claims))}.{signature}"
    check = verify_receipt(forged, keyring=keyring)
    assert not check.valid and "signature does not match" in check.reason
    assert not verify_receipt(forged).valid
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    assert not verify_receipt(f"{header}.{payload}.{flipped}", keyring=keyring).valid


def test_a_receipt_signed_by_someone_else_fails_against_the_controllers_keyring(
    keyring: Keyring,
) -> None:
    """Another key's receipt is self-consistent, but it is not the controller's."""
    stranger = ReceiptSigner(Keyring.ephemeral())
    receipt = _receipt(stranger)
    assert verify_receipt(receipt).valid
    check = verify_receipt(receipt, keyring=keyring)
    assert not check.valid and "not the controller's" in check.reason


def test_receipts_signed_before_a_key_rotation_still_verify(keyring: Keyring) -> None:
    """After `keys rotate` new receipts are v2; the v1 receipt verifies against the keyring."""
    signer = ReceiptSigner(keyring)
    old = _receipt(signer)
    keyring.rotate()
    new = _receipt(ReceiptSigner(keyring))
    assert verify_receipt(old, keyring=keyring).key_version == 1
    assert verify_receipt(new, keyring=keyring).key_version == 2
    assert decode_claims(old)["publicKey"] != decode_claims(new)["publicKey"]


def test_the_signing_key_is_derived_from_the_keyring_and_nothing_else(keyring: Keyring) -> None:
    """Two signers over the same keyring make the same key; another keyring another key."""
    assert ReceiptSigner(keyring).public_key() == ReceiptSigner(keyring).public_key()
    assert ReceiptSigner(keyring).public_key() != ReceiptSigner(Keyring.ephemeral()).public_key()


def test_an_api_answer_with_a_changed_clear_copy_fails(signer: ReceiptSigner) -> None:
    """In the JSON answer, receipt_claims must equal what was signed."""
    receipt = _receipt(signer)
    claims = decode_claims(receipt)
    assert verify_receipt(json.dumps({"receipt": receipt, "receipt_claims": claims})).valid
    claims["piiPrincipalId"] = "6" * 32
    check = verify_receipt(json.dumps({"receipt": receipt, "receipt_claims": claims}))
    assert not check.valid and "clear copy" in check.reason


@pytest.mark.parametrize(
    "text", ["", "not a receipt", "a.b", "a.b.c", "{}", "[1]", '{"receipt": 5}', "e30.e30.e30"]
)
def test_malformed_input_is_invalid_with_a_reason(text: str) -> None:
    """Garbage never raises: it is an invalid receipt with a reason."""
    check = verify_receipt(text)
    assert not check.valid and check.reason


@given(st.text(max_size=300))
def test_verification_never_raises_on_any_text(text: str) -> None:
    """Whatever text is handed in, verification answers instead of crashing."""
    assert verify_receipt(text).valid is False
