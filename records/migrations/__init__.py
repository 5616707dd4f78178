"""Migrate the live database to the compiled tables with Alembic, run programmatically.

Alembic's autogenerate compares the database with :func:`dsar.tables.database_metadata` and
yields the operations that close the gap; no ``alembic.ini`` and no hand-written revision
files are involved: the strategy *is* the revision. Operations are sorted into

* additive: create a table, add a column, create or drop an index, widen a type;
* destructive: drop a table or a column, change a column's type other than widening it, or
  make a column NOT NULL (rows holding nulls would be refused or lost).

:func:`upgrade` applies the additive ones and refuses the whole migration, listing what
would be lost, when a destructive one is present, unless ``allow_destructive=True``. A fresh
database is created by the same path. Tables the database holds that tietotie never created
are left alone: only tables in the compiled metadata, or recorded in ``tietotie_managed_tables``
by an earlier upgrade, are compared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from alembic.autogenerate import produce_migrations, render_python_code
from alembic.migration import MigrationContext
from alembic.operations import Operations
from alembic.operations import ops as aops
from sqlalchemy import Column, Engine, MetaData, String, Table, Text, inspect, select
from sqlalchemy.types import TypeEngine

from kernel.errors import TietotieError
from schemas.tables import UTCDateTime, new_metadata

__all__ = ["DestructiveMigration", "MigrationPlan", "Step", "plan_upgrade", "upgrade"]

_REGISTRY_NAME: Final = "tietotie_managed_tables"


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


def _widens(old: TypeEngine[Any] | None, new: TypeEngine[Any] | None) -> bool:
    """Whether changing ``old`` to ``new`` keeps every value (longer strings, text)."""
    if old is None or new is None:
        return False
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


def _managed(engine: Engine) -> set[str]:
    if not inspect(engine).has_table(_REGISTRY_NAME):
        return set()
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(select(_registry.c.name))}


def plan_upgrade(engine: Engine, metadata: MetaData) -> MigrationPlan:
    """Compare the live database with ``metadata``; nothing is changed."""
    known = set(metadata.tables) | _managed(engine)

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        return type_ != "table" or name in known

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_name": include_name,
                "target_metadata": metadata,
            },
        )
        script = produce_migrations(context, metadata)
    upgrade_ops = script.upgrade_ops
    assert upgrade_ops is not None
    steps = [_describe(op) for op in _flatten(upgrade_ops)]
    code = render_python_code(upgrade_ops) if steps else ""
    return MigrationPlan(steps=steps, script=code, _ops=upgrade_ops)


def upgrade(
    engine: Engine,
    metadata: MetaData,
    *,
    allow_destructive: bool = False,
) -> MigrationPlan:
    """Bring the database to ``metadata``: additive changes always, destructive ones on request.

    Raises :class:`DestructiveMigration` (nothing applied) listing what would be lost when the
    plan has destructive steps and ``allow_destructive`` is false. Runs in one transaction
    where the database supports transactional DDL (SQLite, PostgreSQL).
    """
    plan = plan_upgrade(engine, metadata)
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
    now = datetime.now(UTC)
    with engine.begin() as conn:
        _registry_metadata.create_all(conn)
        if not plan.empty:
            ops = Operations(MigrationContext.configure(conn))
            sqlite = engine.dialect.name == "sqlite"
            for op in plan._ops.ops:
                _apply(ops, op, sqlite=sqlite)
        have = {r[0] for r in conn.execute(select(_registry.c.name))}
        fresh = [{"name": n, "added_at": now} for n in metadata.tables if n not in have]
        if fresh:
            conn.execute(_registry.insert(), fresh)
        dropped = [s.table for s in plan.steps if s.kind == "drop table"]
        if dropped:
            conn.execute(_registry.delete().where(_registry.c.name.in_(dropped)))
    return plan


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
