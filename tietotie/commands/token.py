"""`tietotie token issue`: a staff bearer token for one role, printed once, stored as a hash."""

from __future__ import annotations

from typing import Annotated

import typer

from dsar.auth import issue_token
from dsar.tables import database_metadata
from kernel.db import make_engine, transaction
from kernel.errors import AuthError
from records.migrations import upgrade
from tietotie.commands.compile import load_valid_strategy
from tietotie.commands.strategy import StrategyOption, resolve_strategy
from tietotie.settings import get_settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `token` group to the CLI."""
    group = typer.Typer(help="Staff bearer tokens.", no_args_is_help=True)
    app.add_typer(group, name="token")

    @group.command("issue")
    def issue_command(
        role: Annotated[str, typer.Option("--role", help="Role id of organisation.yaml.")],
        name: Annotated[str | None, typer.Option("--name", help="Who holds it.")] = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Print a new token for ROLE (shown once; only its hash is kept)."""
        from rich.console import Console

        console = Console(stderr=True, highlight=False)
        loaded = load_valid_strategy(resolve_strategy(None, strategy), console)
        engine = make_engine(get_settings().database_url)
        try:
            upgrade(engine, database_metadata(loaded))  # first use creates the tables
            with transaction(engine) as session:
                token = issue_token(session, loaded, role=role, name=name)
        except AuthError as exc:
            console.print(f"error: {exc.message}")
            raise typer.Exit(2) from None
        finally:
            engine.dispose()
        typer.echo(token)
        console.print(f"token for role {role!r}: store it now, it is not shown again")
