"""Pseudonymise a CSV or Parquet dataset (a folder of files) on Apache Spark, with the CLI's tokens.

The tokens are the single-process CLI's by construction: executors call the same
:class:`~kernel.crypto.Pseudonymiser` batch methods, and the same helpers of
:mod:`kernel.pseudonymisation` that decide what text a value is tokenised as and that keep
empties empty, on Arrow batches (``mapInArrow``). ``pyspark`` is imported only when a run
starts; the session and its safeguards are :mod:`kernel.spark_session`'s.

How the key material reaches the executors. The driver hands over neither the keyring (it
cannot be pickled) nor a data key. It runs the pseudonymiser's own derivation for the run's
domain and key version once, against a recorder in place of the keyring, and keeps exactly the
subkeys that derivation asked for (the domain's tag, hmac and AES-SIV subkeys: HKDF outputs),
checking that they reproduce the keyring's tokens. Those bytes travel inside the pickled
function Spark ships to its Python workers: in memory, through the JVM and local sockets, never
through a file this module writes, and any block Spark spills to disk is encrypted
(``spark.io.encryption.enabled``). On the executor they stand in for the keyring, answer only
those derivations, and make tokens of that one domain and version.

A run is all or nothing: every file's header or schema is checked in the driver first (each
field present, one header or schema across the files, column types that can be tokenised);
Spark then writes into a hidden folder beside the destination, which is renamed to the
destination only when the whole job succeeded and is removed otherwise. The output folder is
0700 and its files 0600, as the CLI's output file is. CSV files are read whole (``multiLine``,
so quoted line breaks work as in the CLI), one task per file: split a large extract into
several files for parallelism. Empty CSV values, and Parquet nulls and empty strings, stay as
they were.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import importlib
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, cast, final

from kernel.crypto import Pseudonymiser, TokenMode, validate_domain
from kernel.errors import CryptoError, RecordError
from kernel.files import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE
from kernel.keys import KEY_BYTES, Keyring
from kernel.pseudonymisation import (
    FileFormat,
    PseudonymisedFile,
    _as_text,
    _replace_nonempty,
    detect_format,
    field_plan,
)
from kernel.spark_session import (
    check_spark,
    first_line,
    require_encryption,
    runtime_conf,
    spark_session,
)

if TYPE_CHECKING:
    from pyspark.accumulators import Accumulator
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["folder_sha256", "pseudonymise_dataset"]

_CHECK_VALUE: Final = "tietotie-spark-check"
_FORMATS: Final = (FileFormat.CSV, FileFormat.PARQUET)
_CSV_READ: Final = {
    "header": "true",
    "inferSchema": "false",  # every value as text, as the CLI reads it
    "multiLine": "true",  # quoted line breaks, as Python's csv module reads them
    "escape": '"',  # RFC 4180 doubled quotes, not Spark's default backslash
    "mode": "FAILFAST",  # a row with the wrong number of columns fails the run
    "enforceSchema": "false",  # every file's header is checked against the schema
    "encoding": "UTF-8",
}
_CSV_WRITE: Final = {
    "header": "true",
    "escape": '"',
    "ignoreLeadingWhiteSpace": "false",  # Spark trims unquoted values on write by default
    "ignoreTrailingWhiteSpace": "false",
    "encoding": "UTF-8",
}
# Spark types whose values the CLI tokenises as text (strings as they are, numbers and
# booleans as JSON, decimals as written, dates as ISO 8601); anything else is refused.
_TOKENISABLE: Final = frozenset(
    {
        "string",
        "varchar",
        "char",
        "byte",
        "short",
        "integer",
        "long",
        "float",
        "double",
        "boolean",
        "decimal",
        "date",
    }
)
_ARROW_TOKENISABLE: Final = re.compile(
    r"(large_)?string|u?int(8|16|32|64)|float|double|bool|decimal(32|64|128)\(.*\)|"
    r"date32\[day\]|date64\[ms\]"
)
_FAILED_FILE: Final = re.compile(r"reading file (\S+?)\.?\s")


# --- the keys an executor gets ----------------------------------------------------------------


class _Recorder:
    """Stands in for the keyring in the driver and keeps every subkey the pseudonymiser derives."""

    def __init__(self, keyring: Keyring, version: int) -> None:
        self._keyring = keyring
        self._version = version
        self.derived: dict[tuple[str, int, int], bytes] = {}

    @property
    def current_version(self) -> int:
        return self._version

    def has_version(self, version: int) -> bool:
        return self._keyring.has_version(version)

    def derive(self, purpose: str, *, version: int | None = None, length: int = KEY_BYTES) -> bytes:
        chosen = self._version if version is None else version
        key = self._keyring.derive(purpose, version=chosen, length=length)
        self.derived[(purpose, chosen, length)] = key
        return key


@final
class _DomainKeys:
    """What an executor holds instead of a keyring: one domain's subkeys of one key version.

    It answers exactly the derivations recorded in the driver and refuses any other, so the
    worker can make tokens of that domain and version and nothing else. No ``repr`` shows a key.
    """

    __slots__ = ("_derived", "_version")

    def __init__(self, version: int, derived: Mapping[tuple[str, int, int], bytes]) -> None:
        self._version = version
        self._derived = dict(derived)

    @property
    def current_version(self) -> int:
        return self._version

    def has_version(self, version: int) -> bool:
        return version == self._version

    def derive(self, purpose: str, *, version: int | None = None, length: int = KEY_BYTES) -> bytes:
        chosen = self._version if version is None else version
        key = self._derived.get((purpose, chosen, length))
        if key is None:
            raise CryptoError(
                "a Spark executor holds the subkeys of one domain and key version only",
                version=chosen,
            )
        return key

    def __repr__(self) -> str:
        return f"_DomainKeys(version={self._version}, subkeys={len(self._derived)})"


def _hand_over(pseudonymiser: Pseudonymiser, domain: str, version: int) -> _DomainKeys:
    """The subkeys ``pseudonymiser`` derives for ``domain``, checked to give the same tokens."""
    recorder = _Recorder(pseudonymiser.keyring, version)
    # The pseudonymiser's own code, run once in every mode against the recorder: whatever it
    # derives for this domain is recorded, so the executors' tokens cannot drift from the CLI's.
    recording = Pseudonymiser(cast("Keyring", recorder))
    for mode in TokenMode:
        recording.tokenise_many(domain, [_CHECK_VALUE], mode, version=version)
    keys = _DomainKeys(version, recorder.derived)
    stand_in = Pseudonymiser(cast("Keyring", keys))
    for mode in TokenMode:
        made = stand_in.tokenise_many(domain, [_CHECK_VALUE], mode, version=version)
        if made != pseudonymiser.tokenise_many(domain, [_CHECK_VALUE], mode, version=version):
            raise CryptoError("the subkeys for Spark do not reproduce the keyring's tokens")
    return keys


class _TokeniseBatches:
    """The function each executor runs on its Arrow batches (``mapInArrow``)."""

    def __init__(
        self,
        *,
        keys: _DomainKeys,
        domain: str,
        columns: Sequence[tuple[int, TokenMode]],
        rows: Accumulator[int],
    ) -> None:
        self.keys = keys
        self.domain = domain
        self.columns = list(columns)
        self.rows = rows

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        pa: Any = importlib.import_module("pyarrow")
        pseudonymiser = Pseudonymiser(cast("Keyring", self.keys))
        version = self.keys.current_version

        def tokenise(values: list[str], how: TokenMode) -> list[str]:
            return pseudonymiser.tokenise_many(self.domain, values, how, version=version)

        for batch in batches:
            arrays = list(batch.columns)
            for index, how in self.columns:
                column = arrays[index]
                values = column.to_pylist()
                if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
                    texts = values
                    kind = column.type
                else:  # types were checked in the driver: _as_text cannot refuse these
                    texts = [_as_text(value) for value in values]
                    kind = pa.string()
                arrays[index] = pa.array(_replace_nonempty(texts, tokenise, how), type=kind)
            self.rows.add(batch.num_rows)
            yield pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)


# --- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Input:
    source: Path
    files: list[Path]
    format: FileFormat


def pseudonymise_dataset(
    src: Path,
    dst: Path,
    *,
    domain: str,
    fields: Mapping[str, TokenMode] | Sequence[str] | str,
    pseudonymiser: Pseudonymiser,
    mode: TokenMode = TokenMode.HMAC,
    file_format: FileFormat | None = None,
    batch_rows: int = 10_000,
    spark: SparkSession | None = None,
) -> PseudonymisedFile:
    """Write the CSV or Parquet dataset ``src`` (a file, or a folder of files) to the folder
    ``dst`` in the same format, with ``fields`` replaced by tokens of ``domain``, on Spark.

    ``fields`` is what :func:`kernel.pseudonymisation.pseudonymise_file` takes; tokens are
    made under the key version current at the start, exactly as that function makes them.
    A folder's files are those directly in it whose names do not start with ``.`` or ``_``;
    their suffixes name the format unless ``file_format`` does. ``dst`` must not exist yet.
    ``spark`` is a session to run on (it must have I/O encryption on); without one, a local
    session is started for the run and stopped after it (:func:`spark_session`). A missing
    field, files that disagree on their columns, a column type that cannot be tokenised or a
    malformed row raise :class:`RecordError` naming the file, and leave no ``dst``; a missing
    pyspark or Java raises :class:`~kernel.spark_session.SparkUnavailable`. The result's
    ``sha256`` is :func:`folder_sha256` of the folder written.
    """
    given = (Path(src), Path(dst))
    src, dst = given[0].resolve(), given[1].resolve()
    validate_domain(domain)
    plan = field_plan(fields, mode, src)
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")
    found = _inspect(src, file_format, plan)
    _check_destination(src, dst, found.format)
    check_spark()
    version = pseudonymiser.keyring.current_version
    keys = _hand_over(pseudonymiser, domain, version)
    with contextlib.ExitStack() as stack:
        session = spark if spark is not None else stack.enter_context(spark_session())
        require_encryption(session)
        stack.enter_context(
            runtime_conf(
                session,
                {
                    "spark.sql.caseSensitive": "true",  # columns match as the CLI matches them
                    "spark.sql.execution.arrow.maxRecordsPerBatch": str(batch_rows),
                },
            )
        )
        rows = _run(session, found, dst, plan, keys, domain)
    return PseudonymisedFile(
        source=given[0],
        destination=given[1],
        format=found.format,
        domain=domain,
        key_version=version,
        rows=rows,
        fields=plan,
        sha256=folder_sha256(dst),
    )


def _run(
    session: SparkSession,
    found: _Input,
    dst: Path,
    plan: Mapping[str, TokenMode],
    keys: _DomainKeys,
    domain: str,
) -> int:
    """Read, tokenise and write in one Spark job; the rows the executors tokenised."""
    from pyspark.errors import PySparkException
    from pyspark.sql.types import StringType, StructField, StructType

    py4j_error: Any = importlib.import_module("py4j.protocol").Py4JError  # py4j has no types
    paths = [f"file://{path}" for path in found.files]
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.parent / f".{dst.name}.{secrets.token_hex(6)}.tmp"
    try:
        if found.format is FileFormat.CSV:
            frame = session.read.options(**_CSV_READ).csv(paths)
        else:
            frame = session.read.parquet(*paths)
        _check_types(found.source, frame, plan)
        columns = [(i, plan[name]) for i, name in enumerate(frame.columns) if name in plan]
        schema = StructType(
            [
                StructField(f.name, StringType(), True) if f.name in plan else f
                for f in frame.schema.fields
            ]
        )
        rows = session.sparkContext.accumulator(0)
        tokenised = frame.mapInArrow(
            _TokeniseBatches(keys=keys, domain=domain, columns=columns, rows=rows), schema
        )
        writer = tokenised.write
        if found.format is FileFormat.CSV:
            writer.options(**_CSV_WRITE).csv(f"file://{tmp}")
        else:
            writer.parquet(f"file://{tmp}")
        _finish(tmp)
        tmp.rename(dst)
    except (PySparkException, py4j_error) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise _job_error(found.source, exc) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return int(rows.value)


def _job_error(source: Path, exc: Exception) -> RecordError:
    """A failed Spark job as one sentence naming the file, without the rows Spark quotes."""
    text = str(exc)
    match = _FAILED_FILE.search(text)
    where = match.group(1).removeprefix("file://") if match else str(source)
    if "MALFORMED" in text or "Malformed" in text:
        return RecordError(
            f"{where}: a row has more or fewer columns than the header, or is not valid CSV; "
            "refusing to guess which value belongs to which column (check the file with "
            "--engine local, which names the line)",
            file=where,
        )
    if "header does not conform" in text:
        return RecordError(f"{where}: its header differs from the other files' headers", file=where)
    return RecordError(f"{where}: the Spark job failed: {first_line(exc)}", file=where)


def _finish(tmp: Path) -> None:
    """Drop Hadoop's checksum files and make the output owner-only, as the CLI's file is."""
    for path in tmp.rglob("*.crc"):
        path.unlink()
    for path in tmp.rglob("*"):
        path.chmod(PRIVATE_DIR_MODE if path.is_dir() else PRIVATE_FILE_MODE)
    tmp.chmod(PRIVATE_DIR_MODE)


# --- checks in the driver ---------------------------------------------------------------------


def _inspect(src: Path, file_format: FileFormat | None, plan: Mapping[str, TokenMode]) -> _Input:
    """The files of ``src`` and their format, each file's header or schema checked."""
    if src.is_file():
        files = [src]
    elif src.is_dir():
        entries = sorted(p for p in src.iterdir() if not p.name.startswith((".", "_")))
        nested = [p for p in entries if p.is_dir()]
        if nested:
            raise RecordError(
                f"{nested[0]}: the Spark engine reads the files directly in {src}, not "
                "subfolders (partitioned datasets are not supported); move the files up",
                file=str(nested[0]),
            )
        files = [p for p in entries if p.is_file()]
        if not files:
            raise RecordError(f"{src}: the folder holds no data files", file=str(src))
    else:
        raise RecordError(f"{src}: no such file or folder", file=str(src))
    fmt = _format(files, file_format)
    first: tuple[Path, list[str]] | None = None
    for path in files:
        if fmt is FileFormat.CSV:
            names = _csv_header(path)
            shape = names
        else:
            names, shape = _parquet_schema(path, plan)
        _check_fields(path, names, plan)
        if first is None:
            first = (path, shape)
        elif shape != first[1]:
            raise RecordError(
                f"{path}: its columns ({_shown(shape)}) differ from those of {first[0]} "
                f"({_shown(first[1])}); a dataset's files must share one header or schema",
                file=str(path),
            )
    return _Input(source=src, files=files, format=fmt)


def _format(files: Sequence[Path], file_format: FileFormat | None) -> FileFormat:
    if file_format is not None:
        chosen = FileFormat(file_format)
        for path in files:
            try:
                named = detect_format(path)
            except RecordError:
                continue  # a suffix that names no format: taken as the format asked for
            if named is not chosen:
                raise RecordError(
                    f"{path}: its suffix says {named.value}, not {chosen.value}", file=str(path)
                )
    else:
        formats = {path: detect_format(path) for path in files}
        chosen = formats[files[0]]
        for path, named in formats.items():
            if named is not chosen:
                raise RecordError(
                    f"{path} is {named.value} but {files[0]} is {chosen.value}; a dataset is "
                    "files of one format",
                    file=str(path),
                )
    if chosen not in _FORMATS:
        raise RecordError(
            f"{files[0]}: the Spark engine reads CSV and Parquet; pseudonymise {chosen.value} "
            "files with the local engine",
            file=str(files[0]),
        )
    return chosen


def _csv_header(path: Path) -> list[str]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as fin:
            header = next(csv.reader(fin), None)
    except UnicodeDecodeError:
        raise RecordError(f"{path}: the file is not UTF-8 text", file=str(path)) from None
    except csv.Error as exc:
        raise RecordError(f"{path}: line 1 is not CSV ({exc})", file=str(path), line=1) from None
    if header is None:
        raise RecordError(f"{path}: the file is empty, with no header row", file=str(path))
    return header


def _parquet_schema(path: Path, plan: Mapping[str, TokenMode]) -> tuple[list[str], list[str]]:
    """The file's column names, and names with Arrow types, read from its footer only."""
    pq: Any = importlib.import_module("pyarrow.parquet")
    try:
        schema = pq.read_schema(str(path))
    except (OSError, ValueError) as exc:
        raise RecordError(f"{path}: not a Parquet file ({exc})", file=str(path)) from None
    for field in schema:
        if field.name in plan and not _ARROW_TOKENISABLE.fullmatch(str(field.type)):
            raise RecordError(
                f"{path}: field {field.name!r} holds {field.type} values, which cannot be "
                "pseudonymised here (text, numbers, booleans, decimals and dates can); "
                "convert the column to text first",
                file=str(path),
                column=field.name,
            )
    return list(schema.names), [f"{field.name} {field.type}" for field in schema]


def _check_fields(path: Path, names: Sequence[str], plan: Mapping[str, TokenMode]) -> None:
    absent = [name for name in plan if name not in names]
    if absent:
        raise RecordError(
            f"{path}: there is no column {absent[0]!r} to pseudonymise; the columns are: "
            f"{_shown(names) or '(none)'}",
            file=str(path),
            column=absent[0],
        )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RecordError(
            f"{path}: the column name {repeated[0]!r} appears more than once; the Spark engine "
            "needs unique column names",
            file=str(path),
            column=repeated[0],
        )


def _check_types(source: Path, frame: DataFrame, plan: Mapping[str, TokenMode]) -> None:
    """Refuse a field Spark reads as a type the CLI would not tokenise the same way."""
    for field in frame.schema.fields:
        kind = field.dataType.typeName()
        if field.name in plan and kind not in _TOKENISABLE:
            raise RecordError(
                f"{source}: field {field.name!r} is read by Spark as {kind}, which cannot be "
                "pseudonymised; convert the column to text first",
                file=str(source),
                column=field.name,
            )


def _shown(names: Sequence[str]) -> str:
    return ", ".join(names[:30]) + (", …" if len(names) > 30 else "")


def _check_destination(src: Path, dst: Path, fmt: FileFormat) -> None:
    if dst.exists():
        raise RecordError(
            f"{dst} already exists; the Spark engine writes a new folder: remove it or name "
            "another",
            file=str(dst),
        )
    named = {".csv": FileFormat.CSV, ".parquet": FileFormat.PARQUET, ".pq": FileFormat.PARQUET}
    said = named.get(dst.suffix.lower())
    if said is not None and said is not fmt:
        raise RecordError(
            f"{dst}: the output is written as {fmt.value}, like the input, but its name says "
            f"{said.value}; converting between formats is not supported",
            file=str(dst),
        )
    if src.is_dir() and dst.is_relative_to(src):
        raise RecordError(
            f"{dst} is inside the source folder {src}; write the output elsewhere", file=str(dst)
        )


def folder_sha256(path: Path) -> str:
    """SHA-256 over a folder's files in name order: each one's relative name, size and bytes.

    What the audit entry of a Spark run records as the output's digest; recompute it to check
    that an output folder is the one the entry describes.
    """
    digest = hashlib.sha256()
    for file in sorted(p for p in Path(path).rglob("*") if stat.S_ISREG(p.stat().st_mode)):
        name = file.relative_to(path).as_posix().encode("utf-8")
        digest.update(b"%s\0%d\0" % (name, file.stat().st_size))
        with file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
