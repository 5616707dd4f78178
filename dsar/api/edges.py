"""The service's outer edge: oversized bodies, unstorable text, numbers and nesting no field needs.

One ASGI middleware in front of every route. A body larger than ``max_body_bytes`` is refused
with 413 before a handler sees it (by its ``Content-Length``, or while it streams in without
one). Everything else is a 422 naming where the problem is:

* text that no database stores the same way everywhere, a NUL character or an unpaired UTF-16
  surrogate (``\\ud800`` escaped in JSON, or encoded in the bytes), in a query parameter, the
  path, a JSON body (keys included) or a form; and a JSON body that is not UTF-8 (RFC 8259 §8.1);
* a JSON number no field holds: ``NaN`` and ``Infinity`` (not JSON at all), and any number
  outside the signed 64-bit range, which is the widest column of every backend (a 20-digit
  integer would overflow PostgreSQL's BIGINT);
* JSON nested deeper than :data:`MAX_DEPTH` levels: no body of the API needs more, and deep
  nesting only costs recursion in every layer below;
* a JSON body that does not parse, with the parser's line and column.

Handlers and the domain below can then take every string as storable UTF-8 text and every
number as one a database column holds. A body without a ``Content-Type`` is checked as JSON,
because that is how the routes read it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MAX_DEPTH", "MAX_INTEGER", "MIN_INTEGER", "EdgeGuard", "unsafe_text"]

_UNSAFE: Final = re.compile("[\x00\ud800-\udfff]")
MAX_DEPTH: Final = 32
"""The deepest nesting of arrays and objects a JSON body may have."""
MAX_INTEGER: Final = 2**63 - 1
"""The largest number a JSON body may hold (a signed 64-bit integer's)."""
MIN_INTEGER: Final = -(2**63)
"""The smallest number a JSON body may hold."""
_MAX_DIGITS: Final = len(str(MAX_INTEGER))


def unsafe_text(value: str) -> bool:
    """Whether ``value`` holds a NUL character or a lone surrogate."""
    return _UNSAFE.search(value) is not None


class _Refused(Exception):
    """One problem with the input: its status, code, place and what to do."""

    def __init__(self, status: int, code: str, where: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.where, self.detail = status, code, where, detail


class _OutOfRange:
    """Stands in, while parsing, for a number no field holds; the walk reports its place."""

    __slots__ = ("literal",)

    def __init__(self, literal: str) -> None:
        self.literal = literal if len(literal) <= 24 else f"{literal[:20]}…"


def _parse_int(literal: str) -> int | _OutOfRange:
    # The length check first: int() of a 5,000-digit literal is slow, and refused above 4,300.
    if len(literal.lstrip("-")) > _MAX_DIGITS:
        return _OutOfRange(literal)
    number = int(literal)
    return number if MIN_INTEGER <= number <= MAX_INTEGER else _OutOfRange(literal)


def _parse_float(literal: str) -> float | _OutOfRange:
    number = float(literal)
    # float(2**63) rounds up to 2**63 itself, so the bound is strict on both sides.
    return number if math.isfinite(number) and abs(number) < 2.0**63 else _OutOfRange(literal)


def _parse_constant(literal: str) -> _OutOfRange:
    return _OutOfRange(literal)  # NaN, Infinity, -Infinity: Python reads them, JSON has none


def _walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every key, string and number of a parsed JSON value, with its place; too deep refused.

    Iterative, so the walk itself never runs out of stack on what the parser accepted.
    """
    stack: list[tuple[str, Any, int]] = [("body", value, 1)]
    while stack:
        where, item, depth = stack.pop()
        if isinstance(item, dict | list) and depth > MAX_DEPTH:
            raise _too_deep(_clean(where))
        if isinstance(item, dict):
            for key, inner in reversed(item.items()):
                yield f"{where}.{key}", key
                stack.append((f"{where}.{key}", inner, depth + 1))
        elif isinstance(item, list):
            for i in reversed(range(len(item))):
                stack.append((f"{where}.{i}", item[i], depth + 1))
        else:
            yield where, item


def _too_deep(where: str) -> _Refused:
    return _Refused(
        422,
        "too_deeply_nested",
        where,
        f"the body nests arrays and objects deeper than {MAX_DEPTH} levels; no field of this "
        "API needs that, send a flatter body",
    )


def _check_json(body: bytes) -> None:
    try:
        # surrogatepass: a surrogate encoded in the bytes is then reported as one, below
        text = body.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError as exc:
        raise _Refused(
            422,
            "invalid_text",
            "body",
            f"the body is not UTF-8 text (byte {exc.start}); send JSON encoded as UTF-8",
        ) from None
    try:
        parsed = json.loads(
            text,
            parse_int=_parse_int,
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except RecursionError:
        raise _too_deep("body") from None
    except json.JSONDecodeError as exc:
        raise _Refused(
            422,
            "invalid_json",
            "body",
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
        ) from None
    for where, item in _walk(parsed):
        if isinstance(item, str) and unsafe_text(item):
            raise _text_problem(where)
        if isinstance(item, _OutOfRange):
            raise _Refused(
                422,
                "number_out_of_range",
                _clean(where),
                f"{_clean(where)} is {item.literal}, which no field holds: send a finite "
                f"number from {MIN_INTEGER} to {MAX_INTEGER}",
            )


def _bad_bytes(raw: bytes) -> bool:
    try:
        return unsafe_text(raw.decode("utf-8"))
    except UnicodeDecodeError:  # a surrogate encoded in UTF-8 is not valid UTF-8
        return True


def _pairs(raw: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The decoded key and value bytes of a query string or form body.

    Not :func:`urllib.parse.parse_qsl`: given bytes, it re-encodes what it decoded as ASCII
    and fails on any percent-encoded non-ASCII byte (``?city=%C3%84``).
    """
    for part in raw.split(b"&"):
        if part:
            key, _, value = part.partition(b"=")
            yield (
                unquote_to_bytes(key.replace(b"+", b" ")),
                unquote_to_bytes(value.replace(b"+", b" ")),
            )


def _check_form(body: bytes) -> None:
    for key, value in _pairs(body):
        if _bad_bytes(key) or _bad_bytes(value):
            raise _text_problem(f"form.{key.decode('utf-8', 'replace')}")


def _check_url(scope: Scope) -> None:
    path = scope.get("raw_path") or scope.get("path", "").encode("utf-8", "surrogatepass")
    if _bad_bytes(unquote_to_bytes(path)):
        raise _text_problem("path")
    query: bytes = scope.get("query_string", b"")
    if query:
        for key, value in _pairs(query):
            if _bad_bytes(key) or _bad_bytes(value):
                raise _text_problem(f"query.{key.decode('utf-8', 'replace')}")


def _check_body(body: bytes, content_type: bytes | None) -> None:
    if not body:
        return
    kind = (content_type or b"application/json").split(b";", 1)[0].strip().lower()
    if kind == b"application/x-www-form-urlencoded":
        _check_form(body)
    elif kind == b"application/json" or kind.endswith(b"+json"):
        _check_json(body)


def _clean(where: str) -> str:
    return _UNSAFE.sub("?", where)


def _text_problem(where: str) -> _Refused:
    clean = _clean(where)
    return _Refused(
        422,
        "invalid_text",
        clean,
        f"{clean} holds a NUL character or an unpaired surrogate, which cannot be stored; "
        "send plain UTF-8 text",
    )


class EdgeGuard:
    """Refuse oversized bodies (413) and input no field can hold (422) before any route runs."""

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            _check_url(scope)
        except _Refused as refused:
            await _refuse(send, refused)
            return
        headers = dict(scope.get("headers") or ())
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body_bytes):
            await _refuse(send, self._too_large())
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
                await _refuse(send, self._too_large())
                return
        try:
            _check_body(bytes(body), headers.get(b"content-type"))
        except _Refused as refused:
            await _refuse(send, refused)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if delivered:
                return await receive()
            delivered = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    def _too_large(self) -> _Refused:
        return _Refused(
            413,
            "payload_too_large",
            "body",
            f"the request body is larger than {self.max_body_bytes} bytes; send less "
            "(the limit is TIETOTIE_MAX_BODY_BYTES)",
        )


async def _refuse(send: Send, refused: _Refused) -> None:
    body = json.dumps(
        {
            "error": refused.code,
            "detail": refused.detail,
            "problems": [{"where": refused.where, "reason": refused.detail}],
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refused.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
