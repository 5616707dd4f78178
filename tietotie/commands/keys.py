"""`tietotie keys init|rotate|status|generate`: the master key and the data keys it wraps."""

from __future__ import annotations

from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from kernel.errors import KeyConfigError, TietotieError
from kernel.keys import Keyring, generate_master_key, write_master_key_file
from tietotie.keys import keyring_path, master_key, open_keyring
from tietotie.settings import get_settings

__all__ = ["register"]

keys_app = typer.Typer(
    name="keys",
    help="The master key and versioned data keys (keys in use are never shown).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    """Add the ``keys`` command group to ``app``."""
    app.add_typer(keys_app, name="keys")


def _fail(exc: TietotieError | OSError) -> NoReturn:
    message = exc.message if isinstance(exc, TietotieError) else f"{exc.strerror}: {exc.filename}"
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(code=1)


@keys_app.command("init")
def init(
    generate_master_key: Annotated[
        bool,
        typer.Option(
            "--generate-master-key",
            help="First write a fresh master key to the key file (TIETOTIE_KEY_FILE), mode "
            "600; refuses to overwrite an existing one.",
        ),
    ] = False,
) -> None:
    """Create the keyring with data key version 1."""
    settings = get_settings()
    out = Console(highlight=False)
    try:
        if generate_master_key:
            if settings.master_key is not None:
                raise KeyConfigError(
                    "TIETOTIE_MASTER_KEY is set, so a key file would not be used; unset it "
                    "or leave out --generate-master-key"
                )
            created = write_master_key_file(settings.key_file)
            out.print(
                f"Wrote a new master key to {created.source} (mode 600, check value "
                f"{created.check_value}). Back it up apart from the data: without it the "
                "keyring cannot be opened.",
                markup=False,
            )
        master = master_key(settings)
        keyring = Keyring.create(keyring_path(settings), master)
    except (TietotieError, OSError) as exc:
        _fail(exc)
    out.print(
        f"Created keyring {keyring.path} with data key version 1 "
        f"(master key from {master.source}, check value {master.check_value}).",
        markup=False,
    )


@keys_app.command("generate")
def generate() -> None:
    """Print a fresh random master key (32 bytes, base64) for TIETOTIE_MASTER_KEY; saves nothing.

    Only the key goes to standard output, so `export TIETOTIE_MASTER_KEY=$(tietotie keys
    generate)` or a secret store's import works. Keep it apart from the data: without it the
    keyring cannot be opened.
    """
    typer.echo(generate_master_key())


@keys_app.command("rotate")
def rotate() -> None:
    """Add a data key version and make it current; earlier versions keep working."""
    try:
        keyring = open_keyring(get_settings())
        version = keyring.rotate()
    except (TietotieError, OSError) as exc:
        _fail(exc)
    earlier = "version 1" if version == 2 else f"versions 1–{version - 1}"
    Console(highlight=False).print(
        f"Data key version {version} is now current in {keyring.path}; "
        f"{earlier} still verify and decrypt their tokens.",
        markup=False,
    )


@keys_app.command("status")
def status() -> None:
    """Show where the keys come from and the data key versions, never the keys."""
    settings = get_settings()
    try:
        keyring = open_keyring(settings)
    except (TietotieError, OSError) as exc:
        _fail(exc)
    out = Console(highlight=False)
    out.print(f"environment:  {settings.environment}", markup=False)
    out.print(f"master key:   {keyring.master.source}", markup=False)
    out.print(f"check value:  {keyring.master.check_value}", markup=False)
    out.print(f"keyring:      {keyring.path}", markup=False)
    table = Table("version", "created (UTC)", "current")
    for entry in keyring.versions:
        table.add_row(
            str(entry.version),
            entry.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            "current" if entry.current else "",
        )
    out.print(table)
