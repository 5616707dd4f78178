"""The audit log notices any edited, removed, reordered or cut-off entry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine, delete, text, update
from sqlalchemy.orm import Session

from audit import AuditBase, AuditEntry, AuditEvent, AuditLog

KEY = b"k" * 32


def _engine(url: str):
    engine = create_engine(url)
    AuditBase.metadata.drop_all(engine)
    AuditBase.metadata.create_all(engine)
    return engine


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
def session(request: pytest.FixtureRequest, tmp_path) -> Iterator[Session]:
    """A session on each real database the log must work on."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'audit.db'}"
    else:
        url = request.getfixturevalue("pg_url" if request.param == "postgres" else "mariadb_url")
    engine = _engine(url)
    with Session(engine) as s:
        yield s
    if request.param != "sqlite":
        AuditBase.metadata.drop_all(engine)
    engine.dispose()


def _fill(session: Session, log: AuditLog, n: int = 5) -> None:
    for i in range(n):
        log.append(
            session,
            AuditEvent(
                actor="role:owner",
                action="dsar.opened",
                subject_id=f"s{i}",
                details={"type": "access", "n": i},
            ),
        )
    session.commit()


def test_an_untouched_log_verifies(session: Session) -> None:
    """A log written only through append verifies with every entry counted."""
    log = AuditLog(KEY)
    _fill(session, log)
    result = log.verify(session)
    assert result.ok and result.entries == 5 and result.head_seq == 5


def test_an_edited_entry_is_detected(session: Session) -> None:
    """Changing what an entry says breaks its hash."""
    log = AuditLog(KEY)
    _fill(session, log)
    session.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(action="dsar.completed"))
    session.commit()
    result = log.verify(session)
    assert [(b.seq, "edited" in b.problem) for b in result.breaks] == [(3, True)]


def test_a_removed_entry_is_detected(session: Session) -> None:
    """Deleting an entry from the middle breaks the sequence and the link."""
    log = AuditLog(KEY)
    _fill(session, log)
    session.execute(delete(AuditEntry).where(AuditEntry.seq == 2))
    session.commit()
    problems = {b.problem for b in log.verify(session).breaks}
    assert any("removed" in p for p in problems)


def test_reordered_entries_are_detected(session: Session) -> None:
    """Swapping two entries' places breaks the chain even though each entry is intact."""
    log = AuditLog(KEY)
    _fill(session, log)
    session.execute(update(AuditEntry).where(AuditEntry.seq == 2).values(seq=100))
    session.execute(update(AuditEntry).where(AuditEntry.seq == 4).values(seq=2))
    session.execute(update(AuditEntry).where(AuditEntry.seq == 100).values(seq=4))
    session.commit()
    assert not log.verify(session).ok


def test_entries_cut_off_the_end_are_detected(session: Session) -> None:
    """Removing the newest entries leaves a chain that no longer reaches the head."""
    log = AuditLog(KEY)
    _fill(session, log)
    session.execute(delete(AuditEntry).where(AuditEntry.seq >= 4))
    session.commit()
    (problem,) = log.verify(session).breaks
    assert "cut off the end" in problem.problem


def test_a_forger_without_the_key_cannot_rebuild_the_chain(session: Session) -> None:
    """Recomputing hashes with another key does not verify under the real one."""
    _fill(session, AuditLog(b"x" * 32))
    assert not AuditLog(KEY).verify(session).ok


def test_details_hold_ids_and_counts_never_records(session: Session) -> None:
    """A nested record in the details is refused, so personal data cannot slip in whole."""
    with pytest.raises(ValueError, match="scalar"):
        AuditLog(KEY).append(
            session, AuditEvent(actor="system", action="x", details={"record": {"email": "a@b.fi"}})
        )


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(n=st.integers(2, 12), data=st.data())
def test_tampering_with_any_row_is_detected(tmp_path, n: int, data: st.DataObject) -> None:
    """Whichever row is changed, and whichever column, verification fails."""
    engine = _engine(f"sqlite:///{tmp_path / 'fuzz.db'}")
    log = AuditLog(KEY)
    with Session(engine) as s:
        _fill(s, log, n)
        seq = data.draw(st.integers(1, n))
        column = data.draw(
            st.sampled_from(
                [
                    "at",
                    "actor",
                    "action",
                    "subject_id",
                    "request_id",
                    "details",
                    "prev_hash",
                    "hash",
                ]
            )
        )
        s.execute(
            text(f"UPDATE audit_log SET {column} = 'tampered' WHERE seq = :seq"), {"seq": seq}
        )
        s.commit()
        assert not log.verify(s).ok
    engine.dispose()
