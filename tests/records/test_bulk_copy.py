"""On PostgreSQL the bulk path writes with COPY, and what it stores is what a Core insert stores."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, Table, func, select, text
from sqlalchemy.exc import IntegrityError

import records.bulk
from consent.tables import ConsentBase
from dsar.tables import database_metadata
from kernel.db import session_factory, transaction
from records.bulk import insert_rows, matching, new_ids
from records.imports import ImportRejected, import_file
from records.migrations import upgrade
from records.seed import seed
from records.store import FieldCrypto, RecordStore
from schemas import Strategy, load_strategy
from tests.records.support import BUNDLED
from tests.support import backend_database

pytestmark = pytest.mark.postgres

# The bundled customer has no country, url, plain text, boolean, integer, decimal or datetime
# field of its own: the variant adds one of each, so that one table holds every field type of
# the strategy format next to an encrypted column (accessibility_need) and JSON (provenance).
_ANCHOR = (
    "        language: {label: Asiointikieli, type: enum, values: [fi, sv, en], "
    "category: descriptive}\n"
)
_MORE_FIELDS = """\
        country: {label: Maa, type: country, category: location}
        homepage: {label: Kotisivu, type: url, category: contact}
        notes: {label: Muistiinpanot, type: text, category: descriptive}
        vip: {label: Kanta-asiakas, type: boolean, category: descriptive}
        visits_count: {label: Käyntejä, type: integer, category: behavioural}
        balance_eur: {label: Saldo, type: decimal, category: financial}
        last_seen: {label: Viimeksi nähty, type: datetime, category: behavioural}
"""
_NOW = datetime(2026, 4, 15, 9, 30, 12, 345678, tzinfo=UTC)
_AWKWARD = "tab\there, new\nline, CR\r, back\\slash, \\N, \\., quote ' \" ; ä ö å € 🚗 — 中文"


def _every_type_strategy(tmp_path: Path) -> Strategy:
    target = tmp_path / "strategy"
    shutil.copytree(BUNDLED, target)
    system = target / "5-system.yaml"
    yaml = system.read_text(encoding="utf-8")
    assert _ANCHOR in yaml
    system.write_text(yaml.replace(_ANCHOR, _ANCHOR + _MORE_FIELDS), encoding="utf-8")
    strategy = load_strategy(target).strategy
    assert strategy is not None
    return strategy


@pytest.fixture
def pg(pg_url: str, tmp_path: Path) -> Iterator[Engine]:
    """An empty schema of its own on the PostgreSQL test server."""
    with backend_database("postgres", tmp_path, pg_url, prefix="tt_copy") as engine:
        yield engine


@pytest.fixture
def copies(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The COPY statements psycopg is asked to run during the test."""
    seen: list[str] = []
    real = psycopg.Cursor.copy

    def spy(self: Any, statement: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(statement))
        return real(self, statement, *args, **kwargs)

    monkeypatch.setattr(psycopg.Cursor, "copy", spy)
    return seen


@pytest.fixture
def customers(pg: Engine, tmp_path: Path) -> Table:
    """The every-type variant's customer table, created on ``pg``."""
    metadata = database_metadata(_every_type_strategy(tmp_path))
    upgrade(pg, metadata)
    return metadata.tables["customer"]


def _customer(rid: str, **values: Any) -> dict[str, Any]:
    return {
        "id": rid,
        "subject_id": rid,
        "source": "service-desk",
        "collected_at": _NOW,
        "updated_at": _NOW,
        "retention_until": _NOW + timedelta(days=3650),
        "provenance": {k: ["service-desk", _NOW.isoformat()] for k in values},
        **values,
    }


_VALUES: list[dict[str, Any]] = [
    {  # an ordinary customer
        "name": "Anna Virtanen",
        "email": "anna@example.fi",
        "phone": "+358401234567",
        "street_address": "Tapiontori 1 A 2",
        "postal_code": "02100",
        "city": "Espoo",
        "branch": "espoo",
        "customer_since": date(2019, 5, 2),
        "preferred_channel": "sms",
        "language": "fi",
        "country": "FI",
        "homepage": "https://example.fi/anna?x=1&y=2#top",
        "notes": "Soita ennen kuin auto on valmis.",
        "vip": True,
        "visits_count": 12,
        "balance_eur": Decimal("149.9"),
        "last_seen": datetime(2026, 3, 1, 8, 0, 0, 1, tzinfo=UTC),
        "accessibility_need": b"f1.opaque-ciphertext",
    },
    {  # text that COPY's text format must escape, and values at the edges of their types
        "name": _AWKWARD[:255],
        "street_address": "\\x41 is not bytes",
        "city": "",
        "branch": "vantaa",
        "customer_since": date(1, 1, 1),
        "country": "SE",
        "homepage": "https://例え.jp/パス?q=\\t",
        "notes": _AWKWARD * 50,
        "vip": False,
        "visits_count": -(2**63),
        "balance_eur": Decimal("-99999999999999.9999"),
        "last_seen": datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=3))),
        "accessibility_need": bytes(range(256)) + b"\\\t\n\x00",
        "provenance": {"name": ['say "hi"\t\\', "ä\n€"], "nested": {"list": [1, 2.5, None]}},
    },
    {  # nothing but what a customer must have: every other column NULL
        "name": "N",
        "branch": "espoo",
        "visits_count": 2**63 - 1,
        "balance_eur": Decimal("0.0001"),
    },
]


def _as_text(engine: Engine, table: Table, rid: str) -> dict[str, str | None]:
    """The row as PostgreSQL prints each column (``col::text``), without its ids."""
    names = [c.name for c in table.columns if c.name not in {"id", "subject_id"}]
    with engine.connect() as conn:
        row = conn.execute(
            text(
                f"SELECT {', '.join(f'{n}::text' for n in names)} FROM {table.name} WHERE id = :i"
            ),
            {"i": rid},
        ).one()
    return dict(zip(names, row, strict=True))


def _read(engine: Engine, table: Table, rid: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(table).where(table.c.id == rid)).one()._mapping
    return {k: v for k, v in row.items() if k not in {"id", "subject_id"}}


@pytest.mark.parametrize("values", _VALUES, ids=["ordinary", "awkward", "nulls"])
def test_a_copied_row_is_stored_exactly_as_a_core_insert_stores_it(
    pg: Engine, customers: Table, copies: list[str], values: dict[str, Any]
) -> None:
    """Every field type, encrypted bytes, JSON, NULLs and text full of tabs, newlines and
    backslashes: COPY stores the same text PostgreSQL shows for a Core insert, and reads back
    as the values given."""
    core, bulk = new_ids(2)
    with pg.begin() as conn:
        conn.execute(customers.insert(), [_customer(core, **values)])
        insert_rows(conn, customers, [_customer(bulk, **values)])
    assert len(copies) == 1 and copies[0].startswith("COPY customer (")
    assert _as_text(pg, customers, bulk) == _as_text(pg, customers, core)
    read = _read(pg, customers, bulk)
    assert read == _read(pg, customers, core)
    given = {k: v for k, v in _customer(bulk, **values).items() if k not in {"id", "subject_id"}}
    for name, value in given.items():
        if name == "last_seen":
            assert read[name] == value and read[name].tzinfo is not None
        elif name == "balance_eur":
            assert read[name] == value
        else:
            assert read[name] == value, name
    absent = {c.name for c in customers.columns} - set(given) - {"id", "subject_id"}
    assert all(read[name] is None for name in absent)


def test_many_rows_with_mixed_nulls_read_back_as_written(
    pg: Engine, customers: Table, copies: list[str]
) -> None:
    """Thousands of rows, each missing different columns, come back value for value."""
    rows = []
    for n, rid in enumerate(new_ids(3000)):
        values = dict(_VALUES[n % len(_VALUES)])
        for key in list(values)[n % 5 :: 5]:
            values.pop(key)  # a different set of absent columns row by row
        values.setdefault("name", f"Asiakas {n}")
        values.setdefault("branch", "espoo")
        values["email"] = f"asiakas.{n}@example.fi"
        rows.append(_customer(rid, **values))
    with pg.begin() as conn:
        insert_rows(conn, customers, rows[:1000])
        insert_rows(conn, customers, rows[1000:])
    assert len(copies) == 2
    with pg.connect() as conn:
        stored = {r.id: r._mapping for r in conn.execute(select(customers))}
    assert len(stored) == len(rows)
    for row in rows:
        got = stored[row["id"]]
        assert {c.name: got[c.name] for c in customers.columns} == {
            c.name: row.get(c.name) for c in customers.columns
        }


def _ledger_row(n: int, subject: str) -> dict[str, Any]:
    at = _NOW + timedelta(seconds=n)
    return {
        "id": f"ev{n:030d}",
        "subject_id": subject,
        "use": "seasonal-reminders",
        "state": "given" if n % 2 == 0 else "withdrawn",
        "event_time": at,
        "recorded_at": at,
        "expires_at": at + timedelta(days=730) if n % 2 == 0 else None,
        "controller_name": "Renkaat & Huolto Virtanen Oy",
        "controller_id": "2745193-6",
        "notice": "privacy-notice-2026-01",
        "language": "fi",
        "jurisdiction": "FI",
        "source": "booking-form",
        "channel": "web_form",
        "method": "staff",
        "withdrawal_method": "link in every message",
        "recorded_by": "subject",
        "evidence": {"form": "booking", "ip": None},
        "key_version": 1,
        "receipt": f"receipt-{n}",
    }


def test_the_consent_ledger_numbers_copied_events_itself(pg: Engine, copies: list[str]) -> None:
    """``seq`` is left out of the COPY, so PostgreSQL numbers the events in the order written,
    after the events already there."""
    ledger = ConsentBase.metadata.tables["consent_event"]
    ConsentBase.metadata.create_all(pg)
    subject = uuid.uuid4().hex
    with pg.begin() as conn:
        conn.execute(ledger.insert(), [_ledger_row(0, subject)])  # numbered 1 by a Core insert
        insert_rows(conn, ledger, [_ledger_row(n, subject) for n in range(1, 6)])
    assert len(copies) == 1 and "seq" not in copies[0].split("(")[1].replace(",", " ").split()
    with pg.connect() as conn:
        rows = conn.execute(select(ledger).order_by(ledger.c.seq)).all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [r.id for r in rows] == [f"ev{n:030d}" for n in range(6)]
    assert rows[1].evidence == {"form": "booking", "ip": None}
    assert rows[1].event_time == _NOW + timedelta(seconds=1) and rows[1].expires_at is None


def test_a_failed_copy_raises_sqlalchemys_error_and_the_transaction_keeps_nothing(
    pg: Engine, customers: Table
) -> None:
    """A duplicate key in a second COPY fails the whole transaction, the first COPY with it."""
    first, second = new_ids(2)
    with pytest.raises(IntegrityError, match="pk_customer"), pg.begin() as conn:
        insert_rows(conn, customers, [_customer(first, name="A", branch="espoo")])
        insert_rows(
            conn,
            customers,
            [
                _customer(second, name="B", branch="espoo"),
                _customer(first, name="C", branch="espoo"),
            ],
        )
    with pg.connect() as conn:
        assert conn.execute(select(func.count()).select_from(customers)).scalar_one() == 0


def test_insert_rows_on_a_connection_without_a_transaction_begins_one(
    pg: Engine, customers: Table
) -> None:
    """Like any statement, the COPY belongs to a transaction the connection can commit or roll
    back."""
    kept, dropped = new_ids(2)
    with pg.connect() as conn:
        insert_rows(conn, customers, [_customer(kept, name="A", branch="espoo")])
        assert conn.in_transaction()
        conn.commit()
        insert_rows(conn, customers, [_customer(dropped, name="B", branch="espoo")])
        conn.rollback()
    with pg.connect() as conn:
        assert conn.execute(select(customers.c.id)).scalars().all() == [kept]


def test_matching_finds_the_earliest_record_per_value_across_array_chunks(
    pg: Engine, customers: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lookups by array give every stored match, earliest first within a value, and nothing for
    values not stored, however the values are split into queries."""
    monkeypatch.setattr(records.bulk, "_ARRAY_CHUNK", 3)
    early, late, other = new_ids(3)
    rows = [
        _customer(late, name="L", branch="espoo", email="same@example.fi"),
        _customer(other, name="O", branch="espoo", email=_AWKWARD[:254]),
        {
            **_customer(early, name="E", branch="espoo", email="same@example.fi"),
            "collected_at": _NOW - timedelta(days=1),
        },
    ]
    with pg.begin() as conn:
        insert_rows(conn, customers, rows)
    wanted = [f"nobody{i}@example.fi" for i in range(7)] + ["same@example.fi", _AWKWARD[:254]]
    with session_factory(pg)() as session:
        found = list(matching(session, customers, customers.c.email, wanted))
    assert sorted(found) == sorted(
        [("same@example.fi", early), ("same@example.fi", late), (_AWKWARD[:254], other)]
    )
    assert [rid for value, rid in found if value == "same@example.fi"] == [early, late]


def test_an_import_refused_after_batches_were_copied_leaves_nothing(
    pg: Engine, crypto: FieldCrypto, tmp_path: Path, copies: list[str]
) -> None:
    """Batches before the bad row are written with COPY, then the refusal rolls them back."""
    strategy = load_strategy(BUNDLED).strategy
    assert strategy is not None
    upgrade(pg, database_metadata(strategy))
    store = RecordStore(strategy, crypto=crypto)
    path = tmp_path / "customers.csv"
    lines = ["name,email,phone,branch"]
    lines += [f"Asiakas {i},asiakas.{i}@example.fi,+35840{i:07d},espoo" for i in range(40)]
    lines.append("Huono,huono@example.fi,+358400000999,helsinki")  # no such branch
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    sessions = session_factory(pg)
    with pytest.raises(ImportRejected, match="1 of 41 rows are invalid"):
        import_file(sessions, store, path, entity="customer", source="service-desk", batch_rows=10)
    assert len(copies) >= 4  # the four good batches went through COPY
    with pg.connect() as conn:
        held = conn.execute(select(func.count()).select_from(store.tables.table("customer")))
        assert held.scalar_one() == 0
    path.write_text("\n".join(lines[:-1]) + "\n", encoding="utf-8")
    result = import_file(
        sessions, store, path, entity="customer", source="service-desk", batch_rows=10
    )
    assert result.inserted == 40
    with transaction(sessions) as session:
        table = store.tables.table("customer")
        assert session.execute(select(func.count()).select_from(table)).scalar_one() == 40


def _analysed(engine: Engine, *tables: str) -> dict[str, bool]:
    """Whether PostgreSQL holds planner statistics of each table (autovacuum is off here)."""
    with engine.connect() as conn:
        got: dict[str, bool] = dict(
            conn.execute(
                text(
                    "SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                    "WHERE schemaname = current_schema() AND relname = ANY(:t)"
                ),
                {"t": list(tables)},
            ).all()
        )
    return {t: bool(got.get(t)) for t in tables}


def test_a_large_import_and_a_seed_leave_the_planner_statistics_of_what_they_wrote(
    pg: Engine, crypto: FieldCrypto, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A freshly loaded table has no statistics, and a one-subject lookup is then planned as
    thousands of rows; an import of ANALYZE_AFTER_ROWS rows or more and every seed ANALYZE
    the tables they wrote, a smaller import does not."""
    strategy = load_strategy(BUNDLED).strategy
    assert strategy is not None
    upgrade(pg, database_metadata(strategy))
    store = RecordStore(strategy, crypto=crypto)
    sessions = session_factory(pg)
    monkeypatch.setattr("records.imports.ANALYZE_AFTER_ROWS", 30)
    path = tmp_path / "customers.csv"
    rows = [f"Asiakas {i},asiakas.{i}@example.fi,+35840{i:07d},espoo" for i in range(40)]
    path.write_text("name,email,phone,branch\n" + "\n".join(rows[:20]) + "\n", encoding="utf-8")
    import_file(sessions, store, path, entity="customer", source="service-desk")
    assert _analysed(pg, "customer") == {"customer": False}  # 20 rows: below the mark
    path.write_text("name,email,phone,branch\n" + "\n".join(rows) + "\n", encoding="utf-8")
    import_file(sessions, store, path, entity="customer", source="service-desk")
    assert _analysed(pg, "customer", "visit") == {"customer": True, "visit": False}
    seed(sessions, store, customers=5)
    assert _analysed(pg, "customer", "vehicle", "visit") == dict.fromkeys(
        ["customer", "vehicle", "visit"], True
    )
