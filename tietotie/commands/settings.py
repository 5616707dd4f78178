"""`tietotie settings`: which settings were read, from where, and which variables were not."""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

import typer
from pydantic import BaseModel, SecretStr

__all__ = ["environment_names", "register", "unknown_variables", "warn_unknown"]

_PREFIX = "TIETOTIE_"
_CLI_VARIABLES = {"TIETOTIE_TOKEN": "token"}
"""Variables only the command line reads, not the service: ``TIETOTIE_TOKEN``, the staff
token commands that read personal data or act on requests run with (like ``--token``)."""


def _walk(model: type[BaseModel], prefix: str) -> Iterator[tuple[str, str]]:
    """``(dotted setting, environment variable)`` for every field, nested ones included."""
    for name, info in model.model_fields.items():
        variable = f"{prefix}{name.upper()}"
        nested = info.annotation
        if _is_group(nested):
            assert isinstance(nested, type)
            yield name, variable  # the whole group as JSON
            for inner, inner_variable in _walk(nested, f"{variable}__"):
                yield f"{name}.{inner}", inner_variable
        else:
            yield name, variable


def _is_group(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def environment_names() -> dict[str, str]:
    """Every environment variable tietotie reads, mapped to its setting's dotted name (the
    command line's own variables included)."""
    from tietotie.settings import Settings

    return {variable: setting for setting, variable in _walk(Settings, _PREFIX)} | _CLI_VARIABLES


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """``TIETOTIE_*`` variables that name no setting, each with the nearest real one."""
    known = environment_names()
    environ = os.environ if environ is None else environ
    out: list[tuple[str, str | None]] = []
    for variable in sorted(environ):
        if variable.startswith(_PREFIX) and variable not in known and not _internal(variable):
            out.append((variable, _nearest(variable, list(known))))
    return out


def _nearest(variable: str, known: list[str]) -> str | None:
    """The real name meant: one the variable abbreviates (``TIETOTIE_ENV``), else the closest."""
    stem = variable.removeprefix(_PREFIX)
    if len(stem) >= 3:
        longer = sorted(k for k in known if k.removeprefix(_PREFIX).startswith(stem))
        if longer:
            return min(longer, key=len)
    near = difflib.get_close_matches(variable, known, n=1, cutoff=0.6)
    return near[0] if near else None


def _internal(variable: str) -> bool:
    # Read by the test suite and CI, not by the product.
    return variable in {"TIETOTIE_REQUIRE_SERVICES"}


def warn_unknown(environ: Mapping[str, str] | None = None) -> None:
    """Say on stderr which ``TIETOTIE_*`` variables were ignored, and what was meant."""
    for variable, near in unknown_variables(environ):
        hint = f"; did you mean {near}?" if near else "; `tietotie settings` lists them all"
        typer.echo(f"warning: {variable} is not a tietotie setting and was ignored{hint}", err=True)


def _shown(value: Any) -> str:
    if isinstance(value, SecretStr):
        return "(set, hidden)"
    if value is None:
        return "(unset)"
    return str(value)


def register(app: typer.Typer) -> None:
    """Add `settings` to the CLI."""

    @app.command("settings")
    def settings_command(
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Every setting, its environment variable, its value and where it came from.

        Secrets are shown only as set or unset, TIETOTIE_TOKEN (the staff token of commands
        that read personal data) among them. Variables starting with TIETOTIE_ that name no
        setting are listed too, with the nearest real name.
        """
        import json

        from rich.console import Console
        from rich.table import Table

        from tietotie.settings import get_settings

        settings = get_settings()
        rows = []
        groups = {n for n, i in type(settings).model_fields.items() if _is_group(i.annotation)}
        for setting, variable in _walk(type(settings), _PREFIX):
            if setting in groups:
                continue
            group, _, inner = setting.partition(".")
            value = getattr(getattr(settings, group), inner) if inner else getattr(settings, group)
            group_variable = f"{_PREFIX}{group.upper()}"
            from_env = variable in os.environ or bool(inner and group_variable in os.environ)
            rows.append(
                {
                    "setting": setting,
                    "variable": variable,
                    "value": _shown(value),
                    "from": "environment" if from_env else "default",
                }
            )
        for variable, setting in _CLI_VARIABLES.items():
            given = os.environ.get(variable)
            rows.append(
                {
                    "setting": setting,
                    "variable": variable,
                    "value": "(set, hidden)" if given else "(unset)",
                    "from": "environment" if given else "default",
                }
            )
        unknown = [{"variable": v, "did_you_mean": near} for v, near in unknown_variables()]
        if as_json:
            typer.echo(json.dumps({"settings": rows, "ignored": unknown}, indent=2))
            return
        table = Table(title="tietotie settings", show_lines=False)
        table.add_column("variable", no_wrap=True)
        table.add_column("value", overflow="fold")
        table.add_column("from", no_wrap=True)
        for row in rows:
            table.add_row(row["variable"], row["value"], row["from"])
        console = Console(width=max(110, Console().width))
        console.print(table)  # ignored variables were named on stderr by the root callback
