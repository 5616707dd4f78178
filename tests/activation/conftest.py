"""Fixtures of the reporting and activation tests: the database per backend, keys and store."""

from tests.records.support import crypto, engine, store

__all__ = ["crypto", "engine", "store"]
