"""Record ids as 16-byte values in databases written while they were text.

Earlier versions kept every id of the system of record (``id``, ``subject_id``, ``parent_id``)
as 32 hex characters; :class:`schemas.tables.RecordId` keeps them as a 16-byte ``BLOB`` on
SQLite and as ``uuid`` on PostgreSQL. ``tietotie db upgrade`` converts an existing database:

* SQLite, the ``binary-ids`` row rewrite (:mod:`records.migrations.data`): the declared column
  type stays (SQLite stores any value in any column) and the values are rewritten, in batches
  of :data:`records.migrations.data.BATCH` rows, with the foreign keys checked at commit
  (``PRAGMA defer_foreign_keys``), since a parent's id and its children's references change in
  different statements. Text that is not 32 lowercase hex digits is left as it is and still
  found (:class:`~schemas.tables.RecordId` binds such text as text): nothing is refused.
* PostgreSQL, :func:`convert_postgresql`: the foreign keys between the entity tables are
  dropped, each id column is altered to ``uuid`` (``USING column::uuid``, one rewrite of the
  table), and the foreign keys are created again, all in the upgrade's transaction. A value
  that is no uuid cannot be kept in such a column: the upgrade is refused before anything is
  changed, naming the table, the column and the row.

MariaDB keeps ``VARCHAR(32)``: nothing to convert.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, MetaData, Table, inspect

from kernel.errors import TietotieError
from schemas.tables import RecordId

__all__ = [
    "IdConversion",
    "UnconvertibleId",
    "convert_postgresql",
    "id_columns",
    "plan_postgresql",
    "revert_postgresql",
    "sqlite_holds_text",
    "sqlite_rewrite",
]

_HEX: Final = "^[0-9a-f]{32}$"
_SQL_FUNCTION: Final = "tietotie_id_blob"


class UnconvertibleId(TietotieError):
    """A stored id is no uuid, so PostgreSQL cannot keep it in a ``uuid`` column."""

    code = "unconvertible_id"
    status = 409


def id_columns(table: Table) -> list[str]:
    """The names of ``table``'s columns that hold record ids."""
    return [c.name for c in table.columns if isinstance(c.type, RecordId)]


# SQLite ---------------------------------------------------------------------------------------


def _convertible(column: str) -> str:
    quoted = f'"{column}"'
    return (
        f"(typeof({quoted}) = 'text' AND length({quoted}) = 32 AND {quoted} NOT GLOB '*[^0-9a-f]*')"
    )


def _as_blob(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 32:
        try:
            return bytes.fromhex(value)
        except ValueError:
            return value
    return value


def sqlite_holds_text(conn: Connection, table: Table) -> bool:
    """Whether some id of ``table`` is still kept as convertible text."""
    where = " OR ".join(_convertible(c) for c in id_columns(table))
    # names from the compiled strategy (identifiers checked when it was validated), never input
    sql = f'SELECT 1 FROM "{table.name}" WHERE {where} LIMIT 1'  # noqa: S608
    return conn.exec_driver_sql(sql).first() is not None


def sqlite_rewrite(conn: Connection, table: Table, batch: int) -> str:
    """The statement that rewrites up to ``batch`` of ``table``'s text ids as 16-byte blobs
    (run it until it changes no row), with what it needs registered on ``conn``."""
    driver = conn.connection.driver_connection
    assert driver is not None
    driver.create_function(_SQL_FUNCTION, 1, _as_blob, deterministic=True)
    # A parent's id and its children's references are rewritten by different statements:
    # check the foreign keys when the upgrade's transaction commits, not after each one.
    conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
    columns = id_columns(table)
    sets = ", ".join(f'"{c}" = {_SQL_FUNCTION}("{c}")' for c in columns)
    where = " OR ".join(_convertible(c) for c in columns)
    return (  # names from the compiled strategy, never input
        f'UPDATE "{table.name}" SET {sets} WHERE rowid IN '  # noqa: S608
        f'(SELECT rowid FROM "{table.name}" WHERE {where} LIMIT {batch})'
    )


# PostgreSQL -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdConversion:
    """One table whose id columns PostgreSQL still keeps as text."""

    table: str
    columns: tuple[str, ...]

    @property
    def detail(self) -> str:
        """What the conversion does, for the plan."""
        return f"{', '.join(self.columns)} as uuid (16 bytes), the table rewritten once"


def plan_postgresql(conn: Connection, metadata: MetaData, present: set[str]) -> list[IdConversion]:
    """The tables whose record-id columns are not ``uuid`` yet, parents first."""
    if conn.dialect.name != "postgresql":
        return []
    inspector = inspect(conn)
    out: list[IdConversion] = []
    for table in metadata.sorted_tables:
        wanted = id_columns(table)
        if table.name not in present or not wanted:
            continue
        types = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
        stale = tuple(c for c in wanted if c in types and type(types[c]).__name__.upper() != "UUID")
        if stale:
            out.append(IdConversion(table.name, stale))
    return out


def _refuse_non_ids(conn: Connection, conversions: list[IdConversion]) -> None:
    for conv in conversions:
        for column in conv.columns:
            sql = (  # names from the compiled strategy, never input
                f'SELECT id, "{column}" FROM "{conv.table}" '  # noqa: S608
                f"WHERE \"{column}\" !~ '{_HEX}' LIMIT 1"
            )
            row = conn.exec_driver_sql(sql).first()
            if row is not None:
                raise UnconvertibleId(
                    f"table {conv.table}, row id {str(row[0])[:64]!r}: {column} "
                    f"{str(row[1])[:64]!r} is not a record id (32 lowercase hex digits), so "
                    "it cannot become a uuid; correct or delete that row, then run "
                    "`tietotie db upgrade` again",
                    table=conv.table,
                    column=column,
                )


def convert_postgresql(
    conn: Connection,
    conversions: list[IdConversion],
    progress: Callable[[str, int], None] | None = None,
) -> None:
    """Alter the id columns of ``conversions`` to ``uuid`` in the caller's transaction.

    Refuses (:class:`UnconvertibleId`, nothing changed) a value that is no id. The foreign
    keys that join converted columns are dropped first and created again after.
    """
    if conversions:
        _refuse_non_ids(conn, conversions)
        _retype(conn, conversions, "uuid", '"{c}"::uuid', progress)


def revert_postgresql(conn: Connection, conversions: list[IdConversion]) -> None:
    """Alter the id columns of ``conversions`` back to the earlier ``VARCHAR(32)`` text (to
    measure or test the earlier form; no upgrade does this)."""
    if conversions:
        _retype(conn, conversions, "varchar(32)", "replace(CAST(\"{c}\" AS TEXT), '-', '')", None)


def _retype(
    conn: Connection,
    conversions: list[IdConversion],
    type_sql: str,
    using: str,
    progress: Callable[[str, int], None] | None,
) -> None:
    inspector = inspect(conn)
    touched = {(c.table, col) for c in conversions for col in c.columns}
    keys: list[tuple[str, Any]] = []
    for name in inspector.get_table_names():
        for fk in inspector.get_foreign_keys(name):
            referred = {(fk["referred_table"], col) for col in fk["referred_columns"]}
            mine = {(name, col) for col in fk["constrained_columns"]}
            if (referred | mine) & touched:
                keys.append((name, fk))
    for name, fk in keys:
        conn.exec_driver_sql(f'ALTER TABLE "{name}" DROP CONSTRAINT "{fk["name"]}"')
    for conv in conversions:
        alters = ", ".join(
            f'ALTER COLUMN "{c}" TYPE {type_sql} USING {using.format(c=c)}' for c in conv.columns
        )
        conn.exec_driver_sql(f'ALTER TABLE "{conv.table}" {alters}')
        if progress is not None:
            count = f'SELECT count(*) FROM "{conv.table}"'  # noqa: S608 (a compiled table name)
            rows = conn.exec_driver_sql(count).scalar_one()
            progress(conv.table, int(rows))
    for name, fk in keys:
        local = ", ".join(f'"{c}"' for c in fk["constrained_columns"])
        theirs = ", ".join(f'"{c}"' for c in fk["referred_columns"])
        ondelete = (fk.get("options") or {}).get("ondelete")
        tail = f" ON DELETE {ondelete}" if ondelete else ""
        conn.exec_driver_sql(
            f'ALTER TABLE "{name}" ADD CONSTRAINT "{fk["name"]}" FOREIGN KEY ({local}) '
            f'REFERENCES "{fk["referred_table"]}" ({theirs}){tail}'
        )
