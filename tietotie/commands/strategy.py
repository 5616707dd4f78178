"""`tietotie validate`: check the strategy and tell the process owner what to fix."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from schemas import Finding, LoadResult, Severity, Strategy, validate

__all__ = ["DEFAULT_STRATEGY", "register", "resolve_strategy", "summary"]

DEFAULT_STRATEGY = Path("strategy")
"""The ``strategy`` setting when no ``TIETOTIE_*`` variable is set (the default of
:class:`tietotie.settings.Settings`; a test holds the two together)."""

RULES_PAGE = "docs/guides/validation-rules.md"
"""Where each rule has its section, in the repository and on the site (tietotie.docsite.rules
writes it; importing that here would load the whole docs site on every validate)."""

StrategyOption = Annotated[
    Path | None,
    typer.Option(
        "--strategy",
        "-s",
        help="Strategy directory or file (default: strategy/, or TIETOTIE_STRATEGY).",
    ),
]
StrategyArgument = Annotated[
    Path | None,
    typer.Argument(help="Strategy directory or file; same as --strategy.", show_default=False),
]


class OutputFormat(StrEnum):
    """How `validate` prints its findings."""

    TEXT = "text"
    JSON = "json"


def resolve_strategy(positional: Path | None, option: Path | None) -> Path:
    """The strategy path from a positional DIR, ``--strategy``, or the settings, in that order."""
    if positional is not None and option is not None and positional != option:
        raise typer.BadParameter(
            f"got {positional} and --strategy {option}; give the strategy once",
            param_hint="DIR / --strategy",
        )
    given = positional or option
    if given is not None:
        return given
    if not any(name.upper().startswith("TIETOTIE_") for name in os.environ):
        # nothing to read: the setting is its default, known without importing
        # pydantic-settings (which takes longer to import than validate takes to run)
        return DEFAULT_STRATEGY
    from tietotie.settings import get_settings

    return get_settings().strategy


def summary(strategy: Strategy) -> dict[str, int]:
    """How much the strategy declares, step by step."""
    return {
        "goals": len(strategy.goals),
        "uses": len(strategy.uses),
        "questions": len(strategy.questions),
        "sources": len(strategy.sources),
        "entities": len(strategy.system.entities),
        "fields": sum(len(e.fields) for e in strategy.system.entities.values()),
        "reports": len(strategy.reports),
        "activations": len(strategy.activations),
    }


_STEP_ORDER = [
    "organisation",
    "goal",
    "use",
    "questions",
    "sources",
    "system",
    "reporting",
    "activation",
]
_STEP_TITLE = {step: f"{i}. {step}" if i else step for i, step in enumerate(_STEP_ORDER)}


def _colour() -> bool | None:
    """Whether to colour the text: as the terminal allows, unless NO_COLOR or FORCE_COLOR says."""
    if os.environ.get("NO_COLOR"):
        return False
    return True if os.environ.get("FORCE_COLOR") else None


def _print_text(result: LoadResult, path: Path) -> None:
    # click's styling, not rich: rich would add a fifth to validate's running time
    colour = _colour()

    def out(line: str) -> None:
        typer.echo(line, color=colour)

    by_step: dict[str, list[Finding]] = {}
    for f in result.findings:
        by_step.setdefault(f.step, []).append(f)
    for step in sorted(by_step, key=_STEP_ORDER.index):
        out(typer.style(f"── {_STEP_TITLE[step]} ──", bold=True))
        for f in by_step[step]:
            severity = typer.style(f.severity, fg="red" if f.severity == "error" else "yellow")
            rule = typer.style(f.rule, bold=True)
            out(f"{f.position}: {severity} {rule} {f.message}")
            out(typer.style(f"    hint: {f.hint} (see {RULES_PAGE}#{f.rule})", dim=True))
    errors = sum(f.severity == "error" for f in result.findings)
    warnings = len(result.findings) - errors
    verdict = f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
    explained = sum(f.explains for f in result.findings)
    if explained:
        verdict += f" (and {explained} that follow from them, not shown)"
    if result.strategy is not None:
        counts = ", ".join(f"{n} {k}" for k, n in summary(result.strategy).items())
        out(f"{path}: {counts}; {verdict}")
    else:
        out(f"{path}: could not be read as a strategy; {verdict}")


def register(app: typer.Typer) -> None:
    """Add `validate` to the CLI."""

    @app.command("validate")
    def validate_command(
        directory: StrategyArgument = None,
        strategy: StrategyOption = None,
        output: Annotated[
            OutputFormat, typer.Option("--format", "-f", help="text for people, json for tools.")
        ] = OutputFormat.TEXT,
        strict: Annotated[
            bool,
            typer.Option("--strict", help="Treat warnings as errors, for CI: any finding exits 1."),
        ] = False,
    ) -> None:
        """Check the strategy: every finding with file:line:col, rule id and what to do.

        Exits 0 when clean (warnings allowed; with --strict, none), 1 on errors, 2 on usage
        errors.
        """
        path = resolve_strategy(directory, strategy)
        result = validate(str(path))
        if strict:
            result.findings[:] = [replace(f, severity=Severity.ERROR) for f in result.findings]
        if output is OutputFormat.JSON:
            body = {
                "strategy": str(path),
                "ok": result.ok,
                "summary": summary(result.strategy) if result.strategy else None,
                "findings": [f.to_dict() for f in result.findings],
            }
            typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        else:
            _print_text(result, path)
        raise typer.Exit(0 if result.ok else 1)
