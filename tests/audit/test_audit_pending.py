"""A transaction's audit entries are written at its commit, together, and lock the head then."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from audit import AuditEntry, AuditEvent, AuditLog
from audit.tables import audit_metadata
from kernel.db import session_factory, transaction
from records.migrations import upgrade
from tests.support import backend_database

KEY = b"k" * 32


_SERVERS = [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("mariadb", marks=pytest.mark.mariadb),
]


@pytest.fixture(params=["sqlite", *_SERVERS])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh audit log on each database, created by the migration path."""
    url = None
    if request.param != "sqlite":
        url = request.getfixturevalue("pg_url" if request.param == "postgres" else "mariadb_url")
    with backend_database(request.param, tmp_path, url, prefix="tt_pending") as db:
        upgrade(db, audit_metadata())
        yield db


def _event(n: int, actor: str = "system") -> AuditEvent:
    return AuditEvent(actor=actor, action="test.pending", details={"n": n})


def _count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def test_entries_are_written_at_commit_in_the_order_appended(engine: Engine) -> None:
    """Nothing is in the table before the commit; after it, the entries are 1..n in order."""
    log = AuditLog(KEY)
    with transaction(session_factory(engine)) as session:
        for n in range(3):
            log.append(session, _event(n))
        assert _count(engine) == 0
    with Session(engine) as session:
        rows = session.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars().all()
        assert [r.seq for r in rows] == [1, 2, 3]
        assert [r.details for r in rows] == ['{"n":0}', '{"n":1}', '{"n":2}']
        assert log.verify(session).ok


def test_a_rolled_back_transaction_leaves_no_entry_and_no_gap(engine: Engine) -> None:
    """Rolled back, closed without commit, or failed: its entries are gone, the next is seq 1."""
    log, factory = AuditLog(KEY), session_factory(engine)
    with pytest.raises(RuntimeError), transaction(factory) as session:
        log.append(session, _event(0))
        raise RuntimeError("the work failed")
    with factory() as session:
        log.append(session, _event(1))  # closed without commit
    with factory() as session:
        log.append(session, _event(2))
        session.rollback()
        log.append(session, _event(3))
        session.commit()
    with Session(engine) as session:
        rows = session.execute(select(AuditEntry.seq, AuditEntry.details)).all()
        assert rows == [(1, '{"n":3}')]
        assert log.verify(session).ok


def test_a_transaction_reads_its_own_pending_entries(engine: Engine) -> None:
    """``entries`` and ``verify`` in the same transaction see what it appended; ``flush``
    names the last sequence number."""
    log = AuditLog(KEY)
    with transaction(session_factory(engine)) as session:
        log.append(session, _event(0))
        assert [e.seq for e in log.entries(session)] == [1]
        log.append(session, _event(1))
        assert log.flush(session) == 2
        assert log.flush(session) is None
        assert log.verify(session).entries == 2


@pytest.fixture(params=_SERVERS)
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh audit log on each database server (SQLite has one writer at a time, whatever
    the log does)."""
    url = request.getfixturevalue("pg_url" if request.param == "postgres" else "mariadb_url")
    with backend_database(request.param, tmp_path, url, prefix="tt_pending") as db:
        upgrade(db, audit_metadata())
        yield db


def test_an_open_transaction_that_has_audited_does_not_hold_up_others(server: Engine) -> None:
    """The head is locked at commit, not at append: while one transaction holds an appended
    entry open, another appends and commits at once (a lock wait would fail it: lock_timeout)."""
    engine = server
    log, factory = AuditLog(KEY), session_factory(engine)
    slow = factory()
    try:
        slow.begin()
        log.append(slow, _event(0, actor="slow"))
        slow.execute(text("SELECT 1"))  # the transaction is open on the server
        with transaction(factory) as quick:
            if engine.dialect.name == "postgresql":
                quick.execute(text("SET LOCAL lock_timeout = '2s'"))
            else:
                quick.execute(text("SET SESSION innodb_lock_wait_timeout = 2"))
            log.append(quick, _event(1, actor="quick"))
        slow.commit()
    finally:
        slow.close()
    with Session(engine) as session:
        actors = session.execute(select(AuditEntry.actor).order_by(AuditEntry.seq)).scalars()
        assert list(actors) == ["quick", "slow"]
        assert log.verify(session).ok
