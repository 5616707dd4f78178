"""Report builds on SQLite and PostgreSQL: identity levels, suppression, restriction, charts."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from access_policy import compile_policy
from activation.charts import render_chart, write_chart
from activation.exports import OutputFormat
from activation.reporting import REPORTING_DOMAIN, ReportBuild, build_report, write_report
from consent.receipts import ReceiptSigner
from consent.service import record_consent
from kernel.db import transaction
from kernel.errors import AccessDenied, NotFound, RecordError
from records.restrictions import FlagKind, raise_flag
from records.store import FieldCrypto, RecordStore, ingest
from schemas.models import Strategy

pytestmark = pytest.mark.activation

NOW = datetime.now(UTC).replace(microsecond=0)
_SERIAL = itertools.count(1)
PNG = b"\x89PNG\r\n\x1a\n"


def add_customer(
    engine: Engine,
    store: RecordStore,
    *,
    branch: str = "espoo",
    visits: list[dict[str, Any]] | None = None,
    vehicles: list[dict[str, Any]] | None = None,
    storage: dict[str, Any] | None = None,
) -> str:
    """One customer with the given vehicles, visits and (on the first vehicle) a stored set."""
    n = next(_SERIAL)
    with transaction(engine) as session:
        sid = ingest(
            session,
            store,
            "customer",
            source="service-desk",
            values={
                "name": f"Asiakas {n}",
                "email": f"c{n}@example.fi",
                "phone": f"040{n:07d}",
                "branch": branch,
            },
        ).subject_id
        for values in vehicles or []:
            ingest(
                session,
                store,
                "vehicle",
                source="service-desk",
                subject={"id": sid},
                values={"plate": f"ABC-{n}{len(values)}", **values},
            )
        for values in visits or []:
            ingest(
                session,
                store,
                "visit",
                source="service-desk",
                subject={"id": sid},
                values={"service_type": "tyre_change", **values},
            )
        if storage is not None:
            ingest(
                session,
                store,
                "tyre_storage",
                source="workshop-inspection",
                subject={"id": sid},
                values=storage,
            )
    return sid


def build(
    engine: Engine, store: RecordStore, report: str, **kwargs: Any
) -> tuple[ReportBuild, list[dict[str, Any]]]:
    with transaction(engine) as session:
        made = build_report(
            session,
            store,
            compile_policy(store.strategy),
            report,
            pseudonymiser=store.crypto.pseudonymiser if store.crypto else None,
            **kwargs,
        )
        return made, list(made.rows(session))


VISIT = {"visited_at": "2026-10-05T09:00:00+00:00"}


@pytest.fixture
def load(engine: Engine, store: RecordStore) -> Iterator[list[str]]:
    """Six Espoo customers and two Vantaa customers with a tyre change in October 2026."""
    ids = [add_customer(engine, store, visits=[VISIT]) for _ in range(6)]
    ids += [add_customer(engine, store, branch="vantaa", visits=[VISIT]) for _ in range(2)]
    yield ids


def test_aggregated_groups_smaller_than_k_are_suppressed_and_counted(
    engine: Engine, store: RecordStore, load: list[str]
) -> None:
    made, rows = build(engine, store, "tyre-change-load")
    assert rows == [
        {
            "visit.visited_at": "2026-10",
            "visit.service_type": "tyre_change",
            "customer.branch": "espoo",
            "subjects": 6,
            "records": 6,
        }
    ]
    assert (made.suppressed_groups, made.suppressed_subjects) == (1, 2)
    _, small_k = build(engine, store, "tyre-change-load", k=2)
    assert [r["customer.branch"] for r in small_k] == ["espoo", "vantaa"]


def test_a_restricted_customer_appears_in_no_report(
    engine: Engine, store: RecordStore, load: list[str], crypto: FieldCrypto
) -> None:
    restricted = load[0]
    with transaction(engine) as session:
        raise_flag(session, restricted, kind=FlagKind.RESTRICTION, reason="Art. 18 request")
    _, aggregated = build(engine, store, "tyre-change-load")
    assert aggregated[0]["subjects"] == 5
    _, pseudonymised = build(engine, store, "churn-report")
    token = crypto.pseudonymiser.hmac(REPORTING_DOMAIN, restricted)
    assert len(pseudonymised) == 7 and token not in {r["subject"] for r in pseudonymised}


def test_pseudonymised_rows_name_the_subject_by_a_reporting_domain_token(
    engine: Engine, store: RecordStore, load: list[str], crypto: FieldCrypto
) -> None:
    made, rows = build(engine, store, "churn-report")
    assert made.columns == [
        "subject",
        "visit.visited_at",
        "customer.customer_since",
        "customer.branch",
    ]
    assert len(rows) == 8
    for row in rows:
        assert "subject_id" not in row
        assert row["subject"].startswith("h1.")
        assert row["customer.branch"] in {"espoo", "vantaa"}
    tokens = {r["subject"] for r in rows}
    assert all(
        any(crypto.pseudonymiser.matches(REPORTING_DOMAIN, sid, t) for t in tokens) for sid in load
    )


def test_identified_reports_show_values_in_clear_only_to_roles_that_may_read_them(
    engine: Engine, store: RecordStore
) -> None:
    sid = add_customer(
        engine,
        store,
        vehicles=[{"tyre_size": "205/55 R16"}],
        storage={"season": "winter", "tread_depth_mm": "2.5", "shelf": "E-14-3"},
    )
    made, rows = build(engine, store, "tyre-hotel-calls", role="service-advisor")
    assert made.columns[0] == "subject_id"
    assert rows == [
        {
            "subject_id": sid,
            "customer.name": rows[0]["customer.name"],
            "customer.phone": rows[0]["customer.phone"],
            "vehicle.tyre_size": "205/55 R16",
            "tyre_storage.season": "winter",
            "tyre_storage.tread_depth_mm": Decimal("2.5"),
            "tyre_storage.shelf": "E-14-3",
            "tyre_storage.stored_since": None,
        }
    ]
    assert rows[0]["customer.name"].startswith("Asiakas")
    with pytest.raises(AccessDenied, match="not in the audience"):
        build(engine, store, "tyre-hotel-calls", role="marketing")


def test_an_identified_report_is_refused_to_an_audience_role_that_may_not_read_it(
    engine: Engine, crypto: FieldCrypto, store: RecordStore
) -> None:
    """Marketing added to the call list's audience still may not read names for tyre-hotel."""
    widened = RecordStore(
        _with_audience(store.strategy, "tyre-hotel-calls", "marketing"), crypto=crypto
    )
    with pytest.raises(AccessDenied, match=r"may not read .*customer\.name"):
        build(engine, widened, "tyre-hotel-calls", role="marketing")


def test_the_role_row_filter_narrows_an_identified_report(
    engine: Engine, crypto: FieldCrypto, store: RecordStore
) -> None:
    """The Espoo mechanic may read the call list's fields, for Espoo customers only."""
    stored = {"season": "winter", "tread_depth_mm": "2.5"}
    espoo = add_customer(engine, store, vehicles=[{}], storage=stored)
    add_customer(engine, store, branch="vantaa", vehicles=[{}], storage=stored)
    widened = RecordStore(
        _with_audience(store.strategy, "tyre-hotel-calls", "mechanic"), crypto=crypto
    )
    _, rows = build(engine, widened, "tyre-hotel-calls", role="mechanic")
    assert [r["subject_id"] for r in rows] == [espoo]
    _, everyone = build(engine, widened, "tyre-hotel-calls", role="owner")
    assert len(everyone) == 2


def _with_audience(strategy: Strategy, report_id: str, role: str) -> Strategy:
    data = strategy.model_dump(mode="json", by_alias=True, exclude_none=True)
    for report in data["reports"]:
        if report["id"] == report_id:
            report["audience"].append(role)
    return Strategy.model_validate(data)


def test_sums_and_averages_count_each_visit_once_per_group(
    engine: Engine, store: RecordStore
) -> None:
    """Two Toyotas of one customer do not double the customer's spend in the Toyota group."""
    for n in range(5):
        add_customer(
            engine,
            store,
            vehicles=[{"make": "Toyota"}, {"make": "Toyota"}],
            visits=[{**VISIT, "amount_eur": str(100 + n * 10)}],
        )
    _, rows = build(engine, store, "customer-value-report")
    assert rows == [
        {
            "visit.visited_at": "2026-10",
            "customer.branch": "espoo",
            "vehicle.make": "Toyota",
            "subjects": 5,
            "records": 5,
            "visit.amount_eur:sum": Decimal(600),
            "visit.amount_eur:avg": Decimal(120),
        }
    ]


def test_a_report_for_a_consent_based_use_counts_only_consenting_customers(
    engine: Engine, store: RecordStore, crypto: FieldCrypto
) -> None:
    """reminder-audience answers who-is-due for seasonal-reminders, which rests on consent."""
    ids = [
        add_customer(engine, store, vehicles=[{"tyre_type": "summer"}], visits=[VISIT])
        for _ in range(7)
    ]
    _, before = build(engine, store, "reminder-audience")
    assert before == []
    signer = ReceiptSigner(crypto.pseudonymiser.keyring)
    with transaction(engine) as session:
        for sid in ids[:6]:
            record_consent(
                session,
                store.strategy,
                signer=signer,
                subject_id=sid,
                use="seasonal-reminders",
                state="given",
                source="booking-form",
                at=NOW - timedelta(days=3),
            )
    made, after = build(engine, store, "reminder-audience")
    assert [(r["vehicle.tyre_type"], r["subjects"]) for r in after] == [("summer", 6)]
    assert made.suppressed_groups == 0


def test_weeks_are_labelled_by_their_monday(engine: Engine, store: RecordStore) -> None:
    for day in ("2026-10-05", "2026-10-07", "2026-10-11", "2026-10-06", "2026-10-09"):
        add_customer(engine, store, visits=[{"visited_at": f"{day}T12:00:00+00:00"}])
    _, rows = build(engine, store, "tyre-change-load", period="week")
    assert [(r["visit.visited_at"], r["subjects"]) for r in rows] == [("2026-10-05", 5)]


def test_reports_write_as_files_and_aggregates_as_their_chart(
    engine: Engine, store: RecordStore, load: list[str], tmp_path: Path
) -> None:
    with transaction(engine) as session:
        made = build_report(session, store, compile_policy(store.strategy), "tyre-change-load")
        written = write_report(session, made, tmp_path / "load.jsonl", OutputFormat.JSONL)
    lines = [json.loads(x) for x in (tmp_path / "load.jsonl").read_text("utf-8").splitlines()]
    assert written == 1 and lines[0]["subjects"] == 6
    image = render_chart(made)
    assert image is not None and image.startswith(PNG) and len(image) > 5000
    assert write_chart(made, tmp_path / "load.png")
    assert (tmp_path / "load.png").read_bytes() == image
    identified, _ = build(engine, store, "tyre-hotel-calls")
    assert render_chart(identified) is None
    assert not write_chart(identified, tmp_path / "calls.png")
    assert not (tmp_path / "calls.png").exists()


def test_unknown_reports_and_bad_parameters_are_refused_clearly(
    engine: Engine, store: RecordStore
) -> None:
    with pytest.raises(NotFound, match="declared: churn-report"):
        build(engine, store, "weekly-sales")
    with pytest.raises(RecordError, match="k=0"):
        build(engine, store, "tyre-change-load", k=0)
    with pytest.raises(RecordError, match="day, week, month or year"):
        build(engine, store, "tyre-change-load", period="quarter")
