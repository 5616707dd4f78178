"""`tietotie pseudonymise FILE`: replace columns of a CSV, JSON Lines or Parquet file by tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from kernel.crypto import Pseudonymiser, TokenMode
from kernel.errors import TietotieError
from kernel.pseudonymisation import (
    DEFAULT_CHUNK_ROWS,
    FileFormat,
    parse_field_spec,
    pseudonymise_file,
)
from kernel.pseudonymisation import Progress as FileProgress
from tietotie.keys import open_keyring
from tietotie.settings import get_settings

__all__ = ["pseudonymise", "register"]


def register(app: typer.Typer) -> None:
    """Add the ``pseudonymise`` command to ``app``."""
    app.command("pseudonymise")(pseudonymise)


def _fail(exc: TietotieError | OSError) -> NoReturn:
    message = exc.message if isinstance(exc, TietotieError) else f"{exc.strerror}: {exc.filename}"
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


def pseudonymise(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="CSV, JSON Lines or Parquet file."
        ),
    ],
    domain: Annotated[
        str,
        typer.Option(
            "--domain", "-d", help="Pseudonymisation domain, e.g. reporting or marketing-export."
        ),
    ],
    fields: Annotated[
        str,
        typer.Option(
            "--fields",
            "-f",
            help="Comma-separated columns to replace; 'name:encrypt' or 'name:hmac' overrides "
            "--mode for one column, e.g. email,plate:encrypt.",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", dir_okay=False, help="Where to write the result.")
    ],
    mode: Annotated[
        TokenMode,
        typer.Option(
            "--mode",
            help="hmac: one-way tokens that still join; encrypt: reversible tokens (AES-SIV).",
        ),
    ] = TokenMode.HMAC,
    file_format: Annotated[
        FileFormat | None,
        typer.Option("--format", help="File format, when the suffix does not tell it."),
    ] = None,
    chunk_rows: Annotated[
        int, typer.Option("--chunk-rows", min=1, help="Rows held in memory at a time.")
    ] = DEFAULT_CHUNK_ROWS,
) -> None:
    """Pseudonymise FILE into --out in one streaming pass, with tokens of one domain."""
    err = Console(stderr=True, highlight=False)
    try:
        plan = parse_field_spec(fields, default=mode)
        pseudonymiser = Pseudonymiser(open_keyring(get_settings()))
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[rows]:,} rows"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=err,
        ) as bar:
            task = bar.add_task(f"pseudonymising {file.name}", total=None, rows=0)

            def on_progress(step: FileProgress) -> None:
                bar.update(task, completed=step.bytes_read, total=step.total_bytes, rows=step.rows)

            result = pseudonymise_file(
                file,
                out,
                domain=domain,
                fields=plan,
                pseudonymiser=pseudonymiser,
                file_format=file_format,
                chunk_rows=chunk_rows,
                progress=on_progress,
            )
    except (TietotieError, OSError) as exc:
        _fail(exc)
    described = ", ".join(f"{name} ({how})" for name, how in result.fields.items())
    Console(highlight=False).print(
        f"Pseudonymised {result.rows:,} rows of {result.source} into {result.destination}: "
        f"{described}; domain {result.domain}, key version {result.key_version}.",
        markup=False,
        soft_wrap=True,
    )
