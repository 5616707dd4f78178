"""A rectification opened in the privacy center: the verified requester states the changes later."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from audit import AuditLog
from dsar.fulfil import Fulfiller
from dsar.requests import Outbox, OutboxNotifier, Requests, Status
from dsar.requests.intake import correctable_fields
from kernel.errors import Conflict, RequestError, ValidationFailed
from records.external import ExternalSystems
from records.store import RecordStore, find_subject, ingest, read_subject
from schemas import load_strategy
from schemas.runtime import normalise, to_text

B2B = Path(__file__).parents[1] / "examples" / "b2b-wholesaler"
EMAIL = "liisa@example.fi"
AUDIT_KEY = b"r" * 32


@pytest.fixture
def requests(store: RecordStore) -> Requests:
    """The request service over the bundled strategy's system of record, audited."""
    fields = store.strategy.index.fields
    subject = store.subject_entity

    def canonical(key: str, value: str) -> str:
        spec = fields[f"{subject}.{key}"]
        return to_text(spec, normalise(spec, value, region=store.models.region))

    return Requests(
        store.strategy,
        find_subject=lambda session, key, value: find_subject(session, store, {key: value}),
        notifier=OutboxNotifier(),
        audit=AuditLog(AUDIT_KEY),
        normalise=canonical,
    )


def _customer(session: Session, store: RecordStore) -> str:
    sid = ingest(
        session,
        store,
        "customer",
        source="service-desk",
        values={
            "name": "Liisa Virtanen",
            "email": EMAIL,
            "phone": "040 123 4567",
            "branch": "espoo",
        },
    ).subject_id
    ingest(
        session,
        store,
        "vehicle",
        source="service-desk",
        subject={"id": sid},
        values={"plate": "ABC-123", "tyre_type": "summer"},
    )
    session.commit()
    return sid


def _verified(session: Session, requests: Requests, *, kind: str = "rectification") -> str:
    opened = requests.open(
        session, type=kind, identity={"email": EMAIL}, changes_later=True, defer=False
    )
    session.commit()
    body = session.scalars(
        select(Outbox.body).where(Outbox.request_id == opened.request.id)
    ).first()
    assert body is not None
    code = re.search(r"\b(\d{6})\b", body)
    assert code
    requests.verify(session, opened.request.id, code=code.group(1))
    session.commit()
    return opened.request.id


def test_the_form_may_open_a_rectification_without_changes_but_the_api_way_may_not(
    engine: Engine, store: RecordStore, requests: Requests
) -> None:
    """Only a caller saying the changes come later opens a rectification without them."""
    with Session(engine) as session:
        with pytest.raises(RequestError, match=r"details\.changes") as refused:
            requests.open(session, type="rectification", identity={"email": EMAIL})
        assert refused.value.context["field"] == "details.changes"
        opened = requests.open(
            session, type="rectification", identity={"email": EMAIL}, changes_later=True
        )
        assert "changes" not in opened.request.details
        with pytest.raises(RequestError, match=r"customer\.shoe_size"):
            requests.open(
                session,
                type="rectification",
                identity={"email": EMAIL},
                details={"changes": {"customer.shoe_size": "42"}},
                changes_later=True,
            )


def test_the_requester_states_changes_kept_in_canonical_form_with_history_and_audit(
    engine: Engine, store: RecordStore, requests: Requests
) -> None:
    """Each value is normalised as the fulfiller would; history and audit name fields only."""
    with Session(engine) as session:
        _customer(session, store)
        rid = _verified(session, requests)
        requests.state_changes(
            session,
            rid,
            changes={
                "customer.city": "  Vantaa ",
                "customer.postal_code": "01 300",
                "vehicle.tyre_type": "Winter",
                "vehicle.model_year": "2019",
            },
        )
        session.commit()
    with Session(engine) as session:
        row = requests.get(session, rid)
        assert row.status == Status.VERIFIED
        assert row.details["changes"] == {
            "customer.city": "Vantaa",
            "customer.postal_code": "01 300",
            "vehicle.tyre_type": "winter",
            "vehicle.model_year": 2019,
        }
        note = row.events[-1].note or ""
        assert note.startswith("changes stated: customer.city")
        assert "Vantaa" not in note
        (entry,) = [
            e
            for e in AuditLog(AUDIT_KEY).entries(session, request_id=rid)
            if e.action == "dsar.changes_stated"
        ]
        assert json.loads(entry.details)["fields"] == [
            "customer.city",
            "customer.postal_code",
            "vehicle.model_year",
            "vehicle.tyre_type",
        ]
        assert "Vantaa" not in entry.details and "2019" not in entry.details
        assert AuditLog(AUDIT_KEY).verify(session).ok


def test_a_wrong_value_names_every_wrong_field_and_keeps_nothing(
    engine: Engine, store: RecordStore, requests: Requests
) -> None:
    """Two bad values among good ones: both are named, and no change or event is recorded."""
    with Session(engine) as session:
        _customer(session, store)
        rid = _verified(session, requests)
        events = len(requests.get(session, rid).events)
        with pytest.raises(ValidationFailed) as refused:
            requests.state_changes(
                session,
                rid,
                changes={
                    "customer.city": "Vantaa",
                    "customer.postal_code": "!!",
                    "vehicle.model_year": "soon",
                },
            )
        problems = refused.value.context["problems"]
        assert set(problems) == {"customer.postal_code", "vehicle.model_year"}
        assert "whole number" in problems["vehicle.model_year"]
        session.rollback()
        row = requests.get(session, rid)
        assert "changes" not in row.details
        assert len(row.events) == events
        with pytest.raises(ValidationFailed, match="at least one field"):
            requests.state_changes(session, rid, changes={})


def test_identifiers_grandchildren_and_unknown_fields_cannot_be_stated(
    engine: Engine, store: RecordStore, requests: Requests
) -> None:
    """The email proves who asks, a tyre-hotel row is not directly the customer's, a typo is one."""
    with Session(engine) as session:
        _customer(session, store)
        rid = _verified(session, requests)
        with pytest.raises(ValidationFailed) as refused:
            requests.state_changes(
                session,
                rid,
                changes={
                    "customer.email": "new@example.fi",
                    "tyre_storage.shelf": "E-1",
                    "customer.shoe_size": "42",
                },
            )
    problems = refused.value.context["problems"]
    assert "cannot be corrected here" in problems["customer.email"]
    assert "cannot be corrected here" in problems["tyre_storage.shelf"]
    assert "not a declared field" in problems["customer.shoe_size"]


def test_stating_again_replaces_the_changes_until_the_request_is_closed(
    engine: Engine, store: RecordStore, requests: Requests
) -> None:
    """A second statement replaces the first, also in progress; after closing it is refused."""
    with Session(engine) as session:
        _customer(session, store)
        rid = _verified(session, requests)
        requests.state_changes(session, rid, changes={"customer.city": "Vantaa"})
        requests.start(session, rid, actor="role:owner")
        row = requests.state_changes(session, rid, changes={"customer.name": "Liisa Koski"})
        assert row.details["changes"] == {"customer.name": "Liisa Koski"}
        assert row.status == Status.IN_PROGRESS
        requests.reject(session, rid, actor="role:owner", ground="excessive", reason="a test")
        with pytest.raises(Conflict, match="rejected"):
            requests.state_changes(session, rid, changes={"customer.city": "Espoo"})


def test_only_a_verified_rectification_takes_changes(
    engine: Engine, store: RecordStore, requests: Requests
) -> None:
    """Before the code, and for any other right, there are no changes to state."""
    with Session(engine) as session:
        _customer(session, store)
        waiting = requests.open(
            session, type="rectification", identity={"email": EMAIL}, changes_later=True
        )
        with pytest.raises(Conflict, match="awaiting_verification"):
            requests.state_changes(session, waiting.request.id, changes={"customer.city": "Vantaa"})
        access = _verified(session, requests, kind="access")
        with pytest.raises(Conflict, match="only a rectification"):
            requests.state_changes(session, access, changes={"customer.city": "Vantaa"})


def test_completing_waits_for_the_changes_then_applies_them_to_the_record(
    engine: Engine, store: RecordStore, requests: Requests
) -> None:
    """Art. 16: no changes yet is refused with what to do; stated changes reach the record."""
    fulfiller = Fulfiller(store.strategy, store, ExternalSystems(store.strategy, env={}))
    with Session(engine) as session:
        sid = _customer(session, store)
        rid = _verified(session, requests)
        row = requests.get(session, rid)
        with pytest.raises(Conflict, match="has not stated the changes"):
            fulfiller.rectify(session, row.subject_id, row.details.get("changes", {}), {})
        requests.state_changes(
            session, rid, changes={"customer.city": "Vantaa", "vehicle.tyre_type": "winter"}
        )
        result = fulfiller.rectify(session, row.subject_id, row.details["changes"], row.identity)
        requests.complete(session, rid, actor="role:owner", result=result)
        session.commit()
        data = read_subject(session, store, sid)
    assert data["customer"][0].values["city"] == "Vantaa"
    assert data["vehicle"][0].values["tyre_type"] == "winter"
    assert result["records"] == {"customer": 1, "vehicle": 1}


def test_the_correctable_fields_are_the_subjects_and_its_childrens_personal_data() -> None:
    """Identifiers and non-personal company data are left out; labels come from the strategy."""
    strategy = load_strategy(B2B).strategy
    assert strategy is not None
    fields = correctable_fields(strategy)
    assert next(iter(fields)) == "contact_person"
    assert "email" not in fields["contact_person"] and "phone" not in fields["contact_person"]
    assert "name" in fields["contact_person"]
    assert set(fields["organisation"]) == {"business_id", "credit_limit_eur"}
    car_service = load_strategy(Path(__file__).parents[2] / "strategy").strategy
    assert car_service is not None
    bundled = correctable_fields(car_service)
    assert "tyre_storage" not in bundled
    assert bundled["customer"]["city"].shown_name("city") == "Postitoimipaikka"
