"""Helpers shared by tests that run the real app: a fresh app per test, and staff tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI

from dsar.auth import issue_token
from dsar.records import FieldCrypto
from kernel.crypto import Pseudonymiser
from kernel.db import transaction
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from tietotie.app import create_app
from tietotie.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "strategy"

__all__ = ["BUNDLED", "ROOT", "make_app", "staff_header"]


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
