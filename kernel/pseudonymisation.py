"""Pseudonymise CSV, JSON Lines and Parquet files in one streaming pass with constant memory.

Rows are read in chunks (10,000 by default); each chosen column of a chunk goes through the
batch token API in one call, and the chunk is written out. The output is written to a temporary
file beside the destination and renamed over it only when the whole file is done, so a failure
never leaves a half-pseudonymised file behind. Every token of one run is made under the key
version that was current when the run started.

Empty values stay empty (a token of "nothing" would only mark the row) and so do JSON ``null``
and Parquet nulls. In JSON Lines and Parquet, numbers and booleans are tokenised as their JSON
text (``358401234567``, ``true``), dates as ISO 8601; nested objects and lists are refused,
since there is no safe way to pseudonymise a structure. Only top-level JSON keys are fields.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import importlib
import importlib.util
import io
import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final, Protocol

from kernel.crypto import Pseudonymiser, TokenMode, validate_domain
from kernel.errors import RecordError
from kernel.files import atomic_path

__all__ = [
    "FileFormat",
    "Progress",
    "PseudonymisedFile",
    "detect_format",
    "parquet_available",
    "parse_field_spec",
    "pseudonymise_file",
]

DEFAULT_CHUNK_ROWS: Final = 10_000

_SUFFIXES: Final = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


class FileFormat(StrEnum):
    """The file formats :func:`pseudonymise_file` reads and writes."""

    CSV = "csv"
    """Comma-separated values with a header row (RFC 4180)."""
    JSONL = "jsonl"
    """JSON Lines: one JSON object per line."""
    PARQUET = "parquet"
    """Apache Parquet; needs the optional ``pyarrow`` package."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a run is: rows written so far and bytes of the source read so far."""

    rows: int
    bytes_read: int
    total_bytes: int


@dataclass(frozen=True, slots=True)
class PseudonymisedFile:
    """What a run did: where from and to, which domain and key version, how many rows."""

    source: Path
    destination: Path
    format: FileFormat
    domain: str
    key_version: int
    rows: int
    fields: Mapping[str, TokenMode]


ProgressCallback = Callable[[Progress], None]


class _CsvReader(Protocol):
    line_num: int

    def __iter__(self) -> Iterator[list[str]]: ...
    def __next__(self) -> list[str]: ...


_Tokenise = Callable[[list[str], TokenMode], list[str]]


def parquet_available() -> bool:
    """Whether ``pyarrow`` is importable, and so Parquet files can be pseudonymised."""
    return importlib.util.find_spec("pyarrow") is not None


def detect_format(path: Path) -> FileFormat:
    """The format named by ``path``'s suffix (``.csv``, ``.jsonl``/``.ndjson``, ``.parquet``)."""
    name = _SUFFIXES.get(Path(path).suffix.lower())
    if name is None:
        raise RecordError(
            f"{path}: cannot tell the file format from its suffix; use .csv, .jsonl, .ndjson "
            "or .parquet, or name the format",
            file=str(path),
        )
    return FileFormat(name)


def parse_field_spec(spec: str, *, default: TokenMode = TokenMode.HMAC) -> dict[str, TokenMode]:
    """``"email,plate:encrypt"`` → ``{"email": default, "plate": TokenMode.ENCRYPT}``."""
    fields: dict[str, TokenMode] = {}
    for raw in spec.split(","):
        item = raw.strip()
        if not item:
            continue
        name, _, mode = item.rpartition(":") if ":" in item else (item, "", "")
        name = name.strip()
        try:
            fields[name] = TokenMode(mode.strip()) if mode else default
        except ValueError:
            raise RecordError(
                f"field {name!r}: mode {mode!r} is not one of "
                + ", ".join(m.value for m in TokenMode),
                column=name,
            ) from None
    if not fields:
        raise RecordError("name at least one field to pseudonymise")
    return fields


def pseudonymise_file(
    src: Path,
    dst: Path,
    *,
    domain: str,
    fields: Mapping[str, TokenMode] | Sequence[str] | str,
    pseudonymiser: Pseudonymiser,
    mode: TokenMode = TokenMode.HMAC,
    file_format: FileFormat | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    progress: ProgressCallback | None = None,
) -> PseudonymisedFile:
    """Write ``src`` to ``dst`` with ``fields`` replaced by tokens of ``domain``.

    ``fields`` maps each column to its token mode, or lists columns that all get ``mode``, or
    is a spec such as ``"email,plate:encrypt"`` (:func:`parse_field_spec`). The format comes
    from ``src``'s suffix unless ``file_format`` names it; ``dst`` gets the same format (a
    ``dst`` suffix naming another format is refused). ``progress`` is called after every
    chunk. A field that is not a column of the file, a row whose column count differs from
    the header's, or a value that cannot be tokenised raises :class:`RecordError` naming the
    file, and leaves ``dst`` untouched.
    """
    src, dst = Path(src), Path(dst)
    validate_domain(domain)
    if isinstance(fields, str):
        plan = parse_field_spec(fields, default=mode)
    else:
        chosen = dict(fields) if isinstance(fields, Mapping) else dict.fromkeys(fields, mode)
        plan = {name: _mode(name, how) for name, how in chosen.items()}
    if not plan:
        raise RecordError("name at least one field to pseudonymise", file=str(src))
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if not src.is_file():
        raise RecordError(f"{src}: no such file", file=str(src))
    fmt = file_format or detect_format(src)
    named = _SUFFIXES.get(dst.suffix.lower())
    if named is not None and named != fmt.value:
        raise RecordError(
            f"{dst}: the output is written as {fmt.value}, like the input, but its suffix "
            f"says {named}; converting between formats is not supported",
            file=str(dst),
        )
    version = pseudonymiser.keyring.current_version

    def tokenise(values: list[str], how: TokenMode) -> list[str]:
        return pseudonymiser.tokenise_many(domain, values, how, version=version)

    run = _Run(src, plan, tokenise, chunk_rows, progress)
    with atomic_path(dst) as tmp:
        if fmt is FileFormat.CSV:
            rows = run.csv(tmp)
        elif fmt is FileFormat.JSONL:
            rows = run.jsonl(tmp)
        else:
            rows = run.parquet(tmp)
    return PseudonymisedFile(
        source=src,
        destination=dst,
        format=fmt,
        domain=domain,
        key_version=version,
        rows=rows,
        fields=plan,
    )


def _mode(name: str, how: TokenMode | str) -> TokenMode:
    try:
        return TokenMode(how)
    except ValueError:
        raise RecordError(
            f"field {name!r}: mode {how!r} is not one of " + ", ".join(m.value for m in TokenMode),
            column=name,
        ) from None


def _replace_nonempty(values: list[Any], tokenise: _Tokenise, how: TokenMode) -> list[Any]:
    """Tokens in place of the non-empty values; ``""`` and ``None`` stay as they are."""
    positions = [i for i, value in enumerate(values) if value]
    if len(positions) == len(values):
        return tokenise(values, how)
    tokens = tokenise([values[i] for i in positions], how)
    out = list(values)
    for i, token in zip(positions, tokens, strict=True):
        out[i] = token
    return out


def _as_text(value: Any) -> str | None:
    """The text a JSON or Parquet value is tokenised as; ``TypeError`` for structures."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    raise TypeError(type(value).__name__)


class _Run:
    """One pseudonymisation pass; a method per format, each returning the rows written."""

    def __init__(
        self,
        src: Path,
        plan: dict[str, TokenMode],
        tokenise: _Tokenise,
        chunk_rows: int,
        progress: ProgressCallback | None,
    ) -> None:
        self.src = src
        self.plan = plan
        self.tokenise = tokenise
        self.chunk_rows = chunk_rows
        self.progress = progress
        self.total_bytes = src.stat().st_size

    def _report(self, rows: int, bytes_read: int) -> None:
        if self.progress is not None:
            self.progress(Progress(rows, min(bytes_read, self.total_bytes), self.total_bytes))

    def _missing(self, columns: Sequence[str]) -> RecordError | None:
        absent = [name for name in self.plan if name not in columns]
        if not absent:
            return None
        shown = ", ".join(columns[:30]) + (", …" if len(columns) > 30 else "")
        return RecordError(
            f"{self.src}: there is no column {absent[0]!r} to pseudonymise; "
            f"the columns are: {shown or '(none)'}",
            file=str(self.src),
            column=absent[0],
        )

    def _unusable(self, where: str, name: str, kind: str) -> RecordError:
        return RecordError(
            f"{self.src}: {where}: field {name!r} holds a {kind}, which cannot be pseudonymised",
            file=str(self.src),
            column=name,
        )

    # CSV ----------------------------------------------------------------------------------

    def csv(self, tmp: Path) -> int:
        with (
            self.src.open("rb") as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fin,
        ):
            first = fin.readline()
            terminator = "\r\n" if first.endswith("\r\n") else "\n"
            reader = csv.reader(itertools.chain([first], fin))
            header = next(reader, None)
            if header is None:
                raise RecordError(
                    f"{self.src}: the file is empty, with no header row", file=str(self.src)
                )
            error = self._missing(header)
            if error is not None:
                raise error
            columns = [(i, self.plan[name]) for i, name in enumerate(header) if name in self.plan]
            width = len(header)
            rows = 0
            with tmp.open("w", encoding="utf-8", newline="") as fout:
                writer = csv.writer(fout, lineterminator=terminator)
                writer.writerow(header)
                for chunk in self._csv_chunks(reader, width):
                    for index, how in columns:
                        column = [row[index] for row in chunk]
                        for row, value in zip(
                            chunk, _replace_nonempty(column, self.tokenise, how), strict=True
                        ):
                            row[index] = value
                    writer.writerows(chunk)
                    rows += len(chunk)
                    self._report(rows, raw.tell())
        self._report(rows, self.total_bytes)
        return rows

    def _csv_chunks(self, reader: _CsvReader, width: int) -> Iterator[list[list[str]]]:
        chunk: list[list[str]] = []
        for row in reader:
            if len(row) != width:
                if not row:
                    continue  # a blank line holds no data
                line = reader.line_num
                raise RecordError(
                    f"{self.src}: line {line} has {len(row)} columns but the header has "
                    f"{width}; refusing to guess which value belongs to which column",
                    file=str(self.src),
                    line=line,
                )
            chunk.append(row)
            if len(chunk) == self.chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    # JSON Lines ---------------------------------------------------------------------------

    def jsonl(self, tmp: Path) -> int:
        seen: set[str] = set()
        rows = 0
        with self.src.open("rb") as fin, tmp.open("wb") as fout:
            for chunk in self._jsonl_chunks(fin):
                for name, how in self.plan.items():
                    holders = [obj for _, obj in chunk if name in obj]
                    if not holders:
                        continue
                    seen.add(name)
                    texts = []
                    for line, obj in chunk:
                        if name in obj:
                            try:
                                texts.append(_as_text(obj[name]))
                            except TypeError as exc:
                                raise self._unusable(f"line {line}", name, str(exc)) from None
                    for obj, value in zip(
                        holders, _replace_nonempty(texts, self.tokenise, how), strict=True
                    ):
                        obj[name] = value
                fout.writelines(_json_line(obj) for _, obj in chunk)
                rows += len(chunk)
                self._report(rows, fin.tell())
        absent = [name for name in self.plan if name not in seen]
        if absent:
            raise RecordError(
                f"{self.src}: no record has the field {absent[0]!r} to pseudonymise",
                file=str(self.src),
                column=absent[0],
            )
        self._report(rows, self.total_bytes)
        return rows

    def _jsonl_chunks(self, fin: IO[bytes]) -> Iterator[list[tuple[int, dict[str, Any]]]]:
        chunk: list[tuple[int, dict[str, Any]]] = []
        for line_number, line in enumerate(fin, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError as exc:
                raise RecordError(
                    f"{self.src}: line {line_number} is not JSON ({exc})",
                    file=str(self.src),
                    line=line_number,
                ) from None
            if not isinstance(obj, dict):
                raise RecordError(
                    f"{self.src}: line {line_number} is not a JSON object",
                    file=str(self.src),
                    line=line_number,
                )
            chunk.append((line_number, obj))
            if len(chunk) == self.chunk_rows:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    # Parquet ------------------------------------------------------------------------------

    def parquet(self, tmp: Path) -> int:
        if not parquet_available():
            raise RecordError(
                f"{self.src}: Parquet needs the pyarrow package (pip install pyarrow)",
                file=str(self.src),
            )
        pa: Any = importlib.import_module("pyarrow")
        pq: Any = importlib.import_module("pyarrow.parquet")
        source = pq.ParquetFile(str(self.src))
        schema = source.schema_arrow
        error = self._missing(schema.names)
        if error is not None:
            raise error
        columns = [(i, self.plan[n]) for i, n in enumerate(schema.names) if n in self.plan]
        out_schema = schema
        for index, _ in columns:
            out_schema = out_schema.set(index, pa.field(schema.names[index], pa.string()))
        total_rows = max(int(source.metadata.num_rows), 1)
        rows = 0
        writer = pq.ParquetWriter(str(tmp), out_schema)
        try:
            for batch in source.iter_batches(batch_size=self.chunk_rows):
                arrays = list(batch.columns)
                for index, how in columns:
                    name = schema.names[index]
                    try:
                        texts = [_as_text(v) for v in arrays[index].to_pylist()]
                    except TypeError as exc:
                        raise self._unusable(f"rows {rows + 1}…", name, str(exc)) from None
                    tokens = _replace_nonempty(texts, self.tokenise, how)
                    arrays[index] = pa.array(tokens, type=pa.string())
                writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=out_schema))
                rows += batch.num_rows
                self._report(rows, self.total_bytes * rows // total_rows)
        finally:
            writer.close()
        self._report(rows, self.total_bytes)
        return rows


def _json_line(obj: dict[str, Any]) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate in an untouched field: keep it escaped
        return json.dumps(obj, separators=(",", ":")).encode("ascii") + b"\n"
