"""`tietotie audit …`, `tietotie dsar …` and `tietotie retention run`: the service from a shell."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from audit import MAX_SEQ
from dsar.requests import MessageStatus, Outbox
from kernel.errors import TietotieError
from records.retention import run_retention, shred_removed
from tietotie.commands.strategy import StrategyOption
from tietotie.settings import get_settings
from tietotie.wiring import Services

__all__ = ["open_from_cli", "register"]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def open_from_cli(strategy: Path | None) -> Services:
    """The services for a command, with ``--strategy`` applied; errors exit 1 with the reason."""
    from tietotie.app import open_services

    settings = get_settings()
    if strategy is not None:
        settings = settings.model_copy(update={"strategy": strategy})
    try:
        return open_services(settings)
    except TietotieError as exc:
        Console(stderr=True).print(f"[red]error:[/red] {exc.message}", highlight=False)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    """Add the `audit`, `dsar` and `retention` groups."""
    audit = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)
    dsar = typer.Typer(help="Data-subject requests.", no_args_is_help=True)
    retention = typer.Typer(help="Retention of records (Art. 5(1)(e)).", no_args_is_help=True)
    app.add_typer(audit, name="audit")
    app.add_typer(dsar, name="dsar")
    app.add_typer(retention, name="retention")

    @audit.command("verify")
    def audit_verify(strategy: StrategyOption = None) -> None:
        """Walk the chain; exit 1 and list every edited, removed, reordered or cut-off entry."""
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
        strategy: StrategyOption = None,
        after: Annotated[int, typer.Option(min=0, max=MAX_SEQ, help="Entries after this seq.")] = 0,
        limit: Annotated[int, typer.Option(help="How many entries.")] = 50,
        request: Annotated[str | None, typer.Option(help="Only this request id.")] = None,
    ) -> None:
        """Print a page of the audit log."""
        services = open_from_cli(strategy)
        table = Table("seq", "at", "actor", "action", "subject", "request", "details")
        with services.sessions() as session:
            for e in services.audit.entries(session, after=after, limit=limit, request_id=request):
                table.add_row(
                    str(e.seq),
                    e.at,
                    e.actor,
                    e.action,
                    e.subject_id or "",
                    e.request_id or "",
                    e.details,
                )
        Console().print(table)

    @dsar.command("outbox")
    def outbox(
        strategy: StrategyOption = None,
        request: Annotated[str | None, typer.Option(help="Only this request id.")] = None,
        status: Annotated[
            MessageStatus | None, typer.Option(help="Only messages in this state.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    ) -> None:
        """Every message to requesters and its state: held for staff (no SMTP configured),
        queued, sent, failed (with the last error) or suppressed (over the message cap)."""
        services = open_from_cli(strategy)
        query = select(Outbox).order_by(Outbox.id)
        if request:
            query = query.where(Outbox.request_id == request)
        if status is not None:
            query = query.where(Outbox.status == status)
        with services.sessions() as session:
            rows = list(session.execute(query).scalars())
        if as_json:
            for r in rows:
                typer.echo(
                    json.dumps(
                        {
                            "at": r.at.isoformat(),
                            "status": r.status,
                            "attempts": r.attempts,
                            "next_attempt_at": _iso(r.next_attempt_at),
                            "sent_at": _iso(r.sent_at),
                            "last_error": r.last_error,
                            "to": r.to,
                            "subject": r.subject,
                            "body": r.body,
                            "request_id": r.request_id,
                        },
                        ensure_ascii=False,
                    )
                )
            return
        table = Table("at", "status", "tries", "to", "request", "subject", "body", "last error")
        for r in rows:
            table.add_row(
                r.at.isoformat(timespec="seconds"),
                r.status,
                str(r.attempts),
                r.to,
                r.request_id or "",
                r.subject,
                r.body,
                r.last_error or "",
            )
        Console().print(table)

    @dsar.command("send-outbox")
    def send_outbox(
        strategy: StrategyOption = None,
        limit: Annotated[int, typer.Option(min=1, help="At most this many messages.")] = 200,
    ) -> None:
        """Deliver queued messages that are due (retries included); for a scheduler, e.g.
        every minute. Exits 1 when a message failed for good (see `tietotie dsar outbox`)."""
        services = open_from_cli(strategy)
        with services.sessions() as session:
            done = services.requests.send_outbox(session, limit=limit)
        typer.echo(f"sent {done.sent}, to retry later {done.retrying}, failed {done.failed}")
        if done.failed:
            raise typer.Exit(1)

    @dsar.command("list")
    def nearing(
        strategy: StrategyOption = None,
        within: Annotated[int, typer.Option(help="Due within this many days.")] = 7,
    ) -> None:
        """Open requests nearing their deadline, overdue first."""
        services = open_from_cli(strategy)
        with services.sessions() as session:
            rows = services.requests.nearing_deadline(session, within_days=within)
            table = Table("due", "id", "type", "status", "extended")
            for r in rows:
                table.add_row(
                    r.due_at.isoformat(), r.id, r.type, r.status, "yes" if r.extended else ""
                )
        Console().print(table)

    @retention.command("run")
    def retention_run(
        strategy: StrategyOption = None,
        dry_run: Annotated[bool, typer.Option("--dry-run", help="Count, delete nothing.")] = False,
    ) -> None:
        """Delete records past their retention; destroy keys of subjects with nothing left."""
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
            session.commit()
        verb = "would delete" if dry_run else "deleted"
        parts = ", ".join(f"{n} {e}" for e, n in run.deleted.items()) or "nothing"
        typer.echo(
            f"retention {verb}: {parts}; subjects removed {run.subjects_removed}, "
            f"keys destroyed {shredded}, waiting on kept records {run.subjects_waiting}"
        )
        typer.echo(f"answers of closed requests past their lifetime: {verb} {answers}")
