"""Concurrent appenders extend one audit chain: no failure, no gap, no duplicate, no fork."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from audit import AuditEntry, AuditEvent, AuditLog
from audit.tables import audit_metadata
from kernel.db import session_factory, transaction
from records.migrations import upgrade
from tests.support import ROOT, backend_database

KEY = b"k" * 32
THREADS, APPENDS = 16, 20
PROCESSES, PROCESS_APPENDS = 2, 150
WAIT = 120  # seconds any one thread or process may take before the test fails


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A database of its own holding a fresh audit log, created by the migration path."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with backend_database(request.param, tmp_path, url, prefix="tt_audit") as engine:
        upgrade(engine, audit_metadata())
        yield engine


def _check_chain(engine: Engine, expected: Counter[str]) -> None:
    """Every expected event is in the log exactly once, numbered 1…n, and the chain verifies."""
    with Session(engine) as session:
        seqs = list(session.execute(select(AuditEntry.seq).order_by(AuditEntry.seq)).scalars())
        actors = Counter(
            dict(
                session.execute(
                    select(AuditEntry.actor, func.count()).group_by(AuditEntry.actor)
                ).all()
            )
        )
        result = AuditLog(KEY).verify(session)
    total = sum(expected.values())
    assert seqs == list(range(1, total + 1))
    assert actors == expected
    assert result.ok, result.breaks
    assert result.entries == result.head_seq == total


def test_threads_appending_at_once_all_succeed_in_one_unbroken_chain(fresh_log: Engine) -> None:
    """Sixteen threads appending twenty entries each, each in its own transaction, all land."""
    log, factory = AuditLog(KEY), session_factory(fresh_log)
    start = threading.Barrier(THREADS, timeout=WAIT)
    failures: list[BaseException] = []

    def appender(worker: int) -> None:
        try:
            start.wait()
            for i in range(APPENDS):
                with transaction(factory) as session:
                    log.append(
                        session,
                        AuditEvent(
                            actor=f"worker:{worker}", action="test.append", details={"i": i}
                        ),
                    )
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=appender, args=(w,)) for w in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT)
    assert not any(t.is_alive() for t in threads), "an appender did not finish in time"
    assert failures == []
    _check_chain(fresh_log, Counter({f"worker:{w}": APPENDS for w in range(THREADS)}))


_APPENDER = """
import sys
from audit import AuditEvent, AuditLog
from kernel.db import make_engine, session_factory, transaction

url, schema, name, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
engine = make_engine(url, connect_args={"options": f"-csearch_path={schema}"})
factory, log = session_factory(engine), AuditLog(b"k" * 32)
with engine.connect():
    pass
print("ready", flush=True)
sys.stdin.readline()
for i in range(count):
    with transaction(factory) as session:
        log.append(session, AuditEvent(actor=name, action="test.append", details={"i": i}))
print("done", flush=True)
"""


@pytest.mark.postgres
def test_two_processes_appending_to_a_fresh_log_extend_one_chain(
    pg_url: str, tmp_path: Path
) -> None:
    """Two OS processes appending to a fresh PostgreSQL log at once both succeed, unforked."""
    with backend_database("postgres", tmp_path, pg_url, prefix="tt_audit") as engine:
        upgrade(engine, audit_metadata())
        with engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        processes = [
            subprocess.Popen(  # our own interpreter, running the script above
                [
                    sys.executable,
                    "-c",
                    _APPENDER,
                    pg_url,
                    schema,
                    f"process:{p}",
                    str(PROCESS_APPENDS),
                ],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for p in range(PROCESSES)
        ]
        try:
            for process in processes:
                assert process.stdout is not None
                assert process.stdout.readline().strip() == "ready"
            for process in processes:  # both are connected and waiting: start them together
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.flush()
            outcomes = [process.communicate(timeout=WAIT) for process in processes]
        finally:
            for process in processes:
                if process.poll() is None:
                    process.kill()
                    process.wait()
        for process, (out, err) in zip(processes, outcomes, strict=True):
            assert process.returncode == 0, err
            assert out.strip() == "done"
        _check_chain(engine, Counter({f"process:{p}": PROCESS_APPENDS for p in range(PROCESSES)}))
