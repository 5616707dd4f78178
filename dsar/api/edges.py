"""The service's outer edge: bodies over the size limit, NUL bytes and lone surrogates.

One ASGI middleware in front of every route. A body larger than ``max_body_bytes`` is refused
with 413 before a handler sees it (by its ``Content-Length``, or while it streams in); text that
no database stores the same way everywhere, a NUL character or an unpaired UTF-16 surrogate, is
refused with 422 naming where it was: in a query parameter, the path, a JSON body or a form.
Handlers and the domain below can then take every string as storable UTF-8 text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["EdgeGuard", "unsafe_text"]

_UNSAFE: Final = re.compile("[\x00\ud800-\udfff]")


def unsafe_text(value: str) -> bool:
    """Whether ``value`` holds a NUL character or a lone surrogate."""
    return _UNSAFE.search(value) is not None


def _strings(value: Any, where: str) -> Iterator[tuple[str, str]]:
    """Every string in a parsed JSON value, keys included, with its place."""
    if isinstance(value, str):
        yield where, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield f"{where}.{key}", key
            yield from _strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{where}.{i}")


def _bad_bytes(raw: bytes) -> bool:
    try:
        return unsafe_text(raw.decode("utf-8"))
    except UnicodeDecodeError:  # a surrogate encoded in UTF-8 is not valid UTF-8
        return True


class EdgeGuard:
    """Refuse oversized bodies (413) and unstorable text (422) before any route runs."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._check_url(scope)
        if problem:
            await _refuse(send, 422, "invalid_text", *problem)
            return
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await _refuse(send, 413, "payload_too_large", *self._too_large())
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_body_bytes:
                await _refuse(send, 413, "payload_too_large", *self._too_large())
                return
        problem = _check_body(bytes(body), headers.get(b"content-type", b""))
        if problem:
            await _refuse(send, 422, "invalid_text", *problem)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> tuple[str, str]:
        return (
            f"the request body is larger than {self.max_body_bytes} bytes; send less "
            "(the limit is TIETOTIE_MAX_BODY_BYTES)",
            "body",
        )

    @staticmethod
    def _check_url(scope: Scope) -> tuple[str, str] | None:
        path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
        if _bad_bytes(unquote_to_bytes(path)):
            return _text_problem("path")
        query: bytes = scope.get("query_string", b"")
        if query:
            for key, value in parse_qsl(query, keep_blank_values=True):
                if _bad_bytes(key) or _bad_bytes(value):
                    name = key.decode("utf-8", "replace").replace("\x00", "")
                    return _text_problem(f"query.{name}")
        return None


def _check_body(body: bytes, content_type: bytes) -> tuple[str, str] | None:
    if not body:
        return None
    kind = content_type.split(b";", 1)[0].strip().lower()
    if kind == b"application/x-www-form-urlencoded":
        for key, value in parse_qsl(body, keep_blank_values=True):
            if _bad_bytes(key) or _bad_bytes(value):
                return _text_problem(f"form.{key.decode('utf-8', 'replace')}")
        return None
    if kind != b"application/json" and not kind.endswith(b"+json"):
        return None
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return None  # not JSON: the route's own validation says so, with its usual 422
    for where, text in _strings(parsed, "body"):
        if unsafe_text(text):
            return _text_problem(where)
    return None


def _text_problem(where: str) -> tuple[str, str]:
    clean = _UNSAFE.sub("?", where)
    return (
        f"{clean} holds a NUL character or an unpaired surrogate, which cannot be stored; "
        "send plain UTF-8 text",
        clean,
    )


async def _refuse(send: Send, status: int, code: str, detail: str, where: str) -> None:
    body = json.dumps(
        {"error": code, "detail": detail, "problems": [{"where": where, "reason": detail}]}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
