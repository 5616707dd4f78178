"""The ``tietotie`` command line: one typer app; command groups live in ``tietotie.commands``."""

from __future__ import annotations

import importlib
import os

import typer

__all__ = ["app", "get_app", "main"]

app = typer.Typer(
    name="tietotie",
    help="Customer-data strategy and GDPR governance: declare, validate, enforce, prove.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(context: typer.Context) -> None:
    """Customer-data strategy and GDPR governance: declare, validate, enforce, prove."""
    if any(name.startswith("TIETOTIE_") for name in os.environ):
        from tietotie.commands.settings import warn_unknown

        warn_unknown()  # a misspelt variable would otherwise be ignored without a word
    from tietotie.commands.service import close_opened

    context.call_on_close(close_opened)  # a command's database connections end with it


# Each module exposes ``register(app)``; adding a command group is one line here.
_COMMAND_MODULES = (
    "tietotie.commands.strategy",
    "tietotie.commands.dpia",
    "tietotie.commands.breach",
    "tietotie.commands.policy",
    "tietotie.commands.compile",
    "tietotie.commands.db",
    "tietotie.commands.token",
    "tietotie.commands.serve",
    "tietotie.commands.records",
    "tietotie.commands.keys",
    "tietotie.commands.pseudonymise",
    "tietotie.commands.docs",
    "tietotie.commands.consent",
    "tietotie.commands.service",
    "tietotie.commands.subject_requests",
    "tietotie.commands.activation",
    "tietotie.commands.settings",
    "tietotie.commands.diff",
)


_registered: list[bool] = []


def get_app() -> typer.Typer:
    """The app with every command group registered (once)."""
    if not _registered:
        for name in _COMMAND_MODULES:
            importlib.import_module(name).register(app)
        _registered.append(True)
    return app


def main() -> None:
    """Entry point of the console script."""
    get_app()()
