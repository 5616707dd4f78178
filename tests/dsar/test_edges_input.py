"""Bad input at every endpoint is a clear 4xx naming the problem, never a 5xx, and stores nothing.

Every operation of the OpenAPI document, anonymous and staff alike, is fed lone surrogates and
NUL bytes (in JSON strings, JSON keys, query parameters and the path), numbers no column holds,
deep nesting, text that is not UTF-8, and bodies over the size limit, with a Content-Length and
streamed without one; on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, MetaData, func, select

from dsar.api.edges import MAX_DEPTH, MAX_INTEGER, EdgeGuard
from kernel.crypto import Pseudonymiser
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.store import FieldCrypto
from tests.support import BUNDLED, backend_database, staff_header
from tietotie.app import create_app
from tietotie.settings import Settings

LIMIT = 256 * 1024
"""The body size limit of the app under test (bytes): room for the deepest nesting below."""

CUSTOMER = {
    "source": "booking-form",
    "values": {
        "name": "Liisa Virtanen",
        "email": "liisa@example.fi",
        "phone": "0401234567",
        "branch": "espoo",
    },
}
OPEN = {"type": "access", "identity": {"email": "liisa@example.fi"}}


@dataclass
class Api:
    """The app under test, its database, and an owner's (every duty's) Authorization header."""

    client: TestClient
    engine: Engine
    owner: dict[str, str] = field(default_factory=dict)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Api]:
    """The real app on a fresh database of the backend, with a body limit of ``LIMIT`` bytes."""
    url = request.getfixturevalue("pg_url") if request.param == "postgres" else None
    with backend_database(request.param, tmp_path, url, prefix="tt_edge") as engine:
        keyring = Keyring.ephemeral()
        keystore = SubjectKeyStore(tmp_path / "keystore.db", keyring=keyring)
        settings = Settings(
            strategy=BUNDLED,
            var_dir=tmp_path,
            environment="test",
            key_file=tmp_path / "master.key",
            max_body_bytes=LIMIT,
        )
        crypto = FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
        app = create_app(settings, crypto=crypto, engine=engine)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Api(client=client, engine=engine, owner=staff_header(app, "owner"))
        keystore.close()


def _counts(engine: Engine) -> dict[str, int]:
    """Rows per table of the database."""
    metadata = MetaData()
    metadata.reflect(engine)
    with engine.connect() as conn:
        return {
            name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for name, table in metadata.tables.items()
        }


@dataclass(frozen=True)
class Attack:
    """One bad request and the error code the edge must answer it with (None: any 4xx)."""

    label: str
    method: str
    url: str
    content: bytes | None = None
    content_type: str = "application/json"
    chunked: bool = False
    code: str | None = None


def _first_string_to(body: Any, raw: str) -> str:
    """``body`` as JSON text with its first string value replaced by the JSON text ``raw``."""
    marker = "\ue000marker\ue000"

    def replace(value: Any, done: list[bool]) -> Any:
        if isinstance(value, str) and not done:
            done.append(True)
            return marker
        if isinstance(value, dict):
            return {k: replace(v, done) for k, v in value.items()}
        if isinstance(value, list):
            return [replace(v, done) for v in value]
        return value

    text = json.dumps(replace(body, []), ensure_ascii=False)
    return text.replace(json.dumps(marker, ensure_ascii=False), raw, 1)


_BAD_VALUES = [
    ("a lone surrogate in a string", '"\\ud800@example.fi"', "invalid_text"),
    ("a NUL in a string", '"liisa\\u0000@example.fi"', "invalid_text"),
    ("an integer beyond 64 bits", str(MAX_INTEGER + 1), "number_out_of_range"),
    ("a 5,000-digit integer", "9" * 5000, "number_out_of_range"),
    ("a float that overflows", "1e400", "number_out_of_range"),
    ("NaN", "NaN", "number_out_of_range"),
    ("deep nesting", "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "too_deeply_nested"),
    ("nesting past the parser's stack", "[" * 100_000 + "]" * 100_000, "too_deeply_nested"),
]


def _attacks(operations: dict[str, Any], bodies: dict[tuple[str, str], Any]) -> list[Attack]:
    """Every bad request for every operation of the OpenAPI document."""
    attacks: list[Attack] = []
    for template, methods in operations.items():
        for method, operation in methods.items():
            verb, url = method.upper(), re.sub(r"\{[^}]+\}", "x", template)
            name = f"{verb} {template}"
            queries = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            query = queries[0]["name"] if queries else "q"
            attacks += [
                Attack(
                    f"{name}: NUL in ?{query}", verb, f"{url}?{query}=a%00b", code="invalid_text"
                ),
                Attack(
                    f"{name}: surrogate in ?{query}",
                    verb,
                    f"{url}?{query}=%ED%A0%80",
                    code="invalid_text",
                ),
                Attack(f"{name}: NUL in a query key", verb, f"{url}?a%00b=1", code="invalid_text"),
                Attack(
                    f"{name}: body over the limit",
                    verb,
                    url,
                    content=json.dumps({"pad": "x" * LIMIT}).encode(),
                    code="payload_too_large",
                ),
                Attack(
                    f"{name}: body over the limit, streamed",
                    verb,
                    url,
                    content=b"x" * (LIMIT + 64 * 1024),
                    chunked=True,
                    code="payload_too_large",
                ),
            ]
            attacks += [
                Attack(f"{name}: a 31-digit ?{p['name']}", verb, f"{url}?{p['name']}={10**30}")
                for p in queries
                if p.get("schema", {}).get("type") == "integer"
            ]
            if "{" in template:
                first = re.sub(r"\{[^}]+\}", "a%00b", template, count=1)
                attacks.append(
                    Attack(
                        f"{name}: NUL in the path",
                        verb,
                        re.sub(r"\{[^}]+\}", "x", first),
                        code="invalid_text",
                    )
                )
            if "requestBody" not in operation:
                continue
            body = bodies.get((verb, template), {"probe": "value"})
            attacks += [
                Attack(
                    f"{name}: {label}",
                    verb,
                    url,
                    content=_first_string_to(body, raw).encode(),
                    code=code,
                )
                for label, raw, code in _BAD_VALUES
            ]
            keyed = '{"a\\u0000b": 1, ' + json.dumps(body)[1:]
            attacks += [
                Attack(f"{name}: NUL in a key", verb, url, keyed.encode(), code="invalid_text"),
                Attack(
                    f"{name}: a surrogate in a key",
                    verb,
                    url,
                    ('{"\\udc00": 1, ' + json.dumps(body)[1:]).encode(),
                    code="invalid_text",
                ),
                Attack(
                    f"{name}: bytes that are not UTF-8",
                    verb,
                    url,
                    b'{"probe": "\xff\xfe"}',
                    code="invalid_text",
                ),
                Attack(
                    f"{name}: a surrogate encoded in the bytes",
                    verb,
                    url,
                    b'{"probe": "\xed\xa0\x80"}',
                    code="invalid_text",
                ),
                Attack(
                    f"{name}: a body without a content type",
                    verb,
                    url,
                    _first_string_to(body, '"\\ud800"').encode(),
                    content_type="",
                    code="invalid_text",
                ),
                Attack(
                    f"{name}: a NUL in a form",
                    verb,
                    url,
                    b"email=a%00b",
                    content_type="application/x-www-form-urlencoded",
                    code="invalid_text",
                ),
            ]
    return attacks


def _send(api: Api, attack: Attack) -> Any:
    headers = dict(api.owner)
    if attack.content_type:
        headers["content-type"] = attack.content_type
    content: Any = attack.content
    if attack.chunked and attack.content is not None:
        data = attack.content
        content = (data[i : i + 16384] for i in range(0, len(data), 16384))
    return api.client.request(attack.method, attack.url, content=content, headers=headers)


def test_every_endpoint_answers_bad_input_with_a_clear_4xx_and_stores_nothing(api: Api) -> None:
    """Hundreds of bad requests across every operation: each a 4xx error body, no row written."""
    sid = api.client.post("/v1/records/customer", json=CUSTOMER, headers=api.owner).json()
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/records/{entity}"): CUSTOMER,
        ("POST", "/v1/dsar"): {**OPEN, "details": {"note": "please"}},
        ("POST", "/v1/consents"): {
            "subject": {"id": sid["subject_id"]},
            "use": "seasonal-reminders",
            "state": "given",
            "source": "booking-form",
        },
        ("POST", "/v1/dsar/{request_id}/verify"): {"code": "123456"},
        ("POST", "/v1/pseudonymise"): {"domain": "mailer-suppression", "values": ["a@b.fi"]},
    }
    attacks = _attacks(api.client.app.openapi()["paths"], bodies)  # type: ignore[attr-defined]
    attacked = {a.label.partition(":")[0] for a in attacks}
    assert {"POST /v1/dsar", "POST /v1/consents", "POST /v1/records/{entity}", "GET /v1/audit"} <= (
        attacked
    )
    before = _counts(api.engine)
    wrong: list[str] = []
    for attack in attacks:
        answer = _send(api, attack)
        try:
            body = answer.json()
        except ValueError:
            body = {}
        clear = isinstance(body.get("error"), str) and isinstance(body.get("detail"), str)
        if not 400 <= answer.status_code < 500 or not clear:
            wrong.append(f"{attack.label}: {answer.status_code} {answer.text[:120]}")
        elif attack.code is not None and body["error"] != attack.code:
            wrong.append(f"{attack.label}: {body['error']} instead of {attack.code}")
    assert wrong == []
    assert _counts(api.engine) == before


def test_the_refusal_names_the_field_and_what_to_do(api: Api) -> None:
    """The error body says where the bad value is and what to send instead."""
    surrogate = api.client.post(
        "/v1/dsar",
        content=b'{"type": "access", "identity": {"email": "\\ud800@b.fi"}}',
        headers={"content-type": "application/json"},
    )
    assert surrogate.status_code == 422
    assert surrogate.json()["problems"] == [
        {"where": "body.identity.email", "reason": surrogate.json()["detail"]}
    ]
    assert "UTF-8" in surrogate.json()["detail"]
    huge = api.client.post(
        "/v1/records/customer",
        content=b'{"source": "booking-form", "values": {"visits": 10000000000000000000000000}}',
        headers={**api.owner, "content-type": "application/json"},
    )
    assert huge.status_code == 422
    assert huge.json()["problems"][0]["where"] == "body.values.visits"
    assert str(MAX_INTEGER) in huge.json()["detail"]


def test_audit_sequence_numbers_beyond_32_bits_are_a_page_not_an_overflow(api: Api) -> None:
    """``after`` past 2**31 reads an empty page; past 2**63 it is a parameter error."""
    page = api.client.get("/v1/audit", params={"after": 2**31}, headers=api.owner)
    assert page.status_code == 200, page.text
    assert page.json() == []
    beyond = api.client.get("/v1/audit", params={"after": 2**63}, headers=api.owner)
    assert beyond.status_code == 422
    assert beyond.json()["problems"][0]["where"] == "query.after"


def test_the_same_requests_with_good_values_are_stored(api: Api) -> None:
    """The control: a record and a request without the bad values are accepted and stored."""
    before = _counts(api.engine)
    stored = api.client.post("/v1/records/customer", json=CUSTOMER, headers=api.owner)
    assert stored.status_code == 201, stored.text
    opened = api.client.post("/v1/dsar", json={**OPEN, "details": {"note": "please"}})
    assert opened.status_code == 202, opened.text
    after = _counts(api.engine)
    assert after["customer"] == before["customer"] + 1
    assert after["dsar_requests"] == before["dsar_requests"] + 1
    assert after["audit_log"] > before["audit_log"]


def test_a_streamed_body_is_refused_once_past_the_limit_and_the_rest_is_never_read() -> None:
    """Without a Content-Length the guard stops reading at the limit: the rest is never read."""
    chunk, chunks = b"x" * 1024, 1000
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return {"type": "http.request", "body": chunk, "more_body": read < chunks}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the route must not run")

    guard = EdgeGuard(app, max_body_bytes=LIMIT)
    scope = {"type": "http", "method": "POST", "path": "/v1/dsar", "headers": []}
    asyncio.run(guard(scope, receive, send))  # type: ignore[arg-type]
    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"] == "payload_too_large"
    assert read == LIMIT // len(chunk) + 1
