"""`tietotie serve`: run the HTTP service with uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add `serve` to the CLI."""

    @app.command("serve")
    def serve_command(
        host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    ) -> None:
        """Serve the API (GET /health, /v1/...); refuses to start on strategy errors."""
        import uvicorn

        from kernel.errors import TietotieError
        from tietotie.app import create_app

        try:
            application = create_app()
        except TietotieError as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1) from None
        uvicorn.run(application, host=host, port=port)
