"""The small pieces every layer needs: the error tree, crypto and keys, the database session."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.errors import TietotieError
from kernel.lazy import lazy_exports

if TYPE_CHECKING:
    from kernel.crypto import (
        Pseudonymiser,
        TokenInfo,
        TokenMode,
        hash_secret,
        new_secret_token,
        new_verification_code,
        parse_token,
        validate_domain,
        verify_secret,
    )
    from kernel.keys import Keyring, KeyVersion, MasterKey, generate_master_key, load_master_key
    from kernel.keystore import ERASED, Erased, SubjectKeyStore

__all__ = [
    "ERASED",
    "Erased",
    "KeyVersion",
    "Keyring",
    "MasterKey",
    "Pseudonymiser",
    "SubjectKeyStore",
    "TietotieError",
    "TokenInfo",
    "TokenMode",
    "generate_master_key",
    "hash_secret",
    "load_master_key",
    "new_secret_token",
    "new_verification_code",
    "parse_token",
    "validate_domain",
    "verify_secret",
]

# Imported on first use, so that `import kernel.errors` does not pull in SQLAlchemy and OpenSSL.
_LAZY = {
    **dict.fromkeys(
        [
            "Pseudonymiser",
            "TokenInfo",
            "TokenMode",
            "hash_secret",
            "new_secret_token",
            "new_verification_code",
            "parse_token",
            "validate_domain",
            "verify_secret",
        ],
        "kernel.crypto",
    ),
    **dict.fromkeys(
        ["Keyring", "KeyVersion", "MasterKey", "generate_master_key", "load_master_key"],
        "kernel.keys",
    ),
    **dict.fromkeys(["ERASED", "Erased", "SubjectKeyStore"], "kernel.keystore"),
}


__getattr__ = lazy_exports(__name__, _LAZY)
