"""`tietotie pseudonymise FILE`: replace columns of a CSV, JSON Lines or Parquet file by tokens.

Every run is one ``pseudonymise.file`` entry in the service's audit log: the domain, the
columns and their modes, the row count, the key version and the output's SHA-256, never a
value or a file name. Without a service database the run is refused in production and, in
development and tests, done with a warning that it is not audited.
"""

from __future__ import annotations

import getpass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

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
from kernel.errors import RecordError, TietotieError
from kernel.pseudonymisation import (
    DEFAULT_CHUNK_ROWS,
    FileFormat,
    parse_field_spec,
    pseudonymise_file,
)
from kernel.pseudonymisation import Progress as FileProgress
from tietotie.keys import open_keyring
from tietotie.settings import Environment, Settings, get_settings

if TYPE_CHECKING:  # the database and the audit log load only when the command runs
    from sqlalchemy import Engine

    from audit import AuditLog
    from kernel.keys import Keyring
    from kernel.pseudonymisation import PseudonymisedFile

__all__ = ["pseudonymise", "register"]

_AUDIT_KEY_PURPOSE = "audit-log"
"""``tietotie.wiring.AUDIT_KEY_PURPOSE``, spelled out: importing the wiring would load the
whole service (the request desk, mail, holidays) for one string; a test keeps them equal."""


class RunEngine(StrEnum):
    """Where the run happens."""

    LOCAL = "local"
    """This process, one streaming pass per file."""
    SPARK = "spark"
    """Apache Spark, for a folder of CSV or Parquet files (the optional spark extra)."""


def register(app: typer.Typer) -> None:
    """Add the ``pseudonymise`` command to ``app``."""
    app.command("pseudonymise")(pseudonymise)


def _fail(exc: TietotieError | OSError) -> NoReturn:
    message = exc.message if isinstance(exc, TietotieError) else f"{exc.strerror}: {exc.filename}"
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


def _audit_log(settings: Settings, keyring: Keyring) -> tuple[Engine, AuditLog] | str:
    """The service's audit log over its database, or why it cannot be written (no side effects:
    a SQLite file that is not there is not created)."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from audit import AuditHead, AuditLog
    from kernel.db import make_engine, reachable

    try:
        url = make_url(settings.database_url)
    except ArgumentError:
        return f"TIETOTIE_DATABASE_URL {settings.database_url!r} is not a database URL"
    database = url.database or ""
    if url.get_backend_name() == "sqlite" and (
        database in {"", ":memory:"} or not Path(database).expanduser().exists()
    ):
        return f"there is no service database at {database or 'memory'}"
    shown = url.render_as_string(hide_password=True)
    try:
        engine = make_engine(settings.database_url)
    except TietotieError as exc:
        return exc.message
    try:
        with reachable(engine), engine.connect() as connection:
            head = connection.execute(select(AuditHead.seq)).first()
    except (TietotieError, SQLAlchemyError) as exc:
        engine.dispose()
        reason = exc.message if isinstance(exc, TietotieError) else "it has no audit log tables"
        return f"the audit log of {shown} cannot be read: {reason}"
    if head is None:
        engine.dispose()
        return f"the audit log of {shown} has no head row"
    return engine, AuditLog(keyring.derive(_AUDIT_KEY_PURPOSE, version=1))


def _actor() -> str:
    """Who ran the command: the operating-system account (staff, not a data subject)."""
    try:
        return f"cli:{getpass.getuser()}"[:80]
    except (KeyError, OSError):
        return "cli"


def _audit_run(engine: Engine, log: AuditLog, result: PseudonymisedFile) -> int:
    """Append the run's entry (counts and names of columns, never values); its number."""
    from audit import AuditEvent
    from kernel.db import transaction

    try:
        with transaction(engine) as session:
            log.append(
                session,
                AuditEvent(
                    actor=_actor(),
                    action="pseudonymise.file",
                    details={
                        "domain": result.domain,
                        "format": str(result.format),
                        "rows": result.rows,
                        "fields": sorted(f"{n}:{how}" for n, how in result.fields.items()),
                        "key_version": result.key_version,
                        "output_sha256": result.sha256,
                    },
                ),
            )
            seq = log.flush(session)
            assert seq is not None  # the entry just appended
            return seq
    finally:
        engine.dispose()


def pseudonymise(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True,
            readable=True,
            help="CSV, JSON Lines or Parquet file; with --engine spark also a folder of CSV or "
            "Parquet files.",
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
        Path,
        typer.Option(
            "--out",
            "-o",
            dir_okay=False,
            help="Where to write the result (with --engine spark: a new folder).",
        ),
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
    engine: Annotated[
        RunEngine,
        typer.Option(
            "--engine",
            help="local: this process; spark: Apache Spark in local mode, all cores "
            "(pip install -e '.[spark]', and Java).",
        ),
    ] = RunEngine.LOCAL,
) -> None:
    """Pseudonymise FILE into --out in one streaming pass, with tokens of one domain.

    The run is audited in the service's database (TIETOTIE_DATABASE_URL): domain, columns,
    rows and the output's SHA-256. Without that database it is refused in production.
    """
    err = Console(stderr=True, highlight=False)
    try:
        if engine is RunEngine.LOCAL and file.is_dir():
            raise RecordError(
                f"{file} is a folder: name one file, or pseudonymise the folder's CSV or "
                "Parquet files with --engine spark",
                file=str(file),
            )
        plan = parse_field_spec(fields, default=mode)
        if engine is RunEngine.SPARK:
            from kernel.spark_session import check_spark

            check_spark()  # before the keyring and the database: say what to install first
        settings = get_settings()
        keyring = open_keyring(settings)
        pseudonymiser = Pseudonymiser(keyring)
        target = _audit_log(settings, keyring)
        if isinstance(target, str):
            if settings.environment is Environment.PRODUCTION:
                typer.secho(
                    f"error: {target}, so this run could not be audited: start the service "
                    "once or run `tietotie db upgrade`, with TIETOTIE_DATABASE_URL pointing at "
                    "the service's database",
                    err=True,
                    fg=typer.colors.RED,
                )
                raise typer.Exit(code=1)
            err.print(
                f"warning: this run is not audited: {target} (start the service once or run "
                "`tietotie db upgrade`; production refuses to run unaudited)",
                markup=False,
            )
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

            if engine is RunEngine.SPARK:
                from kernel.spark_pseudonymisation import pseudonymise_dataset

                bar.update(task, description=f"pseudonymising {file.name} on Spark")
                result = pseudonymise_dataset(
                    file,
                    out,
                    domain=domain,
                    fields=plan,
                    pseudonymiser=pseudonymiser,
                    file_format=file_format,
                    batch_rows=chunk_rows,
                )
            else:
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
    audited = ""
    if not isinstance(target, str):
        from sqlalchemy.exc import SQLAlchemyError

        try:
            audited = f" Audit entry {_audit_run(*target, result)}."
        except (SQLAlchemyError, OSError) as exc:
            typer.secho(
                f"error: {result.destination} was written, but its audit entry failed: "
                f"{str(exc).splitlines()[0]}. Delete the file, or run again once the database "
                "is writable",
                err=True,
                fg=typer.colors.RED,
            )
            raise typer.Exit(code=1) from None
    Console(highlight=False).print(
        f"Pseudonymised {result.rows:,} rows of {result.source} into {result.destination}: "
        f"{described}; domain {result.domain}, key version {result.key_version}.{audited}",
        markup=False,
        soft_wrap=True,
    )
