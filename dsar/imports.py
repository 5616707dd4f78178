"""Import a CSV or JSON Lines file into the system of record: all rows checked, then one write.

Columns are field names of the entity, plus, for child entities, ``subject_id`` or
``subject.<identifier>`` (e.g. ``subject.email``) naming the subject, and ``parent_id`` for a
grandchild. Empty CSV cells and JSON nulls mean "no value". Every row is validated and
deduplicated before anything is written; then everything is written in one transaction.
A batch with bad rows is refused whole (:class:`ImportRejected` lists row numbers and
reasons) unless ``skip_invalid``: then the good rows go in and the bad ones go to a reject
file (same format, with ``_row`` and ``_reason`` columns).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dsar.bulk import paused_gc, sqlite_bulk_cache
from dsar.ingest import IncomingRow, Rejected, plan_batch, write_plan
from dsar.records import RecordStore
from kernel.db import transaction
from kernel.errors import RecordError
from kernel.files import atomic_path

__all__ = ["ImportRejected", "ImportResult", "import_file", "read_rows"]

_SHOWN = 20


class ImportRejected(RecordError):
    """Some rows are invalid and ``skip_invalid`` was not given: nothing was written."""

    code = "import_rejected"


@dataclass(frozen=True)
class ImportResult:
    """What an import did."""

    rows: int
    inserted: int
    merged: int
    rejected: int
    reject_file: Path | None


def _is_jsonl(path: Path) -> bool:
    return path.suffix.lower() in {".jsonl", ".ndjson", ".json"}


def _is_reference(key: str) -> bool:
    """Whether a column names the subject or the parent rather than a field."""
    return key in ("subject_id", "parent_id") or key.startswith("subject.")


def _row(line: int, raw: dict[str, Any], references: list[str]) -> IncomingRow:
    """``raw`` as a row; ``references`` are its subject and parent columns, in ``raw``'s order."""
    values = {k: v for k, v in raw.items() if v is not None and v != ""}
    if not references:
        return IncomingRow(line=line, values=values)
    subject: dict[str, Any] = {}
    parent: str | None = None
    for key in references:
        value = values.pop(key, None)
        if value is None:
            continue
        if key == "subject_id":
            subject["id"] = value
        elif key == "parent_id":
            parent = str(value)
        else:
            subject[key.removeprefix("subject.")] = value
    return IncomingRow(line=line, values=values, subject=subject or None, parent=parent)


def _rows(raws: list[dict[str, Any]]) -> list[IncomingRow]:
    shapes: dict[tuple[str, ...], list[str]] = {}  # the reference columns of each key set
    rows = []
    for line, raw in enumerate(raws, start=1):
        if not raw:
            continue
        shape = tuple(raw)
        references = shapes.get(shape)
        if references is None:
            references = shapes[shape] = [k for k in shape if _is_reference(k)]
        rows.append(_row(line, raw, references))
    return rows


def read_rows(path: Path) -> tuple[list[IncomingRow], list[dict[str, Any]]]:
    """The rows of a CSV or JSON Lines file (numbered from 1), and the raw rows for rejects."""
    path = Path(path)
    raws: list[dict[str, Any]] = []
    if _is_jsonl(path):
        loads = json.loads
        with path.open(encoding="utf-8") as fh:
            for number, text in enumerate(fh, start=1):
                if not text.strip():
                    raws.append({})
                    continue
                try:
                    obj = loads(text)
                except json.JSONDecodeError as exc:
                    raise RecordError(f"{path}:{number}: not JSON ({exc.msg}); each line is "
                                      "one JSON object", file=str(path), line=number) from None
                if not isinstance(obj, dict):
                    raise RecordError(f"{path}:{number}: each line must be a JSON object",
                                      file=str(path), line=number)
                raws.append(obj)
    else:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            # csv.DictReader's rules, without its per-row overhead: the first row is the
            # header, blank rows are skipped, missing cells are None, extra cells an error.
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is not None:
                width = len(header)
                for cells in reader:
                    if not cells:
                        continue
                    if len(cells) > width:
                        raise RecordError(f"{path}: row {reader.line_num - 1} has more cells "
                                          "than the header", file=str(path),
                                          line=reader.line_num)
                    raw: dict[str, Any] = dict(zip(header, cells, strict=False))
                    if len(cells) < width:
                        for key in header[len(cells):]:
                            raw[key] = None
                    raws.append(raw)
    return _rows(raws), raws


def _check_columns(store: RecordStore, entity: str, rows: list[IncomingRow], path: Path) -> None:
    store.check_entity(entity)
    declared = set(store.strategy.index.entities[entity].fields)
    unknown = sorted({k for r in rows for k in r.values} - declared)
    if unknown:
        raise RecordError(
            f"{path}: column(s) {', '.join(unknown)} are not fields of {entity}: the strategy "
            "does not declare them, so they may not be stored (declare them in 5-system.yaml, "
            "or drop the columns)", file=str(path), entity=entity, columns=unknown)


def _write_rejects(target: Path, rejected: list[Rejected], raws: list[dict[str, Any]]) -> None:
    records = [{**{k: v for k, v in raws[r.line - 1].items()}, "_row": r.line,
                "_reason": r.reason} for r in rejected]
    with atomic_path(target) as tmp:
        if _is_jsonl(target):
            with tmp.open("w", encoding="utf-8") as fh:
                for rec in records:
                    fh.write(json.dumps(rec, ensure_ascii=False, default=str) + "\n")
        else:
            columns: list[str] = []
            for rec in records:
                columns += [k for k in rec if k not in columns]
            with tmp.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=columns)
                writer.writeheader()
                writer.writerows(records)


def import_file(
    sessions: sessionmaker[Session],
    store: RecordStore,
    path: Path,
    *,
    entity: str,
    source: str,
    skip_invalid: bool = False,
    reject_file: Path | None = None,
    on_rows: Callable[[int], None] | None = None,
    on_written: Callable[[int], None] | None = None,
) -> ImportResult:
    """Import ``path`` (CSV, or JSON Lines for .jsonl/.ndjson/.json) into ``entity``.

    ``on_rows`` is told how many rows were read; ``on_written`` how many were just written.
    Raises :class:`ImportRejected` (nothing written) when rows are invalid and not skipped.
    """
    with paused_gc():
        return _import(sessions, store, Path(path), entity=entity, source=source,
                       skip_invalid=skip_invalid, reject_file=reject_file, on_rows=on_rows,
                       on_written=on_written)


def _import(
    sessions: sessionmaker[Session],
    store: RecordStore,
    path: Path,
    *,
    entity: str,
    source: str,
    skip_invalid: bool,
    reject_file: Path | None,
    on_rows: Callable[[int], None] | None,
    on_written: Callable[[int], None] | None,
) -> ImportResult:
    rows, raws = read_rows(path)
    _check_columns(store, entity, rows, path)
    if on_rows is not None:
        on_rows(len(rows))
    with transaction(sessions) as session, sqlite_bulk_cache(session):
        plan = plan_batch(session, store, entity, source=source, rows=rows)
        if plan.rejected and not skip_invalid:
            shown = "; ".join(f"row {r.line}: {r.reason}" for r in plan.rejected[:_SHOWN])
            more = len(plan.rejected) - _SHOWN
            raise ImportRejected(
                f"{len(plan.rejected)} of {len(rows)} rows are invalid, nothing was imported "
                f"(fix them, or use --skip-invalid): {shown}"
                + (f"; and {more} more" if more > 0 else ""),
                file=str(path),
                rows=[{"row": r.line, "reason": r.reason} for r in plan.rejected])
        target = None
        if plan.rejected:
            target = reject_file or path.with_name(f"{path.stem}.rejects{path.suffix or '.csv'}")
            _write_rejects(target, plan.rejected, raws)
        write_plan(session, store, plan, progress=on_written)
    merged = sum(o.merged for o in plan.outcomes)
    return ImportResult(rows=len(rows), inserted=len(plan.outcomes) - merged, merged=merged,
                        rejected=len(plan.rejected), reject_file=target)
