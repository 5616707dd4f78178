"""`tietotie serve`: run the HTTP service with uvicorn (with `--demo N`, ready to try)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated

import typer

from tietotie.commands.strategy import StrategyOption

__all__ = ["port_free", "register"]

_DEMO_HOLDER = "make run"
"""The name of the staff token `--demo` prints; each start revokes the one before."""


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
    ) -> None:
        """Serve the API (GET /health, /docs, /v1/...); refuses to start on strategy errors."""
        import uvicorn

        from kernel.errors import TietotieError
        from tietotie.app import create_app
        from tietotie.settings import get_settings

        if not port_free(host, port):
            typer.echo(
                f"error: {host}:{port} is already in use (another `make run` or service?); stop "
                f"it, or choose another port: `make run PORT={port + 1}` or "
                f"`tietotie serve --port {port + 1}`",
                err=True,
            )
            raise typer.Exit(2)
        if demo:
            _prepare_demo(strategy, demo, host, port)
        settings = get_settings()
        if strategy is not None:
            settings = settings.model_copy(update={"strategy": strategy})
        try:
            application = create_app(settings)
        except TietotieError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        uvicorn.run(application, host=host, port=port)
