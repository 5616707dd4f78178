"""`tietotie db upgrade`: migrate the database to the strategy's tables (Alembic, generated)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from dsar.tables import database_metadata
from kernel.db import make_engine
from records.migrations import DestructiveMigration, plan_upgrade, upgrade
from tietotie.commands.compile import load_valid_strategy
from tietotie.commands.strategy import StrategyOption, resolve_strategy
from tietotie.settings import get_settings

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the `db` group to the CLI."""
    group = typer.Typer(help="The system-of-record database.", no_args_is_help=True)
    app.add_typer(group, name="db")

    @group.command("upgrade")
    def upgrade_command(
        strategy: StrategyOption = None,
        allow_destructive: Annotated[
            bool,
            typer.Option("--allow-destructive", help="Also drop tables/columns and narrow types."),
        ] = False,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print the generated migration; change nothing.")
        ] = False,
        database_url: Annotated[
            str | None, typer.Option("--database-url", help="Default: TIETOTIE_DATABASE_URL.")
        ] = None,
    ) -> None:
        """Apply additive changes; refuse destructive ones (listing what would be lost)."""
        console = Console(highlight=False, soft_wrap=True)
        loaded = load_valid_strategy(resolve_strategy(None, strategy), console)
        engine = make_engine(database_url or get_settings().database_url)
        metadata = database_metadata(loaded)
        try:
            if dry_run:
                plan = plan_upgrade(engine, metadata)
            else:
                plan = upgrade(
                    engine,
                    metadata,
                    allow_destructive=allow_destructive,
                    progress=lambda table, rows: _rewritten(console, table, rows),
                )
        except DestructiveMigration as exc:
            console.print(f"[red]refused[/red]: {escape(exc.message)}")
            for step in exc.context.get("steps", []):
                console.print(f"  - {step['kind']} {step['table']}: {escape(step['detail'])}")
            raise typer.Exit(1) from None
        finally:
            engine.dispose()
        if plan.empty:
            console.print("the database already matches the strategy")
            return
        for step in plan.steps:
            mark = "[red]![/red]" if step.destructive else "+"
            console.print(f"{mark} {step.kind} {step.table} {escape(step.detail)}".rstrip())
        if dry_run:
            console.print(escape(plan.script))
            console.print(f"dry run: {len(plan.steps)} step(s) not applied")
        else:
            console.print(f"applied {len(plan.steps)} step(s)")


def _rewritten(console: Console, table: str, rows: int) -> None:
    """Progress of a row rewrite: a line per 100,000 rows of a table."""
    if rows % 100_000 == 0:
        console.print(f"  {table}: {rows:,} rows rewritten so far")
