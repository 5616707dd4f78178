"""Plan and write batches of records: validation and deduplication first, then bulk inserts.

:func:`plan_batch` reads (never writes): it checks every row against the strategy, normalises
it, deduplicates subject records by ``match_on`` (against the database and within the batch)
and resolves subjects and parents of child records. Rows it cannot accept are listed with
their line and reason. :func:`write_plan` then writes the accepted rows with executemany-style
Core inserts and updates, inside the caller's transaction, so a batch is stored whole or not
at all. :func:`records.store.ingest` is the same path with one row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import Column, Connection, Table, bindparam, func, select, tuple_, update
from sqlalchemy.orm import Session

from kernel.errors import NotFound, RecordError, TietotieError, ValidationFailed
from records.bulk import fill_columns, insert_rows, matching, new_ids
from records.provenance import compact
from schemas.primitives import parse_duration
from schemas.runtime import to_text
from schemas.tables import FieldColumn, entity_retention, id_text

__all__ = [
    "BatchPlan",
    "IncomingRow",
    "Outcome",
    "Rejected",
    "encrypt_rows",
    "fill_columns",
    "plan_batch",
    "write_plan",
]

_CHUNK: Final = 500
_WRITE_CHUNK: Final = 5000

Progress = Callable[[int], None]
"""Called with the number of rows just written."""


@dataclass
class IncomingRow:
    """One record as given: field values, the subject it belongs to, and its parent record."""

    line: int
    values: dict[str, Any]
    subject: dict[str, Any] | None = None
    parent: str | None = None


@dataclass
class Rejected:
    """A row that cannot be stored, with the error that says why."""

    line: int
    error: TietotieError
    row: IncomingRow

    @property
    def reason(self) -> str:
        """The reason as one line."""
        return self.error.message


@dataclass
class Outcome:
    """Where an accepted row went."""

    line: int
    subject_id: str
    record_id: str
    merged: bool


@dataclass
class BatchPlan:
    """What :func:`write_plan` will write, and what was rejected."""

    entity: str
    source: str
    now: datetime
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


class _Ids:
    """Record ids drawn in batches (one ``os.urandom`` call per batch, not per id), sized to
    the rows expected, so that one record does not pay for thousands of ids."""

    def __init__(self, expected: int) -> None:
        self._batch = min(max(expected, 1), _WRITE_CHUNK)
        self._pool: list[str] = []

    def __call__(self) -> str:
        if not self._pool:
            self._pool = new_ids(self._batch)
        return self._pool.pop()


def _chunks(items: Sequence[Any], size: int = _CHUNK) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_STATE: Final = ("provenance", "retention_until", "source", "collected_at")
"""What a merge needs of a stored row: its provenance, retention, and own stamp."""


def _state_columns(table: Table) -> list[Column[Any]]:
    return [table.c[name] for name in _STATE]


def _state(values: Sequence[Any]) -> dict[str, Any]:
    row = dict(zip(_STATE, values, strict=True))
    row["provenance"] = dict(row["provenance"] or {})
    return row


class _Planner:
    """One batch of one entity from one source."""

    def __init__(
        self,
        session: Session,
        store: Any,
        entity: str,
        source: str,
        now: datetime,
        *,
        expected: int = 1,
    ) -> None:
        store.check_entity(entity)
        index = store.strategy.index
        src = index.sources.get(source)
        if src is None:
            raise RecordError(
                f"unknown source {source!r}: the strategy declares "
                f"{', '.join(sorted(index.sources)) or 'no sources'} (4-sources.yaml)",
                source=source,
            )
        self.session = session
        self.store = store
        self.entity = entity
        self.source = source
        self.spec = index.entities[entity]
        self.table: Table = store.tables.table(entity)
        self.collects = {
            r.partition(".")[2] for r in index.expand(src.collects) if r.startswith(entity + ".")
        }
        self.columns: dict[str, FieldColumn] = {c.name: c for c in store.tables.fields_of(entity)}
        retention = entity_retention(store.strategy, entity)
        if retention is None:
            raise RecordError(
                f"{entity} has no retention: give the entity or its uses one", entity=entity
            )
        self.plan = BatchPlan(entity=entity, source=source, now=now)
        self.retention_until = now + parse_duration(retention)
        self.stamp = [source, now.isoformat()]
        self.required = [n for n, f in self.spec.fields.items() if f.required]
        self.new_id = _Ids(expected)

    # phase 1: each row on its own ------------------------------------------------------------

    def reject(self, row: IncomingRow, error: TietotieError) -> None:
        error.context.setdefault("line", row.line)
        self.plan.rejected.append(Rejected(line=row.line, error=error, row=row))

    def check_fields(self, row: IncomingRow, values: dict[str, Any]) -> bool:
        """Whether every field is declared and collected by the source; rejects the row if not."""
        for name in values:
            ref = f"{self.entity}.{name}"
            if name not in self.spec.fields:
                self.reject(
                    row,
                    RecordError(
                        f"{ref} is not declared in the strategy, so it may not be stored "
                        "(declare it in 5-system.yaml with a use that needs it)",
                        field=ref,
                        source=self.source,
                    ),
                )
                return False
            if name not in self.collects:
                self.reject(
                    row,
                    RecordError(
                        f"source {self.source!r} does not collect {ref}: only the fields in its "
                        "`collects` (4-sources.yaml) may be written by it",
                        field=ref,
                        source=self.source,
                    ),
                )
                return False
        return True

    def check_rows(self, rows: Iterable[IncomingRow]) -> list[tuple[IncomingRow, dict[str, Any]]]:
        """The rows whose fields the source may write and whose values are valid, normalised."""
        allowed = self.collects & self.spec.fields.keys()
        pending: list[tuple[IncomingRow, dict[str, Any]]] = []
        for row in rows:
            values = {k: v for k, v in row.values.items() if v is not None and v != ""}
            if values.keys() <= allowed or self.check_fields(row, values):
                pending.append((row, values))
        checked = self.store.models.validate_many(
            self.entity, [values for _, values in pending], partial=True
        )
        accepted: list[tuple[IncomingRow, dict[str, Any]]] = []
        for (row, _), result in zip(pending, checked, strict=True):
            if isinstance(result, ValidationFailed):
                self.reject(row, result)
            else:
                accepted.append((row, result))
        return accepted

    def missing_required(self, row: IncomingRow, values: dict[str, Any]) -> bool:
        missing = [n for n in self.required if n not in values]
        if missing:
            refs = ", ".join(f"{self.entity}.{n}" for n in missing)
            self.reject(
                row,
                ValidationFailed(
                    f"{refs}: required for a new {self.entity} record; give a value",
                    problems=[
                        {"field": f"{self.entity}.{n}", "reason": "is required"} for n in missing
                    ],
                ),
            )
            return True
        return False

    # stored forms --------------------------------------------------------------------------

    def lookup_forms(self, column: FieldColumn, value: Any) -> list[Any]:
        """What the database holds for ``value`` in the column used to search by it."""
        if column.encrypted:
            crypto = self.store.need_crypto(self.entity)
            text = to_text(self.store.strategy.index.fields[column.ref], value)
            return crypto.blind_any_version(text)  # type: ignore[no-any-return]
        return [value]

    def record(
        self, values: dict[str, Any], *, subject_id: str, parent_id: str | None, record_id: str
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "id": record_id,
            "subject_id": subject_id,
            "source": self.source,
            "collected_at": self.plan.now,
            "updated_at": self.plan.now,
            "retention_until": self.retention_until,
            # every value of a new row has the row's own stamp: nothing to list
            # (records.provenance)
            "provenance": {},
        }
        if parent_id is not None:
            row["parent_id"] = parent_id
        row.update(values)
        return row

    # phase 2: the subject entity, deduplicated -----------------------------------------------

    def match_keys(self, vals: dict[str, Any]) -> list[tuple[Any, ...] | None]:
        """Per match key, the row's values of its fields (None when one is not given)."""
        out: list[tuple[Any, ...] | None] = []
        for key in self.spec.match_on:
            if len(key) == 1:
                out.append((vals[key[0]],) if key[0] in vals else None)
            else:
                out.append(tuple(vals[f] for f in key) if all(f in vals for f in key) else None)
        return out

    def existing_matches(
        self,
        keyed: list[list[tuple[Any, ...] | None]],
    ) -> tuple[list[dict[tuple[Any, ...], str]], dict[str, dict[str, Any]]]:
        """Per match key: key values → the earliest stored record id; and those records' state."""
        maps: list[dict[tuple[Any, ...], str]] = []
        state: dict[str, dict[str, Any]] = {}
        t = self.table
        for ki, key in enumerate(self.spec.match_on):
            found: dict[tuple[Any, ...], str] = {}
            back: dict[tuple[Any, ...], tuple[Any, ...]] = {}
            fresh: dict[str, dict[str, Any]] = {}
            columns = [self.columns[f] for f in key]
            if any(c.encrypted for c in columns):
                for keys in keyed:
                    canon = keys[ki]
                    if canon is not None:
                        forms = [
                            self.lookup_forms(c, v) for c, v in zip(columns, canon, strict=True)
                        ]
                        for combo in _product(forms):
                            back[combo] = canon
            else:
                for keys in keyed:
                    canon = keys[ki]
                    if canon is not None:
                        back[canon] = canon
            cols = [t.c[c.blind_index or c.name] for c in columns]
            wanted = list(back)
            if len(cols) == 1:
                for stored, rid in matching(self.session, t, cols[0], [w[0] for w in wanted]):
                    canon_key = back.get((stored,))
                    if canon_key is not None:
                        found.setdefault(canon_key, rid)
                self.load_state(state, set(found.values()))
                maps.append(found)
                continue
            for chunk in _chunks(wanted):
                cond = (
                    cols[0].in_([c[0] for c in chunk])
                    if len(cols) == 1
                    else tuple_(*cols).in_(list(chunk))
                )
                stmt = (
                    select(t.c.id, *_state_columns(t), *cols)
                    .where(cond)
                    .order_by(t.c.collected_at, t.c.id)
                )
                for r in self.session.execute(stmt):
                    stored = tuple(r[1 + len(_STATE) :])
                    canon_key = back.get(stored)
                    if canon_key is not None:
                        found.setdefault(canon_key, r[0])
                        if r[0] not in state:
                            fresh.setdefault(r[0], _state(r[1 : 1 + len(_STATE)]))
            state.update(self.decoded(fresh))
            maps.append(found)
        return maps, state

    def decoded(self, rows: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """``rows`` (record id → state) with their stored provenance decoded, in one batch
        (records.provenance_profiles): merges work on the compact form."""
        profiles = self.store.profiles
        compacts = profiles.decode_many(self.session, [r["provenance"] for r in rows.values()])
        for row, provenance in zip(rows.values(), compacts, strict=True):
            row["provenance"] = provenance
        return rows

    def load_state(self, state: dict[str, dict[str, Any]], ids: set[str]) -> None:
        """Add the provenance and retention of the stored records ``ids`` to ``state``."""
        t = self.table
        loaded: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(ids - state.keys())):
            stmt = select(t.c.id, *_state_columns(t)).where(t.c.id.in_(chunk))
            for r in self.session.execute(stmt):
                loaded[r[0]] = _state(r[1:])
        state.update(self.decoded(loaded))

    def plan_subjects(self, accepted: list[tuple[IncomingRow, dict[str, Any]]]) -> None:
        keyed = [self.match_keys(vals) for _, vals in accepted]
        maps, state = self.existing_matches(keyed)
        new_index: dict[str, dict[str, Any]] = {}
        inserts, outcomes = self.plan.inserts, self.plan.outcomes
        for (row, vals), keys in zip(accepted, keyed, strict=True):
            target: str | None = None
            for ki, canon in enumerate(keys):
                if canon is not None:
                    target = maps[ki].get(canon)
                    if target is not None:
                        break
            if target is None:
                if self.missing_required(row, vals):
                    continue
                target = self.new_id()
                record = self.record(vals, subject_id=target, parent_id=None, record_id=target)
                inserts.append(record)
                new_index[target] = record
                merged = False
            elif target in new_index:
                record = new_index[target]
                record.update(vals)  # same batch, same source: the row's own stamp
                merged = True
            else:
                upd = self.plan.updates.setdefault(
                    target,
                    {
                        "provenance": state[target]["provenance"],
                        "retention_until": max(
                            state[target]["retention_until"], self.retention_until
                        ),
                        "updated_at": self.plan.now,
                    },
                )
                upd.update(vals)
                held = state[target]
                changed = compact(
                    dict.fromkeys(vals, self.stamp), held["source"], held["collected_at"]
                )
                upd["provenance"].update(changed)
                merged = True
            for ki, canon in enumerate(keys):
                if canon is not None:
                    maps[ki][canon] = target
            outcomes.append(
                Outcome(line=row.line, subject_id=target, record_id=target, merged=merged)
            )

    # phase 2: child entities, attached to their subject and parent ---------------------------

    def resolve_subjects(
        self,
        rows: list[tuple[IncomingRow, dict[str, Any]]],
    ) -> dict[int, str]:
        """Row line → subject id, rejecting rows whose subject is missing or unknown."""
        store = self.store
        subject = store.subject_entity
        sspec = store.strategy.index.entities[subject]
        st: Table = store.tables.subject_table
        wanted: dict[str, dict[Any, list[IncomingRow]]] = defaultdict(lambda: defaultdict(list))
        # Each distinct text of an identifier is normalised once (normalisers are pure).
        seen: dict[str, dict[str, tuple[bool, Any]]] = defaultdict(dict)
        for row, _ in rows:
            ident = row.subject
            if not ident or len(ident) != 1:
                self.reject(
                    row,
                    RecordError(
                        f'{self.entity} records need their subject: {{"id": …}} or one '
                        f"identifier of {subject} ({', '.join(sspec.identifiers) or 'none'})"
                    ),
                )
                continue
            ((key, raw),) = ident.items()
            if key == "id":
                wanted["id"][str(raw)].append(row)
                continue
            if key not in sspec.identifiers:
                self.reject(
                    row,
                    RecordError(
                        f"{key!r} is not an identifier of {subject}: use id or one of "
                        f"{', '.join(sspec.identifiers) or 'none'}",
                        field=f"{subject}.{key}",
                    ),
                )
                continue
            outcome = seen[key].get(raw) if type(raw) is str else None
            if outcome is None:
                try:
                    outcome = (True, store.models.normaliser(subject, key)(raw))
                except ValueError as exc:
                    outcome = (False, str(exc))
                if type(raw) is str:
                    seen[key][raw] = outcome
            ok, value = outcome
            if not ok:
                self.reject(
                    row,
                    ValidationFailed(f"subject {subject}.{key} {value}", field=f"{subject}.{key}"),
                )
                continue
            wanted[key][value].append(row)
        found: dict[int, str] = {}
        for key, by_value in wanted.items():
            if key == "id":
                col, back = st.c.id, {v: v for v in by_value}
            else:
                column = store.tables.columns[f"{subject}.{key}"]
                col = st.c[column.blind_index or column.name]
                back = {}
                for value in by_value:
                    for form in self.lookup_forms(column, value):
                        back[form] = value
            hits: dict[Any, str] = {}
            for stored, sid in matching(self.session, st, col, list(back)):
                hits.setdefault(back[stored], sid)
            for value, rows_ in by_value.items():
                for row in rows_:
                    if value in hits:
                        found[row.line] = hits[value]
                    else:
                        self.reject(
                            row,
                            NotFound(
                                f"no {subject} with {key} {value!s}: store the subject first",
                                field=f"{subject}.{key}",
                            ),
                        )
        return found

    def resolve_parents(
        self, rows: list[tuple[IncomingRow, dict[str, Any]]], subjects: dict[int, str]
    ) -> dict[int, str]:
        """Row line → parent record id (grandchildren), rejecting what cannot be attached."""
        parent = self.spec.parent
        assert parent is not None
        if parent == self.store.subject_entity:
            return dict(subjects)
        pt: Table = self.store.tables.table(parent)
        given = [r.parent for r, _ in rows if r.line in subjects and r.parent]
        owners: dict[str, str] = {}
        for chunk in _chunks(sorted(set(map(str, given)))):
            for rid, sid in self.session.execute(
                select(pt.c.id, pt.c.subject_id).where(pt.c.id.in_(chunk))
            ):
                owners[rid] = sid
        implicit = sorted(
            {subjects[r.line] for r, _ in rows if r.line in subjects and not r.parent}
        )
        single: dict[str, tuple[int, str]] = {}
        for chunk in _chunks(implicit):
            stmt = (
                select(pt.c.subject_id, func.count(), func.min(id_text(pt.c.id)))
                .where(pt.c.subject_id.in_(chunk))
                .group_by(pt.c.subject_id)
            )
            for sid, count, first in self.session.execute(stmt):
                single[sid] = (int(count), first)
        out: dict[int, str] = {}
        for row, _ in rows:
            sid = subjects.get(row.line)
            if sid is None:
                continue
            if row.parent:
                if owners.get(str(row.parent)) != sid:
                    self.reject(
                        row,
                        NotFound(
                            f"no {parent} record {row.parent!r} of this subject: give the id of "
                            f"one of the subject's {parent} records as parent"
                        ),
                    )
                    continue
                out[row.line] = str(row.parent)
                continue
            count, first = single.get(sid, (0, ""))
            if count != 1:
                self.reject(
                    row,
                    RecordError(
                        f"the subject has {count} {parent} records: say which one this "
                        f"{self.entity} belongs to with parent (a {parent} record id)"
                    ),
                )
                continue
            out[row.line] = first
        return out

    def plan_children(self, accepted: list[tuple[IncomingRow, dict[str, Any]]]) -> None:
        subjects = self.resolve_subjects(accepted)
        parents = self.resolve_parents(accepted, subjects)
        for row, vals in accepted:
            if row.line not in parents:
                continue
            if self.missing_required(row, vals):
                continue
            record_id = self.new_id()
            self.plan.inserts.append(
                self.record(
                    vals,
                    subject_id=subjects[row.line],
                    parent_id=parents[row.line],
                    record_id=record_id,
                )
            )
            self.plan.outcomes.append(
                Outcome(
                    line=row.line, subject_id=subjects[row.line], record_id=record_id, merged=False
                )
            )


def _product(forms: list[list[Any]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = [()]
    for options in forms:
        out = [(*prefix, o) for prefix in out for o in options]
    return out


def plan_batch(
    session: Session,
    store: Any,
    entity: str,
    *,
    source: str,
    rows: Sequence[IncomingRow],
    now: datetime | None = None,
) -> BatchPlan:
    """Check, normalise, deduplicate and attach ``rows``; nothing is written.

    Raises :class:`RecordError` for what is wrong with the whole batch (an unknown entity or
    source); problems of single rows are in the plan's ``rejected``.
    """
    planner = _Planner(session, store, entity, source, now or datetime.now(UTC), expected=len(rows))
    accepted = planner.check_rows(rows)
    if store.subject_entity == entity:
        planner.plan_subjects(accepted)
    else:
        planner.plan_children(accepted)
    planner.plan.rejected.sort(key=lambda r: r.line)
    return planner.plan


def encrypt_rows(store: Any, entity: str, rows: list[tuple[str, dict[str, Any]]]) -> None:
    """Replace clear values of encrypted fields by ciphertext (and add blind indexes) in place.

    ``rows`` are ``(subject_id, row)`` pairs; the subject's key encrypts its row's values.
    """
    columns = [c for c in store.tables.fields_of(entity) if c.encrypted]
    if not columns:
        return
    items: list[tuple[str, str, str]] = []
    where: list[tuple[dict[str, Any], FieldColumn]] = []
    blind: list[tuple[dict[str, Any], FieldColumn, str]] = []
    specs = store.strategy.index.fields
    for subject_id, row in rows:
        for column in columns:
            if column.name in row:
                text = to_text(specs[column.ref], row[column.name])
                items.append((subject_id, column.ref, text))
                where.append((row, column))
                if column.blind_index:
                    blind.append((row, column, text))
    if not items:
        return
    crypto = store.need_crypto(entity)
    sealed = crypto.keystore.encrypt_fields(items)
    for (row, column), ct in zip(where, sealed, strict=True):
        row[column.name] = ct.encode("ascii")
    if blind:
        tokens = crypto.blind([text for _, _, text in blind])
        for (row, column, _), token in zip(blind, tokens, strict=True):
            assert column.blind_index is not None
            row[column.blind_index] = token


def _store_provenance(connection: Connection, store: Any, rows: Iterable[dict[str, Any]]) -> None:
    """Each row's compact provenance replaced by its stored form, interning new profiles
    (records.provenance_profiles); rows listing none are left as they are, at no cost."""
    held = [row for row in rows if row.get("provenance")]
    if held:
        stored = store.profiles.encode_many(connection, [row["provenance"] for row in held])
        for row, provenance in zip(held, stored, strict=True):
            row["provenance"] = provenance


def write_plan(
    session: Session, store: Any, plan: BatchPlan, *, progress: Progress | None = None
) -> None:
    """Write the accepted rows of ``plan`` inside the caller's transaction."""
    table: Table = store.tables.table(plan.entity)
    encrypt_rows(store, plan.entity, [(r["subject_id"], r) for r in plan.inserts])
    connection = session.connection()
    _store_provenance(connection, store, plan.inserts)
    for chunk in _chunks(plan.inserts, _WRITE_CHUNK):
        insert_rows(connection, table, chunk)
        if progress is not None:
            progress(len(chunk))
    if plan.updates:
        updates = [(rid, dict(values)) for rid, values in plan.updates.items()]
        # Only subject records are merged, and a subject record's id is the subject id.
        encrypt_rows(store, plan.entity, updates)
        _store_provenance(connection, store, (values for _, values in updates))
        groups: dict[frozenset[str], list[dict[str, Any]]] = defaultdict(list)
        for rid, values in updates:
            groups[frozenset(values)].append(
                {"b_id": rid, **{f"v_{k}": v for k, v in values.items()}}
            )
        for keys, params in groups.items():
            stmt = (
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values({k: bindparam(f"v_{k}") for k in keys})
            )
            connection.execute(stmt, params)
        if progress is not None:
            progress(len(updates))
