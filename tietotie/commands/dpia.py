"""`tietotie dpia`: the DPIA screening of every use (Art. 35, WP248 rev.01), as a table or JSON."""

from __future__ import annotations

import json
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from schemas import Strategy, validate
from schemas.dpia import CRITERIA, LISTED_CASES, MISSING, REVIEW_DUE, UseScreening, screen
from tietotie.commands.strategy import StrategyArgument, StrategyOption, resolve_strategy

__all__ = ["register"]


class ScreeningFormat(StrEnum):
    """How `dpia` prints the screening."""

    TABLE = "table"
    JSON = "json"


def _load(path: Path, console: Console) -> Strategy:
    """The strategy at ``path``; exit 2 when it cannot be read, a warning when it has errors."""
    result = validate(str(path))
    errors = [f for f in result.findings if f.severity == "error"]
    if result.strategy is None:
        for f in errors[:10]:
            console.print(
                f"{escape(str(f.position))}: [red]error[/red] {escape(f.message)}",
                highlight=False,
                soft_wrap=True,
            )
        console.print(
            f"{escape(str(path))} could not be read as a strategy; "
            "run `tietotie validate` for every finding",
            highlight=False,
        )
        raise typer.Exit(2)
    if errors:
        console.print(
            f"[yellow]warning[/yellow]: the strategy has {len(errors)} validation "
            f"error{'s' * (len(errors) != 1)}; `tietotie validate` lists them. "
            "Screening the uses as declared.",
            highlight=False,
        )
    return result.strategy


def _dpia_cell(s: UseScreening) -> str:
    if s.declared is None:
        return "[red]missing[/red]" if s.status == MISSING else "–"
    ref = escape(s.declared.ref)
    due = s.declared.review_by.isoformat()
    if s.status == REVIEW_DUE:
        colour = "red" if s.required else "yellow"
        return f"{ref}, [{colour}]review due since {due}[/{colour}]"
    return f"{ref}, review by {due}"


def _print_table(strategy: Strategy, screenings: list[UseScreening], console: Console) -> None:
    table = Table(title="DPIA screening", title_justify="left")
    for column in ("use", "criteria met", "verdict", "DPIA"):
        table.add_column(column, overflow="fold")  # ids are folded, never cut short
    for s in screenings:
        verdict = "[bold]required[/bold]" if s.required else "not required"
        table.add_row(escape(s.use), ", ".join(s.criteria) or "–", verdict, _dpia_cell(s))
    console.print(table)
    for s in screenings:
        if not s.criteria:
            continue
        console.print(f"[bold]{escape(s.use)}[/bold]", highlight=False)
        for criterion, reason in zip(s.criteria, s.reasons, strict=True):
            console.print(f"  {criterion}: {escape(reason)}", highlight=False, soft_wrap=True)
        if s.listed_case:
            what = LISTED_CASES[s.listed_case][1]
            console.print(
                f"  a case of Art. {s.listed_case}: {what}; the DPIA is mandatory",
                highlight=False,
                soft_wrap=True,
            )
        if s.declared is not None:
            console.print(
                f"  DPIA {escape(s.declared.ref)} of {s.declared.done_on.isoformat()}: "
                f"{escape(s.declared.outcome)}",
                highlight=False,
                soft_wrap=True,
            )
    required = sum(s.required for s in screenings)
    problems = sum(s.problem is not None for s in screenings)
    declared = sum(s.declared is not None for s in screenings)
    console.print(
        f"{len(screenings)} use{'s' * (len(screenings) != 1)} screened: {required} need a DPIA, "
        f"{problems} of them without one in date; {declared} DPIA{'s' * (declared != 1)} "
        "declared. A DPIA is required at two or more of the nine WP248 criteria; large scale "
        f"is a main source of {strategy.controller.large_scale_records_per_year} records a "
        "year or more (controller.large_scale_records_per_year).",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add `dpia` to the CLI."""

    @app.command("dpia")
    def dpia_command(
        directory: StrategyArgument = None,
        strategy: StrategyOption = None,
        output: Annotated[
            ScreeningFormat,
            typer.Option("--format", "-f", help="table for people, json for tools."),
        ] = ScreeningFormat.TABLE,
        on: Annotated[
            str | None,
            typer.Option(
                "--on",
                help="Screen as of this date (YYYY-MM-DD), e.g. to see which reviews fall due "
                "by then; default today.",
                show_default=False,
            ),
        ] = None,
    ) -> None:
        """The DPIA screening (Art. 35): each use against the nine WP248 criteria.

        Shows the criteria each use meets, whether it needs a data protection impact
        assessment (two criteria or more), and whether the DPIA it declares is missing or due
        for review. Exits 0 when the screening is shown, 2 when the strategy cannot be read;
        `tietotie validate --strict` is the check that fails on a missing DPIA.
        """
        try:
            today = date.fromisoformat(on) if on is not None else date.today()
        except ValueError:
            raise typer.BadParameter(
                f"{on!r} is not a date: write it as YYYY-MM-DD, e.g. 2027-01-31",
                param_hint="--on",
            ) from None
        path = resolve_strategy(directory, strategy)
        loaded = _load(path, Console(highlight=False, soft_wrap=True, stderr=True))
        screenings = screen(loaded, today=today)
        if output is ScreeningFormat.JSON:
            body = {
                "strategy": str(path),
                "on": today.isoformat(),
                "large_scale_records_per_year": loaded.controller.large_scale_records_per_year,
                "criteria": [
                    {"id": c.id, "number": c.number, "title": c.title, "shown_by": c.shown_by}
                    for c in CRITERIA
                ],
                "uses": [s.to_dict() for s in screenings],
            }
            typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
            return
        _print_table(loaded, screenings, Console(highlight=False, soft_wrap=True))
