"""consent_current: every pair's latest event, kept as events are recorded, equal to the ledger."""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, literal, select, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from consent.checks import (
    check_many,
    consent_standing,
    current_answers,
    latest_standing,
    lawful_subjects,
)
from consent.current import CURRENT, latest_events, rebuild, refresh
from consent.receipts import ReceiptSigner
from consent.service import record_consent
from dsar.tables import database_metadata
from records.migrations import plan_upgrade, upgrade
from tests.conftest import ServiceEnv
from tests.consent.support import minimal, say
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.settings import get_settings

pytestmark = pytest.mark.consent
runner = CliRunner()

T0 = datetime(2025, 3, 1, tzinfo=UTC)
SUBJECTS = [f"{n:032x}" for n in range(1, 9)]
KEPT = ("use", "subject_id", "event_time", "seq", "state", "expires_at")


def _held(session: Session) -> set[tuple[Any, ...]]:
    return {tuple(r) for r in session.execute(select(*(CURRENT.c[n] for n in KEPT)))}


def _derived(session: Session) -> set[tuple[Any, ...]]:
    """Every pair's latest event, by the anti-join over the ledger's whole history."""
    latest, event = latest_events(None, None)
    return {tuple(r) for r in session.execute(latest.add_columns(*(event[n] for n in KEPT)))}


def _story(session: Session, signer: ReceiptSigner) -> None:
    """Events out of time order, backdated ones, equal times, an expiry: the cases that order."""
    say(session, signer, SUBJECTS[0], "given", T0)
    say(session, signer, SUBJECTS[1], "given", T0 + timedelta(days=5))
    say(session, signer, SUBJECTS[1], "withdrawn", T0)  # older: the given stays current
    say(session, signer, SUBJECTS[2], "given", T0)
    say(session, signer, SUBJECTS[2], "refused", T0)  # same time, recorded later: it wins
    say(session, signer, SUBJECTS[3], "given", T0 - timedelta(days=800))  # expired by now
    say(session, signer, SUBJECTS[4], "refused", T0)
    say(session, signer, SUBJECTS[4], "given", T0 + timedelta(days=1))


def test_recorded_events_keep_every_pair_at_its_latest_event(
    ledger: Engine, signer: ReceiptSigner
) -> None:
    with Session(ledger) as s, s.begin():
        _story(s, signer)
        held = _held(s)
        assert held == _derived(s)
        states = {subject: state for _, subject, _, _, state, _ in held}
    assert states == {
        SUBJECTS[0]: "given",
        SUBJECTS[1]: "given",
        SUBJECTS[2]: "refused",
        SUBJECTS[3]: "given",
        SUBJECTS[4]: "given",
    }


def test_the_readers_answer_alike_from_the_current_table_and_the_ledger(
    ledger: Engine, signer: ReceiptSigner
) -> None:
    now = T0 + timedelta(days=30)
    with Session(ledger) as s, s.begin():
        _story(s, signer)
        assert current_answers(s, "reminders", at=now)
        for current in (False, True):
            lawful = set(s.scalars(lawful_subjects("reminders", at=now, current=current)))
            assert lawful == {SUBJECTS[0], SUBJECTS[1], SUBJECTS[4]}
            latest = latest_standing("reminders", at=now, current=current)
            standings = dict(s.execute(select(latest.c.subject_id, latest.c.standing)).all())
            assert standings == {
                SUBJECTS[0]: "given",
                SUBJECTS[1]: "given",
                SUBJECTS[2]: "refused",
                SUBJECTS[3]: "expired",
                SUBJECTS[4]: "given",
            }
            for subject, standing in [*standings.items(), (SUBJECTS[7], None)]:
                one = consent_standing("reminders", literal(subject), at=now, current=current)
                assert s.scalar(select(one)) == standing


def test_a_moment_before_the_newest_event_is_answered_from_the_ledger(
    ledger: Engine, signer: ReceiptSigner
) -> None:
    """At T0 + 2 days subject 1's given (day 5) has not happened and their withdrawal (day 0)
    stands; the current table says given, so it must not be asked."""
    before = T0 + timedelta(days=2)
    with Session(ledger) as s, s.begin():
        _story(s, signer)
        assert not current_answers(s, "reminders", at=before)
        assert SUBJECTS[1] not in check_many(s, minimal(), "reminders", SUBJECTS, at=before)
        assert SUBJECTS[1] in check_many(s, minimal(), "reminders", SUBJECTS)


def test_an_empty_use_is_asked_of_the_ledger(ledger: Engine) -> None:
    with Session(ledger) as s:
        assert not current_answers(s, "reminders")


def test_rebuild_and_refresh_recompute_from_the_ledger(
    ledger: Engine, signer: ReceiptSigner
) -> None:
    with Session(ledger) as s, s.begin():
        _story(s, signer)
        expected = _held(s)
        s.execute(CURRENT.delete())
        told: list[int] = []
        assert rebuild(s.connection(), told.append) == len(expected)
        assert told == [len(expected)]
        assert _held(s) == expected
        s.execute(CURRENT.delete().where(CURRENT.c.subject_id.in_(SUBJECTS[:2])))
        assert refresh(s.connection(), ["reminders"], SUBJECTS[:2] * 2) == 2
        assert _held(s) == expected


def test_concurrent_statements_of_one_pair_leave_the_latest_current(
    ledger: Engine, signer: ReceiptSigner
) -> None:
    """Eight threads record twenty statements each about the same two pairs, at random times,
    some equal: every commit order leaves the current table equal to the ledger's answer."""
    times = [T0 + timedelta(hours=h) for h in range(6)]
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            start.wait()
            for _ in range(20):
                with Session(ledger) as s, s.begin():
                    subject = rng.choice(SUBJECTS[:2])
                    state = rng.choice(["given", "refused", "withdrawn"])
                    say(s, signer, subject, state, rng.choice(times))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(ledger) as s:
        held = _held(s)
        assert len(held) == 2
        assert held == _derived(s)


def test_db_upgrade_fills_the_current_table_of_an_earlier_database(
    backend_engine: Engine, signer: ReceiptSigner
) -> None:
    """A database written before consent_current existed: the upgrade plans the table and its
    fill, and afterwards holds every pair's latest event; a second upgrade has nothing to do."""
    metadata = database_metadata(minimal())
    upgrade(backend_engine, metadata)
    with Session(backend_engine) as s, s.begin():
        _story(s, signer)
        expected = _held(s)
    with backend_engine.begin() as conn:  # what an earlier version left: the ledger alone
        conn.execute(text("DROP TABLE consent_current"))
        conn.execute(text("DELETE FROM tietotie_data_steps WHERE step = 'consent-current'"))
        conn.execute(text("DELETE FROM tietotie_managed_tables WHERE name = 'consent_current'"))
    steps = {(s.kind, s.table) for s in plan_upgrade(backend_engine, metadata).steps}
    assert {("create table", "consent_current"), ("fill table", "consent_current")} <= steps
    told: list[tuple[str, int]] = []
    upgrade(backend_engine, metadata, progress=lambda table, rows: told.append((table, rows)))
    assert told == [("consent_current", len(expected))]
    with Session(backend_engine) as s:
        assert _held(s) == expected == _derived(s)
    assert plan_upgrade(backend_engine, metadata).empty


def test_check_current_reports_drift_and_rebuild_mends_it(service_env: ServiceEnv) -> None:
    """`tietotie consent check-current`: 0 while the table agrees; after a stray write to it, 1
    with the counts; `--rebuild` recomputes it from the ledger and the check passes again."""
    service_env()
    services = open_services(get_settings())
    with services.sessions() as session:
        for subject in SUBJECTS[:3]:
            record_consent(
                session,
                services.store.strategy,
                signer=services.signer,
                subject_id=subject,
                use="seasonal-reminders",
                state="given",
                source="booking-form",
            )
        session.commit()
    agreed = runner.invoke(get_app(), ["consent", "check-current"])
    assert agreed.exit_code == 0, agreed.output
    assert "agrees with the ledger: 3 pairs" in agreed.output
    with services.engine.begin() as conn:
        conn.execute(CURRENT.update().where(CURRENT.c.subject_id == SUBJECTS[0]).values(seq=0))
        conn.execute(CURRENT.delete().where(CURRENT.c.subject_id == SUBJECTS[1]))
        row = {"use": "seasonal-reminders", "subject_id": SUBJECTS[7], "seq": 1, "state": "given"}
        conn.execute(CURRENT.insert().values(**row, event_time=T0))
    broken = runner.invoke(get_app(), ["consent", "check-current"])
    assert broken.exit_code == 1, broken.output
    assert "1 missing, 1 stale, 1 extra" in broken.output
    mended = runner.invoke(get_app(), ["consent", "check-current", "--rebuild"])
    assert mended.exit_code == 0, mended.output
    assert "rebuilt consent_current from the ledger: 3 pairs" in mended.output
    services.engine.dispose()
