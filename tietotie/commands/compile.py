"""`tietotie compile`: write the JSON Schemas and the record of processing activities."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from access_policy import compile_policy, write_matrix
from schemas import LoadResult, Strategy, validate
from schemas.compile import write_outputs
from tietotie.commands.strategy import StrategyArgument, StrategyOption, resolve_strategy

__all__ = ["load_valid_strategy", "register"]


def load_valid_strategy(path: Path, console: Console) -> Strategy:
    """The strategy at ``path``, or print its errors and exit 1 (warnings are shown, not fatal)."""
    result: LoadResult = validate(str(path))
    errors = [f for f in result.findings if f.severity == "error"]
    if errors or result.strategy is None:
        for f in errors:
            console.print(
                f"{escape(str(f.position))}: [red]error[/red] [bold]{f.rule}[/bold] "
                f"{escape(f.message)}",
                highlight=False,
                soft_wrap=True,
            )
        console.print(
            f"{escape(str(path))}: {len(errors)} error(s); fix them first "
            "(`tietotie validate` explains each)",
            highlight=False,
        )
        raise typer.Exit(1)
    return result.strategy


def register(app: typer.Typer) -> None:
    """Add `compile` to the CLI."""

    @app.command("compile")
    def compile_command(
        directory: StrategyArgument = None,
        strategy: StrategyOption = None,
        out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write into.")] = Path(
            "build/compiled"
        ),
    ) -> None:
        """Write JSON Schema 2020-12 per entity and the RoPA (Art. 30) as JSON and CSV.

        Refuses a strategy with validation errors.
        """
        console = Console(highlight=False, soft_wrap=True)
        loaded = load_valid_strategy(resolve_strategy(directory, strategy), console)
        for path in [*write_outputs(loaded, out), *write_matrix(compile_policy(loaded), out)]:
            console.print(f"wrote {escape(str(path))}")
