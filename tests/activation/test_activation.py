"""Campaign audiences on SQLite and PostgreSQL: where, consent, restriction, objection, caps."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from access_policy import compile_policy
from activation.audiences import AudienceRun, audience, contact_log, record_send
from activation.exports import OutputFormat, format_for, write_file
from audit import AuditLog
from audit.tables import AuditEntry
from consent.receipts import ReceiptSigner
from consent.service import record_consent
from kernel.db import transaction
from kernel.errors import NotFound, PolicyError, RecordError
from records.restrictions import FlagKind, raise_flag
from records.store import FieldCrypto, RecordStore, ingest

pytestmark = pytest.mark.activation

NOW = datetime.now(UTC).replace(microsecond=0)
RECENT = (NOW - timedelta(days=40)).isoformat()
LONG_AGO = (NOW - timedelta(days=3 * 365)).isoformat()
CAMPAIGN = "november-tyre-campaign"
_SERIAL = itertools.count(1)


@dataclass
class World:
    """The database, the store and what a service wires around it."""

    engine: Engine
    store: RecordStore
    signer: ReceiptSigner
    audit: AuditLog

    def session(self) -> Any:
        return transaction(self.engine)

    def run(self, activation: str = CAMPAIGN, **kwargs: Any) -> AudienceRun:
        kwargs.setdefault("role", "marketing")
        with self.session() as session:
            return audience(
                session,
                self.store,
                compile_policy(self.store.strategy),
                activation,
                audit=self.audit,
                **kwargs,
            )

    def ids(self, activation: str = CAMPAIGN, **kwargs: Any) -> set[str]:
        kwargs.setdefault("role", "marketing")
        with self.session() as session:
            run = audience(
                session, self.store, compile_policy(self.store.strategy), activation, **kwargs
            )
            return {row["subject_id"] for row in run.rows(session)}


@pytest.fixture
def world(engine: Engine, store: RecordStore, crypto: FieldCrypto) -> Iterator[World]:
    keyring = crypto.pseudonymiser.keyring
    yield World(
        engine, store, ReceiptSigner(keyring), AuditLog(keyring.derive("audit-log", version=1))
    )


def customer(
    world: World,
    email: str,
    *,
    tyre: str | None = "summer",
    visited: str | None = RECENT,
    branch: str = "espoo",
    name: str = "Anna Aalto",
    storage: list[dict[str, Any]] | None = None,
    channel: str | None = None,
) -> str:
    """A customer with one vehicle (``tyre``), one visit (``visited``) and stored tyre sets."""
    n = next(_SERIAL)
    with world.session() as session:
        sid = ingest(
            session,
            world.store,
            "customer",
            source="service-desk",
            values={
                "name": name,
                "email": email,
                "phone": f"040{n:07d}",
                "branch": branch,
                "street_address": "Kivitie 3",
                **({} if channel is None else {"preferred_channel": channel}),
            },
        ).subject_id
        if tyre is not None:
            ingest(
                session,
                world.store,
                "vehicle",
                source="service-desk",
                subject={"id": sid},
                values={"plate": f"ABC-{n}", "tyre_type": tyre},
            )
        if visited is not None:
            ingest(
                session,
                world.store,
                "visit",
                source="service-desk",
                subject={"id": sid},
                values={"visited_at": visited, "service_type": "tyre_change"},
            )
        for values in storage or []:
            ingest(
                session,
                world.store,
                "tyre_storage",
                source="workshop-inspection",
                subject={"id": sid},
                values=values,
            )
    return sid


def consent(world: World, sid: str, state: str = "given", *, at: datetime | None = None) -> None:
    with world.session() as session:
        record_consent(
            session,
            world.store.strategy,
            signer=world.signer,
            subject_id=sid,
            use="seasonal-reminders",
            state=state,
            source="booking-form",
            notice="privacy-notice-2026-01",
            at=at or NOW - timedelta(days=60),
        )


def flag(world: World, sid: str, kind: FlagKind, scope: str = "all") -> None:
    with world.session() as session:
        raise_flag(session, sid, kind=kind, scope=scope, reason="test")


def test_the_campaign_reaches_only_consenting_summer_tyre_customers_seen_in_two_years(
    world: World,
) -> None:
    """where (summer tyres, a visit within P2Y) and a current consent decide who is reached."""
    reached = customer(world, "reached@example.fi")
    consent(world, reached)
    customer(world, "silent@example.fi")  # no consent at all
    expired = customer(world, "expired@example.fi")
    consent(world, expired, at=NOW - timedelta(days=800))
    winter = customer(world, "winter@example.fi", tyre="winter")
    consent(world, winter)
    lapsed = customer(world, "lapsed@example.fi", visited=LONG_AGO)
    consent(world, lapsed)

    run = world.run()
    assert run.counts.matched == 3
    assert run.counts.excluded["no_consent"] == 1
    assert run.counts.excluded["expired"] == 1
    assert run.counts.final == 1
    assert world.ids() == {reached}


def test_restricted_and_objecting_customers_are_excluded_for_the_first_reason(
    world: World,
) -> None:
    """A restriction outranks an objection; an objection outranks a valid consent."""
    both = customer(world, "both@example.fi")
    objector = customer(world, "objector@example.fi")
    kept = customer(world, "kept@example.fi")
    for sid in (both, objector, kept):
        consent(world, sid)
    flag(world, both, FlagKind.RESTRICTION)
    flag(world, both, FlagKind.OBJECTION, "direct_marketing")
    flag(world, objector, FlagKind.OBJECTION, "direct_marketing")

    run = world.run()
    assert (run.counts.matched, run.counts.final) == (3, 1)
    assert run.counts.excluded == {
        "restricted": 1,
        "objected": 1,
        "no_consent": 0,
        "expired": 0,
        "capped": 0,
    }
    assert world.ids() == {kept}


def test_a_withdrawal_removes_the_customer_from_the_next_audience(world: World) -> None:
    """Consent withdrawn after one run: the next run no longer reaches the customer."""
    sid = customer(world, "anna@example.fi")
    consent(world, sid)
    assert world.ids() == {sid}
    consent(world, sid, "withdrawn", at=NOW - timedelta(days=1))
    assert world.ids() == set()
    assert world.run().counts.excluded["no_consent"] == 1


def test_the_frequency_cap_holds_across_runs_through_the_contact_log(world: World) -> None:
    """Two logged sends in 30 days cap the customer; once they age out, the customer is back."""
    sid = customer(world, "anna@example.fi")
    consent(world, sid)
    first = world.run(at=NOW - timedelta(days=2), record_sends=True)
    second = world.run(at=NOW - timedelta(days=1), record_sends=True)
    assert (first.sends_recorded, second.sends_recorded) == (1, 1)
    third = world.run(at=NOW)
    assert third.counts.excluded["capped"] == 1 and third.counts.final == 0
    assert world.ids(at=NOW) == set()
    # 30 days after the first send only the second one is inside the window.
    assert world.ids(at=NOW + timedelta(days=27)) == set()
    assert world.ids(at=NOW + timedelta(days=28, hours=1)) == {sid}


def test_a_run_does_not_cap_the_rows_it_records_itself(world: World) -> None:
    """With max 1 per 30 days, the rows of the run that logs the send are still the audience."""
    sid = customer(world, "anna@example.fi", storage=[{"season": "winter", "tread_depth_mm": "3"}])
    with world.session() as session:
        run = audience(
            session,
            world.store,
            compile_policy(world.store.strategy),
            "worn-tyre-notice",
            role="service-advisor",
            record_sends=True,
        )
        assert [r["subject_id"] for r in run.rows(session)] == [sid]
    assert world.ids("worn-tyre-notice", role="service-advisor") == set()


def test_the_counts_the_export_and_the_sends_are_one_decision(world: World) -> None:
    """A consent withdrawn after the run decided does not change what that run exports: the
    run holds its final ids. Its recorded sends are the same ids; the next run sees the
    withdrawal."""
    reached = [customer(world, f"r{n}@example.fi") for n in range(3)]
    for sid in reached:
        consent(world, sid)
    policy = compile_policy(world.store.strategy)
    with world.session() as session:
        run = audience(session, world.store, policy, CAMPAIGN, role="marketing")
        consent(world, reached[0], "withdrawn", at=NOW - timedelta(days=1))  # another session
        exported = [r["subject_id"] for r in run.rows(session)]
    assert run.counts.final == len(exported) == 3
    assert exported == run.subject_ids == sorted(reached)
    with world.session() as session:
        later = audience(
            session, world.store, policy, CAMPAIGN, role="marketing", record_sends=True
        )
        logged = set(session.scalars(select(contact_log.c.subject_id)))
    assert later.counts.final == later.sends_recorded == 2
    assert logged == set(later.subject_ids) == set(reached[1:])


def test_record_send_logs_each_subject_once_per_call(world: World) -> None:
    """A bulk insert of the contact log: duplicates in the input count once."""
    activation = world.store.strategy.index.activations[CAMPAIGN]
    with world.session() as session:
        written = record_send(session, activation, ["a" * 32, "b" * 32, "a" * 32], at=NOW)
    with world.session() as session:
        rows = session.execute(select(contact_log.c.subject_id, contact_log.c.channel)).all()
    assert written == 2
    assert sorted(rows) == [("a" * 32, "email"), ("b" * 32, "email")]


def test_the_export_holds_only_what_the_role_may_read_with_masked_fields_masked(
    world: World,
) -> None:
    """marketing reads the email in clear and the name only as initials; no address at all."""
    sid = customer(world, "anna@example.fi", name="Anna Aalto")
    consent(world, sid)
    with world.session() as session:
        run = audience(
            session, world.store, compile_policy(world.store.strategy), CAMPAIGN, role="marketing"
        )
        rows = list(run.rows(session))
    assert run.columns[0] == "subject_id"
    assert set(run.columns) == {
        "subject_id",
        "name",
        "email",
        "phone",
        "branch",
        "preferred_channel",
        "language",
    }
    assert run.masked == ["name"]
    assert rows[0]["name"] == "A. A." and rows[0]["email"] == "anna@example.fi"
    assert "street_address" not in rows[0] and "accessibility_need" not in rows[0]


def test_a_role_that_does_not_hold_the_use_is_refused(world: World) -> None:
    """A mechanic holds no seasonal-reminders grant: no audience, whatever the data."""
    with pytest.raises(PolicyError, match="seasonal-reminders"):
        world.run(role="mechanic")


def test_an_undeclared_activation_is_not_found(world: World) -> None:
    with pytest.raises(NotFound, match="november-tyre-campaign"):
        world.run("black-friday")


def test_a_contract_activation_needs_no_consent_and_tests_one_stored_set(world: World) -> None:
    """worn-tyre-notice: winter AND under 4 mm on the same stored set; restriction still binds."""
    worn = customer(
        world, "worn@example.fi", storage=[{"season": "winter", "tread_depth_mm": "3.5"}]
    )
    customer(world, "fine@example.fi", storage=[{"season": "winter", "tread_depth_mm": "6"}])
    restricted = customer(
        world, "restricted@example.fi", storage=[{"season": "winter", "tread_depth_mm": "2"}]
    )
    flag(world, restricted, FlagKind.RESTRICTION)
    run = world.run("worn-tyre-notice", role="service-advisor")
    assert (run.counts.matched, run.counts.final) == (2, 1)
    assert run.counts.excluded["restricted"] == 1 and run.counts.excluded["no_consent"] == 0
    assert world.ids("worn-tyre-notice", role="service-advisor") == {worn}


def test_a_condition_on_the_customer_itself_is_answered_from_its_own_index(
    world: World,
) -> None:
    """spring-tyre-reminder: winter tyres, SMS preferred, a visit after 2024-09-01. On SQLite
    the customer condition seeks the (preferred_channel, subject_id) index and reads no row."""
    sms = customer(world, "sms@example.fi", tyre="winter", channel="sms")
    customer(world, "mail@example.fi", tyre="winter", channel="email")
    customer(world, "summer@example.fi", tyre="summer", channel="sms")
    consent(world, sms)
    statements: list[tuple[str, Any]] = []

    def seen(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        statements.append((sql, params))

    event.listen(world.engine, "before_cursor_execute", seen)
    try:
        run = world.run("spring-tyre-reminder")
    finally:
        event.remove(world.engine, "before_cursor_execute", seen)
    assert (run.counts.matched, run.counts.final) == (1, 1)
    assert world.ids("spring-tyre-reminder") == {sms}
    if world.engine.dialect.name == "sqlite":
        sql, params = next((q, p) for q, p in statements if "FROM customer" in q and "vehicle" in q)
        with world.engine.connect() as connection:
            plan = [r[-1] for r in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)]
        assert "SEARCH customer USING COVERING INDEX ix_customer_by_preferred_channel" in " ".join(
            plan
        ), plan
        # EXISTS (SELECT 1 …): the vehicle condition is answered from its index alone
        assert "USING COVERING INDEX ix_vehicle_cond_tyre_type" in " ".join(plan), plan


def test_the_role_row_filter_narrows_the_audience(world: World) -> None:
    """The Espoo mechanic's grant for tyre-hotel sees Espoo customers only."""
    espoo = customer(
        world, "espoo@example.fi", storage=[{"season": "winter", "tread_depth_mm": "3"}]
    )
    customer(
        world,
        "vantaa@example.fi",
        branch="vantaa",
        storage=[{"season": "winter", "tread_depth_mm": "3"}],
    )
    assert world.ids("worn-tyre-notice", role="mechanic") == {espoo}
    assert len(world.ids("worn-tyre-notice", role="service-advisor")) == 2


def test_each_run_is_one_audit_entry_with_counts_and_no_personal_data(world: World) -> None:
    sid = customer(world, "anna@example.fi")
    consent(world, sid)
    world.run()
    with world.session() as session:
        entries = session.execute(select(AuditEntry)).scalars().all()
    assert [e.action for e in entries] == ["activation.audience"]
    details = json.loads(entries[0].details)
    assert details["matched"] == 1 and details["final"] == 1
    assert details["excluded_no_consent"] == 0
    assert "anna@example.fi" not in entries[0].details and sid not in entries[0].details
    assert entries[0].subject_id is None


def test_audiences_write_as_csv_and_json_lines(world: World, tmp_path: Path) -> None:
    sid = customer(world, "anna@example.fi")
    consent(world, sid)
    for name in ("aud.csv", "aud.jsonl"):
        path = tmp_path / name
        with world.session() as session:
            run = audience(
                session,
                world.store,
                compile_policy(world.store.strategy),
                CAMPAIGN,
                role="marketing",
            )
            assert write_file(run.rows(session), run.columns, path, format_for(path)) == 1
        if name.endswith(".csv"):
            rows = list(csv.DictReader(path.read_text("utf-8").splitlines()))
        else:
            rows = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
        assert rows[0]["subject_id"] == sid and rows[0]["email"] == "anna@example.fi"
        assert rows[0]["name"] == "A. A."


def test_a_file_name_without_a_known_suffix_is_refused() -> None:
    with pytest.raises(RecordError, match=r"\.csv, \.jsonl or \.parquet"):
        format_for(Path("audience.xlsx"))
    assert format_for(Path("x.txt"), "jsonl") is OutputFormat.JSONL


def test_a_naive_moment_is_refused(world: World) -> None:
    with pytest.raises(RecordError, match="time zone"):
        world.run(at=datetime(2026, 11, 1))


def test_counts_are_computed_by_the_database_for_many_subjects(world: World) -> None:
    """Matched, excluded and final add up over a few hundred subjects (bulk path)."""
    strategy = world.store.strategy
    with world.session() as session:
        ids = []
        for n in range(120):
            sid = ingest(
                session,
                world.store,
                "customer",
                source="service-desk",
                values={
                    "name": "Asiakas",
                    "email": f"c{n}@example.fi",
                    "phone": f"0401{n:06d}",
                    "branch": "espoo",
                },
            ).subject_id
            ingest(
                session,
                world.store,
                "vehicle",
                source="service-desk",
                subject={"id": sid},
                values={"plate": f"XYZ-{n}", "tyre_type": "summer" if n % 2 else "winter"},
            )
            ingest(
                session,
                world.store,
                "visit",
                source="service-desk",
                subject={"id": sid},
                values={"visited_at": RECENT, "service_type": "tyre_change"},
            )
            ids.append(sid)
        for n, sid in enumerate(ids):
            if n % 3:
                record_consent(
                    session,
                    strategy,
                    signer=world.signer,
                    subject_id=sid,
                    use="seasonal-reminders",
                    state="given",
                    source="booking-form",
                    at=NOW - timedelta(days=5),
                )
    run = world.run()
    summer = [sid for n, sid in enumerate(ids) if n % 2]
    lawful = [sid for n, sid in enumerate(ids) if n % 2 and n % 3]
    assert run.counts.matched == len(summer)
    assert run.counts.final == len(lawful)
    assert run.counts.matched == run.counts.final + sum(run.counts.excluded.values())
    assert world.ids() == set(lawful)
    with world.session() as session:
        assert session.scalar(select(func.count()).select_from(contact_log)) == 0
