"""Engines, sessions and transactions for the system of record; nothing is created at import.

``make_engine(url)`` understands any SQLAlchemy URL. SQLite (the default,
``sqlite:///var/tietotie.db``) gets its directory created, WAL journaling, enforced foreign
keys and a busy timeout; PostgreSQL URLs without a driver use psycopg 3, and its sessions run
without JIT compilation; MySQL/MariaDB URLs use PyMySQL. ``transaction(factory)`` is the one
way writes happen: commit on success, roll back on any exception.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

from sqlalchemy import ColumnElement, Engine, create_engine, delete, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from kernel.errors import TietotieError
from kernel.files import describe_os_error, private_sqlite_file

__all__ = [
    "DEFAULT_URL",
    "SQLITE_BUSY_TIMEOUT_MS",
    "DatabaseError",
    "make_engine",
    "purge",
    "reachable",
    "session_factory",
    "transaction",
]

DEFAULT_URL: Final = "sqlite:///var/tietotie.db"
"""The system of record when TIETOTIE_DATABASE_URL is not set."""
SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
"""How long a SQLite writer waits for another's transaction to end before giving up."""

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
    """Per connection: wait for the write lock rather than fail, WAL, foreign keys.

    Concurrent writers on one SQLite file queue instead of failing with "database is locked":
    the driver (pysqlite's default transaction handling) opens a transaction only at a
    transaction's first write, and that statement waits up to the busy timeout for the write
    lock; reads before it see the latest commit, and from it on the transaction holds the lock,
    so no transaction ever tries to write on top of a stale snapshot (which SQLite refuses at
    once, whatever the timeout). Code that must read and then write consistently (the audit
    log's head) writes first. The busy timeout is set first, so even switching a new file to
    WAL waits for a connection opened at the same moment.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def make_engine(url: str = DEFAULT_URL, **kwargs: Any) -> Engine:
    """An engine for ``url``; see the module docstring for what each backend gets.

    A SQLite file is created mode 0600 (its new directories 0700) before the first connect,
    and an existing one that others can read is tightened to 0600 with a warning.
    """
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
            # SQLite would create the file (and later its -wal/-shm) with the umask's mode,
            # usually 0644: names and emails readable by every local user. Create it 0600
            # first; SQLite gives its sidecar files the database file's mode.
            path = Path(database).expanduser()
            try:
                private_sqlite_file(path)
            except OSError as exc:
                raise DatabaseError(
                    f"cannot keep the SQLite database {path} readable by its owner only: "
                    f"{describe_os_error(exc)}. Fix its permissions or point "
                    "TIETOTIE_DATABASE_URL at a file of your own.",
                    file=str(path),
                ) from None
        engine = create_engine(parsed, **kwargs)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    if backend in {"mysql", "mariadb"}:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    engine = create_engine(parsed, **kwargs)
    if backend == "postgresql":
        event.listen(engine, "connect", _postgres_session)
    return engine


def _postgres_session(dbapi_connection: Any, _record: Any) -> None:
    """Per connection: no JIT compilation of queries.

    PostgreSQL compiles a query whose estimated cost passes ``jit_above_cost`` to machine code
    before running it. The audience query over a million subjects spent 1.85 s of its 5.7 s
    compiling (``EXPLAIN ANALYZE``, 144 functions), more than compiled code ever saved it, and
    the service's other queries are short. The setting is the session's own, so a database
    shared with other applications keeps its configuration.
    """
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET jit = off")
    finally:
        cursor.close()
    dbapi_connection.commit()


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


def purge(
    session: Session, table: Any, where: ColumnElement[bool], *, dry_run: bool = False
) -> int:
    """Delete the rows of ``table`` (a Table or a mapped class) that ``where`` selects, in the
    caller's transaction; how many were deleted, or with ``dry_run`` how many would be."""
    if dry_run:
        return int(session.scalar(select(func.count()).select_from(table).where(where)) or 0)
    gone = session.execute(delete(table).where(where).execution_options(synchronize_session=False))
    return int(getattr(gone, "rowcount", 0) or 0)
