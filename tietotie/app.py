"""The app factory: load the strategy, open the database and keys, wire the routers."""

from __future__ import annotations

import importlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html
from fastapi.responses import HTMLResponse
from fastapi_offline import FastAPIOffline
from sqlalchemy import Engine

from access_policy.service import compile_policy
from dsar.api import ROUTERS
from dsar.api.edges import EdgeGuard
from dsar.api.errors import install_error_handlers
from dsar.tables import database_metadata
from dsar.web import install as install_pages
from kernel.crypto import Pseudonymiser
from kernel.db import make_engine, reachable, session_factory
from kernel.errors import KeyConfigError, StrategyError
from kernel.keys import Keyring
from records.migrations import plan_upgrade, upgrade
from records.store import FieldCrypto
from schemas import Strategy, validate
from tietotie.keys import keyring_path, master_key, open_keystore
from tietotie.settings import Environment, Settings, get_settings
from tietotie.wiring import Services, build_services

__all__ = ["create_app", "factory", "load_checked_strategy", "open_field_crypto", "open_services"]


def load_checked_strategy(settings: Settings) -> Strategy:
    """The strategy of ``settings``; StrategyError listing the errors when it does not validate."""
    result = validate(str(settings.strategy))
    errors = [f for f in result.findings if f.severity == "error"]
    if errors or result.strategy is None:
        listing = "; ".join(f"{f.position}: {f.rule} {f.message}" for f in errors[:20])
        raise StrategyError(
            f"the strategy at {settings.strategy} has {len(errors)} error(s); fix them "
            f"(`tietotie validate`) before starting: {listing}",
            file=str(settings.strategy),
        )
    return result.strategy


def open_field_crypto(settings: Settings) -> FieldCrypto:
    """The keystore and blind-index keys; in development a missing keyring is created."""
    path = keyring_path(settings)
    master = master_key(settings)
    if path.exists():
        keyring = Keyring.load(path, master)
    elif settings.environment is Environment.DEVELOPMENT:
        keyring = Keyring.create(path, master)
    else:
        raise KeyConfigError(f"no keyring at {path}: run `tietotie keys init`", file=str(path))
    return FieldCrypto(
        keystore=open_keystore(settings, keyring), pseudonymiser=Pseudonymiser(keyring)
    )


def _prepare_database(engine: Engine, strategy: Strategy, settings: Settings) -> None:
    metadata = database_metadata(strategy)
    plan = plan_upgrade(engine, metadata)
    if plan.empty:
        return
    if settings.environment is Environment.PRODUCTION:
        raise StrategyError(
            "the database does not match the strategy: run "
            "`tietotie db upgrade` before starting the service"
        )
    upgrade(engine, metadata)  # additive only; destructive changes stop here with the list


_ERROR_BODY: dict[str, Any] = {
    "title": "ErrorBody",
    "type": "object",
    "description": "Every 4xx answer: a stable code, a sentence saying what to do, and context.",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "Stable machine-readable code."},
        "detail": {"type": "string", "description": "What is wrong and what to do."},
        "problems": {
            "type": "array",
            "items": {"type": "object"},
            "description": "Request validation: each problem's place and reason.",
        },
    },
    "additionalProperties": True,
}
_ERRORS = {
    "400": "Bad request",
    "401": "No valid token",
    "403": "The role may not do this",
    "404": "Not found",
    "409": "Not in this state",
    "413": "Body over the size limit",
    "422": "Invalid input",
    "429": "Too many attempts; see Retry-After",
}


def _document_errors(app: FastAPI) -> None:
    """Describe the one error shape in the OpenAPI document, for every operation."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        doc = original()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        schemas["ErrorBody"] = _ERROR_BODY
        schemas["HTTPValidationError"] = _ERROR_BODY
        ref = {
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
        }
        for path in doc.get("paths", {}).values():
            for operation in path.values():
                responses = operation.setdefault("responses", {})
                for code, text in _ERRORS.items():
                    responses.setdefault(code, {"description": text, **ref})
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]


def open_services(
    settings: Settings, *, crypto: FieldCrypto | None = None, engine: Engine | None = None
) -> Services:
    """The checked strategy, an up-to-date database, the keys, and every service over them."""
    strategy = load_checked_strategy(settings)
    engine = engine or make_engine(settings.database_url)
    with reachable(engine):
        _prepare_database(engine, strategy, settings)
    crypto = crypto or open_field_crypto(settings)
    return build_services(
        settings, strategy=strategy, engine=engine, sessions=session_factory(engine), crypto=crypto
    )


def create_app(
    settings: Settings | None = None,
    *,
    crypto: FieldCrypto | None = None,
    engine: Engine | None = None,
) -> FastAPI:
    """The service: refuses to start on strategy errors; state lives on ``app.state``.

    Outside production a database that lacks tables is brought up to date (additive changes
    only); in production ``tietotie db upgrade`` must have run.
    """
    settings = settings or get_settings()
    services = open_services(settings, crypto=crypto, engine=engine)
    strategy, engine, crypto, store = (
        services.strategy,
        services.engine,
        services.crypto,
        services.store,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    # The API's /docs and /redoc pages with Swagger UI and ReDoc served from the package itself,
    # so they work offline and load nothing from another host.
    app = FastAPIOffline(
        redoc_url=None,  # below: the same page, with a policy that keeps ReDoc's logo offline
        title="tietotie",
        version="0.1.0",
        lifespan=lifespan,
        description=f"System of record and data-subject requests for {strategy.controller.name}.",
    )
    app.state.settings = settings
    app.state.strategy = strategy
    app.state.engine = engine
    app.state.sessions = services.sessions
    app.state.store = store
    app.state.crypto = crypto
    app.state.services = services
    app.state.audit = services.audit
    app.state.consent_signer = services.signer
    app.state.requests = services.requests
    app.state.fulfiller = services.fulfiller
    app.state.policy = compile_policy(strategy)
    app.state.limits = services.limits
    app.add_middleware(EdgeGuard, max_body_bytes=settings.max_body_bytes)
    install_error_handlers(app)
    _document_errors(app)

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        """ReDoc from the package's own copy; its footer logo would come from a CDN, so the
        page's Content-Security-Policy allows images from this server only."""
        page = get_redoc_html(
            openapi_url="/openapi.json",
            title="tietotie - ReDoc",
            redoc_js_url="/static-offline-docs/redoc.standalone.js",
            redoc_favicon_url="/static-offline-docs/favicon.png",
            with_google_fonts=False,
        )
        page.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline' blob:; worker-src 'self' blob:"
        )
        return page

    @app.get("/health", tags=["service"])
    def health() -> dict[str, Any]:
        """Liveness, which strategy is loaded, and which process answered (``pid``: with
        ``tietotie serve --workers N`` each worker answers with its own)."""
        index = strategy.index
        return {
            "status": "ok",
            "pid": os.getpid(),
            "controller": strategy.controller.name,
            "system": strategy.system.name,
            "counts": {
                "entities": len(index.entities),
                "fields": len(index.fields),
                "uses": len(index.uses),
                "roles": len(index.roles),
                "sources": len(index.sources),
            },
        }

    for name in ROUTERS:
        app.include_router(importlib.import_module(name).router)
    install_pages(
        app,
        csrf_secret=crypto.pseudonymiser.keyring.derive("web/csrf", version=1).hex(),
        secure_cookies=settings.public_url.startswith("https://"),
    )
    return app


def factory() -> FastAPI:
    """The app of one worker process of ``tietotie serve --workers N`` (uvicorn calls this).

    A worker is a fresh interpreter, so its settings come from the environment (``TIETOTIE_*``)
    like any process's. The serving command has already migrated the database and created the
    keys once; each worker opens them, and every secret it uses (the pages' CSRF tokens, the
    unsubscribe links, the audit chain, the rate-limit keys) derives from that one keyring, so
    a form or link one worker made is good on every other.
    """
    return create_app(get_settings())
