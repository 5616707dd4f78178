"""Requests reach the external systems of record on real PostgreSQL and MariaDB servers."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    create_engine,
    insert,
    select,
)

from records.external import ExternalSystems
from schemas import load_strategy
from schemas.models import External, ExternalTable, Strategy

MINIMAL = Path(__file__).parents[1] / "schemas" / "minimal"


def _strategy(table: str) -> Strategy:
    base = load_strategy(MINIMAL).strategy
    assert base is not None
    ext = External(
        id="webshop",
        url_env="WEBSHOP_URL",
        tables=[
            ExternalTable(
                name=table, entity="visit", subject_column="customer_email", identifier="email"
            )
        ],
    )
    system = base.system.model_copy(update={"external": [ext]})
    return base.model_copy(update={"system": system})


@pytest.fixture(params=["postgres", "mariadb"])
def shop(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A webshop database with one orders table, on each real server."""
    url = request.getfixturevalue("pg_url" if request.param == "postgres" else "mariadb_url")
    name = f"orders_{secrets.token_hex(4)}"
    engine = create_engine(url)
    table = Table(
        name,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("customer_email", String(200)),
        Column("amount_eur", Numeric(10, 2)),
        Column("note", String(200)),
    )
    table.create(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(table),
            [
                {"id": 1, "customer_email": "liisa@example.fi", "amount_eur": 120, "note": "tyres"},
                {"id": 2, "customer_email": "liisa@example.fi", "amount_eur": 80, "note": "wash"},
                {"id": 3, "customer_email": "pekka@example.fi", "amount_eur": 60, "note": "oil"},
            ],
        )
    yield url, name
    table.drop(engine)
    engine.dispose()


def _rows(url: str, name: str) -> list[dict]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            table = Table(name, MetaData(), autoload_with=conn)
            return [dict(r) for r in conn.execute(select(table).order_by(table.c.id)).mappings()]
    finally:
        engine.dispose()


def test_access_reads_the_subjects_rows_and_no_one_elses(shop: tuple[str, str]) -> None:
    """Art. 15 reaches the webshop's orders of this customer only."""
    url, name = shop
    (outcome,) = ExternalSystems(_strategy(name), env={"WEBSHOP_URL": url}).read(
        {"email": "liisa@example.fi"}
    )
    assert outcome.reached and outcome.counts == {name: 2}
    assert {r["note"] for r in outcome.rows[name]} == {"tyres", "wash"}


def test_erasure_deletes_the_subjects_rows_there(shop: tuple[str, str]) -> None:
    """Art. 17 deletes the customer's orders in the external system, and only theirs."""
    url, name = shop
    (outcome,) = ExternalSystems(_strategy(name), env={"WEBSHOP_URL": url}).erase(
        {"email": "liisa@example.fi"}
    )
    assert outcome.counts == {name: 2}
    assert [r["customer_email"] for r in _rows(url, name)] == ["pekka@example.fi"]


def test_rectification_updates_fields_the_table_holds(shop: tuple[str, str]) -> None:
    """Art. 16 corrects the same field in the external table."""
    url, name = shop
    (outcome,) = ExternalSystems(_strategy(name), env={"WEBSHOP_URL": url}).rectify(
        {"email": "liisa@example.fi"}, {"visit.amount_eur": 99, "customer.name": "Liisa"}
    )
    assert outcome.counts == {name: 2}
    amounts = {
        int(r["amount_eur"]) for r in _rows(url, name) if r["customer_email"].startswith("liisa")
    }
    assert amounts == {99}


def test_a_system_without_its_url_is_reported_not_reached() -> None:
    """An unset URL is never counted as done; the outcome says which variable to set."""
    (outcome,) = ExternalSystems(_strategy("orders"), env={}).erase({"email": "a@b.fi"})
    assert not outcome.reached and "WEBSHOP_URL is not set" in (outcome.problem or "")


def test_a_missing_table_is_reported_with_its_system(tmp_path: Path) -> None:
    """A wrong table name is a clear problem naming the system, not a crash."""
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    (outcome,) = ExternalSystems(_strategy("nope"), env={"WEBSHOP_URL": url}).read(
        {"email": "a@b.fi"}
    )
    assert not outcome.reached and "'webshop'" in (outcome.problem or "")
