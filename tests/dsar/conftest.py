"""Fixtures of the dsar tests: the system-of-record database per backend, keys and store."""

from tests.dsar.sor_support import crypto, engine, store

__all__ = ["crypto", "engine", "store"]
