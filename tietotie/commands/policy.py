"""`tietotie policy check|matrix`: auditors' Gherkin checks and the access matrix."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from access_policy import MatrixFormat, Policy, compile_policy, export_matrix
from schemas import validate
from tietotie.commands.strategy import StrategyOption, resolve_strategy

if TYPE_CHECKING:  # the runner imports pytest: loaded only when `policy check` runs
    from access_policy.runner import CheckReport, ScenarioResult

__all__ = ["load_policy", "print_coverage", "print_report", "register"]

_VOCABULARY = """Steps (also in a Scenario Outline with an Examples table):
  Given the role "R"
  When it reads "entity.field" for "use"
  When it writes "entity.field" for "use"
  Then access is allowed | masked | denied
  Then it holds the purpose "use"
  Then it does not hold the purpose "use"
  Then its rows for "use" are limited to "entity.field" eq "value"
  Then its rows for "use" are not limited
"""


def load_policy(path: Path, console: Console) -> Policy:
    """Compile the policy of the strategy at ``path``; exit 2 when it cannot be read."""
    result = validate(str(path))
    if result.strategy is None:
        shown = [f for f in result.findings if f.severity == "error"][:10]
        for f in shown:
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
    errors = sum(f.severity == "error" for f in result.findings)
    if errors:
        console.print(
            f"[yellow]warning[/yellow]: the strategy has {errors} validation "
            f"error{'s' * (errors != 1)}; `tietotie validate` lists them. "
            "Checking the policy as declared.",
            highlight=False,
        )
    return compile_policy(result.strategy)


def _location(result: ScenarioResult) -> str:
    try:
        shown = Path(result.file).resolve().relative_to(Path.cwd())
    except ValueError:
        shown = Path(result.file)
    return f"{shown}:{result.line}"


def print_report(report: CheckReport, console: Console) -> None:
    """Each scenario's verdict in plain words, grouped by feature and rule, then a summary."""
    feature = rule = None
    for result in report.results:
        if result.feature != feature:
            feature, rule = result.feature, None
            console.print(f"[bold]Feature: {escape(result.feature)}[/bold]", highlight=False)
        if result.rule != rule:
            rule = result.rule
            if rule:
                console.print(f"  [bold]Rule: {escape(rule)}[/bold]", highlight=False)
        indent = "    " if rule else "  "
        if result.passed:
            console.print(
                f"{indent}[green]✓[/green] {escape(result.title)}", highlight=False, soft_wrap=True
            )
        else:
            console.print(
                f"{indent}[red]✗[/red] {escape(result.title)}: "
                f"{escape(result.message or 'failed')}",
                highlight=False,
                soft_wrap=True,
            )
            at = _location(result)
            if result.step:
                at += f", step '{result.step}'" + (
                    f" (line {result.step_line})" if result.step_line else ""
                )
            console.print(f"{indent}  at {escape(at)}", style="dim", highlight=False)
    for problem in report.problems:
        console.print(f"[red]cannot run[/red]: {escape(problem)}", highlight=False, soft_wrap=True)
    total = len(report.results)
    verdict = (
        f"{total} scenario{'s' * (total != 1)}: {report.passed} passed, {report.failed} failed"
    )
    if report.problems:
        verdict = "nothing was checked: fix the feature files above"
    colour = "green" if report.ok else "red"
    console.print(f"[{colour}]{verdict}[/{colour}]", highlight=False)
    if report.junit is not None:
        console.print(f"JUnit XML written to {escape(str(report.junit))}", highlight=False)


def print_coverage(report: CheckReport, policy: Policy, console: Console) -> None:
    """A table of the role × field cells no scenario touched, granted cells first."""
    table = Table(title="Role × field cells no scenario touched", title_justify="left")
    table.add_column("role")
    table.add_column("touched", justify="right")
    table.add_column("untouched", justify="right")
    table.add_column("untouched cells the policy grants (read, masked or write)")
    total = len(policy.fields)
    for role, fields in report.untouched(policy).items():
        granted = policy.granted_fields(role)
        risky = [f for f in fields if f in granted]
        table.add_row(
            role, f"{total - len(fields)}/{total}", str(len(fields)), ", ".join(risky) or "–"
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add `policy check` and `policy matrix` to the CLI."""
    policy_app = typer.Typer(
        help="The access policy: run auditors' checks, export the access matrix.",
        no_args_is_help=True,
    )
    app.add_typer(policy_app, name="policy")

    @policy_app.command(
        "check",
        epilog=_VOCABULARY.replace("\n", "\n\n"),
    )
    def check_command(
        features: Annotated[
            list[Path],
            typer.Argument(
                help="Feature files written in the auditors' steps.",
                metavar="FEATURE",
                show_default=False,
            ),
        ],
        strategy: StrategyOption = None,
        junit: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML here.")] = None,
    ) -> None:
        """Run auditors' Gherkin checks against the access policy of the strategy.

        Prints each scenario's verdict and a coverage table of the role × field cells no
        scenario touched. Exits 0 when every scenario holds, 1 when one fails, 2 on usage
        errors (a missing or unreadable feature file, an unreadable strategy).
        """
        console = Console(highlight=False, soft_wrap=True)
        missing = [p for p in features if not p.is_file()]
        if missing:
            raise typer.BadParameter(
                f"{', '.join(str(p) for p in missing)}: no such feature file",
                param_hint="FEATURES",
            )
        from access_policy.runner import run_checks

        policy = load_policy(resolve_strategy(None, strategy), console)
        report = run_checks(features, policy=policy, junit=junit)
        print_report(report, console)
        if report.results:
            print_coverage(report, policy, console)
        raise typer.Exit(report.exit_code)

    @policy_app.command("matrix")
    def matrix_command(
        strategy: StrategyOption = None,
        fmt: Annotated[
            MatrixFormat, typer.Option("--format", "-f", help="csv, json or md (Markdown).")
        ] = MatrixFormat.MD,
        out: Annotated[
            Path | None, typer.Option("--out", "-o", help="Write here instead of stdout.")
        ] = None,
    ) -> None:
        """The access matrix: role × use × field → read and write decision (deny by default)."""
        console = Console(highlight=False, soft_wrap=True, stderr=True)
        policy = load_policy(resolve_strategy(None, strategy), console)
        text = export_matrix(policy, fmt)
        if out is None:
            typer.echo(text, nl=False)
            return
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        console.print(f"access matrix ({fmt}) written to {escape(str(out))}")
