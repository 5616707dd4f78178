"""Helpers of the erasure tests: a webshop beside the system of record, services over both, and
a child process that dies in the middle of an erasure."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Engine, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.orm import Session

from audit import AuditLog
from dsar.erasure import ErasureOutcome
from dsar.fulfil import Fulfiller
from dsar.requests import OutboxNotifier, Requests
from dsar.tables import database_metadata
from kernel.crypto import Pseudonymiser
from kernel.db import make_engine
from kernel.keys import KEY_BYTES, Keyring, MasterKey
from kernel.keystore import SubjectKeyStore
from records.external import ExternalSystems
from records.migrations import upgrade
from records.store import FieldCrypto, RecordStore, find_subject, ingest
from schemas.models import External, ExternalTable, Strategy
from tests.records.support import bundled

ROOT = Path(__file__).resolve().parents[2]
WEBSHOP_ENV = "WEBSHOP_DATABASE_URL"
"""The variable holding the webshop's database URL."""
ORDERS = "orders"
LIISA = "liisa@example.fi"
PEKKA = "pekka@example.fi"
WEBSHOP_YAML = f"""
  external:
    - id: webshop
      url_env: {WEBSHOP_ENV}
      tables: [{{name: {ORDERS}, entity: visit, subject_column: customer_email, identifier: email}}]
"""
"""The ``system.external`` entry that :func:`with_webshop` adds, as 5-system.yaml spells it."""


def keyring() -> Keyring:
    """Fixed keys, so a child process opens what the test process sealed (and vice versa)."""
    master = MasterKey(bytes(range(KEY_BYTES)), source="erasure tests")
    return Keyring.from_keys(master, {1: bytes(range(KEY_BYTES, 2 * KEY_BYTES))})


def with_webshop(strategy: Strategy) -> Strategy:
    """``strategy`` with a webshop whose orders table holds visits by customer email."""
    ext = External(
        id="webshop",
        url_env=WEBSHOP_ENV,
        tables=[
            ExternalTable(
                name=ORDERS, entity="visit", subject_column="customer_email", identifier="email"
            )
        ],
    )
    system = strategy.system.model_copy(update={"external": [ext]})
    return strategy.model_copy(update={"system": system})


def webshop_strategy(folder: Path) -> Path:
    """A copy of the bundled strategy directory whose system step declares the webshop."""
    target = folder / "strategy"
    target.mkdir()
    for path in (ROOT / "strategy").iterdir():
        if path.is_file():
            (target / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    system = target / "5-system.yaml"
    system.write_text(system.read_text(encoding="utf-8") + WEBSHOP_YAML, encoding="utf-8")
    return target


def create_orders(url: str) -> None:
    """The webshop's orders: two of Liisa's and one of Pekka's."""
    engine = make_engine(url)
    table = Table(
        ORDERS,
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("customer_email", String(200)),
        Column("note", String(200)),
    )
    try:
        table.create(engine)
        with engine.begin() as conn:
            conn.execute(
                insert(table),
                [
                    {"id": 1, "customer_email": LIISA, "note": "tyres"},
                    {"id": 2, "customer_email": LIISA, "note": "wash"},
                    {"id": 3, "customer_email": PEKKA, "note": "oil"},
                ],
            )
    finally:
        engine.dispose()


def orders_of(url: str) -> list[str]:
    """The customer emails of the webshop's orders, in order."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            table = Table(ORDERS, MetaData(), autoload_with=conn)
            return list(conn.execute(select(table.c.customer_email).order_by(table.c.id)).scalars())
    finally:
        engine.dispose()


@dataclass
class Parts:
    """The services an erasure runs on, over one database, keystore and webshop."""

    engine: Engine
    store: RecordStore
    keystore: SubjectKeyStore
    audit: AuditLog
    requests: Requests
    fulfiller: Fulfiller
    env: MutableMapping[str, str]

    def close(self) -> None:
        """Release the keystore's connections."""
        self.keystore.close()


def build(engine: Engine, folder: Path, env: MutableMapping[str, str]) -> Parts:
    """Services over ``engine`` (its schema must be created), ``folder``'s keystore and the
    webshop at ``env[WEBSHOP_ENV]``."""
    strategy = bundled()
    ring = keyring()
    keystore = SubjectKeyStore(folder / "keystore.db", keyring=ring)
    store = RecordStore(
        strategy, crypto=FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(ring))
    )
    audit = AuditLog(ring.derive("audit-log", version=1))
    requests = Requests(
        strategy,
        find_subject=lambda session, key, value: find_subject(session, store, {key: value}),
        notifier=OutboxNotifier(),
        audit=audit,
        normalise=lambda _key, value: value.strip().lower(),
        keyring=ring,
    )
    external = ExternalSystems(with_webshop(strategy), env=env)
    return Parts(
        engine, store, keystore, audit, requests, Fulfiller(strategy, store, external), env
    )


def create_schema(engine: Engine) -> None:
    """The bundled strategy's tables and every service table."""
    upgrade(engine, database_metadata(bundled()))


def customer(parts: Parts, email: str = LIISA) -> str:
    """A customer with a vehicle (plate encrypted under their key) and a booked visit."""
    with Session(parts.engine) as session:
        sid = ingest(
            session,
            parts.store,
            "customer",
            source="service-desk",
            values={
                "name": "Liisa Virtanen",
                "email": email,
                "phone": "040 123 4567",
                "branch": "espoo",
            },
        ).subject_id
        ingest(
            session,
            parts.store,
            "vehicle",
            source="service-desk",
            subject={"id": sid},
            values={"plate": "ABC-123", "tyre_type": "summer"},
        )
        ingest(
            session,
            parts.store,
            "visit",
            source="booking-form",
            subject={"id": sid},
            values={"visited_at": "2026-11-07T09:00:00+02:00", "service_type": "tyre_change"},
        )
        session.commit()
    return sid


def verified_erasure(parts: Parts, email: str = LIISA) -> str:
    """An erasure request from ``email``, verified in person by staff."""
    with Session(parts.engine) as session:
        opened = parts.requests.open(session, type="erasure", identity={"email": email})
        parts.requests.verify_in_person(
            session, opened.request.id, actor="role:owner", note="saw a passport"
        )
        session.commit()
        return opened.request.id


def erase(parts: Parts, request_id: str) -> ErasureOutcome:
    """Run (or resume) the request's erasure as the API does."""
    with Session(parts.engine) as session:
        row = parts.requests.get(session, request_id)
        return parts.fulfiller.erase_request(
            session,
            request_id,
            subject_id=row.subject_id,
            identity=row.identity,
            actor="role:owner",
            requests=parts.requests,
            audit=parts.audit,
        )


def connection_spec(engine: Engine) -> dict[str, str]:
    """How a child process reaches the same database: its URL and, on PostgreSQL, the schema."""
    spec = {"ERASURE_DATABASE_URL": engine.url.render_as_string(hide_password=False)}
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            spec["ERASURE_SEARCH_PATH"] = str(conn.execute(text("SHOW search_path")).scalar_one())
    return spec


def kill_during_erasure(
    engine: Engine, folder: Path, request_id: str, *, env: Mapping[str, str]
) -> int:
    """Run the erasure in a child process that dies (``os._exit``) right after shredding the
    key, before recording it; returns the child's exit status."""
    child_env = {
        **os.environ,
        **env,
        **connection_spec(engine),
        "ERASURE_FOLDER": str(folder),
        "ERASURE_REQUEST": request_id,
    }
    done = subprocess.run(
        [sys.executable, "-c", "from tests.dsar.erasure_support import _child; _child()"],
        cwd=ROOT,
        env=child_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    return done.returncode


def _child() -> None:
    """The child of :func:`kill_during_erasure`."""
    options: dict[str, Any] = {}
    if "ERASURE_SEARCH_PATH" in os.environ:
        path = os.environ["ERASURE_SEARCH_PATH"]
        options["connect_args"] = {"options": f"-csearch_path={path}"}
    engine = make_engine(os.environ["ERASURE_DATABASE_URL"], **options)
    parts = build(engine, Path(os.environ["ERASURE_FOLDER"]), dict(os.environ))
    real = SubjectKeyStore.shred

    def shred_then_die(self: SubjectKeyStore, subject_id: str) -> bool:
        real(self, subject_id)
        os._exit(3)  # killed: no rollback, no cleanup, nothing recorded

    SubjectKeyStore.shred = shred_then_die  # type: ignore[method-assign]
    erase(parts, os.environ["ERASURE_REQUEST"])
