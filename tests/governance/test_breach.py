"""The breach register works out what a breach touched, from the declarations and the system of
record, counted in SQL on every backend; it keeps every breach and audits every change."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from audit import AuditLog
from dsar.tables import database_metadata
from governance.breach import (
    get_breach,
    list_breaches,
    notify,
    open_breach,
    parse_bound,
    parse_time,
    update_breach,
)
from governance.breach_assessment import Scope, exposure, parse_scopes
from governance.breach_drafts import authority_draft, breach_json, subjects_draft
from governance.breach_models import BreachKind, Recipient, Risk, ScopeKind, SupervisoryAuthority
from governance.errors import BreachError, BreachNotFound
from kernel.db import transaction
from records.migrations import upgrade
from records.store import RecordStore, ingest
from schemas import Strategy, load_strategy
from tests.records import support as records
from tests.support import backend_database

ROOT = Path(__file__).resolve().parents[2]
B2B = ROOT / "tests" / "examples" / "b2b-wholesaler"
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
AUTHORITY = SupervisoryAuthority(
    name="Tietosuojavaltuutetun toimisto",
    address="PL 800, 00531 Helsinki",
    email="tietosuoja@om.fi",
    url="https://tietosuoja.fi",
)
ACTOR = "person:Mikko Lehtinen (role:auditor)"
AUDIT = AuditLog(b"breach-register-test-key-32bytes")

# a database per backend, keys, and the bundled strategy's store: the records tests' fixtures
engine, crypto, store = records.engine, records.crypto, records.store
SQLITE_ONLY = pytest.mark.parametrize("engine", ["sqlite"], indirect=True)
"""For what does not depend on the backend: the counting tests run on every one."""


def _hold(session, store: RecordStore) -> dict[str, str]:
    """Three customers, each with a car: Anna booked online and told us her accessibility
    need; Pekka booked by phone in January and later gave his email on the web form;
    Liisa came to the desk in February and has a visit."""
    january, february = datetime(2026, 1, 15, tzinfo=UTC), datetime(2026, 2, 15, tzinfo=UTC)
    anna = ingest(
        session,
        store,
        "customer",
        source="booking-form",
        values={
            "name": "Anna Virtanen",
            "email": "anna@example.fi",
            "phone": "0401000001",
            "branch": "espoo",
            "accessibility_need": "pyörätuoli",
        },
        now=datetime(2025, 11, 1, tzinfo=UTC),
    ).subject_id
    pekka = ingest(
        session,
        store,
        "customer",
        source="phone-booking",
        values={"name": "Pekka Laine", "phone": "0401000002", "branch": "vantaa"},
        now=january,
    ).subject_id
    ingest(  # merges into Pekka by phone: the web form added his email
        session,
        store,
        "customer",
        source="booking-form",
        values={"name": "Pekka Laine", "phone": "0401000002", "email": "pekka@example.fi"},
        now=february,
    )
    liisa = ingest(
        session,
        store,
        "customer",
        source="service-desk",
        values={"name": "Liisa Koski", "phone": "0401000003", "branch": "espoo"},
        now=february,
    ).subject_id
    for sid, plate, when in ((anna, "ABC-1", january), (pekka, "ABC-2", january)):
        ingest(
            session,
            store,
            "vehicle",
            source="phone-booking",
            subject={"id": sid},
            values={"plate": plate, "tyre_type": "summer"},
            now=when,
        )
    ingest(
        session,
        store,
        "vehicle",
        source="service-desk",
        subject={"id": liisa},
        values={"plate": "ABC-3", "make": "Volvo"},
        now=february,
    )
    ingest(
        session,
        store,
        "visit",
        source="service-desk",
        subject={"id": liisa},
        values={
            "visited_at": "2026-02-15T10:00:00+02:00",
            "service_type": "tyre_change",
            "amount_eur": "89",
        },
        now=february,
    )
    return {"anna": anna, "pekka": pekka, "liisa": liisa}


def _open(session, store: RecordStore, *scope: str, **kwargs):
    kwargs.setdefault("kind", BreachKind.CONFIDENTIALITY)
    kwargs.setdefault("now", NOW)
    return open_breach(
        session,
        store,
        what="Test breach",
        scope=list(scope),
        authority=AUTHORITY,
        actor=ACTOR,
        audit=AUDIT,
        **kwargs,
    )


# ── what a breach touched ────────────────────────────────────────────────────────────────────


def test_a_breach_of_encrypted_fields_only_needs_no_notification(store, engine) -> None:
    """Plates and the health note are held only encrypted: with the keys safe the breach is
    unlikely to be a risk, nobody need be told (Art. 34(3)(a)), and it is still counted."""
    with transaction(engine) as session:
        _hold(session, store)
        record = _open(session, store, "field:vehicle.plate", "field:customer.accessibility_need")
    found = record.assessment
    assert found.encrypted_fields == ["customer.accessibility_need", "vehicle.plate"]
    assert found.exposed_fields == [] and found.exposed_subjects == 0
    assert found.special_categories == ["health"]
    assert (found.subjects, found.records) == (3, 4)  # 3 cars and Anna's customer row
    assert found.records_by_entity == {"customer": 1, "vehicle": 3}
    assert record.risk is Risk.UNLIKELY
    assert [r.code for r in found.reasons] == ["all_encrypted"]
    assert not record.must_notify_authority and not record.must_tell_subjects
    assert record.status_at(NOW) == "registered only"


@SQLITE_ONLY
def test_encrypted_fields_count_as_exposed_when_the_keys_leaked_too(store, engine) -> None:
    """With --keys-compromised the health note is readable: a high risk, the subjects told."""
    with transaction(engine) as session:
        _hold(session, store)
        record = _open(session, store, "field:customer.accessibility_need", keys_compromised=True)
    assert record.assessment.exposed_fields == ["customer.accessibility_need"]
    assert record.risk is Risk.HIGH and record.must_tell_subjects
    assert record.assessment.exposed_subjects == 1
    assert {r.code for r in record.assessment.reasons} == {"special_category", "keys_compromised"}


@SQLITE_ONLY
def test_an_integrity_breach_is_not_softened_by_encryption(store, engine) -> None:
    """Encryption keeps data secret, not intact: altered health notes are a high risk."""
    with transaction(engine) as session:
        _hold(session, store)
        record = _open(session, store, "field:customer.accessibility_need", kind="integrity")
    assert record.assessment.encrypted_fields == []
    assert record.risk is Risk.HIGH


def test_a_breach_at_a_processor_outside_the_eea_names_the_transfer(store, engine) -> None:
    """The SMS gateway is in the US under standard contractual clauses: the register says so,
    and the plates it receives count as exposed, because it holds them in clear."""
    with transaction(engine) as session:
        _hold(session, store)
        record = _open(session, store, "processor:sms-gateway")
    found = record.assessment
    (gateway,) = found.processors
    assert (gateway.id, gateway.country, gateway.outside_eea) == ("sms-gateway", "US", True)
    assert gateway.transfer_safeguard == "standard_contractual_clauses"
    assert found.outside_eea == [gateway]
    assert "vehicle.plate" in found.exposed_fields and found.encrypted_fields == []
    assert "customer.accessibility_need" not in found.fields  # no use sends it there
    codes = [r.code for r in found.reasons]
    assert codes[0] == "personal_data_exposed"
    assert "outside_eea" in codes and "held_in_clear_outside" in codes
    assert record.risk is Risk.RISK
    assert record.must_notify_authority and not record.must_tell_subjects
    assert found.uses == ["service-history", "tyre-hotel", "seasonal-reminders"]
    assert (found.subjects, found.records_by_entity["visit"]) == (3, 1)


@SQLITE_ONLY
def test_a_processor_inside_the_eea_is_not_a_transfer(store, engine) -> None:
    """The mailer is in Ireland: no transfer to report."""
    with transaction(engine) as session:
        _hold(session, store)
        record = _open(session, store, "processor:mailer")
    assert [p.outside_eea for p in record.assessment.processors] == [False]
    assert "outside_eea" not in [r.code for r in record.assessment.reasons]


def test_a_special_category_typed_in_at_the_web_form_is_a_high_risk(store, engine) -> None:
    """The booking form collects the accessibility need in clear: a leak there is a high risk,
    and the source's rows include values it added to someone else's row (Pekka's email)."""
    with transaction(engine) as session:
        held = _hold(session, store)
        record = _open(session, store, "source:booking-form")
    found = record.assessment
    assert found.special_categories == ["health"] and "customer.accessibility_need" in (
        found.exposed_fields
    )
    assert record.risk is Risk.HIGH and record.must_tell_subjects
    assert found.reasons[0].code == "special_category"
    assert found.records_by_entity["customer"] == 2  # Anna's row, and Pekka's by provenance
    assert found.subjects == 2 and held  # Liisa came to the desk


def test_the_period_keeps_the_records_collected_in_it(store, engine) -> None:
    """--since/--until count only the rows collected in the period: February is Liisa's."""
    with transaction(engine) as session:
        _hold(session, store)
        record = _open(
            session,
            store,
            "entity:customer",
            "entity:vehicle",
            "entity:visit",
            since=parse_bound("2026-02-01", name="since", end=False),
            until=parse_bound("2026-02-28", name="until", end=True),
        )
    found = record.assessment
    assert found.records_by_entity == {"customer": 1, "vehicle": 1, "visit": 1}
    assert (found.subjects, found.records) == (1, 3)


@SQLITE_ONLY
def test_nobody_touched_in_the_period_is_unlikely_to_be_a_risk(store, engine) -> None:
    """A period with no record in it touched nobody's data."""
    with transaction(engine) as session:
        _hold(session, store)
        record = _open(
            session,
            store,
            "entity:customer",
            since=datetime(2026, 3, 1, tzinfo=UTC),
        )
    assert record.assessment.subjects == 0
    assert record.risk is Risk.UNLIKELY
    assert record.assessment.reasons[0].code == "nothing_held"
    assert "in the period given" in record.assessment.reasons[0].text


def test_an_identifier_of_the_subjects_in_clear_is_a_high_risk() -> None:
    """A personal identity code on the subject entity, disclosed in clear, enables identity
    theft; a business id on an organisation is not the person's own identifier."""
    loaded = load_strategy(ROOT / "strategy").strategy
    assert loaded is not None
    data = loaded.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    fields = data["system"]["entities"]["customer"]["fields"]
    fields["personal_code"] = {"type": "string", "category": "identifier"}
    data["uses"][0]["fields"].append("customer.personal_code")
    changed = Strategy.model_validate(data)
    risk, reasons = exposure(changed, [Scope(ScopeKind.FIELD, "customer.personal_code")]).verdict(
        changed
    )
    assert risk is Risk.HIGH and reasons[0].code == "identifier_in_clear"
    b2b = load_strategy(B2B).strategy
    assert b2b is not None
    risk, _ = exposure(b2b, parse_scopes(["field:organisation.business_id"], b2b)).verdict(b2b)
    assert risk is Risk.RISK


# ── bad input ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("scope", "says"),
    [
        ("mailer", "write KIND:TARGET"),
        ("processr:mailer", "write KIND:TARGET"),
        ("processor:", "write KIND:TARGET"),
        ("processor:postman", "declares no processor 'postman'; it declares accountant, mailer"),
        ("source:kiosk", "4-sources.yaml declares no source 'kiosk'"),
        ("entity:car", "5-system.yaml declares no entity 'car'"),
        ("field:customer.emal", "entity customer has no field 'emal'"),
        ("field:car.plate", "declares no entity 'car'"),
    ],
)
def test_a_scope_not_in_the_strategy_is_refused_naming_what_is(scope: str, says: str) -> None:
    """Each refusal names the scope and what the strategy declares instead."""
    loaded = load_strategy(ROOT / "strategy").strategy
    assert loaded is not None
    with pytest.raises(BreachError) as caught:
        parse_scopes([scope], loaded)
    assert says in caught.value.message and caught.value.context["field"] == "scope"


def test_times_need_a_zone_and_a_time_of_day() -> None:
    """A discovery time must not depend on where it is read; dates bound periods in UTC days."""
    assert parse_time("2026-03-02T09:15+02:00", name="--discovered-at") == datetime(
        2026, 3, 2, 7, 15, tzinfo=UTC
    )
    assert parse_time("2026-03-02T07:15Z", name="x").hour == 7
    for text, says in (
        ("2026-03-02T09:15", "no time zone"),
        ("2026-03-02", "no time of day"),
        ("yesterday", "is not a date and time"),
    ):
        with pytest.raises(BreachError, match=says) as caught:
            parse_time(text, name="--discovered-at")
        assert "--discovered-at" in caught.value.message
    assert parse_bound("2026-02-28", name="--until", end=True) == datetime(2026, 3, 1, tzinfo=UTC)


@SQLITE_ONLY
def test_a_future_discovery_a_reversed_period_or_no_description_is_refused(store, engine) -> None:
    """Each names its parameter."""
    with transaction(engine) as session:
        for kwargs, field in (
            ({"discovered_at": NOW + timedelta(hours=1)}, "discovered_at"),
            ({"since": NOW, "until": NOW - timedelta(days=1)}, "until"),
            ({"kind": "leak"}, "kind"),
        ):
            with pytest.raises(BreachError) as caught:
                _open(session, store, "entity:customer", **kwargs)
            assert caught.value.context["field"] == field
        with pytest.raises(BreachError, match="what is empty"):
            open_breach(
                session,
                store,
                what="  ",
                kind="integrity",
                scope=["entity:visit"],
                authority=AUTHORITY,
                actor=ACTOR,
                audit=AUDIT,
            )
        with pytest.raises(BreachNotFound, match="no breach 99"):
            get_breach(session, 99)


# ── the register ─────────────────────────────────────────────────────────────────────────────


def test_the_register_keeps_updates_notifications_and_the_audit_trail(store, engine) -> None:
    """A late first notification needs its reasons; a reassessed risk is kept beside the
    computed one; every step is audited and the chain verifies."""
    with transaction(engine) as session:
        _hold(session, store)
        discovered = NOW - timedelta(days=4)
        record = _open(session, store, "entity:visit", discovered_at=discovered)
        assert record.authority_due_at == discovered + timedelta(hours=72)
        assert record.status_at(NOW) == "authority overdue"
        with pytest.raises(BreachError, match="give the reasons for the delay") as caught:
            notify(session, record.id, recipient="authority", actor=ACTOR, audit=AUDIT, now=NOW)
        assert caught.value.context["field"] == "delay_reason"
        notify(
            session,
            record.id,
            recipient=Recipient.AUTHORITY,
            actor=ACTOR,
            audit=AUDIT,
            delay_reason="The processor told us only on day 4.",
            now=NOW,
        )
        later = update_breach(
            session,
            record.id,
            note="The invoices were restored from the nightly backup.",
            measures="Backups now tested weekly.",
            risk="unlikely",
            actor=ACTOR,
            audit=AUDIT,
            now=NOW + timedelta(hours=1),
        )
        notify(  # a later phase (Art. 33(4)) needs no reason
            session,
            record.id,
            recipient="authority",
            actor=ACTOR,
            audit=AUDIT,
            now=NOW + timedelta(hours=2),
        )
        entries = AUDIT.entries(session, limit=100)
        verified = AUDIT.verify(session)
        second = _open(session, store, "processor:mailer", now=NOW + timedelta(hours=3))
        listed = list_breaches(session)
    assert later.risk is Risk.UNLIKELY and later.assessment.risk is Risk.RISK
    assert later.authority_notified_at == NOW
    assert [e.action for e in later.events] == ["opened", "notified", "update"]
    assert later.measures() == [(NOW + timedelta(hours=1), "Backups now tested weekly.")]
    assert [(e.action, e.actor) for e in entries] == [
        ("breach.opened", ACTOR),
        ("breach.notified", ACTOR),
        ("breach.updated", ACTOR),
        ("breach.notified", ACTOR),
    ]
    assert entries[0].details and '"scope":["entity:visit"]' in entries[0].details
    assert "Test breach" not in " ".join(e.details for e in entries)  # no free text
    assert verified.ok
    assert [r.id for r in listed] == [second.id, record.id]  # latest discovered first
    with pytest.raises(BreachError, match="risk 'grave'"), transaction(engine) as session:
        update_breach(session, record.id, note="x", risk="grave", actor=ACTOR, audit=AUDIT)


# ── the drafts ───────────────────────────────────────────────────────────────────────────────


@SQLITE_ONLY
def test_the_drafts_are_in_finnish_for_a_finnish_controller(store, engine) -> None:
    """The Art. 33(3) notification holds its four parts with the numbers; the customers'
    message, in plain Finnish, names the health data and the authority."""
    with transaction(engine) as session:
        _hold(session, store)
        record = _open(
            session, store, "source:booking-form", measures="Lomake suljettiin 10.3.2026."
        )
    draft = authority_draft(record, store.strategy, now=NOW)
    for part in ("33 art. 3 a", "33 art. 3 b", "33 art. 3 c", "33 art. 3 d", "34 art."):
        assert part in draft, part
    assert "noin 2 rekisteröityä ja" in draft
    assert "Mikko Lehtinen, tietosuoja@rengasvirtanen.fi" in draft
    assert "Lomake suljettiin 10.3.2026." in draft
    assert "terveystiedot" in draft
    message = subjects_draft(record, store.strategy)
    assert message is not None
    assert message.startswith("Aihe: Tietojasi koskeva tietoturvaloukkaus")
    assert "terveystiedot" in message and "Tietosuojavaltuutetun toimisto" in message
    view = breach_json(record, store.strategy, now=NOW)
    assert view["tell_subjects"] is True and view["drafts"]["subjects"] == message


@SQLITE_ONLY
def test_no_message_to_the_subjects_where_the_risk_is_not_high(store, engine) -> None:
    """Encrypted data under safe keys: the notification says why nobody is told."""
    with transaction(engine) as session:
        _hold(session, store)
        record = _open(session, store, "field:vehicle.plate")
    assert subjects_draft(record, store.strategy) is None
    assert "34 art. 3 a" in authority_draft(record, store.strategy, now=NOW)


def test_the_b2b_wholesaler_gets_english_drafts_of_a_us_processor_breach(tmp_path) -> None:
    """An English-speaking controller's ERP provider in the US: English, upper bound noted."""
    b2b = load_strategy(B2B).strategy
    assert b2b is not None
    with backend_database("sqlite", tmp_path, prefix="b2b") as db:
        upgrade(db, database_metadata(b2b))
        b2b_store = RecordStore(b2b)
        with transaction(db) as session:
            sid = ingest(
                session,
                b2b_store,
                "contact_person",
                source=_source_of(b2b, "contact_person.email"),
                values={"name": "Anna Mäkelä", "email": "anna@asennus.example"},
            ).subject_id
            record = _open(session, b2b_store, "processor:erp-cloud")
    assert sid and record.language == "en"
    draft = authority_draft(record, b2b, now=NOW)
    assert draft.startswith("# Notification of a personal data breach (Article 33 GDPR)")
    assert "processor Ledgerline Inc. (US), outside the EEA" in draft
    assert "approximately 1 data subjects" in draft
    assert "upper bound" in draft


def _source_of(strategy: Strategy, ref: str) -> str:
    return strategy.index.field_sources[ref][0]
