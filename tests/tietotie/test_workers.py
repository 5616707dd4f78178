"""`tietotie serve --workers N`: one command, several worker processes, one service.

The main test starts `serve --workers 2 --demo` on a fresh PostgreSQL schema with no master
key and no keyring yet (development creates them), so the start-up work the workers could race
on (migrations, keys, demo seed and token) has to be done once for the rest to pass: a form one
worker served is posted to the other, requests are opened and subjects read at once across
both, and the audit chain must come out whole. The others check what `serve` says and refuses
before it starts workers, and that creating a key file twice at once never gives two keys.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from kernel.errors import KeyConfigError
from kernel.keys import Keyring, MasterKey, load_master_key, write_master_key_file
from tests.conftest import ServiceEnv
from tests.support import BUNDLED, ROOT, backend_database
from tests.tietotie.test_load import (
    HIGH,
    LIMITS,
    REQUEST_SECONDS,
    START_SECONDS,
    TIETOTIE,
    _audit_entries,
    _free_port,
)
from tietotie.cli import get_app
from tietotie.settings import get_settings

THREADS = 8
"""Clients working at once."""
ROUNDS = 6
"""Form round trips each client makes (each across workers when it can)."""


def _environment(folder: Path, database_url: str, redis_url: str) -> dict[str, str]:
    """Development with nothing made yet: no master key, no keyring, an empty schema."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TIETOTIE_")}
    env.update(
        TIETOTIE_ENVIRONMENT="development",
        TIETOTIE_STRATEGY=str(BUNDLED),
        TIETOTIE_DATABASE_URL=database_url,
        TIETOTIE_VAR_DIR=str(folder / "var"),
        TIETOTIE_KEY_FILE=str(folder / "var" / "master.key"),
        TIETOTIE_RATE_LIMIT_STORAGE=redis_url,
        **{f"TIETOTIE_RATE_LIMITS__{name}": HIGH for name in LIMITS},
    )
    return env


@dataclass
class Served:
    """A running `serve --workers N`: its address, its process and what it printed."""

    base: str
    process: subprocess.Popen[bytes]
    log: Path
    pids: set[int] = field(default_factory=set)

    def token(self) -> str:
        found = re.search(r"staff token\s+(\S+)", self.log.read_text())
        assert found, self.log.read_text()
        return found.group(1)


def _worker_pid(client: httpx.Client) -> int:
    """The pid of the worker holding ``client``'s one connection."""
    answer = client.get("/health")
    assert answer.status_code == 200, answer.text
    pid: int = answer.json()["pid"]
    return pid


def _pinned(base: str) -> httpx.Client:
    """A client that keeps one connection, so one worker answers all it sends."""
    return httpx.Client(
        base_url=base,
        timeout=REQUEST_SECONDS,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


@contextmanager
def _serve(env: dict[str, str], folder: Path, workers: int) -> Iterator[Served]:
    """`tietotie serve --workers N --demo 20`, once every worker answers /health."""
    port = _free_port()
    log = folder / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [TIETOTIE, "serve", "--port", str(port), "--workers", str(workers), "--demo", "20"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        served = Served(f"http://127.0.0.1:{port}", process, log)
        try:
            deadline = time.monotonic() + START_SECONDS
            while len(served.pids) < workers:
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, f"{workers} workers did not all answer"
                try:
                    with _pinned(served.base) as client:  # a new connection each time
                        served.pids.add(_worker_pid(client))
                except httpx.TransportError:
                    time.sleep(0.2)
            yield served
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _parent_of(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^PPid:\s+(\d+)", status, re.MULTILINE)
    assert found, status
    return int(found.group(1))


def _csrf(page: str) -> str:
    found = re.search(r'name="csrftoken" value="([^"]+)"', page)
    assert found, "every form carries a CSRF token"
    return found.group(1)


@dataclass(frozen=True)
class Round:
    """One form round trip: which worker served the form, which took the post, the answer."""

    form_pid: int
    post_pid: int
    status: int
    body: str


def _two_workers(base: str) -> tuple[httpx.Client, httpx.Client]:
    """Two pinned clients held by different workers (new connections until they differ)."""
    first = _pinned(base)
    seen = _worker_pid(first)
    for _ in range(200):
        second = _pinned(base)
        if _worker_pid(second) != seen:
            return first, second
        second.close()
    first.close()
    raise AssertionError("200 new connections all reached one worker")


def _form_rounds(base: str, n: int) -> list[Round]:
    """Get the request form from one worker and post it, with its cookie, to the other."""
    a, b = _two_workers(base)
    rounds = []
    try:
        for i in range(ROUNDS):
            getter, poster = (a, b) if i % 2 == 0 else (b, a)
            form_pid = _worker_pid(getter)
            getter.cookies.clear()  # a fresh form: its worker sets a new signed cookie
            form = getter.get("/privacy/request?lang=en")
            assert form.status_code == 200, form.text
            assert _worker_pid(getter) == form_pid
            post_pid = _worker_pid(poster)
            poster.cookies.clear()  # only the form's own cookie goes with the post
            answer = poster.post(
                "/privacy/request?lang=en",
                data={
                    "csrftoken": _csrf(form.text),
                    "type": "access",
                    "email": f"lomake{n}.{i}@example.fi",
                },
                headers={"Cookie": f"csrftoken={form.cookies['csrftoken']}"},
                follow_redirects=False,
            )
            assert _worker_pid(poster) == post_pid
            rounds.append(Round(form_pid, post_pid, answer.status_code, answer.text[:200]))
    finally:
        a.close()
        b.close()
    return rounds


def _api_work(base: str, owner: dict[str, str], n: int) -> list[tuple[str, int, Any]]:
    """Write a customer, read them back for a stated purpose, and open a request by JSON."""
    with httpx.Client(base_url=base, timeout=REQUEST_SECONDS) as client:
        results: list[tuple[str, int, Any]] = []
        written = client.post(
            "/v1/records/customer",
            headers=owner,
            json={
                "source": "booking-form",
                "values": {
                    "name": f"Työntekijä {n}",
                    "email": f"tyontekija{n}@example.fi",
                    "phone": f"050{2_000_000 + n}",
                    "branch": "espoo",
                },
            },
        )
        results.append(("write", written.status_code, written.json()))
        subject = written.json().get("subject_id")
        read = client.get(
            f"/v1/subjects/{subject}", params={"purpose": "service-history"}, headers=owner
        )
        results.append(("read", read.status_code, read.json()))
        opened = client.post(
            "/v1/dsar", json={"type": "access", "identity": {"email": f"tyontekija{n}@example.fi"}}
        )
        results.append(("open", opened.status_code, opened.json()))
        return results


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_on_a_fresh_schema_share_keys_forms_and_one_audit_chain(
    pg_url: str, redis_url: str, tmp_path: Path
) -> None:
    """`serve --workers 2` prepares a fresh schema and new keys once; then forms cross
    workers, API calls run on both at once, nothing answers 5xx and the chain is whole."""
    with backend_database("postgres", tmp_path, pg_url, prefix="tt_workers") as engine:
        with engine.connect() as conn:
            schema = conn.exec_driver_sql("SELECT current_schema()").scalar_one()
        url = make_url(pg_url).update_query_dict({"options": f"-csearch_path={schema}"})
        env = _environment(tmp_path, url.render_as_string(hide_password=False), redis_url)
        with _serve(env, tmp_path, workers=2) as served:
            assert all(_parent_of(pid) == served.process.pid for pid in served.pids)
            owner = {"Authorization": f"Bearer {served.token()}"}
            with ThreadPoolExecutor(THREADS) as pool:
                forms = pool.map(lambda n: _form_rounds(served.base, n), range(THREADS))
                calls = pool.map(lambda n: _api_work(served.base, owner, n), range(4 * THREADS))
                rounds = [r for batch in forms for r in batch]
                results = [r for batch in calls for r in batch]
            with httpx.Client(base_url=served.base, timeout=REQUEST_SECONDS) as client:
                verdict = client.get("/v1/audit/verify", headers=owner)
            entries = _audit_entries(served.base, owner)

    assert [r for r in rounds if r.status != 303] == []
    assert all(r.form_pid != r.post_pid for r in rounds)
    assert {r.form_pid for r in rounds} == served.pids
    expected = {"write": 201, "read": 200, "open": 202}
    assert [
        (kind, status, body) for kind, status, body in results if status != expected[kind]
    ] == []
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["ok"], verdict.json()["breaks"]
    assert verdict.json()["entries"] == verdict.json()["head_seq"] == len(entries)
    assert [e["seq"] for e in entries] == list(range(1, len(entries) + 1))
    received = [e for e in entries if e["action"] == "dsar.received"]
    assert len(received) == THREADS * ROUNDS + 4 * THREADS
    log = served.log.read_text()
    assert log.count("seeded 20 demo customers") == 1
    assert log.count("creating a new master key file") == 1
    assert "Traceback" not in log


runner = CliRunner()


def test_several_workers_with_counters_in_memory_are_refused_in_production(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In production, `--workers 2` without a shared rate-limit store stops before anything
    starts, naming the setting and what to set it to."""
    service_env()
    monkeypatch.setenv("TIETOTIE_ENVIRONMENT", "production")
    get_settings.cache_clear()
    result = runner.invoke(get_app(), ["serve", "--port", str(_free_port()), "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "TIETOTIE_RATE_LIMIT_STORAGE is memory://" in result.output
    assert "redis://host:6379/0" in result.output


def test_several_workers_on_sqlite_say_that_writes_take_turns(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Outside production `--workers 2` on SQLite with in-memory limits starts, warning about
    both; the workers get the factory and the settings reach them through the environment."""
    import uvicorn

    root = service_env()
    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    strategy = str(shutil.copytree(BUNDLED, root / "copied-strategy"))
    result = runner.invoke(
        get_app(),
        ["serve", "--port", str(_free_port()), "--workers", "2", "--strategy", strategy],
    )
    assert result.exit_code == 0, result.output
    assert "SQLite takes one writer at a time" in result.output
    assert "each of the 2 workers would count rate limits on its own" in result.output
    assert started["app"] == "tietotie.app:factory"
    assert started["factory"] is True and started["workers"] == 2
    # The start-up work is done: the tables exist and the keys are made, before any worker.
    assert (root / "keyring.json").exists()
    assert (root / "keystore.db").exists()
    assert os.environ["TIETOTIE_STRATEGY"] == strategy


def test_one_worker_keeps_the_app_in_process_and_warns_of_nothing(
    service_env: ServiceEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without `--workers` the app is built in the command's own process, as before."""
    import uvicorn
    from fastapi import FastAPI

    service_env()
    started: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: started.update(app=app, **kw))
    result = runner.invoke(get_app(), ["serve", "--port", str(_free_port())])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.output
    assert isinstance(started["app"], FastAPI)
    assert "workers" not in started


def _create_keyring(path: str, master: bytes, gate: Any) -> str:
    """In a process of its own: wait for the others, then create the keyring."""
    gate.wait()
    try:
        keyring = Keyring.create(Path(path), MasterKey(master, source="test"))
    except KeyConfigError as exc:
        return f"refused: {exc.message}"
    return keyring.derive("web/csrf", version=1).hex()


def _create_master_key(path: str, gate: Any) -> str:
    gate.wait()
    try:
        return write_master_key_file(Path(path)).check_value
    except KeyConfigError as exc:
        return f"refused: {exc.message}"


def test_creating_the_keyring_or_master_key_at_once_never_gives_two_keys(tmp_path: Path) -> None:
    """Four processes creating the same keyring (and master key file) at the same moment:
    one creates it, the others are refused, and the file holds the one key made."""
    import secrets

    context = multiprocessing.get_context("fork")
    master = secrets.token_bytes(32)
    keyring_file = tmp_path / "keyring.json"
    key_file = tmp_path / "master.key"
    with context.Manager() as manager, context.Pool(4) as pool:
        gate = manager.Barrier(4)
        made = pool.starmap(_create_keyring, [(str(keyring_file), master, gate)] * 4)
        gate = manager.Barrier(4)
        keys = pool.starmap(_create_master_key, [(str(key_file), gate)] * 4)
    created = [m for m in made if not m.startswith("refused")]
    assert len(created) == 1, made
    assert all("already exists" in m for m in made if m.startswith("refused"))
    on_disk = Keyring.load(keyring_file, MasterKey(master, source="test"))
    assert on_disk.derive("web/csrf", version=1).hex() == created[0]
    written = [k for k in keys if not k.startswith("refused")]
    assert len(written) == 1, keys
    loaded = load_master_key(value=None, key_file=key_file, environment="development")
    assert loaded.check_value == written[0]
