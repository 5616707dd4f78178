"""Fixtures of the consent tests (defined in tests.consent.support, shared with the features)."""

from tests.consent.support import api, backend_engine, keyring, ledger, signer

__all__ = ["api", "backend_engine", "keyring", "ledger", "signer"]
