"""`tietotie activation audience|list` and `tietotie report build|list`: step 6 and 7 from a shell.

Rows go to files (or, for reports without ``--out``, to standard output); the numbers (matched,
excluded by reason, final; groups and suppressed groups) go to standard error, so a pipe gets
only data. Building an audience or a report reads personal data, so it runs with a staff token
(``--token`` or ``TIETOTIE_TOKEN``): the token's role is the one the output is for, and the
audit log names its holder. ``--role`` stays as a check that the token is of that role.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from access_policy.service import compile_policy
from activation.audiences import audience
from activation.charts import write_chart
from activation.exports import OutputFormat, format_for, write_file, write_rows
from activation.reporting import DEFAULT_K, Period, build_report
from audit import AuditEvent
from kernel.errors import PolicyError, TietotieError
from tietotie.commands.service import open_from_cli
from tietotie.commands.staff import TokenOption, acting_staff
from tietotie.commands.strategy import StrategyOption

__all__ = ["register"]

RoleOption = Annotated[
    str | None,
    typer.Option(
        "--role",
        "-r",
        help="Check that the token is of this role (the token decides the role the output is "
        "for; it must hold the use).",
    ),
]


def _fail(exc: TietotieError) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(f"[red]error:[/red] {exc.message}")
    return typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the ``activation`` and ``report`` command groups."""
    activation_app = typer.Typer(
        help="Campaign audiences (7-activation.yaml).", no_args_is_help=True
    )
    report_app = typer.Typer(help="Reports (6-reporting.yaml).", no_args_is_help=True)
    app.add_typer(activation_app, name="activation")
    app.add_typer(report_app, name="report")

    @activation_app.command("audience")
    def audience_command(
        activation_id: Annotated[str, typer.Argument(metavar="ID", help="Activation id.")],
        out: Annotated[
            Path,
            typer.Option(
                "--out", "-o", help="File to write: .csv or .jsonl (.parquet with pyarrow)."
            ),
        ],
        role: RoleOption = None,
        record_send: Annotated[
            bool,
            typer.Option(
                "--record-send",
                help="Log one contact per subject written (frequency caps) and add each "
                "recipient's one-click unsubscribe link (RFC 8058).",
            ),
        ] = False,
        token: TokenOption = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Write the lawful audience of an activation now, for the token's role, and say who
        was left out and why."""
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, role=role)
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        try:
            fmt = format_for(out)
            chosen = staff.role
            with services.sessions() as session:
                try:
                    run = audience(
                        session,
                        services.store,
                        compile_policy(services.strategy),
                        activation_id,
                        role=chosen,
                        record_sends=record_send,
                        audit=staff.audit_as(services.audit),
                        links=services.links,
                    )
                except PolicyError as exc:
                    session.rollback()
                    services.audit.append(
                        session,
                        AuditEvent(
                            actor=staff.actor,
                            action="activation.audience.refused",
                            details={
                                "activation": activation_id,
                                "use": str(exc.context.get("use")),
                                "reason": "purpose_not_held",
                            },
                        ),
                    )
                    session.commit()  # the refusal is in the log; the error goes on
                    raise
                written = write_file(run.rows(session), run.columns, out, fmt)
                session.commit()
        except TietotieError as exc:
            raise _fail(exc) from None
        counts = run.counts
        excluded = ", ".join(f"{k} {v}" for k, v in counts.excluded.items())
        err.print(
            f"{activation_id} ({run.use}, {run.activation.channel}) for {run.role}: "
            f"matched {counts.matched}; excluded {excluded}; final {counts.final}"
        )
        masked = f" (masked: {', '.join(run.masked)})" if run.masked else ""
        err.print(f"wrote {written} subjects to {out}: {', '.join(run.columns)}{masked}")
        if record_send:
            err.print(
                f"recorded {run.sends_recorded} sends in the contact log; each row carries the "
                "recipient's one-click unsubscribe link and its List-Unsubscribe headers"
            )

    @activation_app.command("list")
    def activation_list(strategy: StrategyOption = None) -> None:
        """The declared activations: use, channel, owner and frequency cap."""
        services = open_from_cli(strategy)
        table = Table("id", "use", "channel", "owner", "cap")
        for a in services.strategy.activations:
            cap = a.frequency_cap
            table.add_row(
                a.id, a.use, str(a.channel), a.owner, f"{cap.max} per {cap.per}" if cap else ""
            )
        Console().print(table)

    @report_app.command("build")
    def build_command(
        report_id: Annotated[str, typer.Argument(metavar="ID", help="Report id.")],
        out: Annotated[
            Path | None,
            typer.Option("--out", "-o", help="File to write (default: standard output)."),
        ] = None,
        fmt: Annotated[
            OutputFormat | None,
            typer.Option(
                "--format", "-f", help="csv, jsonl or parquet (default: from --out, else csv)."
            ),
        ] = None,
        chart: Annotated[
            Path | None,
            typer.Option(
                "--chart", help="Also draw an aggregated report's declared chart to this PNG."
            ),
        ] = None,
        role: RoleOption = None,
        token: TokenOption = None,
        k: Annotated[
            int, typer.Option("--k", min=1, help="Smallest group an aggregated report shows.")
        ] = DEFAULT_K,
        period: Annotated[
            Period, typer.Option("--period", help="How aggregated reports group dates.")
        ] = Period.MONTH,
        strategy: StrategyOption = None,
    ) -> None:
        """Build a report at its declared identity level, for the token's role (it must be in
        the report's audience)."""
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, role=role)
        audit = staff.audit_as(services.audit)
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        try:
            chosen = fmt or (format_for(out) if out is not None else OutputFormat.CSV)
            if out is None and chosen is OutputFormat.PARQUET:
                raise typer.BadParameter("Parquet needs --out FILE", param_hint="--format")
            with services.sessions() as session:
                try:
                    build = build_report(
                        session,
                        services.store,
                        compile_policy(services.strategy),
                        report_id,
                        role=staff.role,
                        pseudonymiser=services.crypto.pseudonymiser,
                        k=k,
                        period=period,
                        audit=audit,
                    )
                except PolicyError:
                    session.commit()  # the refusal's audit entry stays, the error goes on
                    raise
                if out is None:
                    write_rows(build.rows(session), build.columns, sys.stdout, chosen)
                else:
                    write_file(build.rows(session), build.columns, out, chosen)
                build.audit(session, audit)
                session.commit()
            drawn = write_chart(build, chart) if chart is not None else False
        except TietotieError as exc:
            raise _fail(exc) from None
        summary = build.summary()
        where = f" to {out}" if out is not None else ""
        line = (
            f"{report_id} ({summary['identity']}) for {build.role}: "
            f"{build.rows_written} rows{where}"
        )
        if "groups" in summary:
            line += (
                f"; {summary['suppressed_groups']} groups of fewer than {k} subjects "
                f"({summary['suppressed_subjects']} subjects) suppressed"
            )
        err.print(line)
        if chart is not None:
            err.print(
                f"chart ({build.report.chart}) written to {chart}"
                if drawn
                else f"no chart: {report_id} is {summary['identity']} with chart "
                f"{build.report.chart}"
            )

    @report_app.command("list")
    def report_list(strategy: StrategyOption = None) -> None:
        """The declared reports: identity level, audience and chart."""
        services = open_from_cli(strategy)
        table = Table("id", "identity", "audience", "chart", "fields")
        for r in services.strategy.reports:
            table.add_row(
                r.id, str(r.identity), ", ".join(r.audience), str(r.chart), ", ".join(r.fields)
            )
        Console().print(table)
