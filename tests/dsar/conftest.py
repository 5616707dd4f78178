"""Fixtures of the request tests: the system-of-record database per backend, keys and store."""

from tests.records.support import crypto, engine, store

__all__ = ["crypto", "engine", "store"]
