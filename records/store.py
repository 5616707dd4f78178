"""The system of record: store records the strategy justifies, find subjects, read them back.

:class:`RecordStore` bundles what storing needs: the strategy, its compiled tables and runtime
models, and the field crypto (per-subject encryption at rest and blind indexes). Every write
goes through :func:`records.ingest.plan_batch`, so one record (``POST /v1/records/{entity}``,
:func:`ingest`) and a file of a million (``tietotie import``) follow the same rules:

* the entity must be declared, and every field in the values must be declared on it;
* the source must exist and may write only the fields its ``collects`` lists;
* values are validated and normalised by the runtime models; required fields are needed for
  new records, not for merges;
* a record of the subject entity is deduplicated by ``match_on``, key by key in order: the
  first key whose values all match an existing subject merges into it (provided values are
  updated; the provenance of the values not provided is kept) and ``merged`` is true;
* a child record names its subject (``{"id": …}`` or ``{identifier: value}``) and its parent:
  for a child of the subject entity the parent is the subject; for a grandchild the caller
  gives ``parent`` (a record id of the parent entity belonging to the same subject), or, when
  left out, the subject's single record of the parent entity is used (none or several: refused);
* subject ids and record ids are random (uuid4 hex), never derived from personal data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from kernel.crypto import Pseudonymiser
from kernel.errors import NotFound, RecordError
from kernel.keystore import ERASED, SubjectKeyStore
from records.provenance import expand
from records.provenance_profiles import ProvenanceProfiles
from schemas.models import Strategy
from schemas.runtime import RuntimeModels, build_models, normalise, to_text
from schemas.tables import BLIND_INDEX_DOMAIN, FieldColumn, SystemTables, build_tables

__all__ = [
    "FieldCrypto",
    "IngestResult",
    "RecordStore",
    "StoredRecord",
    "find_subject",
    "ingest",
    "read_subject",
    "subject_exists",
]


@dataclass(frozen=True)
class FieldCrypto:
    """Encryption at rest (the subject keystore) and blind indexes (keyed one-way tokens)."""

    keystore: SubjectKeyStore
    pseudonymiser: Pseudonymiser

    def blind(self, values: Sequence[str]) -> list[str]:
        """Blind-index tokens of ``values`` under the current key version."""
        return self.pseudonymiser.hmac_many(BLIND_INDEX_DOMAIN, list(values))

    def blind_any_version(self, value: str) -> list[str]:
        """The token of ``value`` under every key version (rows written before a rotation)."""
        return [
            self.pseudonymiser.hmac(BLIND_INDEX_DOMAIN, value, version=v.version)
            for v in self.pseudonymiser.keyring.versions
        ]


class RecordStore:
    """The strategy's system of record: tables, runtime models and field crypto together."""

    def __init__(
        self,
        strategy: Strategy,
        *,
        tables: SystemTables | None = None,
        crypto: FieldCrypto | None = None,
    ) -> None:
        self.strategy = strategy
        self.tables = tables or build_tables(strategy)
        self.crypto = crypto
        self.profiles = ProvenanceProfiles()
        """Interned provenance profiles of the stored rows (records.provenance_profiles)."""

    @cached_property
    def models(self) -> RuntimeModels:
        """The runtime models of every entity."""
        return build_models(self.strategy)

    @property
    def subject_entity(self) -> str:
        """The data-subject root entity."""
        return self.tables.subject_entity

    def need_crypto(self, entity: str) -> FieldCrypto:
        """The field crypto, or a clear error when an entity with encrypted fields has none."""
        if self.crypto is None:
            raise RecordError(
                f"{entity} has fields encrypted at rest but no keystore is configured; run "
                "`tietotie keys init` (or give RecordStore a FieldCrypto)",
                entity=entity,
            )
        return self.crypto

    def check_entity(self, entity: str) -> None:
        """Raise a clear RecordError for an entity the strategy does not declare."""
        if entity not in self.tables.tables:
            raise RecordError(
                f"unknown entity {entity!r}: the strategy declares "
                f"{', '.join(sorted(self.tables.tables))}",
                entity=entity,
            )


@dataclass(frozen=True)
class IngestResult:
    """What storing one record did."""

    subject_id: str
    record_id: str
    merged: bool


@dataclass
class StoredRecord:
    """One row read back: its values (decrypted) and its provenance."""

    entity: str
    id: str
    subject_id: str
    parent_id: str | None
    source: str
    collected_at: datetime
    updated_at: datetime
    retention_until: datetime
    provenance: dict[str, Any] = field(default_factory=dict)
    """``{field: [source, timestamp]}`` of every value held (records.provenance.expand)."""
    values: dict[str, Any] = field(default_factory=dict)
    erased: list[str] = field(default_factory=list)


def ingest(
    session: Session,
    store: RecordStore,
    entity: str,
    *,
    source: str,
    values: Mapping[str, Any],
    subject: Mapping[str, Any] | None = None,
    parent: str | None = None,
    now: datetime | None = None,
) -> IngestResult:
    """Validate, deduplicate and store one record of ``entity`` written by ``source``.

    ``subject`` is left out for the subject entity and required for others; ``parent`` is
    needed only for a grandchild when the subject has several records of the parent entity.
    Raises :class:`RecordError` (or :class:`ValidationFailed`) when the strategy does not
    justify the record, and :class:`NotFound` when the named subject or parent does not exist.
    The caller owns the transaction.
    """
    from records.ingest import IncomingRow, plan_batch, write_plan

    plan = plan_batch(
        session,
        store,
        entity,
        source=source,
        rows=[
            IncomingRow(
                line=1,
                values=dict(values),
                subject=dict(subject) if subject is not None else None,
                parent=parent,
            )
        ],
        now=now,
    )
    if plan.rejected:
        raise plan.rejected[0].error
    write_plan(session, store, plan)
    outcome = plan.outcomes[0]
    return IngestResult(
        subject_id=outcome.subject_id, record_id=outcome.record_id, merged=outcome.merged
    )


# ── finding and reading ──────────────────────────────────────────────────────────────────────


def _stored_value(store: RecordStore, column: FieldColumn, value: Any) -> Any:
    """A normalised value as the column holds it (the blind index for encrypted identifiers)."""
    if column.encrypted:
        crypto = store.need_crypto(column.entity)
        return crypto.blind_any_version(to_text(store.strategy.index.fields[column.ref], value))
    return [value]


def find_subject(session: Session, store: RecordStore, identity: Mapping[str, Any]) -> str | None:
    """The subject id named by ``{"id": …}`` or by one identifier (``{"email": …}``), or None.

    Raises :class:`RecordError` when ``identity`` names no identifier, or more than one.
    """
    subject = store.subject_entity
    spec = store.strategy.index.entities[subject]
    if not isinstance(identity, Mapping) or len(identity) != 1:
        raise RecordError(
            f'name the subject by its id or one identifier: {{"id": …}} or '
            f'{{"{(spec.identifiers or ["email"])[0]}": …}}',
            subject=dict(identity or {}),
        )
    ((key, raw),) = identity.items()
    table = store.tables.subject_table
    if key == "id":
        return str(raw) if subject_exists(session, store, str(raw)) else None
    if key not in spec.identifiers:
        allowed = ", ".join(["id", *spec.identifiers])
        raise RecordError(
            f"{key!r} is not an identifier of {subject}: use one of {allowed}",
            field=f"{subject}.{key}",
        )
    ref = f"{subject}.{key}"
    try:
        value = normalise(spec.fields[key], raw, region=store.models.region)
    except ValueError as exc:
        raise RecordError(f"{ref} {exc}", field=ref) from None
    column = store.tables.columns[ref]
    stored = _stored_value(store, column, value)
    col = table.c[column.blind_index or column.name]
    row = session.execute(
        select(table.c.id)
        .where(col.in_(stored))
        .order_by(table.c.collected_at, table.c.id)
        .limit(1)
    ).first()
    return str(row[0]) if row else None


def subject_exists(session: Session, store: RecordStore, subject_id: str) -> bool:
    """Whether a subject with this id is stored."""
    table = store.tables.subject_table
    return session.execute(select(table.c.id).where(table.c.id == subject_id)).first() is not None


def _rows(session: Session, table: Table, subject_id: str) -> list[Mapping[str, Any]]:
    stmt = (
        select(table)
        .where(table.c.subject_id == subject_id)
        .order_by(table.c.collected_at, table.c.id)
    )
    return [dict(r._mapping) for r in session.execute(stmt)]


def read_subject(
    session: Session,
    store: RecordStore,
    subject_id: str,
) -> dict[str, list[StoredRecord]]:
    """Every record of the subject, entity by entity, parents first, values decrypted.

    A value whose subject key was shredded is left out of ``values`` and named in ``erased``.
    Raises :class:`NotFound` when no such subject is stored.
    """
    if not subject_exists(session, store, subject_id):
        raise NotFound(f"no subject {subject_id!r} in the system of record", subject_id=subject_id)
    out: dict[str, list[StoredRecord]] = {}
    pending: list[tuple[StoredRecord, FieldColumn, bytes]] = []
    stored: list[tuple[StoredRecord, Any, list[str]]] = []
    for entity in store.tables.order():
        table = store.tables.table(entity)
        records: list[StoredRecord] = []
        for row in _rows(session, table, subject_id):
            rec = StoredRecord(
                entity=entity,
                id=row["id"],
                subject_id=row["subject_id"],
                parent_id=row.get("parent_id"),
                source=row["source"],
                collected_at=row["collected_at"],
                updated_at=row["updated_at"],
                retention_until=row["retention_until"],
            )
            held: list[str] = []
            for column in store.tables.fields_of(entity):
                value = row[column.name]
                if value is None:
                    continue
                held.append(column.name)
                if column.encrypted:
                    pending.append((rec, column, value))
                else:
                    rec.values[column.name] = value
            stored.append((rec, row["provenance"], held))
            records.append(rec)
        out[entity] = records
    compacts = store.profiles.decode_many(session, [provenance for _, provenance, _ in stored])
    for (rec, _, held), compact in zip(stored, compacts, strict=True):
        rec.provenance = expand(compact, rec.source, rec.collected_at, held)
    if pending:
        crypto = store.need_crypto("subject")
        plain = crypto.keystore.decrypt_fields(
            [(subject_id, c.ref, bytes(v).decode("ascii")) for _, c, v in pending], on_erased="mark"
        )
        for (rec, column, _), text in zip(pending, plain, strict=True):
            if text is ERASED:
                rec.erased.append(column.name)
            else:
                spec = store.strategy.index.fields[column.ref]
                rec.values[column.name] = normalise(spec, text, region=store.models.region)
    return out
