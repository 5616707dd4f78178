"""`tietotie serve`: run the HTTP service with uvicorn, in one process or several (`--workers`),
and with `--demo N` ready to try."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tietotie.commands.strategy import StrategyOption

if TYPE_CHECKING:
    from tietotie.settings import Settings

__all__ = ["WORKER_FACTORY", "port_free", "register", "worker_advice"]

_DEMO_HOLDER = "make run"
"""The name of the staff token `--demo` prints; each start revokes the one before."""

WORKER_FACTORY = "tietotie.app:factory"
"""What each worker process of `serve --workers N` imports and calls to build its app."""

_WORKERS_HELP = (
    "Worker processes. Above 1, start-up work (migrations, keys, --demo) is done once "
    "before they start. Use PostgreSQL (on SQLite the workers take turns to write) and a "
    "Redis for TIETOTIE_RATE_LIMIT_STORAGE (with memory:// each worker counts its own limits; "
    "refused in production)."
)


def port_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be listened on now (checked before the app is built)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def worker_advice(settings: Settings, workers: int) -> tuple[list[str], str | None]:
    """What an operator should know about running ``workers`` processes on ``settings``.

    Returns the warnings to print and, when the combination must not start, the reason: in
    production several workers with in-memory rate limits would each count alone, breaking
    the limits DESIGN §11 promises hold across processes.
    """
    from sqlalchemy.engine import make_url

    from tietotie.settings import Environment

    if workers <= 1:
        return [], None
    warnings: list[str] = []
    if make_url(settings.database_url).get_backend_name() == "sqlite":
        warnings.append(
            f"SQLite takes one writer at a time: the {workers} workers share one database file "
            "and their writes wait for each other (up to its 30 s busy timeout); reads run "
            "side by side. For writes at once, serve from PostgreSQL (TIETOTIE_DATABASE_URL)."
        )
    if settings.rate_limit_storage.startswith("memory://"):
        reason = (
            f"TIETOTIE_RATE_LIMIT_STORAGE is memory://, so each of the {workers} workers "
            f"would count rate limits on its own and let through up to {workers} times each "
            "limit; point it at a Redis every worker shares (redis://host:6379/0)"
        )
        if settings.environment is Environment.PRODUCTION:
            return warnings, reason
        warnings.append(reason + " (allowed outside production).")
    return warnings, None


def _prepare_demo(strategy: Path | None, customers: int, host: str, port: int) -> None:
    """Seed demo customers into an empty database and print where to go and a staff token."""
    from sqlalchemy import func, select

    from dsar.auth import issue_token, revoke_named
    from kernel.db import transaction
    from records.seed import seed
    from tietotie.commands.service import open_from_cli

    services = open_from_cli(strategy)
    table = services.store.tables.subject_table
    with services.sessions() as session:
        held = session.execute(select(func.count()).select_from(table)).scalar_one()
    if held == 0:
        result = seed(services.sessions, services.store, customers=customers)
        typer.echo(f"seeded {result.customers} demo customers ({result.total_rows} rows)")
    else:
        typer.echo(f"the database already holds {held} customers; not seeding")
    roles = services.strategy.index.roles
    role = max(roles.values(), key=lambda r: len(r.duties)).id  # the owner: every duty to try
    with transaction(services.sessions) as session:
        earlier = revoke_named(session, name=_DEMO_HOLDER)
        token = issue_token(session, services.strategy, role=role, name=_DEMO_HOLDER)
    if earlier:
        typer.echo(f"revoked {earlier} staff token(s) printed by an earlier `make run`")
    base = f"http://{host}:{port}"
    typer.echo(
        f"\n  privacy      {base}/privacy  (customers: the notice, requests, consents)\n"
        f"  desk         {base}/desk  (privacy staff: sign in with the token below)\n"
        f"  API docs     {base}/docs\n  OpenAPI      {base}/openapi.json\n"
        f"  health       {base}/health\n  staff token  {token}  (role {role})\n\n"
        f"  try: curl -H 'Authorization: Bearer {token}' {base}/v1/policy/matrix\n"
        f"  CLI: TIETOTIE_TOKEN={token} tietotie dsar list\n"
    )
    services.engine.dispose()


def _prepare_once(settings: Settings) -> None:
    """Start-up work that several workers starting at once would race on, done here once.

    Checks the strategy, migrates the database outside production (in production it checks
    that ``tietotie db upgrade`` has run), creates a missing development master key and
    keyring, and creates the subject keystore; every worker then only reads what this made.
    """
    from tietotie.app import open_services

    services = open_services(settings)
    services.crypto.keystore.close()
    services.engine.dispose()


def register(app: typer.Typer) -> None:
    """Add `serve` to the CLI."""

    @app.command("serve")
    def serve_command(
        host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
        strategy: StrategyOption = None,
        demo: Annotated[
            int,
            typer.Option(
                "--demo",
                min=0,
                help="Seed this many demo customers "
                "into an empty database and print a staff token.",
            ),
        ] = 0,
        workers: Annotated[int, typer.Option("--workers", min=1, help=_WORKERS_HELP)] = 1,
    ) -> None:
        """Serve the API (GET /health, /docs, /v1/...); refuses to start on strategy errors."""
        import uvicorn

        from kernel.errors import TietotieError
        from tietotie.settings import get_settings

        if not port_free(host, port):
            typer.echo(
                f"error: {host}:{port} is already in use (another `make run` or service?); stop "
                f"it, or choose another port: `make run PORT={port + 1}` or "
                f"`tietotie serve --port {port + 1}`",
                err=True,
            )
            raise typer.Exit(2)
        settings = get_settings()
        if strategy is not None:
            settings = settings.model_copy(update={"strategy": strategy})
        warnings, refusal = worker_advice(settings, workers)
        if refusal is not None:
            typer.echo(f"error: --workers {workers}: {refusal}", err=True)
            raise typer.Exit(2)
        for warning in warnings:
            typer.echo(f"warning: --workers {workers}: {warning}", err=True)
        if demo:
            _prepare_demo(strategy, demo, host, port)
        if workers == 1:
            from tietotie.app import create_app

            try:
                application = create_app(settings)
            except TietotieError as exc:
                typer.echo(f"error: {exc.message}", err=True)
                raise typer.Exit(1) from None
            uvicorn.run(application, host=host, port=port)
            return
        try:
            _prepare_once(settings)
        except TietotieError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        # Workers are fresh interpreters: they read their settings from the environment,
        # so an option given here travels there.
        if strategy is not None:
            os.environ["TIETOTIE_STRATEGY"] = str(strategy)
        uvicorn.run(WORKER_FACTORY, factory=True, workers=workers, host=host, port=port)
