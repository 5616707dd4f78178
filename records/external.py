"""Other systems of record a request must reach: read, erase and rectify their tables.

Each ``external`` entry of the system step names an environment variable holding a SQLAlchemy
URL and the tables that hold our subjects' data, with the column that holds one of the
subject's identifiers. Columns named like a field of the table's entity are that field.
Every system is worked in its own transaction; one that cannot be reached is reported as such
and never silently counted as done.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import MetaData, Table, delete, select, update
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from kernel.db import DatabaseError, make_engine
from schemas.models import External, Strategy
from schemas.primitives import split_ref

__all__ = ["ExternalOutcome", "ExternalSystems"]


@dataclass
class ExternalOutcome:
    """What happened in one external system."""

    system: str
    reached: bool
    problem: str | None = None
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The outcome without the rows: safe for results and the audit log."""
        return {
            "system": self.system,
            "reached": self.reached,
            "problem": self.problem,
            "counts": dict(self.counts),
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class ExternalSystems:
    """The strategy's external systems, reached through URLs from the environment."""

    def __init__(self, strategy: Strategy, *, env: Mapping[str, str] | None = None) -> None:
        self.strategy = strategy
        self._env = os.environ if env is None else env

    def _work(
        self,
        ext: External,
        identity: Mapping[str, str],
        action: str,
        changes: Mapping[str, Any] | None = None,
    ) -> ExternalOutcome:
        url = self._env.get(ext.url_env)
        if not url:
            return ExternalOutcome(
                ext.id, False, f"{ext.url_env} is not set: set it to the database URL of '{ext.id}'"
            )
        outcome = ExternalOutcome(ext.id, True)
        try:
            engine = make_engine(url)
        except DatabaseError:  # its message quotes the URL, which may hold a password
            return ExternalOutcome(
                ext.id, False, f"{ext.url_env} does not hold a SQLAlchemy database URL"
            )
        except OSError as exc:  # a SQLite URL whose directory cannot be made
            return ExternalOutcome(ext.id, False, f"'{ext.id}' could not be {action}: {exc}")
        try:
            with engine.begin() as conn:
                for spec in ext.tables:
                    value = identity.get(spec.identifier)
                    if value is None:
                        continue
                    table = Table(spec.name, MetaData(), autoload_with=conn)
                    if spec.subject_column not in table.c:
                        raise LookupError(
                            f"table {spec.name} of '{ext.id}' has no column {spec.subject_column}"
                        )
                    match = table.c[spec.subject_column] == value
                    if action == "read":
                        rows = conn.execute(select(table).where(match)).mappings().all()
                        outcome.rows[spec.name] = [
                            {k: _jsonable(v) for k, v in row.items()} for row in rows
                        ]
                        outcome.counts[spec.name] = len(rows)
                    elif action == "erase":
                        outcome.counts[spec.name] = conn.execute(
                            delete(table).where(match)
                        ).rowcount
                    else:
                        values = {
                            split_ref(ref)[1]: v
                            for ref, v in (changes or {}).items()
                            if split_ref(ref)[0] == spec.entity and split_ref(ref)[1] in table.c
                        }
                        if values:
                            result = conn.execute(update(table).where(match).values(**values))
                            outcome.counts[spec.name] = result.rowcount
        except (SQLAlchemyError, NoSuchTableError, LookupError, OSError) as exc:
            detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return ExternalOutcome(ext.id, False, f"'{ext.id}' could not be {action}: {detail}")
        finally:
            engine.dispose()
        return outcome

    def read(self, identity: Mapping[str, str]) -> list[ExternalOutcome]:
        """Every row of every external table that holds the subject (Art. 15)."""
        return [self._work(ext, identity, "read") for ext in self.strategy.system.external]

    def erase(
        self, identity: Mapping[str, str], *, systems: Collection[str] | None = None
    ) -> list[ExternalOutcome]:
        """Delete the subject's rows from every external table, or those of ``systems`` only
        (Art. 17). Deleting is idempotent: a second run finds nothing left and counts 0."""
        return [
            self._work(ext, identity, "erase")
            for ext in self.strategy.system.external
            if systems is None or ext.id in systems
        ]

    def rectify(
        self, identity: Mapping[str, str], changes: Mapping[str, Any]
    ) -> list[ExternalOutcome]:
        """Apply ``{"entity.field": value}`` where an external table holds that field (Art. 16)."""
        return [
            self._work(ext, identity, "rectify", changes) for ext in self.strategy.system.external
        ]
