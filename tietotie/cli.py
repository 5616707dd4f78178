"""The ``tietotie`` command line: one typer app; command groups live in ``tietotie.commands``.

A command's module is imported only when the command line names it, so `tietotie validate`
loads the strategy schemas and not the web stack, the database or the docs site. The root
``--help`` lists every command from the table below without importing any of them.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import os
from difflib import get_close_matches
from typing import NamedTuple

import typer
from typer import _click as click  # typer carries its own click; its groups are built on it
from typer._click.exceptions import UsageError
from typer.core import TyperCommand, TyperGroup

__all__ = ["app", "get_app", "lazy_app", "main"]

_HELP = "Customer-data strategy and GDPR governance: declare, validate, enforce, prove."


class _Entry(NamedTuple):
    module: str
    """The module under ``tietotie.commands`` whose ``register(app)`` adds the command."""
    help: str
    """The first paragraph of the command's help, as the root ``--help`` lists it."""


# Every top-level command and group, in the order the root --help lists them. A module may add
# several (records: import and demo). Adding a command is one line here and its module's
# register(); tests/test_cli_startup.py checks this table against what the modules register.
_COMMANDS: dict[str, _Entry] = {
    "validate": _Entry(
        "strategy", "Check the strategy: every finding with file:line:col, rule id and what to do."
    ),
    "dpia": _Entry(
        "dpia", "The DPIA screening (Art. 35): each use against the nine WP248 criteria."
    ),
    "compile": _Entry(
        "compile",
        "Write JSON Schema 2020-12 per entity and the RoPA (Art. 30) as JSON and CSV.",
    ),
    "serve": _Entry(
        "serve",
        "Serve the API (GET /health, /docs, /v1/...); refuses to start on strategy errors.",
    ),
    "import": _Entry(
        "records", "Validate and write every row in one transaction: all of them, or nothing."
    ),
    "pseudonymise": _Entry(
        "pseudonymise",
        "Pseudonymise FILE into --out in one streaming pass, with tokens of one domain.",
    ),
    "settings": _Entry(
        "settings", "Every setting, its environment variable, its value and where it came from."
    ),
    "diff": _Entry(
        "diff",
        # the command's docstring wraps its first paragraph, and typer keeps those line breaks
        "Review a strategy change: fields collected or dropped, purposes and consent, "
        "recipients\nand transfers, retention, access, the notice version, RoPA rows, the "
        "database migration\nand the DPIA screening.",
    ),
    "breach": _Entry(
        "breach", "The breach register (Art. 33-34): record, update, notify, read (duty audit)."
    ),
    "policy": _Entry(
        "policy", "The access policy: run auditors' checks, export the access matrix."
    ),
    "db": _Entry("db", "The system-of-record database."),
    "token": _Entry("token", "Personal staff bearer tokens."),
    "demo": _Entry("records", "Demo data."),
    "keys": _Entry("keys", "The master key and versioned data keys (keys in use are never shown)."),
    "docs": _Entry(
        "docs",
        "The staff docs site: what data we keep, why, where from, how long, who may see it.",
    ),
    "consent": _Entry(
        "consent",
        "The consent ledger: verify signed receipts (Kantara v1.1, Ed25519 JWS) and check "
        "the current-state table against it.",
    ),
    "audit": _Entry("service", "The hash-chained audit log."),
    "retention": _Entry("service", "Retention of records (Art. 5(1)(e))."),
    "dsar": _Entry("subject_requests", "Data-subject requests: the desk's work from a shell."),
    "activation": _Entry("activation", "Campaign audiences (7-activation.yaml)."),
    "report": _Entry("activation", "Reports (6-reporting.yaml)."),
}


def _commands_of(module: str) -> dict[str, click.Command]:
    """The commands ``tietotie.commands.<module>`` registers, built as the full app builds them."""
    holder = typer.Typer()
    importlib.import_module(f"tietotie.commands.{module}").register(holder)
    return dict(typer.main.get_group(holder).commands)


class _LazyGroup(TyperGroup):
    """The root group: a command's module is imported the first time the command is looked up.

    While the root help is being written, commands not yet imported are listed from
    ``_COMMANDS`` instead, so ``tietotie --help`` imports none of them.
    """

    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*_COMMANDS, *(name for name in self.commands if name not in _COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _COMMANDS.get(cmd_name)
        if cmd_name not in self.commands and entry is not None:
            if self._listing:
                return TyperCommand(name=cmd_name, help=entry.help)
            for name, command in _commands_of(entry.module).items():
                self.commands.setdefault(name, command)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except UsageError as exc:
            # typer suggests from the commands imported so far; suggest from all of them
            if args and "Did you mean" not in exc.message:
                near = get_close_matches(args[0], self.list_commands(ctx))
                if near:
                    names = ", ".join(repr(name) for name in near)
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {names}?"
            raise

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


def _root(context: typer.Context) -> None:
    """Customer-data strategy and GDPR governance: declare, validate, enforce, prove."""
    if any(name.startswith("TIETOTIE_") for name in os.environ):
        from tietotie.commands.settings import warn_unknown

        warn_unknown()  # a misspelt variable would otherwise be ignored without a word
    from tietotie.commands.opened import close_opened

    context.call_on_close(close_opened)  # a command's database connections end with it


def lazy_app() -> typer.Typer:
    """A root app with no command imported yet: each loads when the command line names it."""
    root = typer.Typer(
        name="tietotie",
        help=_HELP,
        cls=_LazyGroup,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.callback()(_root)
    return root


app = lazy_app()

_registered: list[bool] = []


def get_app() -> typer.Typer:
    """The app with every command group registered (once), as tests and tools inspect it."""
    if not _registered:
        for module in dict.fromkeys(entry.module for entry in _COMMANDS.values()):
            importlib.import_module(f"tietotie.commands.{module}").register(app)
        _registered.append(True)
    return app


def main() -> None:
    """Entry point of the console script: only the named command's module is imported.

    At exit the interpreter's last garbage collections walk every object the command loaded
    (the strategy's models, SQLAlchemy, pyarrow): 0.2-0.4 s of a short command, measured.
    Commands close their files and databases in ``with`` blocks before they return, so those
    collections are skipped (``gc.freeze``); the objects are freed with the process.
    """
    atexit.register(gc.freeze)
    lazy_app()()
