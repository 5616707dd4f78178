"""Real servers under concurrent load: no 5xx, an intact audit chain, an entry for every write.

Two `tietotie serve` processes start at once on one fresh PostgreSQL schema (so they migrate it
together) and share one Redis for rate limits; then a few hundred concurrent requests mix
anonymous requests, staff record writes and reads, and consent calls across both. A SQLite
variant runs one server process answering many threads at once.
"""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _reachable, need
from tests.support import BUNDLED, ROOT, backend_database

pytestmark = pytest.mark.slow

TIETOTIE = str(Path(sys.executable).with_name("tietotie"))
CLIENTS = 24
"""Requests in flight at once."""
START_SECONDS = 90
"""How long a server may take to answer /health."""
REQUEST_SECONDS = 60
"""How long one request may take."""
HIGH = "100000/minute"
LIMITS = (
    "OPEN_PER_IDENTIFIER",
    "OPEN_PER_CLIENT",
    "WRONG_CODES_PER_IDENTIFIER",
    "CONSENT_PER_CLIENT",
    "MESSAGES_PER_IDENTIFIER",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _environment(folder: Path, database_url: str, rate_limit_storage: str) -> dict[str, str]:
    """The servers' environment: the bundled strategy, a fresh master key, high limits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIETOTIE_")}
    env.update(
        TIETOTIE_ENVIRONMENT="test",
        TIETOTIE_STRATEGY=str(BUNDLED),
        TIETOTIE_DATABASE_URL=database_url,
        TIETOTIE_VAR_DIR=str(folder / "var"),
        TIETOTIE_MASTER_KEY=base64.b64encode(secrets.token_bytes(32)).decode(),
        # A fresh master key keys the counters afresh, so a shared Redis holds none of ours yet.
        TIETOTIE_RATE_LIMIT_STORAGE=rate_limit_storage,
        **{f"TIETOTIE_RATE_LIMITS__{name}": HIGH for name in LIMITS},
    )
    return env


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [TIETOTIE, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr or done.stdout
    return done.stdout


@contextmanager
def _servers(env: dict[str, str], folder: Path, count: int) -> Iterator[list[str]]:
    """``count`` server processes started at the same moment; their base URLs once healthy."""
    _cli(env, "keys", "init")
    ports = [_free_port() for _ in range(count)]
    logs = [(folder / f"server-{port}.log").open("w") for port in ports]
    processes = [
        subprocess.Popen(
            [TIETOTIE, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for port, log in zip(ports, logs, strict=True)
    ]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + START_SECONDS
        for base, process, port in zip(bases, processes, ports, strict=True):
            while True:
                assert process.poll() is None, (folder / f"server-{port}.log").read_text()
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{base} did not start in time"
                time.sleep(0.2)
        yield bases
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


@dataclass(frozen=True)
class Call:
    """One request of the load and the status it must answer with (None: any below 500)."""

    kind: str
    method: str
    path: str
    json: dict[str, Any] | None = None
    params: dict[str, str] | None = None
    staff: bool = False
    expect: int | None = None


@dataclass
class Answer:
    """A call and what came back."""

    call: Call
    status: int
    body: Any


def _run(bases: list[str], owner: dict[str, str], calls: list[Call]) -> list[Answer]:
    """Every call at once (``CLIENTS`` in flight), spread over the servers round robin."""
    clients = [httpx.Client(base_url=b, timeout=REQUEST_SECONDS) for b in bases]

    def send(item: tuple[int, Call]) -> Answer:
        i, call = item
        answer = clients[i % len(clients)].request(
            call.method,
            call.path,
            json=call.json,
            params=call.params,
            headers=owner if call.staff else None,
        )
        try:
            body = answer.json()
        except ValueError:
            body = answer.text
        return Answer(call, answer.status_code, body)

    try:
        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(send, enumerate(calls)))
    finally:
        for client in clients:
            client.close()


def _customer(i: int) -> dict[str, Any]:
    return {
        "source": "booking-form",
        "values": {
            "name": f"Asiakas {i}",
            "email": f"asiakas{i}@example.fi",
            "phone": f"040{1_000_000 + i}",
            "branch": "espoo",
        },
    }


def _audit_entries(base: str, owner: dict[str, str]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    while True:
        after = entries[-1]["seq"] if entries else 0
        page = httpx.get(
            f"{base}/v1/audit", params={"after": after, "limit": 1000}, headers=owner, timeout=60
        )
        assert page.status_code == 200, page.text
        if not page.json():
            return entries
        entries += page.json()


def _no_5xx(answers: list[Answer]) -> list[str]:
    """What went wrong: a 5xx anywhere, or a status other than the one a call expects."""
    return [
        f"{a.call.kind} {a.call.method} {a.call.path}: {a.status} {str(a.body)[:200]}"
        for a in answers
        if a.status >= 500 or (a.call.expect is not None and a.status != a.call.expect)
    ]


def _load(bases: list[str], owner: dict[str, str], customers: int) -> None:
    """Two waves of concurrent calls, then the audit chain and its entries checked."""
    first = [
        Call("record", "POST", "/v1/records/customer", _customer(i), staff=True, expect=201)
        for i in range(customers)
    ]
    created = _run(bases, owner, first)
    assert _no_5xx(created) == []
    subjects = [a.body["subject_id"] for a in created]

    second: list[Call] = []
    for i, subject in enumerate(subjects):
        known, unknown = f"asiakas{i}@example.fi", f"tuntematon{i}@example.fi"
        second += [
            Call(
                "open",
                "POST",
                "/v1/dsar",
                {"type": "access", "identity": {"email": known}},
                expect=202,
            ),
            Call(
                "open",
                "POST",
                "/v1/dsar",
                {"type": "erasure", "identity": {"email": unknown}},
                expect=202,
            ),
            Call(
                "consent",
                "POST",
                "/v1/consents",
                {
                    "subject": {"id": subject},
                    "use": "seasonal-reminders",
                    "state": "given" if i % 2 else "refused",
                    "source": "booking-form",
                },
                staff=True,
                expect=201,
            ),
            Call(
                "anonymous consent",
                "POST",
                "/v1/consents",
                {
                    "subject": {"id": subject},
                    "use": "seasonal-reminders",
                    "state": "withdrawn",
                    "source": "booking-form",
                },
            ),
            Call(
                "read",
                "GET",
                f"/v1/subjects/{subject}",
                params={"purpose": "service-history"},
                staff=True,
                expect=200,
            ),
            Call(
                "record",
                "POST",
                "/v1/records/customer",
                _customer(customers + i),
                staff=True,
                expect=201,
            ),
        ]
    answers = _run(bases, owner, second)
    assert _no_5xx(answers) == []

    verdict = httpx.get(f"{bases[-1]}/v1/audit/verify", headers=owner, timeout=120)
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["ok"], verdict.json()["breaks"]
    entries = _audit_entries(bases[0], owner)
    assert verdict.json()["entries"] == verdict.json()["head_seq"] == len(entries)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    received = {e["request_id"] for e in entries if e["action"] == "dsar.received"}
    opened = {a.body["id"] for a in answers if a.call.kind == "open"}
    assert len(opened) == 2 * customers
    assert opened <= received
    reads = Counter(e["subject_id"] for e in entries if e["action"] == "subject.read")
    assert reads == Counter(a.call.path.rsplit("/", 1)[1] for a in answers if a.call.kind == "read")


def _owner(env: dict[str, str]) -> dict[str, str]:
    token = _cli(env, "token", "issue", "--role", "owner", "--name", "load test").split()[-1]
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.postgres
def test_two_server_processes_on_a_fresh_postgres_schema_under_load(
    pg_url: str, tmp_path: Path
) -> None:
    """Two processes migrate one fresh schema together, then serve 300 concurrent calls:
    no 5xx, one intact chain, an audit entry for every request opened and every read."""
    need(_reachable("127.0.0.1", 6379), "Redis is not reachable on 127.0.0.1:6379")
    with backend_database("postgres", tmp_path, pg_url, prefix="tt_load") as engine:
        with engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
        env = _environment(
            tmp_path, url.render_as_string(hide_password=False), "redis://127.0.0.1:6379/0"
        )
        with _servers(env, tmp_path, 2) as bases:
            _load(bases, _owner(env), customers=50)


def test_one_server_process_on_sqlite_answers_many_threads_at_once(tmp_path: Path) -> None:
    """On SQLite one process serves 300 calls from 24 threads: writers wait for each other
    instead of failing, and the chain stays whole."""
    env = _environment(tmp_path, f"sqlite:///{tmp_path / 'var' / 'load.db'}", "memory://")
    with _servers(env, tmp_path, 1) as bases:
        _load(bases, _owner(env), customers=50)
