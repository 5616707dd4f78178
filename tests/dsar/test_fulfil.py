"""The six rights carried out on the bundled car-service strategy's system of record."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from consent.receipts import ReceiptSigner
from consent.service import record_consent, subject_consents
from dsar.fulfil import Fulfiller, export_zip
from kernel.errors import SubjectErased, ValidationFailed
from kernel.keys import Keyring
from records.external import ExternalSystems
from records.restrictions import FlagKind, active_flags
from records.store import RecordStore, find_subject, ingest, read_subject


def _customer(session: Session, store: RecordStore) -> str:
    result = ingest(
        session,
        store,
        "customer",
        source="service-desk",
        values={
            "name": "Liisa Virtanen",
            "email": "Liisa@Example.fi",
            "phone": "040 123 4567",
            "street_address": "Kivitie 3",
            "postal_code": "02100",
            "city": "Espoo",
            "branch": "espoo",
            "accessibility_need": "uses a wheelchair",
        },
    )
    sid = result.subject_id
    vehicle = ingest(
        session,
        store,
        "vehicle",
        source="service-desk",
        subject={"id": sid},
        values={"plate": "ABC-123", "make": "Toyota", "tyre_type": "summer"},
    )
    ingest(
        session,
        store,
        "visit",
        source="service-desk",
        subject={"id": sid},
        values={
            "visited_at": "2026-10-01T10:00:00+03:00",
            "service_type": "tyre_change",
            "amount_eur": "89.00",
            "invoice_number": "INV-1001",
            "payment_method": "card",
        },
    )
    ingest(
        session,
        store,
        "visit",
        source="booking-form",
        subject={"id": sid},
        values={"visited_at": "2026-11-07T09:00:00+02:00", "service_type": "tyre_change"},
    )
    assert vehicle.subject_id == sid
    session.commit()
    return sid


@pytest.fixture
def fulfiller(store: RecordStore) -> Fulfiller:
    return Fulfiller(
        store.strategy,
        store,
        ExternalSystems(store.strategy, env={}),
        signer=ReceiptSigner(Keyring.ephemeral()),
    )


def test_access_gives_every_record_decrypted_and_the_processing_information(
    engine: Engine, store: RecordStore, fulfiller: Fulfiller
) -> None:
    """Art. 15: the data of every entity, and purposes, bases, recipients, retention, sources."""
    with Session(engine) as session:
        sid = _customer(session, store)
        bundle = fulfiller.access(session, sid, {"email": "liisa@example.fi"})
    (customer,) = bundle["data"]["customer"]
    assert customer["values"]["email"] == "liisa@example.fi"
    assert customer["values"]["accessibility_need"] == "uses a wheelchair"
    assert bundle["data"]["vehicle"][0]["values"]["plate"] == "ABC-123"
    assert len(bundle["data"]["visit"]) == 2
    purposes = {p["use"]: p for p in bundle["processing"]["purposes"]}
    assert purposes["bookkeeping"]["legal_basis"] == "legal_obligation"
    assert "Kirjanpitolaki" in purposes["bookkeeping"]["law"]
    assert {r["country"] for r in bundle["processing"]["recipients"]} >= {"FI"}
    assert "health" in bundle["processing"]["categories"]
    assert {s["id"] for s in bundle["processing"]["sources"]} >= {"service-desk"}
    assert bundle["external_status"] == []
    files = zipfile.ZipFile(io.BytesIO(export_zip(bundle))).namelist()
    assert {"README.txt", "data/customer.csv", "data/visit.csv", "processing.json"} <= set(files)


def test_portability_holds_only_what_the_subject_provided(
    engine: Engine, store: RecordStore, fulfiller: Fulfiller
) -> None:
    """Art. 20: machine-readable data from the subject's own channels, record by record."""
    with Session(engine) as session:
        sid = _customer(session, store)
        out = fulfiller.portability(session, sid)
    assert out["data"]["customer"][0]["email"] == "liisa@example.fi"
    assert json.loads(json.dumps(out))["data"]["visit"][0]["amount_eur"] == "89"


def test_rectification_validates_applies_and_lists_recipients(
    engine: Engine, store: RecordStore, fulfiller: Fulfiller
) -> None:
    """Art. 16 and 19: a new value must fit its field; recipients to notify are named."""
    with Session(engine) as session:
        sid = _customer(session, store)
        with pytest.raises(ValidationFailed, match=r"customer\.email"):
            fulfiller.rectify(session, sid, {"customer.email": "not-an-email"}, {})
        result = fulfiller.rectify(
            session, sid, {"customer.email": "liisa.v@example.fi", "vehicle.plate": "XYZ-999"}, {}
        )
        session.commit()
        assert find_subject(session, store, {"email": "liisa.v@example.fi"}) == sid
        data = read_subject(session, store, sid)
    assert data["vehicle"][0].values["plate"] == "XYZ-999"
    assert result["records"] == {"customer": 1, "vehicle": 1}
    assert "mailer" in result["recipients_to_notify"]


def test_erasure_keeps_only_what_bookkeeping_law_requires_and_shreds_the_key(
    engine: Engine, store: RecordStore, fulfiller: Fulfiller
) -> None:
    """Art. 17(1) and 17(3)(b): vouchers stay, everything else goes, and the result says why."""
    with Session(engine) as session:
        sid = _customer(session, store)
        result = fulfiller.erase(session, sid, {"email": "liisa@example.fi"}, request_id="r1")
        session.commit()
        data = read_subject(session, store, sid)
        flags = active_flags(session, sid)
        assert find_subject(session, store, {"email": "liisa@example.fi"}) is None
    assert result["erased"]["vehicle"] == 1
    kept = {k["entity"]: k for k in result["kept"]}
    assert set(kept) == {"customer", "visit"}
    assert "Kirjanpitolaki" in " ".join(kept["visit"]["why"])
    assert set(data["customer"][0].values) <= {"name", "street_address", "postal_code", "city"}
    assert data["vehicle"] == []
    assert {v.values.get("invoice_number") for v in data["visit"]} == {"INV-1001", None}
    assert all("mileage_km" not in v.values for v in data["visit"])
    assert result["crypto_shredded"] is True
    with pytest.raises(SubjectErased):
        store.crypto.keystore.decrypt_field(sid, "customer.accessibility_need", "f1.x")  # type: ignore[union-attr]
    assert [f.kind for f in flags] == [FlagKind.RESTRICTION]


def test_erasure_after_the_retention_period_removes_everything(
    engine: Engine, store: RecordStore, fulfiller: Fulfiller
) -> None:
    """Once the bookkeeping period has passed, nothing is kept at all."""
    with Session(engine) as session:
        sid = _customer(session, store)
        later = Fulfiller(
            store.strategy,
            store,
            fulfiller.external,
            now=lambda: datetime.now(UTC) + timedelta(days=366 * 7),
        )
        result = later.erase(session, sid, {})
        session.commit()
        table = store.tables.subject_table
        assert session.execute(select(table.c.id).where(table.c.id == sid)).first() is None
    assert result["kept"] == []
    assert result["erased"] == {"customer": 1, "vehicle": 1, "visit": 2}


def test_objection_withdraws_marketing_consent_and_flags_the_subject(
    engine: Engine, store: RecordStore, fulfiller: Fulfiller
) -> None:
    """Art. 21(3): direct marketing stops at once, consent included."""
    assert fulfiller.signer is not None
    with Session(engine) as session:
        sid = _customer(session, store)
        record_consent(
            session,
            store.strategy,
            signer=fulfiller.signer,
            subject_id=sid,
            use="seasonal-reminders",
            state="given",
            source="booking-form",
            notice="privacy-notice-2026-01",
        )
        result = fulfiller.object(session, sid, request_id="r2")
        session.commit()
        states = {s.use: s.state for s in subject_consents(session, store.strategy, sid).current}
        flags = active_flags(session, sid)
    assert result["consents_withdrawn"] == ["seasonal-reminders"]
    assert states["seasonal-reminders"] == "withdrawn"
    assert [(f.kind, f.scope) for f in flags] == [(FlagKind.OBJECTION, "direct_marketing")]


def test_restriction_flags_without_deleting(
    engine: Engine, store: RecordStore, fulfiller: Fulfiller
) -> None:
    """Art. 18: the data stays; a restriction stands against it."""
    with Session(engine) as session:
        sid = _customer(session, store)
        assert fulfiller.restrict(session, sid)["restricted"] is True
        session.commit()
        assert read_subject(session, store, sid)["customer"][0].values["name"] == "Liisa Virtanen"
        assert [f.kind for f in active_flags(session, sid)] == [FlagKind.RESTRICTION]


def test_the_contact_log_is_in_the_export_and_goes_with_erasure(
    engine: Engine, store: RecordStore, fulfiller: Fulfiller
) -> None:
    """Art. 15 shows which campaigns reached the subject; Art. 17 removes that log too."""
    from activation.audiences import record_send

    with Session(engine) as session:
        sid = _customer(session, store)
        campaign = store.strategy.index.activations["november-tyre-campaign"]
        record_send(session, campaign, [sid])
        session.commit()
        bundle = fulfiller.access(session, sid, {})
        assert [c["activation"] for c in bundle["contacts"]] == ["november-tyre-campaign"]
        result = fulfiller.erase(session, sid, {})
        session.commit()
        assert result["erased"]["contact_log"] == 1
        assert fulfiller.access(session, sid, {})["contacts"] == []
