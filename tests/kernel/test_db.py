"""Engines: an unreachable database is a clear error; statement errors stay as they are."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from kernel.db import DatabaseError, make_engine, reachable


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
