"""Shared fixtures of the system-of-record tests: a database per backend, keys, a store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from dsar.migrations import upgrade
from dsar.records import FieldCrypto, RecordStore
from dsar.tables import database_metadata
from kernel.crypto import Pseudonymiser
from kernel.db import make_engine
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from schemas import Strategy, load_strategy

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "strategy"
MINIMAL = ROOT / "tests" / "schemas" / "minimal"


def bundled() -> Strategy:
    """The bundled car-service strategy."""
    strategy = load_strategy(BUNDLED).strategy
    assert strategy is not None
    return strategy


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """An empty database: a SQLite file, or a schema of its own on the PostgreSQL test server."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'sor.db'}")
        yield eng
        eng.dispose()
        return
    url = request.getfixturevalue("pg_url")
    schema = f"tt_sor_{uuid.uuid4().hex[:12]}"
    admin = make_engine(url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield eng
    finally:
        eng.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


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
