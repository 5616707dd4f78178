"""Synthetic Finnish customers and everything hanging off them, for demos and benchmarks.

Values are made per field from the strategy (its entities, field types and enum values), with
realistic content for the fields the bundled example has (names, Espoo/Vantaa postal codes,
plates, car makes, tyre sizes…) and a plain value of the right type for anything else. Rows
are written straight to the tables with bulk inserts in chunks (one transaction per chunk), with
the same bookkeeping columns, provenance and at-rest encryption as ingested records. Every
identifier is unique within one run (emails and phone numbers carry the row number), and the
stdlib ``random`` with a seed makes runs repeatable. Each subject also gets a consent history
for every consent-based use (given, withdrawn, lapsed, refused or never asked), written to the
consent ledger by the consent service's rules with signed receipts (:mod:`records.seed_consents`),
so campaigns and consent-gated reports reach a plausible share of the demo customers.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import Connection, func, select
from sqlalchemy.orm import Session, sessionmaker

from consent.receipts import ReceiptSigner
from consent.service import consent_uses
from kernel.db import transaction
from kernel.errors import RecordError
from records.bulk import (
    insert_rows,
    new_ids,
    paused_gc,
    refresh_statistics,
    sqlite_bulk_cache,
)
from records.ingest import encrypt_rows
from records.seed_consents import LEDGER_TABLE, ConsentSeeder, Statement
from records.store import RecordStore
from schemas.enums import FieldType
from schemas.models import FieldSpec
from schemas.primitives import parse_duration
from schemas.tables import entity_retention

__all__ = ["SeedResult", "seed"]

_FIRST: Final = (
    "Matti",
    "Timo",
    "Juha",
    "Mikko",
    "Jari",
    "Antti",
    "Ville",
    "Jussi",
    "Pekka",
    "Sami",
    "Tuomas",
    "Eero",
    "Aino",
    "Anna",
    "Maria",
    "Helena",
    "Johanna",
    "Sanna",
    "Laura",
    "Kaisa",
    "Elina",
    "Riikka",
    "Tiina",
    "Emilia",
    "Venla",
    "Onni",
    "Leevi",
    "Sofia",
    "Ella",
    "Olavi",
)
_LAST: Final = (
    "Korhonen",
    "Virtanen",
    "Mäkinen",
    "Nieminen",
    "Mäkelä",
    "Hämäläinen",
    "Laine",
    "Heikkinen",
    "Koskinen",
    "Järvinen",
    "Lehtonen",
    "Lehtinen",
    "Saarinen",
    "Salminen",
    "Heinonen",
    "Niemi",
    "Heikkilä",
    "Kinnunen",
    "Salonen",
    "Turunen",
    "Salo",
    "Laitinen",
    "Tuominen",
    "Rantanen",
    "Karjalainen",
)
_ESPOO: Final = (
    "02100",
    "02120",
    "02130",
    "02150",
    "02160",
    "02170",
    "02180",
    "02200",
    "02230",
    "02240",
    "02250",
    "02260",
    "02270",
    "02320",
    "02600",
    "02610",
    "02620",
    "02650",
    "02660",
    "02700",
    "02720",
    "02750",
    "02760",
    "02770",
    "02780",
    "02920",
    "02940",
)
_VANTAA: Final = (
    "01200",
    "01260",
    "01280",
    "01300",
    "01350",
    "01360",
    "01370",
    "01390",
    "01400",
    "01450",
    "01480",
    "01510",
    "01520",
    "01530",
    "01600",
    "01610",
    "01620",
    "01640",
    "01650",
    "01660",
    "01670",
    "01680",
    "01690",
    "01700",
    "01710",
    "01720",
    "01730",
    "01740",
    "01760",
)
_STREETS: Final = (
    "Koskelontie",
    "Kirkkojärventie",
    "Espoonkatu",
    "Tikkurilantie",
    "Myyrmäentie",
    "Leppävaarankatu",
    "Tapiolantie",
    "Kivistöntie",
    "Ratatie",
    "Kauppakartanonkatu",
    "Sinimäentie",
    "Piispansilta",
)
_MAKES: Final = {
    "Toyota": ("Corolla", "Yaris", "RAV4", "Auris"),
    "Volkswagen": ("Golf", "Passat", "Polo", "Tiguan"),
    "Skoda": ("Octavia", "Fabia", "Superb", "Kodiaq"),
    "Volvo": ("V60", "V70", "XC60", "XC40"),
    "Ford": ("Focus", "Fiesta", "Mondeo", "Kuga"),
    "Kia": ("Ceed", "Niro", "Sportage"),
    "Nissan": ("Qashqai", "Leaf", "Micra"),
}
_TYRE_SIZES: Final = (
    "195/65 R15",
    "205/55 R16",
    "215/60 R16",
    "225/45 R17",
    "225/50 R17",
    "235/55 R18",
)
_BRANDS: Final = ("Nokian", "Michelin", "Continental", "Bridgestone", "Goodyear", "Pirelli")
_NOTES: Final = (
    "Renkaat vaihdettu, pultit kiristetty.",
    "Öljynvaihto ja suodattimet.",
    "Jarrupalat vaihdettu edestä.",
    "Kausihuolto tehty, ei huomautettavaa.",
    "Tasapainotus ja paineiden tarkistus.",
)
_NEEDS: Final = (
    "Pyörätuoli: auto tuodaan ovelle.",
    "Liikkuminen hidasta, varataan lisäaikaa.",
    "Kuulovamma: yhteys tekstiviestillä.",
)
_CHILDREN: Final = {"vehicle": (1, 2), "visit": (0, 4), "tyre_storage": (0, 1)}
_DEFAULT_CHILDREN: Final = (0, 2)
_OPTIONAL_FILL: Final = 0.8
_SPECIAL_FILL: Final = 0.02


@dataclass(frozen=True)
class SeedResult:
    """How much was written, and how fast."""

    customers: int
    rows: dict[str, int]
    """Rows written per table: each entity's, then the consent ledger's (``consent_event``)."""
    seconds: float
    held_before: int = 0
    """Subjects the database held already; the numbering continued after them."""

    @property
    def total_rows(self) -> int:
        """Rows in every table together."""
        return sum(self.rows.values())


_Make = Callable[[int, dict[str, Any]], Any]
"""Makes one value from the row number and the row's context (values that go together)."""


class _Maker:
    """Values for one field of one entity, made with the run's random generator."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now

    def value(self, entity: str, name: str, spec: FieldSpec, n: int, ctx: dict[str, Any]) -> Any:
        """A value for ``entity.name`` (the ``n``-th row of the entity)."""
        return self.generator(entity, name, spec)(n, ctx)

    def generator(self, entity: str, name: str, spec: FieldSpec) -> _Make:
        """What makes values of ``entity.name``: looked up once, called per row."""
        special: _Make | None = getattr(self, f"_{entity}_{name}", None) or getattr(
            self, f"_{name}", None
        )
        if special is not None:
            return special
        r = self.rng
        now = self.now
        match spec.type:
            case FieldType.STRING:
                label = name.replace("_", " ")
                return lambda n, ctx: f"{label} {r.randint(1, 9999)}"
            case FieldType.TEXT:
                return lambda n, ctx: r.choice(_NOTES)
            case FieldType.EMAIL:
                return lambda n, ctx: f"{name}{n}@example.com"
            case FieldType.PHONE:
                return lambda n, ctx: f"+35850{n % 10_000_000:07d}"
            case FieldType.INTEGER:
                return lambda n, ctx: r.randint(0, 1000)
            case FieldType.DECIMAL:
                return lambda n, ctx: Decimal(r.randint(100, 100_000)) / 100
            case FieldType.BOOLEAN:
                return lambda n, ctx: r.random() < 0.5
            case FieldType.DATE:
                return lambda n, ctx: (now - timedelta(days=r.randint(0, 3650))).date()
            case FieldType.DATETIME:
                return lambda n, ctx: now - timedelta(minutes=r.randint(0, 3 * 365 * 24 * 60))
            case FieldType.ENUM:
                values = spec.values or [""]
                return lambda n, ctx: r.choice(values)
            case FieldType.COUNTRY:
                return lambda n, ctx: "FI"
            case FieldType.POSTAL_CODE:
                return lambda n, ctx: r.choice(_ESPOO)
            case FieldType.URL:
                return lambda n, ctx: f"https://example.com/{name}/{n}"
        raise AssertionError(spec.type)  # pragma: no cover

    # the bundled example's fields ---------------------------------------------------------

    def _name(self, n: int, ctx: dict[str, Any]) -> str:
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        ctx["first"], ctx["last"] = first, last
        return f"{first} {last}"

    def _email(self, n: int, ctx: dict[str, Any]) -> str:
        first = ctx.get("first", "asiakas").lower()
        last = ctx.get("last", "").lower()
        local = f"{first}.{last}".strip(".").translate(str.maketrans("äöå", "aoa"))
        return f"{local}.{n}@example.{self.rng.choice(('com', 'net', 'org'))}"

    def _phone(self, n: int, ctx: dict[str, Any]) -> str:
        prefix = ("40", "50", "44", "45")[n % 4]
        return f"+358{prefix}{(n // 4) % 10_000_000:07d}"

    def _home(self, ctx: dict[str, Any]) -> str:
        if "branch" not in ctx:
            ctx["branch"] = "espoo" if self.rng.random() < 0.65 else "vantaa"
        return str(ctx["branch"])

    def _branch(self, n: int, ctx: dict[str, Any]) -> str:
        return self._home(ctx)

    def _postal_code(self, n: int, ctx: dict[str, Any]) -> str:
        return self.rng.choice(_VANTAA if self._home(ctx) == "vantaa" else _ESPOO)

    def _city(self, n: int, ctx: dict[str, Any]) -> str:
        return "Vantaa" if self._home(ctx) == "vantaa" else "Espoo"

    def _street_address(self, n: int, ctx: dict[str, Any]) -> str:
        return f"{self.rng.choice(_STREETS)} {self.rng.randint(1, 60)}"

    def _customer_since(self, n: int, ctx: dict[str, Any]) -> date:
        return (self.now - timedelta(days=self.rng.randint(30, 15 * 365))).date()

    def _plate(self, n: int, ctx: dict[str, Any]) -> str:
        letters = "".join(self.rng.choice("ABCEFGHIJKLMNOPRSTUVXYZ") for _ in range(3))
        return f"{letters}-{self.rng.randint(1, 999)}"

    def _make(self, n: int, ctx: dict[str, Any]) -> str:
        ctx["make"] = self.rng.choice(list(_MAKES))
        return str(ctx["make"])

    def _model(self, n: int, ctx: dict[str, Any]) -> str:
        return self.rng.choice(_MAKES.get(ctx.get("make", ""), ("Sedan",)))

    def _model_year(self, n: int, ctx: dict[str, Any]) -> int:
        return self.rng.randint(2004, 2025)

    def _tyre_size(self, n: int, ctx: dict[str, Any]) -> str:
        return self.rng.choice(_TYRE_SIZES)

    def _mileage_km(self, n: int, ctx: dict[str, Any]) -> int:
        return self.rng.randint(5_000, 320_000)

    def _amount_eur(self, n: int, ctx: dict[str, Any]) -> Decimal:
        return Decimal(self.rng.randint(2_990, 150_000)) / 100

    def _invoice_number(self, n: int, ctx: dict[str, Any]) -> str:
        return f"L{self.now.year}-{n:07d}"

    def _satisfaction_score(self, n: int, ctx: dict[str, Any]) -> int:
        return min(10, max(0, round(self.rng.gauss(8.3, 1.6))))

    def _brand(self, n: int, ctx: dict[str, Any]) -> str:
        return self.rng.choice(_BRANDS)

    def _tread_depth_mm(self, n: int, ctx: dict[str, Any]) -> Decimal:
        return Decimal(self.rng.randint(20, 90)) / 10

    def _shelf(self, n: int, ctx: dict[str, Any]) -> str:
        r = self.rng
        return f"{r.choice('ABCDE')}-{r.randint(1, 30)}-{r.randint(1, 4)}"

    def _fee_eur(self, n: int, ctx: dict[str, Any]) -> Decimal:
        return Decimal(self.rng.choice((4900, 6900, 8900, 12900))) / 100

    def _accessibility_need(self, n: int, ctx: dict[str, Any]) -> str:
        return self.rng.choice(_NEEDS)


def _source_for(store: RecordStore, entity: str) -> str:
    """The source that collects most of the entity's fields (provenance of seeded rows)."""
    index = store.strategy.index
    counts: dict[str, int] = {}
    for name in index.entities[entity].fields:
        for src in index.field_sources.get(f"{entity}.{name}", []):
            counts[src] = counts.get(src, 0) + 1
    return max(sorted(counts), key=lambda s: counts[s]) if counts else "demo-seed"


@dataclass(frozen=True)
class _Shape:
    """How rows of one entity are made: everything that does not change from row to row."""

    entity: str
    bookkeeping: dict[str, Any]
    # (name, chance of a value, generator); chance None: always, without drawing a number
    fields: list[tuple[str, float | None, _Make]]
    children: list[tuple[str, int, int]]
    # {field: source} of the fields another source than the row's collects (records.provenance)
    elsewhere: dict[str, str]
    # the compact provenance of each set of such fields a row holds, made once per set (and
    # stored naming its profile, records.provenance_profiles: _store_provenance)
    provenances: dict[tuple[str, ...], dict[str, str]]


def seed(
    sessions: sessionmaker[Session],
    store: RecordStore,
    *,
    customers: int,
    seed_value: int = 1,
    chunk: int = 25_000,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
    consents: bool = True,
    signer: ReceiptSigner | None = None,
) -> SeedResult:
    """Write ``customers`` synthetic subjects with their child records and consent histories;
    one transaction per chunk.

    ``progress`` is told how many subjects each chunk wrote. Dates are drawn back from ``now``
    (default: the current moment); the same ``seed_value`` and ``now`` give the same values and
    the same consent histories. Consent receipts are signed by ``signer`` (default: one on the
    keyring of the store's field crypto); ``consents=False`` writes records only. A ``now``
    in the future is refused when consents are seeded: nobody can have said anything then.
    The numbering that keeps emails, phone numbers and invoice numbers unique starts after the
    rows each table already holds, so a second run into the same database never repeats an
    identifier of the first. Chunks of 25,000 subjects (about 130,000 rows, some 200 MB while
    built) keep the pages each commit writes few per row: 500,000 subjects took 95 s against
    153 s in chunks of 5,000, a million 246 s against 370 s.
    """
    moment = now or datetime.now(UTC)
    seeder = _consent_seeder(store, seed_value, moment, signer) if consents else None
    with paused_gc():
        return _seed(
            sessions,
            store,
            customers=customers,
            seed_value=seed_value,
            chunk=chunk,
            progress=progress,
            now=moment,
            seeder=seeder,
        )


def _consent_seeder(
    store: RecordStore, seed_value: int, now: datetime, signer: ReceiptSigner | None
) -> ConsentSeeder | None:
    strategy = store.strategy
    if not consent_uses(strategy):
        return None
    if now.tzinfo is None:
        raise RecordError("`now` has no time zone: give it in UTC", parameter="now")
    if now > datetime.now(UTC) + timedelta(minutes=5):
        raise RecordError(
            f"now={now.isoformat()} is in the future, and consent statements cannot be dated "
            "after the present: give a moment in the past, or consents=False",
            parameter="now",
        )
    if signer is None and store.crypto is not None:
        signer = ReceiptSigner(store.crypto.pseudonymiser.keyring)
    if signer is None:
        raise RecordError(
            "seeding consent histories signs a receipt for every statement, and the store has "
            "no keyring: run `tietotie keys init` and give the store its FieldCrypto, pass a "
            "ReceiptSigner as `signer`, or seed with consents=False",
            parameter="signer",
        )
    return ConsentSeeder(strategy, signer, seed_value, now)


def _shapes(store: RecordStore, maker: _Maker, now: datetime) -> dict[str, _Shape]:
    strategy = store.strategy
    index = strategy.index
    order = store.tables.order()
    children: dict[str, list[tuple[str, int, int]]] = {e: [] for e in order}
    for e in order:
        parent = index.entities[e].parent
        if parent is not None:
            children[parent].append((e, *_CHILDREN.get(e, _DEFAULT_CHILDREN)))
    shapes = {}
    for e in order:
        retention = now + parse_duration(entity_retention(strategy, e) or "P1Y")
        source = _source_for(store, e)
        elsewhere = {
            name: src
            for name in index.entities[e].fields
            if (src := next(iter(index.field_sources.get(f"{e}.{name}", [])), None))
            and src != source
        }
        fields: list[tuple[str, float | None, _Make]] = []
        for name, spec in index.entities[e].fields.items():
            special = index.is_special(f"{e}.{name}")
            fill = 1.0 if spec.required else (_SPECIAL_FILL if special else _OPTIONAL_FILL)
            fields.append((name, None if name == "name" else fill, maker.generator(e, name, spec)))
        shapes[e] = _Shape(
            e,
            {
                "source": source,
                "collected_at": now,
                "updated_at": now,
                "retention_until": retention,
            },
            fields,
            children[e],
            elsewhere,
            {},
        )
    return shapes


def _seed(
    sessions: sessionmaker[Session],
    store: RecordStore,
    *,
    customers: int,
    seed_value: int,
    chunk: int,
    progress: Callable[[int], None] | None,
    now: datetime,
    seeder: ConsentSeeder | None,
) -> SeedResult:
    started = time.perf_counter()
    rng = random.Random(seed_value)  # noqa: S311 - synthetic data, repeatable by design
    maker = _Maker(rng, now)
    order = store.tables.order()
    shapes = _shapes(store, maker, now)
    counts = dict.fromkeys(order, 0)
    if seeder is not None:
        counts[LEDGER_TABLE] = 0
    special = seeder.special_fields if seeder is not None else set()
    held = _held(sessions, store)
    serial = {e: seed_value * 10_000_000 + held[e] for e in order}
    random_ = rng.random
    randint = rng.randint

    def make(
        shape: _Shape,
        subject_id: str,
        rid: str,
        parent_id: str | None,
        ctx: dict[str, Any],
        rows: dict[str, list[dict[str, Any]]],
    ) -> None:
        entity = shape.entity
        serial[entity] = n = serial[entity] + 1
        row: dict[str, Any] = {"id": rid, "subject_id": subject_id, **shape.bookkeeping}
        if parent_id is not None:
            row["parent_id"] = parent_id
        for name, fill, make_value in shape.fields:
            if fill is None or random_() < fill:
                row[name] = make_value(n, ctx)
        held = tuple(name for name in shape.elsewhere if name in row)
        provenance = shape.provenances.get(held)
        if provenance is None:
            provenance = shape.provenances[held] = {k: shape.elsewhere[k] for k in held}
        row["provenance"] = provenance
        rows[entity].append(row)
        for child, low, high in shape.children:
            for _ in range(randint(low, high)):
                make(shapes[child], subject_id, ids(), rid, dict(ctx), rows)

    def write(rows: dict[str, list[dict[str, Any]]], statements: list[Statement]) -> None:
        with transaction(sessions) as session, sqlite_bulk_cache(session):
            connection = session.connection()
            for entity in order:
                batch = rows[entity]
                if not batch:
                    continue
                encrypt_rows(store, entity, [(r["subject_id"], r) for r in batch])
                _store_provenance(connection, store, batch)
                insert_rows(connection, store.tables.table(entity), batch)
                counts[entity] += len(batch)
            if seeder is not None:
                counts[LEDGER_TABLE] += seeder.write(session, statements)

    ids = _IdPool()
    subject = shapes[store.subject_entity]
    done = 0
    while done < customers:
        size = min(chunk, customers - done)
        rows: dict[str, list[dict[str, Any]]] = {e: [] for e in order}
        for _ in range(size):
            sid = ids()
            make(subject, sid, sid, None, {}, rows)
        statements: list[Statement] = []
        if seeder is not None:
            holders = {
                r["subject_id"]
                for entity, name in special
                for r in rows.get(entity, [])
                if r.get(name) is not None
            }
            statements = seeder.histories((r["id"] for r in rows[subject.entity]), holders)
        write(rows, statements)
        done += size
        if progress is not None:
            progress(size)
    written = [store.tables.table(entity) for entity in order if counts[entity]]
    if seeder is not None and counts[LEDGER_TABLE]:
        written.append(seeder.table)
    with transaction(sessions) as session:
        refresh_statistics(session.connection(), written)
    return SeedResult(
        customers=customers,
        rows=counts,
        seconds=time.perf_counter() - started,
        held_before=held[store.subject_entity],
    )


def _store_provenance(
    connection: Connection, store: RecordStore, rows: list[dict[str, Any]]
) -> None:
    """The rows' provenance as stored (records.provenance_profiles), in place. Rows of a shape
    share one map per set of fields from elsewhere (``_Shape.provenances``): each distinct map
    is encoded once, its profile interned in the chunk's transaction."""
    shared = {id(p): p for row in rows if (p := row["provenance"])}
    if not shared:
        return
    encoded = store.profiles.encode_many(connection, list(shared.values()))
    stored = dict(zip(shared, encoded, strict=True))
    for row in rows:
        provenance = row["provenance"]
        if provenance:
            row["provenance"] = stored[id(provenance)]


def _held(sessions: sessionmaker[Session], store: RecordStore) -> dict[str, int]:
    """Rows per entity already in the database."""
    with sessions() as session:
        return {
            e: int(session.scalar(select(func.count()).select_from(store.tables.table(e))) or 0)
            for e in store.tables.order()
        }


class _IdPool:
    """Random record ids (uuid4 hex), drawn from the OS in batches."""

    def __init__(self) -> None:
        self._pool: list[str] = []

    def __call__(self) -> str:
        if not self._pool:
            self._pool = new_ids(10_000)
        return self._pool.pop()
