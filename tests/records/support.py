"""Shared fixtures of the system-of-record tests: a database per backend, keys, a store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from dsar.tables import database_metadata
from kernel.crypto import Pseudonymiser
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.migrations import upgrade
from records.store import FieldCrypto, RecordStore
from schemas import Strategy, load_strategy
from tests.support import backend_database

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "strategy"
MINIMAL = ROOT / "tests" / "schemas" / "minimal"


def bundled() -> Strategy:
    """The bundled car-service strategy."""
    strategy = load_strategy(BUNDLED).strategy
    assert strategy is not None
    return strategy


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("mariadb", marks=pytest.mark.mariadb),
    ]
)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database: a SQLite file, or one of its own on the PostgreSQL or MariaDB test
    server."""
    server = {"postgres": "pg_url", "mariadb": "mariadb_url"}.get(request.param)
    url = request.getfixturevalue(server) if server else None
    with backend_database(request.param, tmp_path, url, prefix="tt_sor") as engine:
        yield engine


@pytest.fixture
def crypto(tmp_path: Path) -> Iterator[FieldCrypto]:
    """Field crypto with an in-memory keyring and a keystore file of its own."""
    keyring = Keyring.ephemeral()
    keystore = SubjectKeyStore(tmp_path / "keystore.db", keyring=keyring)
    yield FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
    keystore.close()


@pytest.fixture
def store(engine: Engine, crypto: FieldCrypto) -> RecordStore:
    """The bundled strategy's system of record, with its tables created."""
    strategy = bundled()
    upgrade(engine, database_metadata(strategy))
    return RecordStore(strategy, crypto=crypto)
