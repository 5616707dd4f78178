"""Import a CSV or JSON Lines file into the system of record: in batches, in one transaction.

Columns are field names of the entity, plus, for child entities, ``subject_id`` or
``subject.<identifier>`` (e.g. ``subject.email``) naming the subject, and ``parent_id`` for a
grandchild. Empty CSV cells and JSON nulls mean "no value".

The file is read as a stream, :data:`BATCH_ROWS` rows at a time: each batch is validated,
deduplicated (against the database, which by then holds the earlier batches, and within
itself) and written, all inside one transaction, so memory stays flat however long the file
is. A file with bad rows is refused whole: the remaining batches are still checked, so
:class:`ImportRejected` lists every bad row number and reason, and then the transaction rolls
back. With ``skip_invalid`` the good rows go in and the bad ones go to a reject file (same
format, with ``_row`` and ``_reason`` columns), written before the commit.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker

from kernel.db import transaction
from kernel.errors import RecordError
from kernel.files import atomic_path
from records.bulk import ANALYZE_AFTER_ROWS, paused_gc, refresh_statistics, sqlite_bulk_cache
from records.ingest import IncomingRow, Rejected, plan_batch, write_plan
from records.store import RecordStore

__all__ = ["BATCH_ROWS", "ImportRejected", "ImportResult", "import_file", "iter_rows"]

BATCH_ROWS: Final = 50_000
"""Rows validated and written together; what an import holds in memory at once."""

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


def _raw_jsonl(path: Path, fh: io.TextIOBase) -> Iterator[tuple[int, dict[str, Any]]]:
    loads = json.loads
    for number, text in enumerate(fh, start=1):
        if not text.strip():
            continue
        try:
            obj = loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(
                f"{path}:{number}: not JSON ({exc.msg}); each line is one JSON object",
                file=str(path),
                line=number,
            ) from None
        if not isinstance(obj, dict):
            raise RecordError(
                f"{path}:{number}: each line must be a JSON object", file=str(path), line=number
            )
        if obj:
            yield number, obj


def _raw_csv(path: Path, fh: io.TextIOBase) -> Iterator[tuple[int, dict[str, Any]]]:
    # csv.DictReader's rules, without its per-row overhead: the first row is the header,
    # blank rows are skipped, missing cells are None, extra cells an error. Rows are numbered
    # from 1 after the header, blank ones not counted.
    reader = csv.reader(fh)
    header = next(reader, None)
    if header is None:
        return
    width = len(header)
    number = 0
    for cells in reader:
        if not cells:
            continue
        number += 1
        if len(cells) > width:
            raise RecordError(
                f"{path}: row {number} has more cells than the header",
                file=str(path),
                line=reader.line_num,
            )
        raw: dict[str, Any] = dict(zip(header, cells, strict=False))
        if len(cells) < width:
            for key in header[len(cells) :]:
                raw[key] = None
        yield number, raw


def iter_rows(
    path: Path,
    *,
    on_read: Callable[[int, int], None] | None = None,
) -> Iterator[tuple[IncomingRow, dict[str, Any]]]:
    """Stream the rows of a CSV or JSON Lines file with their raw form (kept for rejects).

    ``on_read`` is told ``(bytes read so far, file size)`` every few thousand rows.
    """
    path = Path(path)
    total = path.stat().st_size
    shapes: dict[tuple[str, ...], list[str]] = {}  # the reference columns of each key set
    jsonl = _is_jsonl(path)
    with (
        path.open("rb") as binary,
        io.TextIOWrapper(
            binary, encoding="utf-8" if jsonl else "utf-8-sig", newline=None if jsonl else ""
        ) as fh,
    ):
        raws = _raw_jsonl(path, fh) if jsonl else _raw_csv(path, fh)
        try:
            for count, (line, raw) in enumerate(raws, start=1):
                shape = tuple(raw)
                references = shapes.get(shape)
                if references is None:
                    references = shapes[shape] = [k for k in shape if _is_reference(k)]
                yield _row(line, raw, references), raw
                if on_read is not None and count % 5000 == 0:
                    on_read(binary.tell(), total)
        except UnicodeDecodeError as exc:
            raise RecordError(
                f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start} of a "
                "block); save the file as UTF-8",
                file=str(path),
            ) from None
        if on_read is not None:
            on_read(total, total)


def _check_columns(store: RecordStore, entity: str, rows: list[IncomingRow], path: Path) -> None:
    store.check_entity(entity)
    declared = set(store.strategy.index.entities[entity].fields)
    unknown = sorted({k for r in rows for k in r.values} - declared)
    if unknown:
        raise RecordError(
            f"{path}: column(s) {', '.join(unknown)} are not fields of {entity}: the strategy "
            "does not declare them, so they may not be stored (declare them in 5-system.yaml, "
            "or drop the columns)",
            file=str(path),
            entity=entity,
            columns=unknown,
        )


def _write_rejects(
    target: Path,
    rejected: list[Rejected],
    raws: dict[int, dict[str, Any]],
) -> None:
    records = [{**raws[r.line], "_row": r.line, "_reason": r.reason} for r in rejected]
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
    on_read: Callable[[int, int], None] | None = None,
    on_written: Callable[[int], None] | None = None,
    batch_rows: int = BATCH_ROWS,
) -> ImportResult:
    """Import ``path`` (CSV, or JSON Lines for .jsonl/.ndjson/.json) into ``entity``.

    ``on_read`` is told ``(bytes read, file size)`` as the file is read; ``on_written`` how
    many rows were just written. Raises :class:`ImportRejected` (nothing written) when rows are
    invalid and not skipped.
    """
    if batch_rows < 1:
        raise RecordError("batch_rows must be at least 1", parameter="batch_rows")
    with paused_gc():
        return _import(
            sessions,
            store,
            Path(path),
            entity=entity,
            source=source,
            skip_invalid=skip_invalid,
            reject_file=reject_file,
            on_read=on_read,
            on_written=on_written,
            batch_rows=batch_rows,
        )


def _import(
    sessions: sessionmaker[Session],
    store: RecordStore,
    path: Path,
    *,
    entity: str,
    source: str,
    skip_invalid: bool,
    reject_file: Path | None,
    on_read: Callable[[int, int], None] | None,
    on_written: Callable[[int], None] | None,
    batch_rows: int,
) -> ImportResult:
    store.check_entity(entity)
    rows = iter_rows(path, on_read=on_read)
    now = datetime.now(UTC)  # one moment for the whole file, as for one batch
    seen = inserted = merged = 0
    rejected: list[Rejected] = []
    rejected_raws: dict[int, dict[str, Any]] = {}
    with transaction(sessions) as session, sqlite_bulk_cache(session):
        while batch := list(islice(rows, batch_rows)):
            incoming = [row for row, _ in batch]
            _check_columns(store, entity, incoming, path)
            plan = plan_batch(session, store, entity, source=source, rows=incoming, now=now)
            if plan.rejected:
                bad = {r.line for r in plan.rejected}
                rejected_raws.update((row.line, raw) for row, raw in batch if row.line in bad)
                rejected += plan.rejected
            # Written even after a bad row, so that later batches deduplicate and attach as
            # they would had the file been good; a refused file then rolls all of it back.
            write_plan(session, store, plan, progress=on_written)
            seen += len(incoming)
            batch_merged = sum(o.merged for o in plan.outcomes)
            merged += batch_merged
            inserted += len(plan.outcomes) - batch_merged
        if rejected and not skip_invalid:
            shown = "; ".join(f"row {r.line}: {r.reason}" for r in rejected[:_SHOWN])
            more = len(rejected) - _SHOWN
            raise ImportRejected(
                f"{len(rejected)} of {seen} rows are invalid, nothing was imported "
                f"(fix them, or use --skip-invalid): {shown}"
                + (f"; and {more} more" if more > 0 else ""),
                file=str(path),
                rows=[{"row": r.line, "reason": r.reason} for r in rejected],
            )
        target = None
        if rejected:
            target = reject_file or path.with_name(f"{path.stem}.rejects{path.suffix or '.csv'}")
            _write_rejects(target, rejected, rejected_raws)
    if inserted + merged >= ANALYZE_AFTER_ROWS:
        with transaction(sessions) as session:
            refresh_statistics(session.connection(), [store.tables.table(entity)])
    return ImportResult(
        rows=seen,
        inserted=inserted,
        merged=merged,
        rejected=len(rejected),
        reject_file=target,
    )
