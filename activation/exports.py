"""Audience and report files: CSV, JSON Lines and (when pyarrow is importable) Parquet.

Files are written all at once or not at all (:func:`kernel.files.atomic_path`), readable by
their owner only. Values are written as JSON holds them: decimals and dates as text.
"""

from __future__ import annotations

import csv
import importlib
import importlib.util
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from kernel.errors import RecordError
from kernel.files import atomic_path

__all__ = [
    "OutputFormat",
    "format_for",
    "parquet_available",
    "plain",
    "write_file",
    "write_rows",
]


class OutputFormat(StrEnum):
    """Formats audiences and reports are written in."""

    CSV = "csv"
    JSONL = "jsonl"
    PARQUET = "parquet"


_SUFFIXES: Final = {
    ".csv": OutputFormat.CSV,
    ".jsonl": OutputFormat.JSONL,
    ".ndjson": OutputFormat.JSONL,
    ".parquet": OutputFormat.PARQUET,
}


def format_for(path: Path, given: str | None = None) -> OutputFormat:
    """The format ``given`` (csv, jsonl, parquet), else the one ``path``'s suffix names."""
    if given is not None:
        try:
            return OutputFormat(given)
        except ValueError:
            raise RecordError(
                f"format {given!r}: use csv, jsonl or parquet", parameter="format"
            ) from None
    chosen = _SUFFIXES.get(Path(path).suffix.lower())
    if chosen is None:
        raise RecordError(
            f"{path}: name the file .csv, .jsonl or .parquet, or give --format",
            parameter="out",
            file=str(path),
        )
    return chosen


_AS_IS: Final = frozenset({str, int, float, bool, type(None)})


def plain(value: Any) -> Any:
    """A value as JSON holds it: decimals and dates as text, everything else as is."""
    if type(value) in _AS_IS:  # most values: one set lookup, no isinstance chain
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return None  # ciphertext never leaves; decrypted values are already text
    return value


def write_rows(
    rows: Iterable[Mapping[str, Any]],
    columns: Sequence[str],
    out: io.TextIOBase | Any,
    fmt: OutputFormat,
) -> int:
    """Write ``rows`` (only ``columns``, in order) to the open file ``out``; returns the count.

    CSV and JSON Lines go to a text stream; Parquet needs a binary file and ``pyarrow``.
    """
    count = 0
    if fmt is OutputFormat.CSV:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [
                    ""
                    if (v := plain(row.get(c))) is None
                    else ("true" if v is True else "false" if v is False else v)
                    for c in columns
                ]
            )
            count += 1
        return count
    if fmt is OutputFormat.JSONL:
        for row in rows:
            out.write(json.dumps({c: plain(row.get(c)) for c in columns}, ensure_ascii=False))
            out.write("\n")
            count += 1
        return count
    return _write_parquet(rows, columns, out)


def parquet_available() -> bool:
    """Whether ``pyarrow`` is importable (Parquet output)."""
    return importlib.util.find_spec("pyarrow") is not None


def _write_parquet(rows: Iterable[Mapping[str, Any]], columns: Sequence[str], out: Any) -> int:
    if not parquet_available():
        raise RecordError(
            "Parquet output needs the pyarrow package (pip install pyarrow); "
            "write .csv or .jsonl instead",
            parameter="format",
        )
    pa: Any = importlib.import_module("pyarrow")
    pq: Any = importlib.import_module("pyarrow.parquet")
    data: dict[str, list[Any]] = {c: [] for c in columns}
    count = 0
    for row in rows:
        for c in columns:
            data[c].append(plain(row.get(c)))
        count += 1
    pq.write_table(pa.table(data), out)
    return count


def write_file(
    rows: Iterable[Mapping[str, Any]], columns: Sequence[str], path: Path, fmt: OutputFormat
) -> int:
    """Write ``rows`` to ``path`` all at once or not at all (owner-only mode); the row count."""
    with atomic_path(Path(path)) as tmp:
        if fmt is OutputFormat.PARQUET:
            with tmp.open("wb") as binary:
                return write_rows(rows, columns, binary, fmt)
        with tmp.open("w", encoding="utf-8", newline="") as text:
            return write_rows(rows, columns, text, fmt)
