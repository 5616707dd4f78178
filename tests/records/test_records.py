"""Records are validated, deduplicated and stored with provenance; unjustified data is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from kernel.db import transaction
from kernel.errors import NotFound, RecordError, ValidationFailed
from records.store import RecordStore, find_subject, ingest, read_subject

ANNA = {
    "name": "Anna Virtanen",
    "email": "Anna@Example.fi",
    "phone": "040 123 4567",
    "branch": "espoo",
}


def _customer(session, store: RecordStore, **extra):
    return ingest(session, store, "customer", source="booking-form", values={**ANNA, **extra})


def test_a_new_subject_gets_a_random_id_and_its_values_normalised(store, engine) -> None:
    """A new customer is stored under a random id with normalised values and provenance."""
    with transaction(engine) as session:
        result = _customer(session, store)
        records = read_subject(session, store, result.subject_id)
    assert result.merged is False and result.subject_id == result.record_id
    assert len(result.subject_id) == 32 and "anna" not in result.subject_id
    (customer,) = records["customer"]
    assert customer.values["email"] == "anna@example.fi"
    assert customer.values["phone"] == "+358401234567"
    assert customer.source == "booking-form"
    assert customer.provenance["email"][0] == "booking-form"
    assert customer.retention_until > customer.collected_at


def test_match_on_merges_a_second_booking_and_keeps_earlier_provenance(store, engine) -> None:
    """A phone booking by the same person merges into the customer found by phone."""
    with transaction(engine) as session:
        first = _customer(session, store)
        second = ingest(
            session,
            store,
            "customer",
            source="phone-booking",
            values={"name": "Anna V.", "phone": "+358401234567", "branch": "vantaa"},
        )
        (customer,) = read_subject(session, store, first.subject_id)["customer"]
        count = len(session.execute(select(store.tables.subject_table.c.id)).all())
    assert second.merged is True and second.subject_id == first.subject_id
    assert count == 1
    assert customer.values["name"] == "Anna V." and customer.values["branch"] == "vantaa"
    assert customer.values["email"] == "anna@example.fi"
    assert customer.provenance["name"][0] == "phone-booking"
    assert customer.provenance["email"][0] == "booking-form"
    assert customer.source == "booking-form"


def test_a_source_may_write_only_the_fields_it_collects(store, engine) -> None:
    """phone-booking does not collect email, so an email from it is refused by name."""
    with transaction(engine) as session, pytest.raises(RecordError) as caught:
        ingest(session, store, "customer", source="phone-booking", values=ANNA)
    assert "source 'phone-booking' does not collect customer.email" in caught.value.message


def test_fields_the_strategy_does_not_declare_are_refused(store, engine) -> None:
    """A value for an undeclared field is refused, whatever the source."""
    with transaction(engine) as session, pytest.raises(RecordError) as caught:
        _customer(session, store, shoe_size=38)
    assert "customer.shoe_size is not declared" in caught.value.message


def test_unknown_sources_and_invalid_values_are_refused(store, engine) -> None:
    """An unknown source and a malformed value each get a clear error."""
    with transaction(engine) as session:
        with pytest.raises(RecordError, match="unknown source 'web-shop'"):
            ingest(session, store, "customer", source="web-shop", values=ANNA)
        with pytest.raises(ValidationFailed, match=r"customer\.email 'nope' is not an email"):
            _customer(session, store, email="nope")


def test_children_need_an_existing_subject(store, engine) -> None:
    """A vehicle names its subject; an unknown subject is not found."""
    with transaction(engine) as session:
        with pytest.raises(RecordError, match="need their subject"):
            ingest(session, store, "vehicle", source="booking-form", values={"plate": "ABC-1"})
        with pytest.raises(NotFound, match="no customer with email"):
            ingest(
                session,
                store,
                "vehicle",
                source="booking-form",
                subject={"email": "nobody@example.fi"},
                values={"plate": "ABC-1"},
            )


def test_grandchildren_attach_to_the_single_parent_or_the_named_one(store, engine) -> None:
    """tyre_storage goes to the subject's only vehicle; with two vehicles, parent is required."""
    with transaction(engine) as session:
        subject = _customer(session, store).subject_id
        car = ingest(
            session,
            store,
            "vehicle",
            source="booking-form",
            subject={"email": "anna@example.fi"},
            values={"plate": "ABC-123"},
        )
        stored = ingest(
            session,
            store,
            "tyre_storage",
            source="service-desk",
            subject={"id": subject},
            values={"season": "winter"},
        )
        ingest(
            session,
            store,
            "vehicle",
            source="service-desk",
            subject={"id": subject},
            values={"plate": "XYZ-9"},
        )
        with pytest.raises(RecordError, match="has 2 vehicle records"):
            ingest(
                session,
                store,
                "tyre_storage",
                source="service-desk",
                subject={"id": subject},
                values={"season": "summer"},
            )
        named = ingest(
            session,
            store,
            "tyre_storage",
            source="service-desk",
            subject={"id": subject},
            parent=car.record_id,
            values={"season": "summer"},
        )
        records = read_subject(session, store, subject)
    parents = {r.id: r.parent_id for r in records["tyre_storage"]}
    assert parents == {stored.record_id: car.record_id, named.record_id: car.record_id}


def test_encrypted_fields_are_ciphertext_at_rest_and_readable_back(store, engine) -> None:
    """A plate and a health note are stored encrypted, yet read back in clear."""
    with transaction(engine) as session:
        subject = _customer(session, store, accessibility_need="Pyörätuoli").subject_id
        ingest(
            session,
            store,
            "vehicle",
            source="booking-form",
            subject={"id": subject},
            values={"plate": "ABC-123"},
        )
        raw = session.execute(select(store.tables.table("vehicle").c.plate)).scalar_one()
        raw_need = session.execute(
            select(store.tables.subject_table.c.accessibility_need)
        ).scalar_one()
        records = read_subject(session, store, subject)
    # Whole values as needles: a 7- or 12-byte run turns up in random ciphertext about once in
    # 2**50 runs, where the two-byte b"Py" did about once in a hundred.
    assert b"ABC-123" not in bytes(raw)
    assert "Pyörätuoli".encode() not in bytes(raw_need)
    assert records["vehicle"][0].values["plate"] == "ABC-123"
    assert records["customer"][0].values["accessibility_need"] == "Pyörätuoli"


def test_subjects_are_found_by_an_identifier_in_any_spelling(store, engine) -> None:
    """Finding by email or phone normalises the query like the stored value."""
    with transaction(engine) as session:
        subject = _customer(session, store).subject_id
        assert find_subject(session, store, {"email": "ANNA@example.FI"}) == subject
        assert find_subject(session, store, {"phone": "+358 40 1234567"}) == subject
        assert find_subject(session, store, {"email": "other@example.fi"}) is None
        with pytest.raises(RecordError, match="not an identifier"):
            find_subject(session, store, {"name": "Anna Virtanen"})


_VISITS = st.fixed_dictionaries(
    {
        "visited_at": st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1), timezones=st.just(UTC)
        ),
        "service_type": st.sampled_from(["tyre_change", "repair", "maintenance"]),
    },
    optional={
        "amount_eur": st.decimals(
            min_value=Decimal("0"),
            max_value=Decimal("99999999"),
            places=2,
            allow_nan=False,
            allow_infinity=False,
        ),
        "payment_method": st.sampled_from(["card", "cash"]),
        "invoice_number": st.text(alphabet="ABC0123456789-", min_size=1, max_size=20),
    },
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(values=_VISITS)
def test_a_record_round_trips_through_the_tables_unchanged(store, engine, values) -> None:
    """What is stored is what comes back: the normalised values, exactly."""
    with transaction(engine) as session:
        subject = (
            find_subject(session, store, {"email": "anna@example.fi"})
            or _customer(session, store).subject_id
        )
        result = ingest(
            session, store, "visit", source="service-desk", subject={"id": subject}, values=values
        )
        (visit,) = [
            v for v in read_subject(session, store, subject)["visit"] if v.id == result.record_id
        ]
    expected = store.models.validate("visit", values, partial=True)
    assert visit.values == expected
