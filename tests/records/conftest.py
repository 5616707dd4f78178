"""Fixtures of the system-of-record tests: the database per backend, keys and store."""

from tests.records.support import crypto, engine, store

__all__ = ["crypto", "engine", "store"]
