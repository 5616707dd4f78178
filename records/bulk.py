"""The mechanics of writing and looking up many rows at once, shared by imports and seeding.

Nothing here decides what may be stored (that is :mod:`records.ingest`); it only makes large
batches cheap: record ids drawn in bulk, the cyclic garbage collector paused while a batch is
alive, a bigger SQLite page cache while it is written, inserts and ``IN`` lookups that hand
SQLite the values SQLAlchemy would have bound without its per-row bookkeeping.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from sqlalchemy import Column, Connection, Table, bindparam, select
from sqlalchemy.orm import Session

__all__ = ["fill_columns", "insert_rows", "matching", "new_ids", "paused_gc", "sqlite_bulk_cache"]

_CHUNK: Final = 500  # values per IN (...) query: well under every database's parameter limit
_BULK_CACHE_KIB: Final = 256 * 1024


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# uuid4 as the uuid module makes it: 122 random bits, version 4, RFC 4122 variant.
_UUID4_CLEAR: Final = ~((0xC000 << 48) | (0xF000 << 64))
_UUID4_SET: Final = (0x8000 << 48) | (4 << 76)


def new_ids(count: int) -> list[str]:
    """``count`` random record ids, each ``uuid.uuid4().hex`` (from one ``os.urandom`` call)."""
    raw = os.urandom(16 * count)
    return [
        format(int.from_bytes(raw[i : i + 16], "big") & _UUID4_CLEAR | _UUID4_SET, "032x")
        for i in range(0, 16 * count, 16)
    ]


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk operation, then restore it.

    A batch keeps hundreds of thousands of rows alive at once, and every full collection walks
    all of them: with collection on, an import of 100k rows spends about a third of its time
    there. Reference counting still frees everything as usual meanwhile; only cycles wait.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def sqlite_bulk_cache(session: Session) -> Iterator[None]:
    """On SQLite, a page cache of 256 MiB for the session's connection while a batch is written.

    Inserts into indexes on random keys (record ids, identifiers) otherwise keep evicting the
    default 2 MiB cache; the connection gets its own size back afterwards.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        yield
        return
    raw = connection.connection.driver_connection
    assert raw is not None
    (before,) = raw.execute("PRAGMA cache_size").fetchone()
    if before < 0 and -before >= _BULK_CACHE_KIB:
        yield
        return
    raw.execute(f"PRAGMA cache_size = -{_BULK_CACHE_KIB}")
    try:
        yield
    finally:
        raw.execute(f"PRAGMA cache_size = {int(before)}")


def fill_columns(table: Table, rows: list[dict[str, Any]]) -> None:
    """Give every row every column (None where absent): executemany needs one key set."""
    names = [c.name for c in table.columns]
    for row in rows:
        if len(row) != len(names):
            for name in names:
                row.setdefault(name, None)


def insert_rows(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """``INSERT`` ``rows`` (dicts of column values; absent columns are NULL) in one executemany.

    On SQLite the values are converted by the same bind processors SQLAlchemy would apply
    (each column's type for this dialect) and handed to the driver's ``executemany`` as tuples,
    which skips SQLAlchemy's per-row parameter handling; a value that is the same object as the
    row before's is converted once. Other databases get the ordinary Core insert (executemany,
    or ``insertmanyvalues`` where the driver benefits).
    """
    if not rows:
        return
    dialect = connection.dialect
    if dialect.name != "sqlite":
        batch = list(rows)
        fill_columns(table, batch)
        connection.execute(table.insert(), batch)
        return
    compiled = table.insert().compile(dialect=dialect)
    names = list(compiled.positiontup or ())
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(names):
        column = table.c[name]
        processor = column.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            converters.append((i, processor))
    last_in: list[Any] = [_UNSET] * len(names)
    last_out: list[Any] = [None] * len(names)
    params: list[tuple[Any, ...]] = []
    for row in rows:
        get = row.get
        values = [get(name) for name in names]
        for i, process in converters:
            value = values[i]
            if value is last_in[i]:
                values[i] = last_out[i]
            else:
                last_in[i] = value
                values[i] = last_out[i] = process(value)
        params.append(tuple(values))
    connection.exec_driver_sql(compiled.string, params)


_UNSET: Final = object()


def matching(
    session: Session,
    table: Table,
    column: Column[Any],
    values: Sequence[Any],
) -> Iterator[tuple[Any, str]]:
    """``(stored value, id)`` of the rows whose ``column`` is one of ``values``, in chunks, each
    chunk ordered by ``collected_at, id`` (the earliest first).

    On SQLite the compiled query goes straight to the driver with the values converted by the
    column type's own bind and result processors: SQLAlchemy's expanding ``IN`` costs some
    microseconds per value, which is most of a lookup of a batch of a million keys.
    """
    if not values:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name != "sqlite":
        for chunk in _chunks(values):
            stmt = (
                select(column, table.c.id)
                .where(column.in_(chunk))
                .order_by(table.c.collected_at, table.c.id)
            )
            for stored, rid in session.execute(stmt):
                yield stored, rid
        return
    impl = column.type.dialect_impl(dialect)
    to_db = impl.bind_processor(dialect)
    from_db = impl.result_processor(dialect, None)
    statements: dict[int, str] = {}
    for chunk in _chunks(values):
        sql = statements.get(len(chunk))
        if sql is None:
            names = [f"v{i}" for i in range(len(chunk))]
            stmt = (
                select(column, table.c.id)
                .where(column.in_([bindparam(n) for n in names]))
                .order_by(table.c.collected_at, table.c.id)
            )
            compiled = stmt.compile(dialect=dialect)
            assert list(compiled.positiontup or ()) == names
            sql = statements[len(chunk)] = compiled.string
        params = tuple(chunk) if to_db is None else tuple(to_db(v) for v in chunk)
        for stored, rid in connection.exec_driver_sql(sql, params):
            yield (stored if from_db is None else from_db(stored)), rid
