"""The subject's identifiers, sealed in an erasure plan for the external systems that need them.

External tables find a subject's rows by identifier (an email address, a phone number), and the
main database's copy is gone once its step is done; so the plan keeps them, AES-256-GCM under a
key derived from the keyring, bound to the request id, and drops them when no external step is
pending. A keyed hash would not do: the external match needs the clear value.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from collections.abc import Mapping
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kernel.errors import CryptoError, KeyConfigError
from kernel.keys import Keyring

__all__ = ["IDENTITY_PURPOSE", "seal_identity", "unseal_identity"]

IDENTITY_PURPOSE: Final = "dsar-erasure/identity"
"""The keyring derivation label of the sealing key."""
_NONCE_BYTES: Final = 12


def seal_identity(keyring: Keyring, request_id: str, identity: Mapping[str, str]) -> str:
    """``v<key version>.<base64url(nonce || AES-GCM(identity as JSON))>``, bound to the request."""
    version = keyring.current_version
    nonce = secrets.token_bytes(_NONCE_BYTES)
    sealed = AESGCM(keyring.derive(IDENTITY_PURPOSE, version=version)).encrypt(
        nonce, json.dumps(dict(identity), sort_keys=True).encode(), request_id.encode()
    )
    return f"v{version}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"


def unseal_identity(keyring: Keyring, request_id: str, text: str) -> dict[str, str]:
    """The identifiers :func:`seal_identity` sealed; CryptoError if they do not open."""
    version, _, body = text.partition(".")
    try:
        raw = base64.urlsafe_b64decode(body)
        key = keyring.derive(IDENTITY_PURPOSE, version=int(version.removeprefix("v")))
        plain = AESGCM(key).decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], request_id.encode())
    except (binascii.Error, ValueError, InvalidTag, KeyConfigError):
        raise CryptoError(
            "the sealed identifiers of this erasure do not open: the keyring is not the one "
            "the plan was made under",
            request_id=request_id,
        ) from None
    identity: dict[str, str] = json.loads(plain)
    return identity
