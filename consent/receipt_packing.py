"""Receipts kept in the ledger at about a third of their size, given back byte for byte.

A receipt is an Ed25519 JWS whose payload is some 2 kB of canonical JSON, most of it the same
in every receipt (the Kantara claim names, the controller, the purpose in the strategy's
words), and then base64url-encoded, which adds a third and hides the repetition from the
database's own compression. The ledger keeps instead

    "z1." + base64url(signature (64 bytes) + deflate(header "." payload))

where deflate uses a fixed preset dictionary (:data:`_DICTIONARY_V1`: the claim names and the
product's own phrases). The dictionary is part of the stored format: it never changes, and
another format would take the next prefix (``z2.``). :func:`unpack` rebuilds the very JWS that
was signed (header, payload and signature re-encoded exactly as the signer encoded them), so
verifying a receipt read from the ledger is verifying the one handed out.

:func:`pack` stores a receipt as it is when packing would not give it back exactly (a JWS that
is not in canonical base64url, say), and :func:`unpack` passes through a receipt written before
packing: a JWS always starts with ``eyJ`` (``{"`` encoded), never with ``z1.``. So rows written
by earlier versions need no rewrite, which the append-only ledger would refuse anyway.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Final

__all__ = ["pack", "unpack"]

_PREFIX: Final = "z1."
_SIGNATURE: Final = 64
_WBITS: Final = -15  # raw deflate: no zlib header or checksum (the signature covers it all)

_DICTIONARY_V1: Final = (
    b'"thirdPartyDisclosure":false,"thirdPartyName":"","spiCat":[],"sensitive":true,'
    b'"version":"KI-CR-v1.1.0"}"purposeCategory":["Marketing"],"Profiling","Analytics",'
    b'"consentType":"EXPLICIT","IMPLICIT","piiCategory":["behavioural","contact","descriptive",'
    b'"financial","identity","location","health"],"primaryPurpose":true,"purpose":"'
    b'"services":[{"purposes":[{"service":"","piiPrincipalId":"","policyUrl":"urn:tietotie:'
    b'notice:privacy-notice-","publicKey":"","jurisdiction":"FI","language":"fi","en","sv",'
    b'"piiControllers":[{"address":"","businessId":"","contact":"","email":"","onBehalf":false,'
    b'"piiController":"Oy"}],"refused","withdrawn","state":"given","use":"","withdrawalMethod":'
    b'"withdraw at any time, as easily as given: through web_form point_of_sale privacy_center '
    b"(source ) or at , or POST /v1/consents with state withdrawn and the subject id on this "
    b'receipt"},"termination":"; it lapses after P2Y","legalBasis":"consent","method":"staff",'
    b'"self_service","notice":"privacy-notice-","source":"","expiresAt":null,"T00:00:00.000000Z",'
    b'"evidenceDigest":"sha256:","eventTime":"20","extensions":{"channel":"","consentTimestamp":'
    b'17,"consentReceiptID":"","collectionMethod":"{"alg":"EdDSA","kid":"consent-receipt-v1",'
    b'"typ":"JWT"}.{"collectionMethod":"'
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, _WBITS, 9, zlib.Z_DEFAULT_STRATEGY, _DICTIONARY_V1)
    return packer.compress(data) + packer.flush()


def _inflate(data: bytes) -> bytes:
    unpacker = zlib.decompressobj(_WBITS, zdict=_DICTIONARY_V1)
    out = unpacker.decompress(data) + unpacker.flush()
    if not unpacker.eof or unpacker.unused_data:
        raise ValueError("a packed receipt's body is cut short or has bytes after its end")
    return out


def pack(jws: str) -> str:
    """The stored form of ``jws``: packed where that gives it back exactly, else as it is."""
    parts = jws.split(".")
    if len(parts) != 3:
        return jws
    try:
        header, payload, signature = (_unb64(p) for p in parts)
    except (binascii.Error, ValueError):
        return jws
    if len(signature) != _SIGNATURE or [_b64(header), _b64(payload), _b64(signature)] != parts:
        return jws  # not canonical base64url: keep the exact text
    if b"." in header:
        return jws  # the header and payload are split at the first dot when unpacked
    return _PREFIX + _b64(signature + _deflate(header + b"." + payload))


def unpack(stored: str) -> str:
    """The JWS ``stored`` holds (a receipt stored as it was passes through unchanged)."""
    if not stored.startswith(_PREFIX):
        return stored
    try:
        raw = _unb64(stored[len(_PREFIX) :])
        signature, body = raw[:_SIGNATURE], _inflate(raw[_SIGNATURE:])
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise ValueError(f"a packed consent receipt in the ledger is damaged: {exc}") from None
    header, _, payload = body.partition(b".")
    return f"{_b64(header)}.{_b64(payload)}.{_b64(signature)}"
