"""Bulk import: every row checked first; a bad batch is refused whole or its bad rows set aside."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dsar.imports import ImportRejected, import_file
from kernel.db import session_factory
from kernel.errors import RecordError

HEADER = ["name", "email", "phone", "branch"]


def _csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _count(engine, store, entity: str = "customer") -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(
            store.tables.table(entity))).scalar_one())


GOOD = [["Anna", "anna@example.fi", "0401234567", "espoo"],
        ["Ben", "ben@example.fi", "0501234567", "vantaa"],
        ["Anna V", "ANNA@example.fi", "", "espoo"]]


def test_a_clean_csv_is_imported_and_deduplicated(store, engine, tmp_path) -> None:
    """Three rows, two people: the third row merges into the first by email."""
    result = import_file(session_factory(engine), store, _csv(tmp_path / "c.csv", GOOD),
                         entity="customer", source="service-desk")
    assert (result.rows, result.inserted, result.merged, result.rejected) == (3, 2, 1, 0)
    assert _count(engine, store) == 2


def test_one_bad_row_refuses_the_whole_batch_with_row_numbers(store, engine, tmp_path) -> None:
    """Nothing is written when a row is invalid; the error names the row and the reason."""
    rows = [*GOOD, ["Cecilia", "not-an-email", "0451234567", "espoo"]]
    with pytest.raises(ImportRejected) as caught:
        import_file(session_factory(engine), store, _csv(tmp_path / "c.csv", rows),
                    entity="customer", source="service-desk")
    assert caught.value.context["rows"][0]["row"] == 4
    assert "not an email" in caught.value.context["rows"][0]["reason"]
    assert _count(engine, store) == 0


def test_skip_invalid_imports_good_rows_and_writes_a_reject_file(store, engine, tmp_path) -> None:
    """With --skip-invalid the good rows go in; bad ones go to a reject file with a reason."""
    rows = [*GOOD, ["Cecilia", "cecilia@example.fi", "12", "espoo"], ["", "d@example.fi",
                                                                     "0441234567", "espoo"]]
    rejects = tmp_path / "rejects.csv"
    result = import_file(session_factory(engine), store, _csv(tmp_path / "c.csv", rows),
                         entity="customer", source="service-desk", skip_invalid=True,
                         reject_file=rejects)
    assert (result.inserted, result.merged, result.rejected) == (2, 1, 2)
    with rejects.open(encoding="utf-8", newline="") as fh:
        bad = list(csv.DictReader(fh))
    assert [(r["_row"], r["email"]) for r in bad] == [("4", "cecilia@example.fi"),
                                                       ("5", "d@example.fi")]
    assert "phone" in bad[0]["_reason"] and "customer.name" in bad[1]["_reason"]
    assert _count(engine, store) == 2


def test_columns_the_strategy_does_not_declare_refuse_the_file(store, engine, tmp_path) -> None:
    """An undeclared column is refused before any row is looked at."""
    path = _csv(tmp_path / "c.csv", [["Anna", "anna@example.fi", "0401234567", "espoo", "42"]],
                header=[*HEADER, "shoe_size"])
    with pytest.raises(RecordError, match="shoe_size are not fields of customer"):
        import_file(session_factory(engine), store, path, entity="customer",
                    source="service-desk")


def test_json_lines_children_name_their_subject(store, engine, tmp_path) -> None:
    """Visits in JSON Lines find their customer by subject.email; unknown ones are rejected."""
    import_file(session_factory(engine), store, _csv(tmp_path / "c.csv", GOOD),
                entity="customer", source="service-desk")
    lines = [{"subject.email": "anna@example.fi", "visited_at": "2026-03-01T10:00:00+02:00",
              "service_type": "tyre_change", "amount_eur": "89.90"},
             {"subject.email": "zed@example.fi", "visited_at": "2026-03-02T10:00:00+02:00",
              "service_type": "repair"}]
    path = tmp_path / "visits.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = import_file(session_factory(engine), store, path, entity="visit",
                         source="service-desk", skip_invalid=True)
    assert (result.inserted, result.rejected) == (1, 1)
    assert result.reject_file is not None
    rejected = [json.loads(x) for x in result.reject_file.read_text().splitlines()]
    assert rejected[0]["_row"] == 2 and "no customer with email" in rejected[0]["_reason"]
