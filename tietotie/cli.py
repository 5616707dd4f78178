"""The ``tietotie`` command line: one typer app, with each command group in ``tietotie.commands``."""

from __future__ import annotations

import importlib

import typer

__all__ = ["app", "main"]

app = typer.Typer(
    name="tietotie",
    help="Customer-data strategy and GDPR governance: declare, validate, enforce, prove.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Each module exposes ``register(app)``; adding a command group is one line here.
_COMMAND_MODULES = (
    "tietotie.commands.strategy",
)


def _register_commands() -> None:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main() -> None:
    """Entry point of the console script."""
    _register_commands()
    app()
