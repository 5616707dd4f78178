"""Signed consent receipts: Kantara Consent Receipt v1.1 claims in an Ed25519 JWS (RFC 8037).

Format. A receipt is a JSON Web Signature in compact serialisation, as Kantara v1.1 makes a
receipt a JWT: ``b64url(header) "." b64url(payload) "." b64url(signature)``, where

* header: ``{"alg": "EdDSA", "kid": "consent-receipt-v<N>", "typ": "JWT"}``; ``N`` is the
  keyring data key version the signing key comes from;
* payload: the receipt claims as canonical JSON (keys sorted, no insignificant whitespace,
  UTF-8), so the same receipt always has the same bytes;
* signature: Ed25519 over the ASCII signing input ``header "." payload``.

The Kantara fields are all there (``version``, ``jurisdiction``, ``consentTimestamp``,
``collectionMethod``, ``consentReceiptID``, ``publicKey``, ``language``, ``piiPrincipalId``,
``piiControllers``, ``policyUrl``, ``services`` with ``purposes``, ``purposeCategory``,
``consentType``, ``termination``, ``thirdPartyDisclosure``, ``sensitive``, ``spiCat``).
v1.1 describes a consent given; so that a refusal or withdrawal has a receipt too, an
``extensions`` object adds the state, the use, the source and channel, the notice version, the
expiry, the withdrawal method and a SHA-256 digest of the evidence (never the evidence itself).
``piiPrincipalId`` is the pseudonymous subject id: a receipt carries no identifier.

Key. The controller's signing key is *derived*, not stored: the 32-byte Ed25519 seed is
``Keyring.derive("consent-receipt/ed25519", version=N)`` (HKDF-SHA-256 of data key ``N``).
Nothing new has to be backed up or protected beyond the keyring that already exists,
``tietotie keys rotate`` starts a new signing key with the new data key version, and every old
version stays in the keyring, so receipts signed years ago still verify against the keyring.
Its public half is embedded in every receipt (``publicKey``, base64url of the 32 raw bytes).

Verification (:func:`verify_receipt`) checks the signature against, in order of preference,
the keyring's key of the receipt's version (which proves the controller signed it), a public key
the verifier pins, or the key embedded in the receipt (which proves only that the receipt was
not changed after signing, and says so).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from kernel.errors import KeyConfigError
from kernel.keys import Keyring
from schemas.enums import SPECIAL_CATEGORIES, UseKind
from schemas.models import Strategy

__all__ = [
    "KANTARA_VERSION",
    "KEY_PURPOSE",
    "KeySource",
    "ReceiptCheck",
    "ReceiptFacts",
    "ReceiptSigner",
    "build_claims",
    "canonical_json",
    "decode_claims",
    "evidence_digest",
    "verify_receipt",
]

KANTARA_VERSION: Final = "KI-CR-v1.1.0"
"""The ``version`` claim of a Kantara Consent Receipt v1.1."""

KEY_PURPOSE: Final = "consent-receipt/ed25519"
"""The keyring derivation label of the controller's receipt-signing seed."""

_KID = re.compile(r"consent-receipt-v([1-9][0-9]{0,8})")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

# Kantara v1.1 purpose categories (its Appendix A) for each kind of use.
_PURPOSE_CATEGORY: Final[dict[UseKind, str]] = {
    UseKind.DIRECT_MARKETING: "Marketing",
    UseKind.PROFILING: "Personalized Experience",
    UseKind.SERVICE_DELIVERY: "Core Function",
    UseKind.CUSTOMER_SERVICE: "Contracted Service",
    UseKind.ANALYTICS: "Improve Performance",
    UseKind.PRODUCT_DEVELOPMENT: "Improve Performance",
    UseKind.LEGAL_COMPLIANCE: "Legally Required Data Retention",
    UseKind.SECURITY: "Protecting Our Interests",
}


def canonical_json(value: Any) -> bytes:
    """Canonical JSON bytes: sorted keys, no insignificant whitespace, UTF-8."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def evidence_digest(evidence: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of the evidence: the receipt binds it unseen."""
    return "sha256:" + hashlib.sha256(canonical_json(dict(evidence))).hexdigest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


class ReceiptSigner:
    """The controller's Ed25519 receipt-signing keys, derived from the keyring per version."""

    __slots__ = ("_keyring", "_keys")

    def __init__(self, keyring: Keyring) -> None:
        self._keyring = keyring
        self._keys: dict[int, Ed25519PrivateKey] = {}

    @property
    def current_version(self) -> int:
        """The keyring version new receipts are signed under."""
        return self._keyring.current_version

    def _private(self, version: int) -> Ed25519PrivateKey:
        key = self._keys.get(version)
        if key is None:
            seed = self._keyring.derive(KEY_PURPOSE, version=version)
            key = self._keys[version] = Ed25519PrivateKey.from_private_bytes(seed)
        return key

    def public_key(self, version: int | None = None) -> bytes:
        """The raw 32-byte public key of ``version`` (default: current)."""
        chosen = self.current_version if version is None else version
        return _raw_public(self._private(chosen).public_key())

    def public_key_b64(self, version: int | None = None) -> str:
        """The public key as the receipts carry it: base64url, no padding."""
        return _b64(self.public_key(version))

    def sign(self, claims: Mapping[str, Any], *, version: int | None = None) -> str:
        """The JWS compact serialisation of ``claims`` signed with key ``version``."""
        chosen = self.current_version if version is None else version
        header = {"alg": "EdDSA", "kid": f"consent-receipt-v{chosen}", "typ": "JWT"}
        signing_input = f"{_b64(canonical_json(header))}.{_b64(canonical_json(dict(claims)))}"
        signature = self._private(chosen).sign(signing_input.encode("ascii"))
        return f"{signing_input}.{_b64(signature)}"

    def __repr__(self) -> str:
        return f"ReceiptSigner(current_version={self.current_version})"


@dataclass(frozen=True, slots=True)
class ReceiptFacts:
    """What one consent event says, as the receipt needs it."""

    record_id: str
    subject_id: str
    use: str
    state: str
    event_time: datetime
    expires_at: datetime | None
    source: str
    channel: str
    notice: str
    language: str
    jurisdiction: str
    method: str
    withdrawal_method: str
    evidence: Mapping[str, Any]


def build_claims(strategy: Strategy, facts: ReceiptFacts, *, public_key: str) -> dict[str, Any]:
    """The Kantara v1.1 receipt claims of one event (see the module docstring)."""
    index = strategy.index
    use = index.uses[facts.use]
    controller = strategy.controller
    categories = sorted({index.fields[ref].category.value for ref in index.use_fields[use.id]})
    special = sorted(c for c in categories if any(c == s.value for s in SPECIAL_CATEGORIES))
    recipients = [index.processors[r].name for r in use.recipients if r in index.processors]
    lapse = f"; it lapses after {use.consent_valid_for}" if use.consent_valid_for else ""
    contact = controller.dpo or controller.email or controller.name
    claims: dict[str, Any] = {
        "version": KANTARA_VERSION,
        "jurisdiction": facts.jurisdiction,
        "consentTimestamp": int(facts.event_time.timestamp()),
        "collectionMethod": f"{facts.channel} (source {facts.source}, {facts.method})",
        "consentReceiptID": facts.record_id,
        "publicKey": public_key,
        "language": facts.language,
        "piiPrincipalId": facts.subject_id,
        "piiControllers": [
            {
                "piiController": controller.name,
                "onBehalf": False,
                "contact": contact,
                "address": controller.address or "",
                "email": controller.email or "",
                **({"businessId": controller.business_id} if controller.business_id else {}),
            }
        ],
        "policyUrl": f"urn:tietotie:notice:{facts.notice}",
        "services": [
            {
                "service": use.id,
                "purposes": [
                    {
                        "purpose": use.description or use.id,
                        "purposeCategory": [_PURPOSE_CATEGORY[use.kind]],
                        "consentType": "EXPLICIT",
                        "piiCategory": categories,
                        "primaryPurpose": True,
                        "termination": f"{facts.withdrawal_method}{lapse}",
                        "thirdPartyDisclosure": bool(recipients),
                        **({"thirdPartyName": ", ".join(recipients)} if recipients else {}),
                    }
                ],
            }
        ],
        "sensitive": bool(special),
        "spiCat": special,
        "extensions": {
            "state": facts.state,
            "use": facts.use,
            "legalBasis": use.legal_basis.value,
            "source": facts.source,
            "channel": facts.channel,
            "method": facts.method,
            "notice": facts.notice,
            "eventTime": facts.event_time.isoformat().replace("+00:00", "Z"),
            "expiresAt": (
                facts.expires_at.isoformat().replace("+00:00", "Z") if facts.expires_at else None
            ),
            "withdrawalMethod": facts.withdrawal_method,
            "evidenceDigest": evidence_digest(facts.evidence),
        },
    }
    return claims


class KeySource(StrEnum):
    """Which key a receipt was verified against, from strongest to weakest proof."""

    KEYRING = "keyring"
    PINNED = "pinned"
    EMBEDDED = "embedded"


@dataclass(frozen=True, slots=True)
class ReceiptCheck:
    """The outcome of verifying one receipt."""

    valid: bool
    reason: str
    claims: dict[str, Any] | None = None
    key_version: int | None = None
    key_source: KeySource | None = None


def _fail(reason: str, claims: dict[str, Any] | None = None) -> ReceiptCheck:
    return ReceiptCheck(valid=False, reason=reason, claims=claims)


def _split(text: str) -> tuple[str, str | None]:
    """The JWS in ``text`` and, when ``text`` is a JSON document, the clear claims beside it."""
    stripped = text.strip()
    if not stripped.startswith("{"):
        return stripped, None
    document = json.loads(stripped)
    if not isinstance(document, dict):
        raise ValueError("a JSON receipt file is an object")
    jws = document.get("receipt", document.get("jws"))
    if not isinstance(jws, str):
        raise ValueError("the JSON document has no 'receipt' (or 'jws') string")
    clear = document.get("receipt_claims")
    return jws.strip(), (canonical_json(clear).decode("utf-8") if clear is not None else None)


def decode_claims(jws: str) -> dict[str, Any]:
    """The payload of a receipt JWS, decoded but NOT verified (for display only)."""
    parts = jws.strip().split(".")
    if len(parts) != 3:
        raise ValueError("a JWS compact serialisation has three dot-separated parts")
    claims = json.loads(_unb64(parts[1]))
    if not isinstance(claims, dict):
        raise ValueError("the receipt payload is not a JSON object")
    return claims


def verify_receipt(
    text: str, *, keyring: Keyring | None = None, public_key: bytes | None = None
) -> ReceiptCheck:
    """Verify a receipt: a JWS compact string, or a JSON document with a ``receipt`` member.

    With ``keyring``, the signature must verify under the controller's key of the receipt's
    version and the embedded ``publicKey`` must be that key; else with ``public_key`` (raw 32
    bytes) under that key; else under the embedded key, which proves integrity only. When a
    JSON document also carries ``receipt_claims`` in clear, they must equal the signed claims.
    Never raises on bad input: every failure is a ``ReceiptCheck`` with ``valid=False``.
    """
    try:
        jws, clear = _split(text)
    except (ValueError, json.JSONDecodeError) as exc:
        return _fail(f"not a receipt: {exc}")
    parts = jws.split(".")
    if len(parts) != 3:
        return _fail("not a JWS compact serialisation (three base64url parts joined by '.')")
    try:
        header = json.loads(_unb64(parts[0]))
        claims = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except (ValueError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError):
        return _fail("a part of the JWS is not base64url-encoded JSON")
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return _fail("the JWS header and payload must be JSON objects")
    if header.get("alg") != "EdDSA":
        return _fail(f"unsupported algorithm {header.get('alg')!r}: receipts are EdDSA (Ed25519)")
    kid = _KID.fullmatch(str(header.get("kid", "")))
    if kid is None:
        return _fail("the JWS header has no kid of the form consent-receipt-v<N>", claims)
    version = int(kid.group(1))
    if claims.get("version") != KANTARA_VERSION:
        return _fail(f"the payload is not a {KANTARA_VERSION} receipt", claims)
    if clear is not None and clear != canonical_json(claims).decode("utf-8"):
        return _fail(
            "receipt_claims differ from the signed payload: the clear copy was changed", claims
        )
    try:
        embedded = _unb64(str(claims.get("publicKey", "")))
    except (ValueError, binascii.Error):
        return _fail("the embedded publicKey is not base64url", claims)

    source: KeySource
    if keyring is not None:
        try:
            key = ReceiptSigner(keyring).public_key(version)
        except KeyConfigError:
            return _fail(f"the keyring has no data key version {version} (kid)", claims)
        if embedded != key:
            return _fail(
                f"the embedded publicKey is not the controller's receipt key v{version}", claims
            )
        source = KeySource.KEYRING
    elif public_key is not None:
        key, source = public_key, KeySource.PINNED
        if embedded != key:
            return _fail("the embedded publicKey is not the pinned public key", claims)
    else:
        key, source = embedded, KeySource.EMBEDDED
    if len(key) != 32:
        return _fail("an Ed25519 public key is 32 bytes", claims)
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(
            signature, f"{parts[0]}.{parts[1]}".encode("ascii")
        )
    except InvalidSignature:
        return _fail(
            "the signature does not match: the receipt was changed or signed by another key", claims
        )
    reason = {
        KeySource.KEYRING: f"signed by the controller's receipt key v{version} (keyring)",
        KeySource.PINNED: "signed by the pinned public key",
        KeySource.EMBEDDED: "signature matches the embedded public key (integrity only: check "
        "that key belongs to the controller, or verify with the keyring)",
    }[source]
    return ReceiptCheck(
        valid=True, reason=reason, claims=claims, key_version=version, key_source=source
    )
