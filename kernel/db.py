"""Engines, sessions and transactions for the system of record; nothing is created at import.

``make_engine(url)`` understands any SQLAlchemy URL. SQLite (the default,
``sqlite:///var/tietotie.db``) gets its directory created, WAL journaling, enforced foreign
keys and a busy timeout; PostgreSQL URLs without a driver use psycopg 3 and MySQL/MariaDB URLs
use PyMySQL. ``transaction(factory)`` is the one way writes happen: commit on success, roll
back on any exception.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from kernel.errors import TietotieError

__all__ = [
    "DEFAULT_URL",
    "DatabaseError",
    "make_engine",
    "reachable",
    "session_factory",
    "transaction",
]

DEFAULT_URL: Final = "sqlite:///var/tietotie.db"
"""The system of record when TIETOTIE_DATABASE_URL is not set."""

_DRIVERS: Final = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "mysql": "mysql+pymysql",
    "mariadb": "mariadb+pymysql",
}


class DatabaseError(TietotieError):
    """The database URL is unusable or the database cannot be reached."""

    code = "database_error"
    status = 503


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA busy_timeout = 10000")
    finally:
        cursor.close()


def make_engine(url: str = DEFAULT_URL, **kwargs: Any) -> Engine:
    """An engine for ``url``; see the module docstring for what each backend gets."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseError(
            f"{url!r} is not a database URL: write e.g. sqlite:///var/tietotie.db or "
            "postgresql+psycopg://user@host/db (TIETOTIE_DATABASE_URL)"
        ) from None
    if parsed.drivername in _DRIVERS:
        parsed = parsed.set(drivername=_DRIVERS[parsed.drivername])
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if backend in {"mysql", "mariadb"}:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return create_engine(parsed, **kwargs)


@contextlib.contextmanager
def reachable(engine: Engine) -> Iterator[None]:
    """Turn a database that cannot be connected to into a :class:`DatabaseError` naming it.

    Wrap the first use of an engine: a refused connection, an unknown host or a bad password
    then reads "cannot connect to postgresql+psycopg://root@…/test: …" instead of a driver
    traceback. Errors of statements on a working connection pass through unchanged.
    """
    try:
        yield
    except DBAPIError as exc:
        if not exc.connection_invalidated and exc.statement is not None:
            raise
        shown = engine.url.render_as_string(hide_password=True)
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseError(
            f"cannot connect to the database {shown}: {reason}. Check TIETOTIE_DATABASE_URL "
            "and that the server is running.",
            url=shown,
        ) from None


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions bound to ``engine``; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextlib.contextmanager
def transaction(factory: sessionmaker[Session] | Engine) -> Iterator[Session]:
    """A session inside one transaction: committed when the block ends, rolled back on error."""
    maker = factory if isinstance(factory, sessionmaker) else session_factory(factory)
    with maker() as session, session.begin():
        yield session
