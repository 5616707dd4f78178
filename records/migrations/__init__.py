"""Migrate the live database to the compiled tables with Alembic, run programmatically.

Alembic's autogenerate compares the database with :func:`dsar.tables.database_metadata` and
yields the operations that close the gap; no ``alembic.ini`` and no hand-written revision
files are involved: the strategy *is* the revision. Operations are sorted into

* additive: create a table, add a column, create or drop an index, widen a type (a longer
  string, text, a wider integer: INTEGER to BIGINT);
* destructive: drop a table or a column, change a column's type other than widening it, or
  make a column NOT NULL (rows holding nulls would be refused or lost).

Two kinds of schema content that autogenerate does not see are declared in a table's ``info``
and are additive steps too: ``info["seed_rows"]``, rows that must exist from the moment the
table does (the audit log's head), inserted when their primary key is absent; and
``info["triggers"]``, ``{dialect: {trigger name: [idempotent statements]}}``, run for each
trigger the database lacks (the consent ledger's append-only guard). So nothing of the schema
is created at run time, where two server processes would race on it.

:func:`upgrade` applies the additive steps and refuses the whole migration, listing what
would be lost, when a destructive one is present, unless ``allow_destructive=True``. It plans
and applies under a database-wide migration lock, so processes starting at once on a fresh
database take turns: the first creates, the others find nothing left to do. A fresh database
is created by the same path. Tables the database holds that tietotie never created are left
alone: only tables in the compiled metadata, or recorded in ``tietotie_managed_tables`` by an
earlier upgrade, are compared.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.operations import ops as aops
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    exists,
    inspect,
    select,
    text,
)
from sqlalchemy.types import TypeEngine

from kernel.db import DatabaseError
from kernel.errors import TietotieError
from records.migrations import data, ids
from schemas.tables import RecordId, RecordTime, UTCDateTime, new_metadata

__all__ = ["DestructiveMigration", "MigrationPlan", "Step", "plan_upgrade", "upgrade"]

_REGISTRY_NAME: Final = "tietotie_managed_tables"
_LOCK_NAME: Final = "tietotie.migrate"
_LOCK_WAIT_SECONDS: Final = 120


class DestructiveMigration(TietotieError):
    """The migration would lose data and was not allowed to."""

    code = "destructive_migration"
    status = 409


_registry_metadata = new_metadata()
_registry = Table(
    _REGISTRY_NAME,
    _registry_metadata,
    Column("name", String(128), primary_key=True),
    Column("added_at", UTCDateTime(), nullable=False),
    comment="tables tietotie created; only these are ever altered or dropped",
)


@dataclass(frozen=True)
class Step:
    """One migration operation, described for people."""

    kind: str
    table: str
    detail: str
    destructive: bool


@dataclass
class MigrationPlan:
    """What an upgrade would do."""

    steps: list[Step] = field(default_factory=list)
    script: str = ""
    _ops: Any = None
    _rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _triggers: list[list[str]] = field(default_factory=list)
    _rewrites: list[data.Rewrite] = field(default_factory=list)
    _ids: list[ids.IdConversion] = field(default_factory=list)

    @property
    def destructive(self) -> list[Step]:
        """The steps that would lose data."""
        return [s for s in self.steps if s.destructive]

    @property
    def empty(self) -> bool:
        """Whether the database already matches."""
        return not self.steps


def _length(t: TypeEngine[Any]) -> int | None:
    return getattr(t, "length", None)


def _integer_rank(t: TypeEngine[Any] | None) -> int | None:
    """How wide an integer type is (SMALLINT 1, INTEGER 2, BIGINT 3); None for other types."""
    for rank, kind in ((3, BigInteger), (1, SmallInteger), (2, Integer)):
        if isinstance(t, kind):
            return rank
    return None


def _widens(old: TypeEngine[Any] | None, new: TypeEngine[Any] | None) -> bool:
    """Whether changing ``old`` to ``new`` keeps every value (longer strings, text, wider
    integers)."""
    if old is None or new is None:
        return False
    old_rank, new_rank = _integer_rank(old), _integer_rank(new)
    if old_rank is not None and new_rank is not None:
        return new_rank >= old_rank
    if isinstance(new, Text) and isinstance(old, String):
        return True
    if isinstance(old, String) and isinstance(new, String) and not isinstance(old, Text):
        old_len, new_len = _length(old), _length(new)
        return new_len is None or (old_len is not None and new_len >= old_len)
    return False


def _flatten(container: Any) -> Iterator[Any]:
    for op in container.ops:
        if isinstance(op, aops.ModifyTableOps):
            yield from _flatten(op)
        else:
            yield op


def _describe(op: Any) -> Step:
    if isinstance(op, aops.CreateTableOp):
        return Step("create table", op.table_name, "", False)
    if isinstance(op, aops.DropTableOp):
        return Step("drop table", op.table_name, "every row of the table would be lost", True)
    if isinstance(op, aops.AddColumnOp):
        col = op.column
        return Step("add column", op.table_name, f"{col.name} {col.type}", False)
    if isinstance(op, aops.DropColumnOp):
        return Step(
            "drop column",
            op.table_name,
            f"{op.column_name}: its values in every row would be lost",
            True,
        )
    if isinstance(op, aops.CreateIndexOp):
        return Step("create index", op.table_name, op.index_name or "", False)
    if isinstance(op, aops.DropIndexOp):
        return Step("drop index", op.table_name or "", op.index_name or "", False)
    if isinstance(op, aops.AlterColumnOp):
        parts, destructive = [], False
        if op.modify_type is not None:
            widens = _widens(op.existing_type, op.modify_type)
            destructive = destructive or not widens
            parts.append(
                f"type {op.existing_type} → {op.modify_type}"
                + ("" if widens else " (values may be truncated or refused)")
            )
        if op.modify_nullable is False:
            destructive = True
            parts.append("becomes NOT NULL (rows without a value would be refused)")
        elif op.modify_nullable is True:
            parts.append("becomes nullable")
        return Step(
            "alter column", op.table_name, f"{op.column_name}: " + ", ".join(parts), destructive
        )
    name = type(op).__name__.removesuffix("Op")
    table = getattr(op, "table_name", "") or ""
    # Constraints and anything unforeseen: treated as destructive, to be looked at first.
    return Step(name, table, "needs review", not isinstance(op, aops.AddConstraintOp))


def _managed(conn: Connection) -> set[str]:
    if not inspect(conn).has_table(_REGISTRY_NAME):
        return set()
    return {r[0] for r in conn.execute(select(_registry.c.name))}


def _existing_triggers(conn: Connection, table: str) -> set[str]:
    """Names of the triggers on ``table`` (the dialects that declare triggers)."""
    queries = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t",
        "postgresql": "SELECT tgname FROM pg_trigger "
        "WHERE tgrelid = to_regclass(quote_ident(:t)) AND NOT tgisinternal",
        "mysql": "SELECT trigger_name FROM information_schema.triggers "
        "WHERE event_object_schema = DATABASE() AND event_object_table = :t",
    }
    name = "mysql" if conn.dialect.name == "mariadb" else conn.dialect.name
    query = queries.get(name)
    if query is None:
        return set()
    return {r[0] for r in conn.execute(text(query), {"t": table})}


def _content_steps(conn: Connection, metadata: MetaData, plan: MigrationPlan) -> None:
    """Add the seed rows and triggers of the tables' ``info`` that the database lacks."""
    present = set(inspect(conn).get_table_names())
    dialect = conn.dialect.name
    for table in metadata.sorted_tables:
        for row in table.info.get("seed_rows", ()):
            key = {c.name: row[c.name] for c in table.primary_key.columns}
            if table.name in present:
                match = and_(*(table.c[name] == value for name, value in key.items()))
                if conn.execute(select(exists().where(match))).scalar():
                    continue
            shown = ", ".join(f"{name}={value}" for name, value in key.items())
            plan.steps.append(Step("insert row", table.name, shown, False))
            plan._rows.append((table.name, dict(row)))
        triggers: dict[str, list[str]] = table.info.get("triggers", {}).get(dialect, {})
        have = _existing_triggers(conn, table.name) if table.name in present else set()
        for name, statements in triggers.items():
            if name not in have:
                plan.steps.append(Step("create trigger", table.name, name, False))
                plan._triggers.append(list(statements))


def _compare_type(
    context: MigrationContext,
    inspected_column: Any,
    metadata_column: Any,
    inspected_type: TypeEngine[Any],
    metadata_type: TypeEngine[Any],
) -> bool | None:
    """Alembic's type comparison, but for a datetime of the system of record on SQLite: a
    column declared DATETIME by an earlier version holds its integers as well as BIGINT would
    (SQLite stores any value in any column), so it is not altered; its text values are turned
    into integers by the ``epoch-times`` rewrite instead. Record ids likewise: SQLite's are
    rewritten as blobs by ``binary-ids``, PostgreSQL's altered to uuid by
    :func:`records.migrations.ids.convert_postgresql` (its foreign keys need dropping first,
    which Alembic's alter does not do). None: Alembic's own comparison."""
    if context.dialect.name in {"sqlite", "postgresql"} and isinstance(metadata_type, RecordId):
        return False
    if (
        context.dialect.name == "sqlite"
        and isinstance(metadata_type, RecordTime)
        and isinstance(inspected_type, DateTime | Integer)
    ):
        return False
    return None


def _plan(conn: Connection, metadata: MetaData) -> MigrationPlan:
    known = set(metadata.tables) | _managed(conn)

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or name in known

    context = MigrationContext.configure(
        conn,
        opts={
            "compare_type": _compare_type,
            "include_name": include_name,
            "target_metadata": metadata,
        },
    )
    script = produce_migrations(context, metadata)
    upgrade_ops = script.upgrade_ops
    assert upgrade_ops is not None
    steps = [_describe(op) for op in _flatten(upgrade_ops)]
    code = render_python_code(upgrade_ops) if steps else ""
    plan = MigrationPlan(steps=steps, script=code, _ops=upgrade_ops)
    _content_steps(conn, metadata, plan)
    present = set(inspect(conn).get_table_names())
    plan._ids = ids.plan_postgresql(conn, metadata, present)
    plan.steps += [Step("convert ids", c.table, c.detail, False) for c in plan._ids]
    plan._rewrites = data.pending(conn, metadata, present)
    plan.steps += [Step(r.kind, r.target, r.detail, False) for r in plan._rewrites]
    plan.script += "".join(f"\n# {s.kind} {s.table}: {s.detail}" for s in plan.steps[len(steps) :])
    return plan


def plan_upgrade(engine: Engine, metadata: MetaData) -> MigrationPlan:
    """Compare the live database with ``metadata``; nothing is changed."""
    with engine.connect() as conn:
        return _plan(conn, metadata)


@contextlib.contextmanager
def _migration_lock(conn: Connection) -> Iterator[None]:
    """Hold the database's migration lock for the rest of ``conn``'s transaction.

    PostgreSQL: a transaction-scoped advisory lock per schema; MariaDB/MySQL: a named lock per
    database (DDL there commits implicitly, so the lock is the session's, released here);
    SQLite: ``BEGIN IMMEDIATE``, the database's write lock, waited for up to the busy timeout.
    """
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:name || '.' || current_schema()))"),
            {"name": _LOCK_NAME},
        )
        yield
    elif dialect in {"mysql", "mariadb"}:
        params = {"name": _LOCK_NAME, "wait": _LOCK_WAIT_SECONDS}
        got = conn.execute(
            text("SELECT GET_LOCK(CONCAT(:name, '.', DATABASE()), :wait)"), params
        ).scalar()
        if got != 1:
            raise DatabaseError(
                f"another migration has held the migration lock for over {_LOCK_WAIT_SECONDS} "
                "s; run `tietotie db upgrade` again when it has finished"
            )
        try:
            yield
            # DDL commits by itself there, but the rows written after it (seed rows, the
            # registry) would commit only after the lock is released, and the next holder
            # would not see them: commit them while the lock is still held.
            conn.exec_driver_sql("COMMIT")
        finally:
            conn.execute(text("SELECT RELEASE_LOCK(CONCAT(:name, '.', DATABASE()))"), params)
    else:
        if dialect == "sqlite":
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        yield


def upgrade(
    engine: Engine,
    metadata: MetaData,
    *,
    allow_destructive: bool = False,
    progress: data.DataProgress | None = None,
) -> MigrationPlan:
    """Bring the database to ``metadata``: additive changes always, destructive ones on request.

    Raises :class:`DestructiveMigration` (nothing applied) listing what would be lost when the
    plan has destructive steps and ``allow_destructive`` is false. Plans and applies under the
    migration lock, in one transaction where the database supports transactional DDL (SQLite,
    PostgreSQL). Row rewrites (:mod:`records.migrations.data`) run after the schema steps, in
    the same transaction, telling ``progress`` how far each table is.
    """
    now = datetime.now(UTC)
    with engine.begin() as conn, _migration_lock(conn):
        plan = _plan(conn, metadata)
        lost = plan.destructive
        if lost and not allow_destructive:
            listing = "; ".join(
                f"{s.kind} {s.table}" + (f" ({s.detail})" if s.detail else "") for s in lost
            )
            raise DestructiveMigration(
                f"the strategy change would lose data: {listing}. Back up the database and run "
                "`tietotie db upgrade --allow-destructive` if that is intended",
                steps=[s.__dict__ for s in lost],
            )
        _registry_metadata.create_all(conn)
        ids.convert_postgresql(conn, plan._ids, progress)  # before tables that refer to them
        if plan._ops.ops:
            _only_mysql_autoincrement(conn, plan._ops)
            ops = Operations(MigrationContext.configure(conn))
            sqlite = conn.dialect.name == "sqlite"
            for op in plan._ops.ops:
                _apply(ops, op, sqlite=sqlite)
            _widen_sequences(conn, plan._ops)
        for name, row in plan._rows:
            conn.execute(metadata.tables[name].insert(), row)
        for statements in plan._triggers:
            for statement in statements:
                conn.exec_driver_sql(statement)
        data.run(conn, plan._rewrites, now, progress)
        data.record_fresh(conn, metadata, now)
        have = {r[0] for r in conn.execute(select(_registry.c.name))}
        fresh = [{"name": n, "added_at": now} for n in metadata.tables if n not in have]
        if fresh:
            conn.execute(_registry.insert(), fresh)
        dropped = [s.table for s in plan.steps if s.kind == "drop table"]
        if dropped:
            conn.execute(_registry.delete().where(_registry.c.name.in_(dropped)))
    return plan


def _only_mysql_autoincrement(conn: Connection, upgrade_ops: Any) -> None:
    """Drop the ``autoincrement`` autogenerate puts on every altered key column.

    Only MySQL's ``MODIFY COLUMN`` needs it (or the column would lose AUTO_INCREMENT); other
    dialects keep their sequence or rowid and warn about the argument.
    """
    if conn.dialect.name in {"mysql", "mariadb"}:
        return
    for op in _flatten(upgrade_ops):
        if isinstance(op, aops.AlterColumnOp):
            op.kw.pop("autoincrement", None)
            op.kw.pop("existing_autoincrement", None)


def _widen_sequences(conn: Connection, upgrade_ops: Any) -> None:
    """On PostgreSQL a SERIAL column widened to BIGINT keeps its 32-bit sequence: widen it too."""
    if conn.dialect.name != "postgresql":
        return
    for op in _flatten(upgrade_ops):
        if not isinstance(op, aops.AlterColumnOp) or _integer_rank(op.modify_type) != 3:
            continue
        sequence = conn.execute(
            text("SELECT pg_get_serial_sequence(quote_ident(:t), :c)"),
            {"t": op.table_name, "c": op.column_name},
        ).scalar()
        if sequence is not None:
            conn.exec_driver_sql(f"ALTER SEQUENCE {sequence} AS bigint")


def _apply(ops: Operations, op: Any, *, sqlite: bool) -> None:
    if isinstance(op, aops.ModifyTableOps):
        needs_batch = sqlite and any(
            isinstance(o, aops.AlterColumnOp | aops.DropColumnOp) for o in op.ops
        )
        if needs_batch:
            # SQLite cannot alter columns in place: Alembic copies the table (batch mode).
            with ops.batch_alter_table(op.table_name, schema=op.schema) as batch:
                for inner in op.ops:
                    batch.invoke(inner)
            return
        for inner in op.ops:
            _apply(ops, inner, sqlite=sqlite)
        return
    ops.invoke(op)
