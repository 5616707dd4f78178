"""`tietotie import` (bulk ingest) and `tietotie demo seed` (synthetic customers)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from dsar.tables import database_metadata
from kernel.db import make_engine, session_factory
from kernel.errors import TietotieError
from records.imports import ImportRejected, import_file
from records.migrations import upgrade
from records.seed import seed
from records.store import RecordStore
from tietotie.commands.compile import load_valid_strategy
from tietotie.commands.strategy import StrategyOption, resolve_strategy
from tietotie.settings import get_settings

__all__ = ["register"]


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _import_progress(console: Console) -> Progress:
    """The share of the file read, and the rows written so far."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]:,} rows written"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def register(app: typer.Typer) -> None:
    """Add `import` and the `demo` group to the CLI."""

    @app.command("import")
    def import_command(
        file: Annotated[
            Path,
            typer.Argument(help="CSV or JSON Lines (.jsonl) file.", exists=True, dir_okay=False),
        ],
        entity: Annotated[str, typer.Option("--entity", "-e", help="Entity of the rows.")],
        source: Annotated[str, typer.Option("--source", help="Source id that collected them.")],
        skip_invalid: Annotated[
            bool,
            typer.Option(
                "--skip-invalid",
                help="Import the good rows; bad ones go to the reject file.",
            ),
        ] = False,
        reject_file: Annotated[
            Path | None,
            typer.Option("--reject-file", help="Where bad rows go (default FILE.rejects.EXT)."),
        ] = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Validate and write every row in one transaction: all of them, or nothing."""
        from tietotie.app import open_field_crypto  # the app module loads the web stack

        console = Console(highlight=False, soft_wrap=True)
        loaded = load_valid_strategy(resolve_strategy(None, strategy), console)
        settings = get_settings()
        engine = make_engine(settings.database_url)
        started = time.perf_counter()
        try:
            upgrade(engine, database_metadata(loaded))
            store = RecordStore(loaded, crypto=open_field_crypto(settings))
            with _import_progress(console) as bar:
                task = bar.add_task(f"importing {escape(file.name)}", total=None, rows=0)
                written = [0]

                def wrote(n: int) -> None:
                    written[0] += n
                    bar.update(task, rows=written[0])

                result = import_file(
                    session_factory(engine),
                    store,
                    file,
                    entity=entity,
                    source=source,
                    skip_invalid=skip_invalid,
                    reject_file=reject_file,
                    on_read=lambda done, size: bar.update(task, completed=done, total=size),
                    on_written=wrote,
                )
        except ImportRejected as exc:
            console.print(
                f"[red]refused[/red]: {len(exc.context.get('rows', []))} invalid "
                "row(s); nothing was imported"
            )
            for row in exc.context.get("rows", [])[:50]:
                console.print(f"  row {row['row']}: {escape(row['reason'])}")
            raise typer.Exit(1) from None
        except TietotieError as exc:
            console.print(f"[red]error[/red]: {escape(exc.message)}")
            raise typer.Exit(1) from None
        finally:
            engine.dispose()
        seconds = time.perf_counter() - started
        rate = result.rows / seconds if seconds else 0.0
        console.print(
            f"{result.rows} rows: {result.inserted} new, {result.merged} merged, "
            f"{result.rejected} rejected in {seconds:.1f} s ({rate:,.0f} rows/s)"
        )
        if result.reject_file is not None:
            console.print(f"rejected rows written to {escape(str(result.reject_file))}")

    demo = typer.Typer(help="Demo data.", no_args_is_help=True)
    app.add_typer(demo, name="demo")

    @demo.command("seed")
    def seed_command(
        customers: Annotated[
            int, typer.Option("--customers", "-n", min=1, help="How many subjects.")
        ],
        seed_value: Annotated[int, typer.Option("--seed", help="Random seed.")] = 1,
        strategy: StrategyOption = None,
    ) -> None:
        """Write synthetic customers with their vehicles, visits and tyre storage."""
        from tietotie.app import open_field_crypto  # the app module loads the web stack

        console = Console(highlight=False, soft_wrap=True)
        loaded = load_valid_strategy(resolve_strategy(None, strategy), console)
        settings = get_settings()
        engine = make_engine(settings.database_url)
        try:
            upgrade(engine, database_metadata(loaded))
            store = RecordStore(loaded, crypto=open_field_crypto(settings))
            with _progress(console) as bar:
                task = bar.add_task("seeding", total=customers)
                result = seed(
                    session_factory(engine),
                    store,
                    customers=customers,
                    seed_value=seed_value,
                    progress=lambda n: bar.advance(task, n),
                )
        except TietotieError as exc:
            console.print(f"[red]error[/red]: {escape(exc.message)}")
            raise typer.Exit(1) from None
        finally:
            engine.dispose()
        per_table = ", ".join(f"{n} {e}" for e, n in result.rows.items())
        console.print(
            f"seeded {per_table} in {result.seconds:.1f} s "
            f"({result.customers / result.seconds:,.0f} customers/s, "
            f"{result.total_rows / result.seconds:,.0f} rows/s)"
        )
        if result.held_before:
            console.print(
                f"the database held {result.held_before} {loaded.index.subject_entity} records "
                "already: the numbering continues after them, so no email or phone number repeats"
            )
