"""The mechanics of writing and looking up many rows at once, shared by imports and seeding.

Nothing here decides what may be stored (that is :mod:`records.ingest`); it only makes large
batches cheap: record ids drawn in bulk, the cyclic garbage collector paused while a batch is
alive, a bigger SQLite page cache while it is written, inserts and ``IN`` lookups that hand
SQLite the values SQLAlchemy would have bound without its per-row bookkeeping, and on
PostgreSQL inserts through ``COPY`` and lookups by one array parameter. Values are always
converted by each column's own type (its bind processor for the dialect), never by rules of
their own here, so a column whose type changes keeps being written as SQLAlchemy writes it.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from sqlalchemy import ARRAY, Column, Connection, Dialect, Table, any_, bindparam, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

__all__ = [
    "ANALYZE_AFTER_ROWS",
    "fill_columns",
    "insert_rows",
    "matching",
    "new_ids",
    "paused_gc",
    "refresh_statistics",
    "sqlite_bulk_cache",
]

_CHUNK: Final = 500  # values per IN (...) query: well under every database's parameter limit
_ARRAY_CHUNK: Final = 20_000  # values per = ANY(array) query on PostgreSQL
_BULK_CACHE_KIB: Final = 256 * 1024
ANALYZE_AFTER_ROWS: Final = 10_000
"""Rows a bulk write must reach before :func:`refresh_statistics` analyses what it wrote."""


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


def _database_fills(column: Column[Any]) -> bool:
    """Whether the database gives ``column`` a value when an insert leaves it out."""
    return (
        column.server_default is not None
        or column.identity is not None
        or column is column.table.autoincrement_column
    )


def _written(table: Table, rows: Sequence[dict[str, Any]]) -> list[str]:
    """The columns to write: all but those the database fills that no row gives a value."""
    names = []
    for column in table.columns:
        name = column.name
        if _database_fills(column) and all(row.get(name) is None for row in rows):
            continue
        names.append(name)
    return names


def _bound(
    dialect: Dialect, table: Table, names: Sequence[str], rows: Iterable[dict[str, Any]]
) -> Iterator[tuple[Any, ...]]:
    """Each row's values of ``names`` as the columns' types bind them for ``dialect``.

    A value that is the same object as the row before's (a batch shares its timestamps,
    sources and enum values) is converted once.
    """
    converters: list[tuple[int, Callable[[Any], Any]]] = []
    for i, name in enumerate(names):
        processor = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            converters.append((i, processor))
    last_in: list[Any] = [_UNSET] * len(names)
    last_out: list[Any] = [None] * len(names)
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
        yield tuple(values)


def insert_rows(connection: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` (dicts of column values; absent columns are NULL) into ``table`` in
    ``connection``'s transaction, as fast as the database allows.

    Values are converted by the bind processors SQLAlchemy itself would apply (each column's
    type for this dialect), then:

    - SQLite: the driver's ``executemany`` gets them as tuples, skipping SQLAlchemy's per-row
      parameter handling;
    - PostgreSQL with psycopg 3: one ``COPY ... FROM STDIN`` (text format: the server parses
      each value as its column's type, as it does the casts of SQLAlchemy's own inserts);
    - anything else: the ordinary Core insert (executemany, or ``insertmanyvalues``).

    A column the database fills itself (a server default, an identity or autoincrement key:
    the consent ledger's ``seq``) is left out when no row gives it a value. Errors of the
    database are raised as SQLAlchemy's (:class:`sqlalchemy.exc.IntegrityError` and so on),
    whichever path wrote; the caller's transaction rolls everything back as usual.
    """
    if not rows:
        return
    dialect = connection.dialect
    names = _written(table, rows)
    if not names:  # nothing but what the database fills: INSERT ... DEFAULT VALUES each
        for _ in rows:
            connection.execute(table.insert())
        return
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy(connection, table, names, rows)
        return
    if dialect.name != "sqlite":
        connection.execute(table.insert(), [{n: row.get(n) for n in names} for row in rows])
        return
    compiled = table.insert().compile(dialect=dialect, column_keys=names)
    order = list(compiled.positiontup or ())
    connection.exec_driver_sql(compiled.string, list(_bound(dialect, table, order, rows)))


def _copy(
    connection: Connection, table: Table, names: list[str], rows: Sequence[dict[str, Any]]
) -> None:
    """``rows`` into ``table`` through PostgreSQL's ``COPY``, on the connection's transaction."""
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    sql = (
        f"COPY {dialect.identifier_preparer.format_table(table)} "
        f"({', '.join(quote(n) for n in names)}) FROM STDIN"
    )
    if not connection.in_transaction():
        # The driver would open a transaction SQLAlchemy knows nothing of, and the pool would
        # roll it back; begin one as any statement through the connection would (autobegin).
        connection.begin()
    raw = connection.connection.driver_connection
    assert raw is not None
    try:
        with raw.cursor() as cursor, cursor.copy(sql) as copy:
            write = copy.write_row
            for values in _bound(dialect, table, names, rows):
                write(values)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            sql, None, exc, dialect.loaded_dbapi.Error, dialect=dialect
        ) from exc


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
    microseconds per value, which is most of a lookup of a batch of a million keys. On
    PostgreSQL each chunk of values is one array parameter (``column = ANY(:wanted)``).
    """
    if not values:
        return
    connection = session.connection()
    dialect = connection.dialect
    if dialect.name == "postgresql":
        # One array parameter per query, cast to the column's type: ``= ANY(...)`` reads the
        # same index an ``IN`` list does, without one bind parameter per value.
        wanted = bindparam("wanted", type_=ARRAY(column.type))
        stmt = (
            select(column, table.c.id)
            .where(column == any_(wanted))
            .order_by(table.c.collected_at, table.c.id)
        )
        for chunk in _chunks(values, _ARRAY_CHUNK):
            for stored, rid in session.execute(stmt, {"wanted": list(chunk)}):
                yield stored, rid
        return
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
    id_from_db = table.c.id.type.dialect_impl(dialect).result_processor(dialect, None)
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
            yield (
                (stored if from_db is None else from_db(stored)),
                str(rid if id_from_db is None else id_from_db(rid)),
            )


def refresh_statistics(connection: Connection, tables: Iterable[Table]) -> None:
    """Gather PostgreSQL's planner statistics of ``tables`` after a bulk write (``ANALYZE``).

    Until a table is analysed the planner guesses 200 distinct values a column, so a lookup of
    one subject among a million is planned as thousands of rows, a parallel scan whose workers
    take 5-8 ms to start: an access export measured 20 ms at p50 on a freshly seeded million,
    6.5 ms once analysed. Autovacuum would get there in time, or never where it is off. On
    SQLite and MariaDB nothing is done: SQLite plans without statistics, MariaDB keeps its own.
    """
    if connection.dialect.name != "postgresql":
        return
    names = sorted({f'"{t.schema}"."{t.name}"' if t.schema else f'"{t.name}"' for t in tables})
    if names:
        connection.exec_driver_sql(f"ANALYZE {', '.join(names)}")
