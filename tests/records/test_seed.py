"""Demo seeding: synthetic customers that the strategy would accept, repeatable, in chunks,
with consent histories recorded by the consent service's rules."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from access_policy import compile_policy
from activation.audiences import audience
from consent.current import CURRENT, latest_events
from consent.receipts import ReceiptFacts, build_claims, decode_claims, verify_receipt
from consent.service import derive_status
from consent.tables import ConsentEventRow
from dsar.tables import database_metadata
from kernel.db import session_factory
from kernel.errors import RecordError, ValidationFailed
from records.migrations import upgrade
from records.seed import seed
from records.seed_consents import EVIDENCE
from records.store import FieldCrypto, RecordStore, read_subject
from tests.conftest import ServiceEnv
from tests.records.support import bundled
from tests.support import backend_database
from tietotie.cli import get_app


def _count(engine: Engine, store: RecordStore, entity: str) -> int:
    with engine.connect() as conn:
        table = store.tables.table(entity)
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _subjects(engine: Engine, store: RecordStore) -> list[dict[str, Any]]:
    """Every subject as read back through the store (decrypted), ids and stamps left out."""
    subject = store.tables.subject_table
    out = []
    with session_factory(engine)() as session:
        for sid in session.scalars(select(subject.c.id)):
            records = read_subject(session, store, sid)
            out.append(
                {
                    entity: sorted(sorted((k, str(v)) for k, v in r.values.items()) for r in recs)
                    for entity, recs in records.items()
                }
            )
    return sorted(out, key=repr)


def test_seeded_records_are_ones_the_strategy_accepts(store: RecordStore, engine: Engine) -> None:
    """Every seeded record of every entity passes its runtime model, required fields included,
    and each child belongs to a stored subject."""
    result = seed(session_factory(engine), store, customers=40, chunk=15)
    assert result.customers == 40 and _count(engine, store, store.subject_entity) == 40
    entities = {e: _count(engine, store, e) for e in store.tables.order()}
    assert result.rows == {**entities, "consent_event": len(_events(engine))}
    subject = store.tables.subject_table
    with session_factory(engine)() as session:
        for sid in session.scalars(select(subject.c.id)):
            for entity, records in read_subject(session, store, sid).items():
                checked = store.models.validate_many(entity, [r.values for r in records])
                bad = [c for c in checked if isinstance(c, ValidationFailed)]
                assert bad == [], (entity, bad[:1])
                assert all(r.subject_id == sid for r in records)
    assert _count(engine, store, "vehicle") >= 40  # every customer has a car


def test_the_same_seed_value_gives_the_same_customers_whatever_the_chunk(
    store: RecordStore, engine: Engine
) -> None:
    """Chunks of 7 or of 25,000 write the same values (record ids aside) for the same moment."""
    then = datetime(2026, 11, 1, 9, tzinfo=UTC)
    seed(session_factory(engine), store, customers=20, chunk=7, seed_value=3, now=then)
    small = _subjects(engine, store)
    with engine.begin() as conn:
        for entity in reversed(store.tables.order()):
            conn.execute(store.tables.table(entity).delete())
    seed(session_factory(engine), store, customers=20, seed_value=3, now=then)
    assert _subjects(engine, store) == small


def test_plates_are_stored_encrypted_and_read_back_in_clear(
    store: RecordStore, engine: Engine
) -> None:
    """vehicle.plate is `protect: encrypt`: ciphertext in the table, the plate when read."""
    seed(session_factory(engine), store, customers=5)
    vehicle = store.tables.table("vehicle")
    with session_factory(engine)() as session:
        stored, sid = session.execute(select(vehicle.c.plate, vehicle.c.subject_id)).first() or (
            None,
            None,
        )
        assert isinstance(stored, bytes | memoryview)
        plate = read_subject(session, store, str(sid))["vehicle"][0].values["plate"]
    assert plate.encode() not in bytes(stored)
    assert "-" in plate  # a Finnish plate, ABC-123


def test_the_demo_seed_command_says_what_it_wrote(service_env: ServiceEnv) -> None:
    """`demo seed` counts the customers and the consent events it wrote."""
    service_env()
    result = CliRunner().invoke(get_app(), ["demo", "seed", "--customers", "30"])
    assert result.exit_code == 0, result.output
    assert "seeded 30 customer" in result.output and " consent_event" in result.output


def test_seeding_again_continues_the_numbering_so_no_identifier_repeats(
    service_env: ServiceEnv,
) -> None:
    """Two `demo seed` runs with the same seed hold 2 x 25 customers, every email and phone
    number once (a repeated one would make a data-subject request find two people)."""
    from tietotie.app import open_services
    from tietotie.settings import get_settings

    service_env()
    first = CliRunner().invoke(get_app(), ["demo", "seed", "--customers", "25"])
    again = CliRunner().invoke(get_app(), ["demo", "seed", "--customers", "25"])
    assert first.exit_code == again.exit_code == 0, again.output
    assert "numbering continues" in again.output
    services = open_services(get_settings())
    customer = services.store.tables.subject_table
    with services.engine.connect() as conn:
        emails = [e for e in conn.scalars(select(customer.c.email)) if e is not None]
        phones = list(conn.scalars(select(customer.c.phone)))  # required: every customer
    services.engine.dispose()
    assert len(phones) == 50 and len(set(phones)) == 50
    assert emails and len(set(emails)) == len(emails)


# ── consent histories ────────────────────────────────────────────────────────────────────────

THEN = datetime(2026, 11, 1, 9, tzinfo=UTC)


def _events(engine: Engine) -> list[ConsentEventRow]:
    with session_factory(engine)() as session:
        rows = session.scalars(select(ConsentEventRow).order_by(ConsentEventRow.seq)).all()
        session.expunge_all()
    return list(rows)


def test_the_november_campaign_reaches_some_but_not_all_of_its_matched_customers(
    store: RecordStore, engine: Engine
) -> None:
    """After seeding 500 customers the README's campaign reaches a plausible share: its
    consent check lets more than none and fewer than all the matched customers through."""
    seed(session_factory(engine), store, customers=500)
    with session_factory(engine)() as session:
        run = audience(
            session,
            store,
            compile_policy(store.strategy),
            "november-tyre-campaign",
            role="marketing",
        )
    counts = run.counts
    assert counts.matched > 50
    assert 0 < counts.final < counts.matched
    assert counts.excluded["no_consent"] > 0 and counts.excluded["expired"] > 0


def test_seeded_histories_are_ones_the_consent_rules_allow(
    store: RecordStore, engine: Engine
) -> None:
    """Consent is given, refused and withdrawn, only through a source that can capture it and
    with its notice; a withdrawal follows a consent; some consents have lapsed by now; the
    special-category use is given only by customers holding that data."""
    result = seed(session_factory(engine), store, customers=300, now=THEN)
    events = _events(engine)
    assert result.rows["consent_event"] == len(events) > 300 // 2
    index = store.strategy.index
    assert Counter(e.state for e in events).keys() == {"given", "refused", "withdrawn"}
    for e in events:
        source = index.sources[e.source]
        assert e.use in source.consent_for and e.notice == source.notice
        assert e.evidence == EVIDENCE and e.recorded_by == source.collected_by
        assert e.event_time <= THEN
    by_pair: dict[tuple[str, str], list[ConsentEventRow]] = {}
    for e in events:
        by_pair.setdefault((e.subject_id, e.use), []).append(e)
    with session_factory(engine)() as session:  # each pair's latest event, kept as seeded
        latest, event = latest_events(None, None)
        kept = (CURRENT.c.use, CURRENT.c.subject_id, CURRENT.c.seq)
        held = {tuple(r) for r in session.execute(select(*kept))}
        derived = session.execute(latest.add_columns(event.use, event.subject_id, event.seq))
        assert held == {tuple(r) for r in derived} and len(held) == len(by_pair)
    states = Counter(derive_status(u, evs, at=THEN).state for (_, u), evs in by_pair.items())
    assert {"given", "expired", "refused", "withdrawn"} <= {str(s) for s in states}
    for evs in by_pair.values():
        ordered = [e.state for e in sorted(evs, key=lambda e: e.event_time)]
        for i, state in enumerate(ordered):
            assert state != "withdrawn" or "given" in ordered[:i], ordered
    with session_factory(engine)() as session:
        holders = {
            sid
            for sid, need in session.execute(
                select(
                    store.tables.subject_table.c.id, store.tables.subject_table.c.accessibility_need
                )
            )
            if need is not None
        }
    special = {e.subject_id for e in events if e.use == "accessibility-service"}
    assert special == holders


def test_every_seeded_receipt_is_the_one_the_consent_service_would_sign(
    store: RecordStore, engine: Engine, crypto: FieldCrypto
) -> None:
    """Each event's receipt verifies under the keyring and holds exactly the claims the
    service's build_claims makes from the stored event, bulk-written ones included."""
    seed(session_factory(engine), store, customers=60, now=THEN)
    keyring = crypto.pseudonymiser.keyring
    events = _events(engine)
    assert len(events) > 30
    for e in events:
        check = verify_receipt(e.receipt, keyring=keyring)
        assert check.valid, check.reason
        facts = ReceiptFacts(
            record_id=e.id,
            subject_id=e.subject_id,
            use=e.use,
            state=e.state,
            event_time=e.event_time,
            expires_at=e.expires_at,
            source=e.source,
            channel=e.channel,
            notice=e.notice,
            language=e.language,
            jurisdiction=e.jurisdiction,
            method=e.method,
            withdrawal_method=e.withdrawal_method,
            evidence=e.evidence,
        )
        claims = decode_claims(e.receipt)
        assert claims == build_claims(store.strategy, facts, public_key=claims["publicKey"])
        valid_for = store.strategy.index.uses[e.use].consent_valid_for
        assert (e.expires_at is not None) == (e.state == "given" and valid_for is not None)


def _histories(engine: Engine, store: RecordStore) -> dict[str, list[tuple[str, str, str, str]]]:
    """Each customer's consent statements, keyed by their phone number (ids are random)."""
    customer = store.tables.subject_table
    with session_factory(engine)() as session:
        phones = {i: p for i, p in session.execute(select(customer.c.id, customer.c.phone))}
    out: dict[str, list[tuple[str, str, str, str]]] = {}
    for e in _events(engine):
        out.setdefault(str(phones[e.subject_id]), []).append(
            (e.use, e.state, e.source, e.event_time.isoformat())
        )
    return {k: sorted(v) for k, v in out.items()}


def test_the_same_seed_value_gives_the_same_consent_histories_whatever_the_chunk(
    crypto: FieldCrypto, tmp_path: Path
) -> None:
    """Two fresh databases seeded with the same seed and moment, in chunks of 9 and of 25,000,
    hold the same statements for the same customers; another seed value gives others."""
    strategy = bundled()
    made = []
    for name, chunk, value in (("a", 9, 4), ("b", 25_000, 4), ("c", 25_000, 5)):
        with backend_database("sqlite", tmp_path, prefix=name) as engine:
            upgrade(engine, database_metadata(strategy))
            store = RecordStore(strategy, crypto=crypto)
            sessions = session_factory(engine)
            seed(sessions, store, customers=40, chunk=chunk, seed_value=value, now=THEN)
            made.append(_histories(engine, store))
    assert made[0] and made[0] == made[1]
    assert made[2] != made[0]


def test_seeding_consents_without_a_key_or_in_the_future_is_refused_clearly(
    store: RecordStore, engine: Engine
) -> None:
    """No keyring to sign receipts with, or a `now` after the present, is a RecordError naming
    the parameter and the way out; consents=False seeds the records alone."""
    keyless = RecordStore(store.strategy)
    with pytest.raises(RecordError, match="keys init") as no_key:
        seed(session_factory(engine), keyless, customers=1)
    assert no_key.value.context["parameter"] == "signer"
    later = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(RecordError, match="in the future") as future:
        seed(session_factory(engine), store, customers=1, now=later)
    assert future.value.context["parameter"] == "now"
    result = seed(session_factory(engine), store, customers=3, now=later, consents=False)
    assert "consent_event" not in result.rows and _events(engine) == []
