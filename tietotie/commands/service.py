"""`tietotie audit …` and `tietotie retention run`: the service from a shell (the `dsar`
group is in :mod:`tietotie.commands.subject_requests`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from audit import MAX_SEQ
from kernel.errors import TietotieError
from records.retention import run_retention, shred_removed
from schemas.enums import Duty
from tietotie.commands.opened import remember
from tietotie.commands.staff import TokenOption, acting_staff, columns
from tietotie.commands.strategy import StrategyOption
from tietotie.settings import get_settings
from tietotie.wiring import Services

__all__ = ["open_from_cli", "register"]


def open_from_cli(strategy: Path | None) -> Services:
    """The services for a command, with ``--strategy`` applied; errors exit 1 with the reason.

    Their database connections are closed when the command ends.
    """
    from tietotie.app import open_services

    settings = get_settings()
    if strategy is not None:
        settings = settings.model_copy(update={"strategy": strategy})
    try:
        services = open_services(settings)
    except TietotieError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from None
    remember(services.engine)
    return services


def register(app: typer.Typer) -> None:
    """Add the `audit` and `retention` groups."""
    audit = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
    retention = typer.Typer(help="Retention of records (Art. 5(1)(e)).", no_args_is_help=True)
    app.add_typer(audit, name="audit")
    app.add_typer(retention, name="retention")

    @audit.command("verify")
    def audit_verify(strategy: StrategyOption = None) -> None:
        """Walk the chain; exit 1 and list every edited, removed, reordered or cut-off entry.

        Needs no token: it shows counts and sequence numbers only."""
        services = open_from_cli(strategy)
        with services.sessions() as session:
            result = services.audit.verify(session)
        console = Console(highlight=False)
        if result.ok:
            console.print(f"audit log intact: {result.entries} entries, head at {result.head_seq}")
            return
        for b in result.breaks:
            console.print(f"[red]entry {b.seq}:[/red] {b.problem}")
        console.print(
            f"audit log BROKEN: {len(result.breaks)} problem(s) in {result.entries} entries"
        )
        raise typer.Exit(1)

    @audit.command("log")
    def audit_log(
        token: TokenOption = None,
        strategy: StrategyOption = None,
        after: Annotated[int, typer.Option(min=0, max=MAX_SEQ, help="Entries after this seq.")] = 0,
        limit: Annotated[int, typer.Option(help="How many entries.")] = 50,
        request: Annotated[str | None, typer.Option(help="Only this request id.")] = None,
    ) -> None:
        """Print a page of the audit log (duty audit): who acted, by name and role, on which
        pseudonymous subject or request; ids are never cut."""
        services = open_from_cli(strategy)
        acting_staff(services, token, duties=[Duty.AUDIT])
        with services.sessions() as session:
            rows = [
                (
                    str(e.seq),
                    e.at,
                    e.actor,
                    e.action,
                    e.subject_id or "-",
                    e.request_id or "-",
                    e.details,
                )
                for e in services.audit.entries(
                    session, after=after, limit=limit, request_id=request
                )
            ]
        if not rows:
            typer.echo(
                f"no audit entry after {after}" + (f" for request {request}" if request else "")
            )
            return
        typer.echo(columns(("seq", "at", "actor", "action", "subject", "request", "details"), rows))

    @retention.command("run")
    def retention_run(
        strategy: StrategyOption = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, delete nothing.")] = False,
    ) -> None:
        """Delete records past their retention; destroy keys of subjects with nothing left; delete
        expired answers, lapsed privacy-center sign-ins and ended desk sessions."""
        services = open_from_cli(strategy)
        with services.sessions() as session:
            run = run_retention(session, services.store, audit=services.audit, dry_run=dry_run)
            if dry_run:
                session.rollback()
            else:
                session.commit()
        shredded = 0 if dry_run else shred_removed(services.store, run)
        with services.sessions() as session:
            answers = services.requests.answers.purge(session, dry_run=dry_run)
            signins = services.signins.purge(session, dry_run=dry_run)
            desk = services.desk.purge(session, dry_run=dry_run)
            held = services.requests.forget_held_messages(session, dry_run=dry_run)
            session.commit()
        verb = "would delete" if dry_run else "deleted"
        parts = ", ".join(f"{n} {e}" for e, n in run.deleted.items()) or "nothing"
        typer.echo(
            f"retention {verb}: {parts}; subjects removed {run.subjects_removed}, "
            f"keys destroyed {shredded}, waiting on kept records {run.subjects_waiting}"
        )
        typer.echo(f"answers of closed requests past their lifetime: {verb} {answers}")
        typer.echo(f"privacy-center sign-ins lapsed or ended over a day ago: {verb} {signins}")
        typer.echo(f"request-desk sessions that have ended: {verb} {desk}")
        typer.echo(
            f"addresses of undelivered messages of no request, held over a day: "
            f"{'would forget' if dry_run else 'forgot'} {held}"
        )
