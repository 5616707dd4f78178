"""Pseudonymise CSV, JSON Lines and Parquet files in one streaming pass with constant memory.

Rows are read in chunks (10,000 by default); each chosen column of a chunk goes through the
batch token API in one call, and the chunk is written out. With pyarrow installed, CSV is
parsed and written by pyarrow in C++ (every column as text, quoted line breaks allowed) on
helper threads while this one makes tokens; without it, by Python's csv module. Both read the
same rows; pyarrow's writer quotes every value, which reads back the same. The output is
written to a temporary file beside the destination and renamed over it only when the whole
file is done, so a failure never leaves a half-pseudonymised file behind. Every token of one
run is made under the key version that was current when the run started.

Empty values stay empty (a token of "nothing" would only mark the row) and so do JSON ``null``
and Parquet nulls. In JSON Lines and Parquet, numbers and booleans are tokenised as their JSON
text (``358401234567``, ``true``), dates as ISO 8601; nested objects and lists are refused,
since there is no safe way to pseudonymise a structure. Only top-level JSON keys are fields.
"""

from __future__ import annotations

import array
import codecs
import csv
import datetime as dt
import decimal
import hashlib
import importlib
import importlib.util
import io
import itertools
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Final

from kernel.crypto import Pseudonymiser, TokenMode, validate_domain
from kernel.errors import RecordError
from kernel.files import atomic_path

__all__ = [
    "FileFormat",
    "Progress",
    "PseudonymisedFile",
    "detect_format",
    "field_plan",
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
    sha256: str = ""
    """Hex SHA-256 of what was written (for a Spark folder: its files, as
    ``kernel.spark_pseudonymisation.folder_sha256`` hashes them)."""


ProgressCallback = Callable[[Progress], None]


_Tokenise = Callable[[list[str], TokenMode], list[str]]
_Packed = Callable[[list[str]], tuple[bytes, int]]  # hmac tokens as one fixed-width buffer
_Arrow = tuple[Any, Any]  # the pyarrow and pyarrow.csv modules (untyped)

_INT32_LIMIT: Final = 1 << 31
_ARROW_BLOCK_BYTES: Final = 1 << 20
"""Bytes pyarrow's CSV reader parses at a time. It reads a few dozen blocks ahead, so this
bounds its memory (about 40 MiB measured, whatever the file's size); larger blocks were no
faster."""


def parquet_available() -> bool:
    """Whether ``pyarrow`` is importable, and so Parquet files can be pseudonymised."""
    return importlib.util.find_spec("pyarrow") is not None


def _pyarrow_csv() -> _Arrow | None:
    """``pyarrow`` and ``pyarrow.csv`` when installed, for the batched CSV pass; else None."""
    if not parquet_available():
        return None
    return importlib.import_module("pyarrow"), importlib.import_module("pyarrow.csv")


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
    plan = field_plan(fields, mode, src)
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

    def hmac_packed(values: list[str]) -> tuple[bytes, int]:
        return pseudonymiser.hmac_packed(domain, values, version=version)

    run = _Run(src, plan, tokenise, chunk_rows, progress, packed=hmac_packed)
    with atomic_path(dst) as tmp:
        if fmt is FileFormat.CSV:
            rows = run.csv(tmp)
        elif fmt is FileFormat.JSONL:
            rows = run.jsonl(tmp)
        else:
            rows = run.parquet(tmp)
        digest = run.sha256 or _file_sha256(tmp)
    return PseudonymisedFile(
        source=src,
        destination=dst,
        format=fmt,
        domain=domain,
        key_version=version,
        rows=rows,
        fields=plan,
        sha256=digest,
    )


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def field_plan(
    fields: Mapping[str, TokenMode | str] | Sequence[str] | str, mode: TokenMode, src: Path
) -> dict[str, TokenMode]:
    """Each field to pseudonymise with its token mode, from a mapping, a list of columns that
    all get ``mode``, or a spec (:func:`parse_field_spec`); at least one, or a RecordError."""
    if isinstance(fields, str):
        plan = parse_field_spec(fields, default=mode)
    else:
        chosen = dict(fields) if isinstance(fields, Mapping) else dict.fromkeys(fields, mode)
        plan = {name: _mode(name, how) for name, how in chosen.items()}
    if not plan:
        raise RecordError("name at least one field to pseudonymise", file=str(src))
    return plan


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
    if all(values):  # only strings and None reach here: no value is empty
        return tokenise(values, how)
    positions = [i for i, value in enumerate(values) if value]
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
        *,
        packed: _Packed,
    ) -> None:
        self.src = src
        self.plan = plan
        self.tokenise = tokenise
        self.packed = packed
        self.chunk_rows = chunk_rows
        self.progress = progress
        self.total_bytes = src.stat().st_size
        self.sha256: str | None = None  # set by a pass that hashes what it writes

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
        header, terminator = self._csv_header()
        error = self._missing(header)
        if error is not None:
            raise error
        arrow = _pyarrow_csv()
        rows = None if arrow is None else self._csv_arrow(tmp, header, terminator, arrow)
        if rows is None:
            rows = self._csv_python(tmp, header, terminator)
        self._report(rows, self.total_bytes)
        return rows

    def _csv_header(self) -> tuple[list[str], str]:
        """The header row, and the line terminator the output keeps (that of the first line)."""
        try:
            with self.src.open(encoding="utf-8-sig", newline="") as fin:
                first = fin.readline()
                header = next(csv.reader(itertools.chain([first], fin)), None)
        except UnicodeDecodeError:
            raise self._not_utf8() from None
        except csv.Error as exc:
            raise self._not_csv(1, exc) from None
        if header is None:
            raise RecordError(
                f"{self.src}: the file is empty, with no header row", file=str(self.src)
            )
        return header, "\r\n" if first.endswith("\r\n") else "\n"

    def _csv_columns(self, header: Sequence[str]) -> list[tuple[int, TokenMode]]:
        """Every column to tokenise, by position: a name the header repeats is each of them."""
        return [(i, self.plan[name]) for i, name in enumerate(header) if name in self.plan]

    def _csv_python(self, tmp: Path, header: list[str], terminator: str) -> int:
        columns = self._csv_columns(header)
        rows = 0
        with tmp.open("w", encoding="utf-8", newline="") as fout:
            writer = csv.writer(fout, lineterminator=terminator)
            # Python 3.11's writer leaves a lone "\r" unquoted when the terminator is "\n",
            # and a reader would take it for a line break: such rows are written all quoted.
            quoted = csv.writer(fout, lineterminator=terminator, quoting=csv.QUOTE_ALL)
            writer.writerow(header)
            for chunk, bytes_read in self._csv_chunks(len(header)):
                for index, how in columns:
                    column = [row[index] for row in chunk]
                    for row, value in zip(
                        chunk, _replace_nonempty(column, self.tokenise, how), strict=True
                    ):
                        row[index] = value
                if terminator == "\n" and "\r" in "".join(itertools.chain.from_iterable(chunk)):
                    for row in chunk:
                        (quoted if any("\r" in value for value in row) else writer).writerow(row)
                else:
                    writer.writerows(chunk)
                rows += len(chunk)
                self._report(rows, bytes_read)
        return rows

    def _csv_chunks(self, width: int) -> Iterator[tuple[list[list[str]], int]]:
        """The data rows in chunks, each with the bytes of the source read so far."""
        with (
            self.src.open("rb") as raw,
            io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as fin,
        ):
            reader = csv.reader(fin)
            chunk: list[list[str]] = []
            try:
                next(reader, None)  # the header, read already
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
                        yield chunk, raw.tell()
                        chunk = []
            except UnicodeDecodeError:
                raise self._not_utf8() from None
            except csv.Error as exc:
                raise self._not_csv(reader.line_num, exc) from None
            if chunk:
                yield chunk, raw.tell()

    def _csv_arrow(
        self, tmp: Path, header: list[str], terminator: str, arrow: _Arrow
    ) -> int | None:
        """The CSV pass through pyarrow: blocks parsed in C++, a column at a time tokenised.

        None when pyarrow refuses a file that Python's reader takes (a header with no line
        break after it, say): the caller then runs the Python pass over it.
        """
        pa, pcsv = arrow
        columns = self._csv_columns(header)
        read = pcsv.ReadOptions(block_size=_ARROW_BLOCK_BYTES)
        # Quoted values may hold line breaks; every column is text, and empty stays empty.
        parse = pcsv.ParseOptions(newlines_in_values=True)
        convert = pcsv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        write = pcsv.WriteOptions(include_header=False, eol=terminator)
        digest = hashlib.sha256()

        def put(data: Any) -> None:  # bytes, or a pyarrow buffer
            digest.update(data)
            sink.write(data)

        def put_table(table: Any) -> None:
            formatted = pa.BufferOutputStream()
            pcsv.write_csv(table, formatted, write_options=write)
            put(formatted.getvalue())

        rows = 0
        try:
            with pa.OSFile(str(self.src)) as raw, tmp.open("wb") as sink:
                reader = pcsv.open_csv(
                    raw, read_options=read, parse_options=parse, convert_options=convert
                )
                if reader.schema.names != header:  # both parsers read the same bytes
                    raise RecordError(
                        f"{self.src}: pyarrow reads the header row differently from Python's "
                        "csv module; check its quoting",
                        file=str(self.src),
                        line=1,
                    )
                put(_csv_line(header, terminator))
                with ThreadPoolExecutor(2, thread_name_prefix="pseudonymise-csv") as pool:
                    # Helper threads parse the next block, and format, hash and write the last
                    # one, while this thread tokenises; pyarrow, hashlib and the file release
                    # the GIL for that work.
                    chunks = _arrow_chunks(pa, reader, self.chunk_rows)
                    ahead = pool.submit(next, chunks, None)
                    written: Future[None] | None = None
                    while (table := ahead.result()) is not None:
                        ahead = pool.submit(next, chunks, None)
                        table = self._tokenise_table(pa, table, columns)
                        if written is not None:
                            written.result()
                            self._report(rows, raw.tell())
                        written = pool.submit(put_table, table)
                        rows += table.num_rows
                    if written is not None:
                        written.result()
            self.sha256 = digest.hexdigest()
        except pa.ArrowInvalid:
            # pyarrow's messages name no line and quote the row's values: Python's reader
            # finds the problem again and names its line.
            try:
                for _ in self._csv_chunks(len(header)):
                    pass
            except RecordError as found:
                raise found from None
            return None
        return rows

    def _tokenise_table(self, pa: Any, table: Any, columns: list[tuple[int, TokenMode]]) -> Any:
        """``table`` with ``columns`` replaced by their tokens."""
        for index, how in columns:
            tokens = self._arrow_tokens(pa, table.column(index), how)
            table = table.set_column(index, table.field(index), tokens)
        return table

    def _arrow_tokens(self, pa: Any, column: Any, how: TokenMode) -> Any:
        values = column.to_pylist()
        if how is TokenMode.HMAC and all(values):
            return _packed_array(pa, *self.packed(values))  # every value there: one buffer
        return _token_array(pa, _replace_nonempty(values, self.tokenise, how))

    def _not_csv(self, line: int, exc: Exception) -> RecordError:
        return RecordError(
            f"{self.src}: line {line} cannot be read as CSV ({exc})",
            file=str(self.src),
            line=line,
        )

    def _not_utf8(self) -> RecordError:
        """The error for a source that is not UTF-8, naming the line of its first bad byte."""
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = newlines = 0
        with self.src.open("rb") as fin:
            while True:
                block = fin.read(1 << 20)
                pending = len(decoder.getstate()[0])  # bytes of a character cut by the block
                try:
                    decoder.decode(block, final=not block)
                except UnicodeDecodeError as exc:
                    bad = offset - pending + exc.start
                    line = newlines + block[: max(bad - offset, 0)].count(b"\n") + 1
                    return RecordError(
                        f"{self.src}: line {line} is not valid UTF-8 (byte {bad + 1} of the "
                        "file); save the file as UTF-8 and run again",
                        file=str(self.src),
                        line=line,
                    )
                if not block:
                    return RecordError(
                        f"{self.src}: the file is not valid UTF-8", file=str(self.src)
                    )
                offset += len(block)
                newlines += block.count(b"\n")

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
                    values = arrays[index].to_pylist()
                    if _is_text(pa, arrays[index].type):
                        texts = values  # text already, or None: no conversion per value
                    else:
                        try:
                            texts = [_as_text(v) for v in values]
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


def _is_text(pa: Any, kind: Any) -> bool:
    """Whether a column of pyarrow type ``kind`` holds strings (plain, large or dictionary)."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _csv_line(row: Sequence[str], terminator: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=terminator).writerow(row)
    return out.getvalue().encode("utf-8")


def _token_array(pa: Any, tokens: list[str]) -> Any:
    """A pyarrow string array of ``tokens`` (ASCII, or empty where the value was), built from
    its two buffers: ``pa.array`` would also import pandas, 0.4 s of a run's start."""
    data = "".join(tokens).encode("ascii")
    if len(data) >= _INT32_LIMIT:  # more than string offsets hold: pyarrow splits it
        made = pa.array(tokens, type=pa.string())
        return made if isinstance(made, pa.ChunkedArray) else pa.chunked_array([made])
    offsets = array.array("i", itertools.accumulate(map(len, tokens), initial=0))
    return pa.chunked_array(
        [pa.StringArray.from_buffers(len(tokens), pa.py_buffer(offsets), pa.py_buffer(data))]
    )


def _packed_array(pa: Any, data: bytes, width: int) -> Any:
    """A pyarrow string column of the ``width``-byte tokens laid end to end in ``data``: the
    offsets are a stride, so no token becomes a Python string; an array per 2 GiB of text."""
    per_array = (_INT32_LIMIT - 1) // width
    count = len(data) // width
    arrays = []
    for start in range(0, count, per_array):
        rows = min(per_array, count - start)
        offsets = array.array("i", range(0, rows * width + 1, width))
        text = memoryview(data)[start * width : (start + rows) * width]
        arrays.append(pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(text)))
    return pa.chunked_array(arrays, type=pa.string())


def _arrow_chunks(pa: Any, reader: Any, rows: int) -> Iterator[Any]:
    """pyarrow's record batches regrouped into tables of ``rows`` rows (the last may be
    shorter); slicing and regrouping copy no data."""
    pending: list[Any] = []
    count = 0
    for batch in reader:
        pending.append(batch)
        count += batch.num_rows
        while count >= rows:
            table = pa.Table.from_batches(pending, schema=reader.schema)
            yield table.slice(0, rows)
            pending = table.slice(rows).to_batches()
            count -= rows
    if count:
        yield pa.Table.from_batches(pending, schema=reader.schema)


def _json_line(obj: dict[str, Any]) -> bytes:
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError:  # a lone surrogate in an untouched field: keep it escaped
        return json.dumps(obj, separators=(",", ":")).encode("ascii") + b"\n"
