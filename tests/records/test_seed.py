"""Demo seeding: synthetic customers that the strategy would accept, repeatable, in chunks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from kernel.db import session_factory
from kernel.errors import ValidationFailed
from records.seed import seed
from records.store import RecordStore, read_subject
from tests.conftest import ServiceEnv
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
    assert result.rows == {e: _count(engine, store, e) for e in store.tables.order()}
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
    service_env()
    result = CliRunner().invoke(get_app(), ["demo", "seed", "--customers", "30"])
    assert result.exit_code == 0, result.output
    assert "seeded 30 customer" in result.output


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
