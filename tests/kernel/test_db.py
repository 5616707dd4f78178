"""Engines: an unreachable database is a clear error; statement errors stay as they are;
concurrent SQLite writers wait for each other."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from kernel.db import (
    SQLITE_BUSY_TIMEOUT_MS,
    DatabaseError,
    make_engine,
    reachable,
    session_factory,
    transaction,
)


def test_an_unreachable_server_is_a_database_error_that_hides_the_password() -> None:
    """Port 9 refuses connections: the error names the URL without its password."""
    engine = make_engine(
        "postgresql://tietotie:hunter2@127.0.0.1:9/none", connect_args={"connect_timeout": 2}
    )
    with pytest.raises(DatabaseError) as caught, reachable(engine), engine.connect():
        pass
    message = caught.value.message
    assert "postgresql+psycopg://tietotie:***@127.0.0.1:9/none" in message
    assert "hunter2" not in message and "TIETOTIE_DATABASE_URL" in message
    assert caught.value.status == 503


def test_a_failing_statement_on_a_working_connection_is_not_rewritten(tmp_path: Path) -> None:
    """A bad query is the caller's error, raised unchanged."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(OperationalError), reachable(engine), engine.connect() as connection:
        connection.execute(text("SELECT * FROM no_such_table"))
    engine.dispose()


def test_a_url_that_is_not_one_is_refused_with_an_example() -> None:
    with pytest.raises(DatabaseError, match=r"sqlite:///var/tietotie\.db"):
        make_engine("not a url")


def test_every_sqlite_connection_waits_for_the_write_lock(tmp_path: Path) -> None:
    """A connection of a SQLite engine waits the busy timeout rather than failing at once."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()


def test_concurrent_sqlite_transactions_that_read_then_write_all_commit(tmp_path: Path) -> None:
    """Eight threads each committing 25 read-then-write transactions: none is refused."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, seen INTEGER)")
    factory = session_factory(engine)
    start = threading.Barrier(8, timeout=60)
    failures: list[BaseException] = []

    def writer() -> None:
        try:
            start.wait()
            for _ in range(25):
                with transaction(factory) as session:
                    seen = session.execute(text("SELECT count(*) FROM t")).scalar_one()
                    session.execute(text("INSERT INTO t (seen) VALUES (:s)"), {"s": seen})
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    with engine.connect() as connection:
        assert connection.exec_driver_sql("SELECT count(*) FROM t").scalar() == 200
    engine.dispose()


@pytest.mark.postgres
def test_postgres_sessions_run_without_jit_and_still_commit(pg_url: str) -> None:
    """Every connection of a PostgreSQL engine has JIT compilation off (the audience query
    spent a third of its time compiling), and it is an ordinary session: writes commit."""
    engine = make_engine(pg_url, pool_size=1, max_overflow=0)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
            assert conn.execute(text("SELECT 1")).scalar_one() == 1
        engine.dispose()  # a new connection gets it too
        with engine.begin() as conn:
            assert conn.execute(text("SHOW jit")).scalar_one() == "off"
            conn.execute(text("CREATE TEMP TABLE t_jit (n int)"))
            conn.execute(text("INSERT INTO t_jit VALUES (1)"))
            assert conn.execute(text("SELECT count(*) FROM t_jit")).scalar_one() == 1
    finally:
        engine.dispose()
