"""The database a benchmark runs on: a SQLite file, or a PostgreSQL schema of its own.

Every bench script takes ``--database-url``. A SQLite URL names the file (each script has its
own default); a PostgreSQL URL names the server and database, inside which the script keeps a
schema named after itself and its size (``bench_dsar_1000000``). Scripts that seed reuse that
schema when an earlier run seeded it at the same size, so a million subjects are seeded once;
:func:`mark_seeded` records in the database itself that a load finished.
"""

from __future__ import annotations

import json
import resource
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Engine, MetaData, String, Table, Text, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from kernel.db import make_engine
from records.bulk import insert_rows

SQLITE = "SQLite"
POSTGRES = "PostgreSQL"

_marker_metadata = MetaData()
_marker = Table(
    "bench_seeded",
    _marker_metadata,
    Column("name", String(100), primary_key=True),
    Column("info", Text(), nullable=False),
    comment="benchmark loads that finished: what was loaded, and what a reuse needs to know",
)


def add_database_url(parser: Any, default: str | None, where: str) -> None:
    """The ``--database-url`` option every bench script takes; ``where`` says its default."""
    parser.add_argument(
        "--database-url",
        default=default,
        metavar="URL",
        help=f"SQLAlchemy URL of the database to run on (default: {where}); a PostgreSQL URL "
        "gets a schema of its own named after the script and its size, reused when already "
        "seeded at that size",
    )


@dataclass(frozen=True)
class BenchDatabase:
    """Where one benchmark's data lives."""

    url: str
    """The URL to open (on PostgreSQL with ``search_path`` set to the schema)."""
    backend: str
    """``SQLite`` or ``PostgreSQL``."""
    schema: str | None = None
    path: Path | None = None

    @property
    def sqlite(self) -> bool:
        return self.backend == SQLITE

    def engine(self, **kwargs: Any) -> Engine:
        return make_engine(self.url, **kwargs)


def backend_of(url: str) -> str:
    """``SQLite`` or ``PostgreSQL``; any other URL stops the benchmark with a clear message."""
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        return SQLITE
    if backend == "postgresql":
        return POSTGRES
    raise SystemExit(
        f"--database-url {make_url(url).render_as_string(hide_password=True)}: the benchmarks "
        "run on SQLite (sqlite:///file.db) or PostgreSQL (postgresql://user@host/db)"
    )


def open_database(url: str, *, name: str, size: int, fresh: bool = False) -> BenchDatabase:
    """The benchmark's database for ``url``: the SQLite file as given, or the PostgreSQL schema
    ``bench_<name>_<size>`` (created when missing; emptied first when ``fresh``)."""
    if backend_of(url) == SQLITE:
        database = make_url(url).database
        path = Path(database) if database and database != ":memory:" else None
        if fresh and path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        return BenchDatabase(url, SQLITE, path=path)
    schema = f"bench_{name}_{size}".replace("-", "_")
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            if fresh:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    except DBAPIError as exc:
        shown = make_url(url).render_as_string(hide_password=True)
        raise SystemExit(
            f"--database-url {shown}: cannot create the schema {schema} there "
            f"({str(exc.orig).strip()}); check the URL and that the server runs"
        ) from None
    finally:
        admin.dispose()
    scoped = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
    return BenchDatabase(scoped.render_as_string(hide_password=False), POSTGRES, schema=schema)


def keyed_database(
    url: str | None, *, name: str, size: int, folder: Path
) -> tuple[BenchDatabase, Path]:
    """The database of a benchmark that runs the service, and the folder of its keys.

    The service keeps per-subject keys and the master key in files (its var directory), apart
    from the database: ``folder`` for SQLite, whose file lives there too (the default when
    ``url`` is None), or ``folder`` with the server and database appended for PostgreSQL. A
    schema whose keys are gone cannot be read, so it is emptied and seeded again.
    """
    if url is None:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # keys: the owner's only
        return open_database(f"sqlite:///{folder / 'tietotie.db'}", name=name, size=size), folder
    if backend_of(url) == SQLITE:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return open_database(url, name=name, size=size), folder
    parsed = make_url(url)
    where = "-".join(str(p) for p in (parsed.host or "local", parsed.port or 5432, parsed.database))
    keys = folder.with_name(f"{folder.name}-postgresql-{where}")
    keys.mkdir(mode=0o700, parents=True, exist_ok=True)
    fresh = not (keys / "keystore.db").exists()
    return open_database(url, name=name, size=size, fresh=fresh), keys


def drop(db: BenchDatabase) -> None:
    """Remove what :func:`open_database` made: the SQLite file, or the schema with its tables."""
    if db.sqlite:
        if db.path is not None:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{db.path}{suffix}").unlink(missing_ok=True)
        return
    admin = make_engine(db.url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{db.schema}" CASCADE'))
    finally:
        admin.dispose()


def size_bytes(engine: Engine) -> int:
    """The database's size: the SQLite file with its WAL, or the sum of ``pg_total_relation_size``
    (heap, TOAST and indexes) over the tables of the current schema."""
    if engine.dialect.name == "sqlite":
        database = engine.url.database or ""
        return sum(
            Path(f"{database}{suffix}").stat().st_size
            for suffix in ("", "-wal")
            if Path(f"{database}{suffix}").exists()
        )
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'm', 'p')"
                )
            ).scalar_one()
        )


def describe(engine: Engine) -> str:
    """``SQLite 812 MiB`` or ``PostgreSQL, schema bench_dsar_100000, 1,204 MiB``."""
    size = f"{size_bytes(engine) / 2**20:,.0f} MiB"
    if engine.dialect.name == "sqlite":
        return f"{SQLITE} {size}"
    with engine.connect() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
    return f"{POSTGRES}, schema {schema}, {size}"


def peak_rss_mib() -> float:
    """The most memory this process has held so far (``ru_maxrss``), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def seeded(engine: Engine, name: str) -> dict[str, Any] | None:
    """What :func:`mark_seeded` recorded under ``name`` in this database, or None."""
    with engine.connect() as conn:
        if not engine.dialect.has_table(conn, _marker.name):
            return None
        info = conn.execute(select(_marker.c.info).where(_marker.c.name == name)).scalar()
    return None if info is None else dict(json.loads(info))


def mark_seeded(connection: Connection, name: str, info: dict[str, Any]) -> None:
    """Record, in the load's own transaction, that the load ``name`` finished (with ``info``)."""
    _marker_metadata.create_all(connection)
    connection.execute(_marker.delete().where(_marker.c.name == name))
    connection.execute(_marker.insert().values(name=name, info=json.dumps(info)))


class Loader:
    """Rows gathered per table and written through :func:`records.bulk.insert_rows` (``COPY`` on
    PostgreSQL), every table in ``metadata``'s dependency order, parents before children.

    Rows are dicts of Python values (datetimes, dates, decimals, dicts for JSON), converted by
    each column's own type as the service's writes are, whatever the columns' storage is.
    """

    def __init__(self, connection: Connection, metadata: MetaData, chunk: int = 100_000) -> None:
        self.connection = connection
        self.order = [t.name for t in metadata.sorted_tables]
        self.tables = {t.name: t for t in metadata.sorted_tables}
        self.chunk = chunk
        self.pending: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.counts: dict[str, int] = {}

    def add(self, table: str, row: dict[str, Any]) -> None:
        rows = self.pending[table]
        rows.append(row)
        if len(rows) >= self.chunk:
            self.flush()

    def flush(self) -> None:
        for name in self.order:
            rows = self.pending.pop(name, None)
            if rows:
                insert_rows(self.connection, self.tables[name], rows)
                self.counts[name] = self.counts.get(name, 0) + len(rows)
