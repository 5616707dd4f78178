"""Helpers shared by tests that run the real app: a fresh app per test, and staff tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from dsar.auth import issue_token
from kernel.crypto import Pseudonymiser
from kernel.db import make_engine, transaction
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.store import FieldCrypto
from tietotie.app import create_app
from tietotie.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "strategy"

__all__ = ["BUNDLED", "ROOT", "backend_database", "make_app", "staff_header"]


def make_app(folder: Path, *, strategy: Path = BUNDLED) -> FastAPI:
    """The real app on a fresh SQLite database in ``folder``, with an in-memory keyring.

    Its key store is a file in ``folder`` too, so nothing is shared between tests.
    """
    keyring = Keyring.ephemeral()
    crypto = FieldCrypto(
        keystore=SubjectKeyStore(folder / "keystore.db", keyring=keyring),
        pseudonymiser=Pseudonymiser(keyring),
    )
    settings = Settings(
        strategy=strategy,
        var_dir=folder,
        environment="test",
        database_url=f"sqlite:///{folder / 'app.db'}",
        key_file=folder / "master.key",
    )
    return create_app(settings, crypto=crypto)


def staff_header(app: Any, role: str) -> dict[str, str]:
    """An Authorization header with a new token of ``role``."""
    with transaction(app.state.sessions) as session:
        token = issue_token(session, app.state.strategy, role=role)
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def backend_database(
    backend: str, folder: Path, server_url: str | None = None, *, prefix: str = "tt"
) -> Iterator[Engine]:
    """An empty database: a SQLite file in ``folder``, or a namespace of its own on the server
    at ``server_url`` (a schema on PostgreSQL, a database on MariaDB), dropped afterwards."""
    if backend == "sqlite":
        engine = make_engine(f"sqlite:///{folder / f'{prefix}.db'}")
        try:
            yield engine
        finally:
            engine.dispose()
        return
    assert server_url is not None
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    if backend == "mariadb":
        create, drop = f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4", f"DROP DATABASE `{name}`"
        url, options = str(make_url(server_url).set(database=name)), {}
    else:
        create, drop = f'CREATE SCHEMA "{name}"', f'DROP SCHEMA "{name}" CASCADE'
        url, options = server_url, {"connect_args": {"options": f"-csearch_path={name}"}}
    admin = make_engine(server_url)
    with admin.begin() as conn:
        conn.execute(text(create))
    engine = make_engine(url, **options)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(drop))
        admin.dispose()
