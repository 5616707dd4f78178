"""`tietotie diff OLD NEW`: what a strategy change changes for the people whose data it is.

Exit status: 0 when nothing needs a data protection officer's sign-off, 1 when something does
(the review lists which, and so does the last line on standard error), 2 for bad input (a side
that cannot be read, or a NEW strategy with validation errors).
"""

from __future__ import annotations

import contextlib
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from governance.diff import compare
from governance.diff_input import DiffInputError, SideSource, open_side
from governance.diff_report import to_json, to_markdown
from schemas import LoadResult, Strategy, validate
from tietotie.settings import get_settings

__all__ = ["DiffFormat", "register"]

_SIDE_HELP = (
    "a strategy directory or file, or the strategy at PATH in git revision REV written "
    "REV:PATH (HEAD~1:strategy, main:strategy); PATH is from the repository root"
)


class DiffFormat(StrEnum):
    """How `diff` prints its review."""

    MARKDOWN = "markdown"
    JSON = "json"


def _load(side: SideSource, err: Console, *, notes: list[str]) -> Strategy:
    """The side's strategy; exit 2 when it cannot be read, or (NEW) does not validate."""
    result: LoadResult = validate(str(side.path))
    errors = [f for f in result.findings if f.severity == "error"]
    fatal = result.strategy is None or (side.side == "NEW" and errors)
    if fatal or result.strategy is None:
        for f in errors:
            err.print(
                f"{escape(side.shown(str(f.position)))}: error {f.rule} "
                f"{escape(side.shown(f.message))}"
            )
        what = "could not be read as a strategy" if result.strategy is None else "does not validate"
        err.print(
            f"{side.side} ({escape(side.label)}) {what}: {len(errors)} error(s); fix them first "
            "(`tietotie validate` explains each)"
        )
        raise typer.Exit(2)
    if errors:
        notes.append(
            f"{side.side} does not validate ({len(errors)} error(s)); it was compared as it is"
        )
    return result.strategy


def register(app: typer.Typer) -> None:
    """Add `diff` to the CLI."""

    @app.command("diff")
    def diff_command(
        old: Annotated[str, typer.Argument(help=f"OLD: {_SIDE_HELP}.", show_default=False)],
        new: Annotated[
            str | None,
            typer.Argument(
                help=f"NEW: {_SIDE_HELP}. Default: --strategy, TIETOTIE_STRATEGY or strategy/.",
                show_default=False,
            ),
        ] = None,
        output: Annotated[
            DiffFormat,
            typer.Option("--format", "-f", help="markdown (for a pull request) or json."),
        ] = DiffFormat.MARKDOWN,
        repo: Annotated[
            Path | None,
            typer.Option(
                "--repo",
                help="The git repository REV:PATH sides are read from (default: here).",
            ),
        ] = None,
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="Write the review to this file, not stdout."),
        ] = None,
        strategy: Annotated[
            Path | None,
            typer.Option("--strategy", "-s", help="NEW when no NEW argument is given."),
        ] = None,
    ) -> None:
        """Review a strategy change: fields collected or dropped, purposes and consent, recipients
        and transfers, retention, access, the notice version, RoPA rows, the database migration
        and the DPIA screening.

        Exit 0: nothing needs the DPO's sign-off; 1: something does; 2: bad input.
        """
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        if new is not None and strategy is not None:
            raise typer.BadParameter(
                f"got NEW {new} and --strategy {strategy}; give NEW once",
                param_hint="NEW / --strategy",
            )
        new_spec = new or str(strategy or get_settings().strategy)
        notes: list[str] = []
        try:
            with contextlib.ExitStack() as stack:
                old_side = stack.enter_context(open_side(old, side="OLD", repo=repo))
                new_side = stack.enter_context(open_side(new_spec, side="NEW", repo=repo))
                before = _load(old_side, err, notes=notes)
                after = _load(new_side, err, notes=notes)
                review = compare(before, after, old_label=old_side.label, new_label=new_side.label)
        except DiffInputError as exc:
            err.print(f"error: {escape(exc.message)}")
            raise typer.Exit(2) from None
        review.notes[:0] = notes
        text = to_json(review) if output is DiffFormat.JSON else to_markdown(review)
        if out is not None:
            try:
                out.write_text(text, encoding="utf-8")
            except OSError as exc:
                err.print(f"error: --out {escape(str(out))}: cannot write it ({exc.strerror})")
                raise typer.Exit(2) from None
        else:
            typer.echo(text, nl=False)
        signed = review.needs_sign_off
        if signed:
            err.print(
                f"{len(signed)} finding(s) need the DPO's sign-off: "
                + ", ".join(escape(c.id) for c in signed)
            )
            raise typer.Exit(1)
