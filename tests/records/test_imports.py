"""Bulk import: every row checked first; a bad batch is refused whole or its bad rows set aside."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kernel.db import session_factory
from kernel.errors import RecordError
from records.imports import ImportRejected, import_file

HEADER = ["name", "email", "phone", "branch"]


def _csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _count(engine, store, entity: str = "customer") -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(select(func.count()).select_from(store.tables.table(entity))).scalar_one()
        )


def _import(engine, store, path: Path, *, entity: str = "customer", **options):
    """import_file of ``path`` as the service desk's, with a session factory of its own."""
    return import_file(
        session_factory(engine), store, path, entity=entity, source="service-desk", **options
    )


GOOD = [
    ["Anna", "anna@example.fi", "0401234567", "espoo"],
    ["Ben", "ben@example.fi", "0501234567", "vantaa"],
    ["Anna V", "ANNA@example.fi", "", "espoo"],
]


def test_a_clean_csv_is_imported_and_deduplicated(store, engine, tmp_path) -> None:
    """Three rows, two people: the third row merges into the first by email."""
    result = _import(engine, store, _csv(tmp_path / "c.csv", GOOD))
    assert (result.rows, result.inserted, result.merged, result.rejected) == (3, 2, 1, 0)
    assert _count(engine, store) == 2


def test_one_bad_row_refuses_the_whole_batch_with_row_numbers(store, engine, tmp_path) -> None:
    """Nothing is written when a row is invalid; the error names the row and the reason."""
    rows = [*GOOD, ["Cecilia", "not-an-email", "0451234567", "espoo"]]
    with pytest.raises(ImportRejected) as caught:
        _import(engine, store, _csv(tmp_path / "c.csv", rows))
    assert caught.value.context["rows"][0]["row"] == 4
    assert "not an email" in caught.value.context["rows"][0]["reason"]
    assert _count(engine, store) == 0


def test_skip_invalid_imports_good_rows_and_writes_a_reject_file(store, engine, tmp_path) -> None:
    """With --skip-invalid the good rows go in; bad ones go to a reject file with a reason."""
    rows = [
        *GOOD,
        ["Cecilia", "cecilia@example.fi", "12", "espoo"],
        ["", "d@example.fi", "0441234567", "espoo"],
    ]
    rejects = tmp_path / "rejects.csv"
    result = _import(
        engine,
        store,
        _csv(tmp_path / "c.csv", rows),
        skip_invalid=True,
        reject_file=rejects,
    )
    assert (result.inserted, result.merged, result.rejected) == (2, 1, 2)
    with rejects.open(encoding="utf-8", newline="") as fh:
        bad = list(csv.DictReader(fh))
    assert [(r["_row"], r["email"]) for r in bad] == [
        ("4", "cecilia@example.fi"),
        ("5", "d@example.fi"),
    ]
    assert "phone" in bad[0]["_reason"] and "customer.name" in bad[1]["_reason"]
    assert _count(engine, store) == 2


def test_columns_the_strategy_does_not_declare_refuse_the_file(store, engine, tmp_path) -> None:
    """An undeclared column is refused before any row is looked at."""
    path = _csv(
        tmp_path / "c.csv",
        [["Anna", "anna@example.fi", "0401234567", "espoo", "42"]],
        header=[*HEADER, "shoe_size"],
    )
    with pytest.raises(RecordError, match="shoe_size are not fields of customer"):
        _import(engine, store, path)


def test_json_lines_children_name_their_subject(store, engine, tmp_path) -> None:
    """Visits in JSON Lines find their customer by subject.email; unknown ones are rejected."""
    _import(engine, store, _csv(tmp_path / "c.csv", GOOD))
    lines = [
        {
            "subject.email": "anna@example.fi",
            "visited_at": "2026-03-01T10:00:00+02:00",
            "service_type": "tyre_change",
            "amount_eur": "89.90",
        },
        {
            "subject.email": "zed@example.fi",
            "visited_at": "2026-03-02T10:00:00+02:00",
            "service_type": "repair",
        },
    ]
    path = tmp_path / "visits.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    result = _import(
        engine,
        store,
        path,
        entity="visit",
        skip_invalid=True,
    )
    assert (result.inserted, result.rejected) == (1, 1)
    assert result.reject_file is not None
    rejected = [json.loads(x) for x in result.reject_file.read_text().splitlines()]
    assert rejected[0]["_row"] == 2 and "no customer with email" in rejected[0]["_reason"]


def _stored(engine, store) -> list[dict]:
    table = store.tables.table("customer")
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.collected_at, table.c.email))
        return [dict(r._mapping) for r in rows]


def test_batches_deduplicate_across_their_boundaries_as_one_batch_does(
    store, engine, tmp_path
) -> None:
    """Read two rows at a time, the third row still merges into the first: the same records,
    values and provenance as reading the file in one batch."""
    path = _csv(tmp_path / "c.csv", GOOD)
    small = _import(engine, store, path, batch_rows=2)
    by_two = _stored(engine, store)
    with engine.begin() as conn:
        conn.execute(store.tables.table("customer").delete())
    whole = _import(engine, store, path)
    in_one = _stored(engine, store)
    assert (small.inserted, small.merged) == (whole.inserted, whole.merged) == (2, 1)

    def comparable(rows: list[dict]) -> list[tuple]:
        return [
            (r["email"], r["phone"], r["name"], r["branch"], sorted(r["provenance"])) for r in rows
        ]

    assert comparable(by_two) == comparable(in_one)
    anna = next(r for r in by_two if r["email"] == "anna@example.fi")
    assert (anna["name"], anna["phone"]) == ("Anna V", "+358401234567")


def test_a_bad_row_in_a_later_batch_refuses_rows_already_written(store, engine, tmp_path) -> None:
    """Batches before the bad row were written inside the import's transaction: refusing the
    file rolls them back, and the error lists the bad rows of every batch."""
    rows = [
        ["Cecilia", "bad-1", "0451234567", "espoo"],
        *GOOD,
        ["Dan", "dan@example.fi", "0441234567", "espoo"],
        ["Eve", "bad-2", "0431234567", "vantaa"],
    ]
    with pytest.raises(ImportRejected) as caught:
        _import(
            engine,
            store,
            _csv(tmp_path / "c.csv", rows),
            batch_rows=2,
        )
    assert [r["row"] for r in caught.value.context["rows"]] == [1, 6]
    assert "2 of 6 rows are invalid" in caught.value.message
    assert _count(engine, store) == 0


def test_skipped_rows_of_every_batch_reach_the_reject_file(store, engine, tmp_path) -> None:
    rows = [
        ["Cecilia", "bad-1", "0451234567", "espoo"],
        *GOOD,
        ["Eve", "bad-2", "0431234567", "vantaa"],
    ]
    rejects = tmp_path / "rejects.csv"
    result = _import(
        engine,
        store,
        _csv(tmp_path / "c.csv", rows),
        skip_invalid=True,
        reject_file=rejects,
        batch_rows=2,
    )
    assert (result.rows, result.inserted, result.merged, result.rejected) == (5, 2, 1, 2)
    with rejects.open(encoding="utf-8", newline="") as fh:
        assert [(r["_row"], r["email"]) for r in csv.DictReader(fh)] == [
            ("1", "bad-1"),
            ("5", "bad-2"),
        ]


def test_progress_says_how_much_of_the_file_was_read_and_how_many_rows_written(
    store, engine, tmp_path
) -> None:
    path = _csv(tmp_path / "c.csv", GOOD)
    read: list[tuple[int, int]] = []
    written: list[int] = []
    _import(
        engine,
        store,
        path,
        on_read=lambda d, t: read.append((d, t)),
        on_written=written.append,
        batch_rows=2,
    )
    size = path.stat().st_size
    assert read[-1] == (size, size)
    assert sum(written) == 3  # two inserts, then one merge written as an update


def test_a_file_that_is_not_utf8_is_refused_naming_it(store, engine, tmp_path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(
        "name,email,phone,branch\nÄijä,a@example.fi,0401234567,espoo\n".encode("latin-1")
    )
    with pytest.raises(RecordError, match=r"latin1\.csv: not UTF-8"):
        _import(engine, store, path)
    assert _count(engine, store) == 0
