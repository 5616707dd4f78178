"""Shared fixtures: the real database servers, which skip cleanly where absent (but not in CI)."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

POSTGRES_URL = os.environ.get(
    "TIETOTIE_TEST_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test"
)
MARIADB_URL = os.environ.get(
    "TIETOTIE_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"
)


def services_required() -> bool:
    """CI sets TIETOTIE_REQUIRE_SERVICES=1: a missing server is then a failure, not a skip."""
    return os.environ.get("TIETOTIE_REQUIRE_SERVICES") == "1"


def need(available: bool, reason: str) -> None:
    """Skip with ``reason`` when something is missing, or fail when CI requires it."""
    if available:
        return
    if services_required():
        pytest.fail(f"{reason} (TIETOTIE_REQUIRE_SERVICES=1 makes this a failure)")
    pytest.skip(reason)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A SQLAlchemy URL of the PostgreSQL test database."""
    need(_reachable("127.0.0.1", 5432), "PostgreSQL is not reachable on 127.0.0.1:5432")
    yield POSTGRES_URL


@pytest.fixture(scope="session")
def mariadb_url() -> Iterator[str]:
    """A SQLAlchemy URL of the MariaDB test database."""
    need(_reachable("127.0.0.1", 3306), "MariaDB is not reachable on 127.0.0.1:3306")
    yield MARIADB_URL


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A URL of the Redis server that rate-limit counters are shared through."""
    need(_reachable("127.0.0.1", 6379), "Redis is not reachable on 127.0.0.1:6379")
    yield "redis://127.0.0.1:6379/0"


ServiceEnv = Callable[..., Path]
"""``service_env(database_url=None)``: see :func:`service_env`."""


@pytest.fixture
def service_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServiceEnv]:
    """Point the settings at the bundled strategy and, under ``tmp_path``, a fresh database
    (or ``database_url``), var directory and master key file; returns ``tmp_path``."""
    from tietotie.settings import get_settings

    def configure(database_url: str | None = None) -> Path:
        monkeypatch.setenv("TIETOTIE_STRATEGY", str(REPO / "strategy"))
        monkeypatch.setenv(
            "TIETOTIE_DATABASE_URL", database_url or f"sqlite:///{tmp_path / 'tietotie.db'}"
        )
        monkeypatch.setenv("TIETOTIE_VAR_DIR", str(tmp_path))
        monkeypatch.setenv("TIETOTIE_KEY_FILE", str(tmp_path / "master.key"))
        get_settings.cache_clear()
        return tmp_path

    yield configure
    get_settings.cache_clear()
