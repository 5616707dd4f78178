"""`db upgrade` applies additive strategy changes and refuses destructive ones unless told."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import BigInteger, Integer, delete, insert, inspect, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from consent.tables import ConsentEventRow
from dsar.requests.tables import Outbox
from dsar.tables import database_metadata
from records.migrations import DestructiveMigration, plan_upgrade, upgrade
from schemas import load_strategy
from tests.records.support import BUNDLED


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    target = tmp_path / "strategy"
    shutil.copytree(BUNDLED, target)
    system = target / "5-system.yaml"
    text = system.read_text(encoding="utf-8")
    assert old in text
    system.write_text(text.replace(old, new), encoding="utf-8")
    return target


def _metadata(path: Path):
    strategy = load_strategy(path).strategy
    assert strategy is not None
    return database_metadata(strategy)


def test_first_upgrade_creates_everything_and_a_second_finds_nothing(engine) -> None:
    """A fresh database is created by the same path, after which it matches."""
    plan = upgrade(engine, _metadata(BUNDLED))
    tables = set(inspect(engine).get_table_names())
    assert {"customer", "vehicle", "visit", "tyre_storage"} <= tables
    assert all(not s.destructive for s in plan.steps)
    assert plan_upgrade(engine, _metadata(BUNDLED)).empty


def test_a_new_field_is_added_as_a_column(engine, tmp_path) -> None:
    """Adding a field to the strategy adds its column."""
    upgrade(engine, _metadata(BUNDLED))
    changed = _variant(
        tmp_path,
        "city: {label: Postitoimipaikka, type: string, category: location}",
        "city: {label: Postitoimipaikka, type: string, category: location}\n"
        "        country: {type: country, category: location}",
    )
    plan = upgrade(engine, _metadata(changed))
    assert [(s.kind, s.table) for s in plan.steps] == [("add column", "customer")]
    assert "country" in {c["name"] for c in inspect(engine).get_columns("customer")}


def test_dropping_a_field_is_refused_unless_allowed(engine, tmp_path) -> None:
    """Removing a field would lose its column: refused with the list, applied when allowed."""
    upgrade(engine, _metadata(BUNDLED))
    changed = _variant(
        tmp_path, "        city: {label: Postitoimipaikka, type: string, category: location}\n", ""
    )
    with pytest.raises(DestructiveMigration) as caught:
        upgrade(engine, _metadata(changed))
    assert caught.value.context["steps"][0]["kind"] == "drop column"
    assert "city" in {c["name"] for c in inspect(engine).get_columns("customer")}
    upgrade(engine, _metadata(changed), allow_destructive=True)
    assert "city" not in {c["name"] for c in inspect(engine).get_columns("customer")}


_WIDENED = [
    ("audit_log", "seq"),
    ("audit_head", "seq"),
    ("dsar_request_events", "seq"),
    ("dsar_outbox", "id"),
]
"""The sequence columns that were 32-bit before they became 64-bit."""


def _before_64_bits():
    """The bundled schema as it was: 32-bit sequences, no seeded head row, no ledger triggers."""
    metadata = _metadata(BUNDLED)
    for table, column in _WIDENED:
        metadata.tables[table].c[column].type = Integer()
    for table in metadata.tables.values():
        table.info.pop("seed_rows", None)
        table.info.pop("triggers", None)
    return metadata


def _outbox_row(**values):
    return {"at": datetime.now(UTC), "to": "a@b.fi", "subject": "s", "body": "b", **values}


def _next_outbox_id_from(conn, start: int) -> None:
    """Make the outbox's next automatic id ``start``, each backend its own way."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('dsar_outbox', 'id'), :v, false)"),
            {"v": start},
        )
    elif conn.dialect.name == "sqlite":
        conn.execute(insert(Outbox), _outbox_row(id=start - 1))
    else:
        conn.execute(text(f"ALTER TABLE dsar_outbox AUTO_INCREMENT = {start}"))


def test_an_older_database_gets_64_bit_sequences_its_head_row_and_its_guard(engine) -> None:
    """Upgrading a database of 32-bit sequences widens them in place, keeping rows and
    auto-increment, and adds the audit head row and the ledger's triggers: all additive."""
    upgrade(engine, _before_64_bits())
    with engine.begin() as conn:
        conn.execute(insert(Outbox), _outbox_row())
    plan = upgrade(engine, _metadata(BUNDLED))
    assert not plan.destructive
    kinds = {(s.kind, s.table) for s in plan.steps}
    assert ("insert row", "audit_head") in kinds
    widened = {(t, c) for t, c in _WIDENED if ("alter column", t) in kinds}
    if engine.dialect.name == "sqlite":  # INTEGER is 64-bit there already: nothing to copy
        assert widened == set()
        assert ("create trigger", "consent_event") in kinds
    else:
        assert widened == set(_WIDENED)
        columns = {
            t: {c["name"]: c["type"] for c in inspect(engine).get_columns(t)} for t, _ in _WIDENED
        }
        assert all(isinstance(columns[t][c], BigInteger) for t, c in _WIDENED)
    assert plan_upgrade(engine, _metadata(BUNDLED)).empty
    with engine.begin() as conn:
        _next_outbox_id_from(conn, 2**31 + 5)
        conn.execute(insert(Outbox), _outbox_row())
        ids = list(conn.execute(select(Outbox.id).order_by(Outbox.id)).scalars())
    assert ids[0] == 1 and ids[-1] == 2**31 + 5
    with Session(engine) as session:
        log = AuditLog(b"k" * 32)
        log.append(session, AuditEvent(actor="system", action="test"))
        assert log.flush(session) == 1
        session.commit()
        assert log.entries(session, after=2**31) == []
        assert log.verify(session).ok


def _consent_row() -> dict:
    now = datetime.now(UTC)
    return {
        "id": "e1",
        "subject_id": "s1",
        "use": "seasonal-reminders",
        "state": "given",
        "event_time": now,
        "recorded_at": now,
        "expires_at": None,
        "controller_name": "c",
        "controller_id": None,
        "notice": "n",
        "language": "fi",
        "jurisdiction": "FI",
        "source": "booking-form",
        "channel": "web_form",
        "method": "web_form",
        "withdrawal_method": "w",
        "recorded_by": "subject",
        "evidence": {},
        "key_version": 1,
        "receipt": "r",
    }


def test_the_migration_installs_the_ledgers_append_only_guard(engine) -> None:
    """After `db upgrade` alone, the database itself refuses to rewrite a consent event."""
    upgrade(engine, _metadata(BUNDLED))
    with engine.begin() as conn:
        conn.execute(insert(ConsentEventRow), _consent_row())
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(update(ConsentEventRow).values(state="withdrawn"))
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
        conn.execute(delete(ConsentEventRow))


def test_two_upgrades_at_once_on_a_fresh_database_take_turns(engine) -> None:
    """Two processes' worth of upgrades started together: both succeed, one does the work."""
    start = threading.Barrier(2, timeout=60)
    plans: list = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            plans.append(upgrade(engine, _metadata(BUNDLED)))
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == []
    assert sorted(plan.empty for plan in plans) == [False, True]
    assert plan_upgrade(engine, _metadata(BUNDLED)).empty
