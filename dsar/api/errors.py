"""The one place where errors become HTTP responses: ``{"error": code, "detail": …}``."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from kernel.errors import RateLimited, TietotieError

__all__ = ["install_error_handlers", "json_safe"]


def json_safe(value: Any) -> Any:
    """Context values made JSON-safe (Decimals and dates as text, sets as lists)."""
    try:
        json.dumps(value)
        return value
    except TypeError:
        pass
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


async def _tietotie_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, TietotieError)
    headers: dict[str, str] | None = None
    if exc.status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    elif isinstance(exc, RateLimited):
        headers = {"Retry-After": str(exc.retry_after)}
    return JSONResponse(json_safe(exc.to_dict()), status_code=exc.status, headers=headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"where": ".".join(str(p) for p in e.get("loc", ())), "reason": str(e.get("msg", ""))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{p['where']}: {p['reason']}" for p in problems)
    return JSONResponse(
        {"error": "invalid_request", "detail": detail, "problems": problems}, status_code=422
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        {"error": code, "detail": str(exc.detail)},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn errors into the JSON error body."""
    app.add_exception_handler(TietotieError, _tietotie_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
