"""SQLAlchemy 2.0 tables of the system of record, compiled from the strategy's entities.

One table per entity, named like the entity. Every table has the same bookkeeping columns:

    id               random opaque record id (uuid4 hex); the subject table's id is the subject id
    subject_id       the data subject the row belongs to (every table: one query finds a subject)
    parent_id        children only: FK to the parent entity's ``id``, ON DELETE CASCADE
    source           the source id that first wrote the row (Art. 14(2)(f), 15(1)(g))
    collected_at     when it was first written (UTC)
    updated_at       when a merge last changed it (UTC)
    retention_until  when the row's retention ends (its longest-kept field's: entity_retention)
    provenance       JSON ``{field: [source, collected_at]}``: who wrote each value, and when

Field columns carry the field's name. Values are stored normalised and in clear, except for
fields that are encrypted at rest (special categories and ``protect: encrypt``): those are
stored as the per-subject AES-GCM ciphertext of the keystore (``LargeBinary``), and where such
a field is an identifier or a ``match_on`` key a *blind index* column ``<field>_bidx`` keeps a
keyed one-way token (kernel.crypto hmac, domain ``blind-index``) so the subject can still be
found by an equality lookup without decrypting anything. ``protect: hmac`` fields are kept in
clear: ``protect`` says how a field leaves the system, and an identifier must be searchable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeDecorator, TypeEngine, UserDefinedType

from kernel.errors import StrategyError
from schemas.enums import FieldType, LegalBasis, Operator
from schemas.models import Strategy
from schemas.primitives import parse_duration
from schemas.runtime import STRING_MAX, canonical_decimal

__all__ = [
    "BLIND_INDEX_DOMAIN",
    "NAMING_CONVENTION",
    "RESERVED_COLUMNS",
    "ExactDecimal",
    "FieldColumn",
    "RecordId",
    "RecordTime",
    "SystemTables",
    "UTCDateTime",
    "build_tables",
    "entity_retention",
    "field_retention",
    "id_text",
    "longest",
    "new_metadata",
    "python_value",
    "retention_rule",
]

NAMING_CONVENTION: Final = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Explicit constraint names, so migrations can name what they change on every database."""

RESERVED_COLUMNS: Final = frozenset(
    {
        "id",
        "subject_id",
        "parent_id",
        "source",
        "collected_at",
        "updated_at",
        "retention_until",
        "provenance",
    }
)
"""Bookkeeping columns every entity table has; no field may take these names."""

BLIND_INDEX_DOMAIN: Final = "blind-index"
"""The pseudonymisation domain of blind-index tokens (never handed out anywhere)."""

_SEEKS: Final = frozenset({Operator.EQ, Operator.IN, Operator.EXISTS})
"""Operators an index can seek on and then go on to the next column (equalities)."""
_SOURCE_LENGTH: Final = 64
_RESERVED_PREFIX: Final = "tietotie_"


def new_metadata() -> MetaData:
    """An empty MetaData with the project's naming convention."""
    return MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite and MariaDB store it naive, in UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Microseconds on MariaDB too (its DATETIME drops them by default)."""
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert to UTC; naive datetimes never reach the database."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: attach a time zone before storing it")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name != "postgresql" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Give back an aware UTC datetime."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)


class RecordTime(UTCDateTime):
    """A datetime of the system of record: on SQLite, integer microseconds since 1970 UTC.

    SQLite has no date type: a datetime is kept as 26 characters of text, and a row of the
    system of record holds at least three of them (and their index holds one more). As an
    integer it takes eight bytes or fewer, orders the same, and is exact. Other databases keep
    their native ``timestamp with time zone`` (PostgreSQL) or ``DATETIME(6)`` (MariaDB), as
    :class:`UTCDateTime` does. A SQLite value written as text by an earlier version reads back
    the same; ``tietotie db upgrade`` turns such values into integers
    (:mod:`records.migrations.data`), so that comparisons never meet both kinds.
    """

    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """BIGINT on SQLite; the native type elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return super().load_dialect_impl(dialect)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Microseconds since 1970 UTC on SQLite; naive datetimes never reach the database."""
        if dialect.name != "sqlite" or value is None:
            return super().process_bind_param(value, dialect)
        if value.tzinfo is None:
            raise ValueError("naive datetime: attach a time zone before storing it")
        return (value - _EPOCH) // _MICROSECOND

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """An aware UTC datetime, from an integer or from an earlier version's text."""
        if isinstance(value, int):
            return _EPOCH + value * _MICROSECOND
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return super().process_result_value(value, dialect)


_HEX_ID: Final = re.compile(r"[0-9a-f]{32}")
_NO_ID: Final = "00000000-0000-0000-0000-000000000000"
"""The nil UUID: what PostgreSQL is asked for in place of text that is no record id (a uuid4
id is never nil), so a lookup of such text finds nothing instead of failing to cast."""


def _encodable(text: str) -> str:
    """``text`` with any lone surrogate replaced: no driver can encode one, and text holding
    one is no id, so it matches nothing either way."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


class _Blob(UserDefinedType[Any]):
    """SQLite's BLOB with no driver-side processing: :class:`RecordId` binds bytes or text."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "BLOB"


class RecordId(TypeDecorator[str]):
    """The id of a record of the system of record, in 16 bytes where the database allows.

    Ids are uuid4 values written as 32 lowercase hex digits (``uuid4().hex``), and Python and
    the JSON API see them so everywhere. As text they cost 33 bytes in every row and in every
    index entry that holds one; stored natively they cost 16: a ``BLOB`` of the 16 bytes on
    SQLite, ``uuid`` on PostgreSQL. MariaDB keeps ``VARCHAR(32)``.

    Text that is not such an id (a guess, a typo, an earlier version's value not yet
    converted by ``tietotie db upgrade``) is bound as the text itself on SQLite, where it
    never equals a blob, and as the nil UUID on PostgreSQL: a lookup finds nothing, as it
    did when ids were text, instead of raising a cast error. Compare such a column with a text
    column of another table through :func:`id_text`.
    """

    impl = String(32)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """BLOB on SQLite, uuid on PostgreSQL, VARCHAR(32) elsewhere."""
        if dialect.name == "sqlite":
            return dialect.type_descriptor(_Blob())
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.UUID(as_uuid=False))
        return dialect.type_descriptor(String(32))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        """16 bytes on SQLite and a uuid on PostgreSQL for an id; other text kept harmless."""
        if value is None:
            return None
        text = str(value)
        if dialect.name not in {"sqlite", "postgresql"}:
            return _encodable(text)
        if _HEX_ID.fullmatch(text):
            return bytes.fromhex(text) if dialect.name == "sqlite" else text
        return _NO_ID if dialect.name == "postgresql" else _encodable(text)

    def process_result_value(self, value: Any, dialect: Dialect) -> str | None:
        """32 lowercase hex digits, whatever the storage."""
        if value is None:
            return None
        if isinstance(value, bytes | bytearray | memoryview):
            return bytes(value).hex()
        return str(value).replace("-", "")


class _IdText(FunctionElement[str]):
    """``id_text(column)``: a :class:`RecordId` column as its 32-character text."""

    type = String(32)
    name = "id_text"
    inherit_cache = True


@compiles(_IdText)
def _id_text_default(element: _IdText, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(_IdText, "sqlite")
def _id_text_sqlite(element: _IdText, compiler: SQLCompiler, **kw: Any) -> str:
    x = compiler.process(element.clauses, **kw)
    return f"(CASE WHEN typeof({x}) = 'blob' THEN lower(hex({x})) ELSE {x} END)"


@compiles(_IdText, "postgresql")
def _id_text_postgresql(element: _IdText, compiler: SQLCompiler, **kw: Any) -> str:
    x = compiler.process(element.clauses, **kw)
    return f"replace(CAST({x} AS TEXT), '-', '')"


def id_text(expr: ColumnElement[Any]) -> ColumnElement[str]:
    """``expr`` comparable with ids kept as text (the consent ledger, restriction flags, the
    contact log): a :class:`RecordId` column as 32 hex digits, any other expression as it is."""
    if isinstance(expr.type, RecordId):
        return _IdText(expr)
    return expr


class ExactDecimal(TypeDecorator[Decimal]):
    """NUMERIC(18, 4) that round-trips Decimal exactly, also on SQLite (which has no decimals).

    SQLite keeps NUMERIC values as integers or reals of 15 significant digits, which is why
    decimals are limited to 15 digits (see :data:`schemas.runtime.DECIMAL_INTEGER_DIGITS`); the
    value is bound as text there and read back canonical (``10.5000`` → ``10.5``).
    """

    impl = Numeric(18, 4)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        """Bind as text on SQLite, as Decimal elsewhere."""
        if value is None:
            return None
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        """Canonical Decimal (``10.5000`` → ``10.5``)."""
        if value is None:
            return None
        return canonical_decimal(Decimal(str(value)))


@dataclass(frozen=True)
class FieldColumn:
    """How one field is stored: its column, whether encrypted at rest, and its blind index."""

    ref: str
    entity: str
    name: str
    type: FieldType
    encrypted: bool
    blind_index: str | None = None


@dataclass
class SystemTables:
    """The compiled tables of a strategy, with per-field storage facts."""

    strategy: Strategy
    metadata: MetaData
    tables: dict[str, Table] = field(default_factory=dict)
    columns: dict[str, FieldColumn] = field(default_factory=dict)
    subject_entity: str = ""

    def table(self, entity: str) -> Table:
        """The table of ``entity``."""
        return self.tables[entity]

    def fields_of(self, entity: str) -> list[FieldColumn]:
        """The field columns of ``entity``, in declaration order."""
        return [c for c in self.columns.values() if c.entity == entity]

    @property
    def subject_table(self) -> Table:
        """The table of the data-subject root entity."""
        return self.tables[self.subject_entity]

    def order(self) -> list[str]:
        """Entity names parents first (the order to insert in; reversed, to delete in)."""
        return list(self.tables)


def _column_type(ftype: FieldType, values: list[str] | None) -> TypeEngine[Any]:
    match ftype:
        case FieldType.STRING:
            return String(STRING_MAX)
        case FieldType.TEXT:
            return Text()
        case FieldType.EMAIL:
            return String(254)
        case FieldType.PHONE:
            return String(16)
        case FieldType.INTEGER:
            return BigInteger()
        case FieldType.DECIMAL:
            return ExactDecimal()
        case FieldType.BOOLEAN:
            return Boolean(create_constraint=False)
        case FieldType.DATE:
            return Date()
        case FieldType.DATETIME:
            return RecordTime()
        case FieldType.ENUM:
            # Wide enough that adding an enum value never narrows the column.
            return String(max(64, *(len(v) for v in values or [""])))
        case FieldType.COUNTRY:
            return String(2)
        case FieldType.POSTAL_CODE:
            return String(16)
        case FieldType.URL:
            return String(760)  # 760 x 4 bytes stays under MariaDB's 3072-byte index limit
    raise AssertionError(ftype)  # pragma: no cover


def _entity_order(strategy: Strategy) -> list[str]:
    index = strategy.index
    return sorted(index.entities, key=lambda name: (len(index.lineage(name)), name))


def build_tables(strategy: Strategy, metadata: MetaData | None = None) -> SystemTables:
    """Compile the strategy's entities into tables on ``metadata`` (a fresh one by default).

    Raises :class:`StrategyError` when the strategy has no single subject entity, an entity has
    no path to it, or a field takes a bookkeeping column's name.
    """
    index = strategy.index
    subject = index.subject_entity
    if subject is None:
        raise StrategyError(
            "the system step needs exactly one entity with subject: true", file="5-system.yaml"
        )
    out = SystemTables(
        strategy=strategy, metadata=metadata or new_metadata(), subject_entity=subject
    )
    conditioned: dict[str, set[str]] = {}
    # per entity, the fields one audience or row filter tests together, equalities first
    groups: dict[str, set[tuple[str, ...]]] = {}
    filters = [a.audience.where for a in strategy.activations]
    filters += [g.rows for g in strategy.system.access]
    for where in filters:
        tested: dict[str, list[tuple[bool, str]]] = {}
        for cond in where:
            entity_name, _, field_name = cond.field.partition(".")
            conditioned.setdefault(entity_name, set()).add(field_name)
            tested.setdefault(entity_name, []).append((cond.op not in _SEEKS, field_name))
        for entity_name, fields in tested.items():
            ordered = tuple(dict.fromkeys(f for _, f in sorted(fields)))
            groups.setdefault(entity_name, set()).add(ordered)
    for name in _entity_order(strategy):
        entity = index.entities[name]
        if name.startswith(_RESERVED_PREFIX):
            raise StrategyError(
                f"entity {name!r}: names starting with {_RESERVED_PREFIX!r} "
                "are kept for the service's own tables; rename it",
                file="5-system.yaml",
                entity=name,
            )
        lineage = index.lineage(name)
        if lineage[-1] != subject:
            raise StrategyError(
                f"entity {name!r} does not lead to the subject entity {subject!r} "
                "through its parents; set `parent`",
                file="5-system.yaml",
                entity=name,
            )
        searchable = set(entity.identifiers) | {f for key in entity.match_on for f in key}
        columns: list[Column[Any]] = [Column("id", RecordId(), primary_key=True)]
        if name == subject:
            columns.append(Column("subject_id", RecordId(), nullable=False, index=True))
        else:
            columns.append(
                Column(
                    "subject_id",
                    RecordId(),
                    ForeignKey(f"{subject}.id", ondelete="CASCADE"),
                    nullable=False,
                    index=True,
                )
            )
            assert entity.parent is not None
            columns.append(
                Column(
                    "parent_id",
                    RecordId(),
                    ForeignKey(f"{entity.parent}.id", ondelete="CASCADE"),
                    nullable=False,
                    index=True,
                )
            )
        columns += [
            Column("source", String(_SOURCE_LENGTH), nullable=False),
            Column("collected_at", RecordTime(), nullable=False),
            Column("updated_at", RecordTime(), nullable=False),
            Column("retention_until", RecordTime(), nullable=False, index=True),
            Column("provenance", JSON(), nullable=False),
        ]
        indexes: list[Index] = []
        for fname, spec in entity.fields.items():
            ref = f"{name}.{fname}"
            if fname in RESERVED_COLUMNS or fname.endswith("_bidx"):
                raise StrategyError(
                    f"field {ref}: {fname!r} is a bookkeeping column of every table "
                    f"({', '.join(sorted(RESERVED_COLUMNS))}) or a blind-index name; rename it",
                    file="5-system.yaml",
                    field=ref,
                )
            encrypted = index.encrypted_at_rest(ref)
            blind = f"{fname}_bidx" if encrypted and fname in searchable else None
            if encrypted:
                columns.append(Column(fname, LargeBinary(), nullable=True))
                if blind:
                    columns.append(Column(blind, String(64), nullable=True, index=True))
            else:
                columns.append(
                    Column(
                        fname,
                        _column_type(spec.type, spec.values),
                        nullable=True,
                        index=fname in entity.identifiers,
                    )
                )
            out.columns[ref] = FieldColumn(
                ref=ref,
                entity=name,
                name=fname,
                type=spec.type,
                encrypted=encrypted,
                blind_index=blind,
            )
        for key in entity.match_on:
            stored = [out.columns[f"{name}.{f}"].blind_index or f for f in key]
            already = len(stored) == 1 and (key[0] in entity.identifiers or stored[0] != key[0])
            if not already:
                indexes.append(Index(f"ix_{name}_match_{'_'.join(key)}", *stored))

        def comparable(fname: str, entity: str = name) -> bool:
            column = out.columns.get(f"{entity}.{fname}")
            return not (column is None or column.encrypted or column.type is FieldType.TEXT)

        if name == subject:
            for fname in sorted(f for f in conditioned.get(name, set()) if comparable(f)):
                # Tested on the subject table itself: (field, subject_id) lets the database
                # seek the matching subjects and never read the rest of their rows.
                indexes.append(Index(f"ix_{name}_by_{fname}"[:63], fname, "subject_id"))
        else:
            # Tested per subject through EXISTS: (subject_id, the fields one filter tests,
            # equalities first) answers the probe from one index; a group that leads another
            # is served by it.
            probes = {tuple(f for f in g if comparable(f)) for g in groups.get(name, set())}
            probes = {
                p for p in probes if p and not any(o != p and o[: len(p)] == p for o in probes)
            }
            for probe in sorted(probes):
                label = "_".join(probe)
                indexes.append(Index(f"ix_{name}_cond_{label}"[:63], "subject_id", *probe))
        if any(ix.expressions[0] == "subject_id" for ix in indexes):
            # an index led by subject_id serves every lookup by subject (reads, erasure, the
            # foreign key's cascade) as well as one of its own: keep only that one
            columns[1].index = False
        out.tables[name] = Table(
            name, out.metadata, *columns, *indexes, comment=f"system of record: {name}"
        )
    return out


def python_value(column: FieldColumn, value: Any) -> Any:
    """Values read back from a column as the runtime model gives them (dates stay dates)."""
    if column.type is FieldType.DATE and isinstance(value, datetime):
        return value.date()
    if column.type is FieldType.DATE and isinstance(value, str):
        return date.fromisoformat(value)
    return value


_ANCHOR: Final = date(2000, 1, 1)
_LEGAL: Final = LegalBasis.LEGAL_OBLIGATION


def _until(duration: str) -> date:
    return _ANCHOR + parse_duration(duration)


def longest(durations: list[str]) -> str | None:
    """The longest of some ISO 8601 durations (``P6Y`` beats ``P3Y``), or ``None`` if none."""
    if not durations:
        return None
    return max(durations, key=lambda d: _ANCHOR + parse_duration(d))


def field_retention(strategy: Strategy, ref: str) -> str | None:
    """How long a field is kept: the longest retention of the uses that list it; the entity's
    own ``retention`` only where a legal-obligation use lists the field and it is longer."""
    return retention_rule(strategy, ref)[0]


def retention_rule(strategy: Strategy, ref: str) -> tuple[str | None, str]:
    """A field's retention and the rule that set it, in words for the compiled schema
    (``"longest use: bookkeeping (legal obligation)"``)."""
    index = strategy.index
    name = ref.partition(".")[0]
    entity = index.entities.get(name)
    holders = [index.uses[u] for u in index.field_uses.get(ref, [])]
    kept = [u for u in holders if u.retention is not None]
    # among equally long uses, name the legal obligation: it is the one that cannot be shortened
    best = max(
        kept, key=lambda u: (_until(str(u.retention)), u.legal_basis == _LEGAL), default=None
    )
    legal = next((u for u in holders if u.legal_basis == _LEGAL), None)
    override = entity.retention if entity is not None else None
    if (
        override
        and legal is not None
        and (best is None or _until(override) > _until(str(best.retention)))
    ):
        return override, f"the retention of entity {name}, for {legal.id} (legal obligation)"
    if best is None:
        return None, "held for no use"
    return best.retention, f"longest use: {best.id} ({best.legal_basis.value.replace('_', ' ')})"


def entity_retention(strategy: Strategy, entity: str) -> str | None:
    """How long an entity's rows are kept: as long as their longest-kept field (the row must
    outlive its longest-kept value; see :func:`field_retention`), else the entity's own
    ``retention`` when no use holds any of its fields."""
    spec = strategy.index.entities[entity]
    kept = [r for f in spec.fields if (r := field_retention(strategy, f"{entity}.{f}")) is not None]
    return longest(kept) or spec.retention
