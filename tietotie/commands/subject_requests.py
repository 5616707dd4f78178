"""`tietotie dsar …`: privacy staff work data-subject requests from a shell, as on the desk.

`list`, `show`, `outbox`, `verify --in-person`, `extend`, `reject` and `complete` run with the
staff token of someone whose role has the ``requests`` duty (``show`` also for ``audit``); each
action is in the audit log and the request's history under that person's name. `send-outbox`,
the scheduler's job, delivers queued messages and needs no token. Output is plain text in
which ids are never cut; ``--json`` gives JSON for scripts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import AuditEvent
from dsar.auth import Staff
from dsar.completion import complete_request
from dsar.requests import MessageStatus, Outbox, RejectionGround, RequestRow, Requests
from kernel.errors import TietotieError
from schemas.enums import Duty
from tietotie.commands.service import open_from_cli
from tietotie.commands.staff import TokenOption, acting_staff, columns
from tietotie.commands.strategy import StrategyOption
from tietotie.settings import get_settings
from tietotie.wiring import Services

__all__ = ["register"]

RequestId = Annotated[str, typer.Argument(metavar="ID", help="The request id.")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON instead of text.")]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _fail(exc: TietotieError) -> typer.Exit:
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]error:[/red] {escape(exc.message)}"
    )
    return typer.Exit(1)


def _days_left(due: date, today: date) -> str:
    days = (due - today).days
    if days < 0:
        return f"overdue {-days} d"
    return "due today" if days == 0 else f"{days} d left"


def _messages(session: Session, request_id: str | None) -> list[Outbox]:
    query = select(Outbox).order_by(Outbox.id)
    if request_id is not None:
        query = query.where(Outbox.request_id == request_id)
    return list(session.execute(query).scalars())


def _message_json(r: Outbox) -> dict[str, Any]:
    return {
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
    }


def _message_text(m: Mapping[str, Any], *, with_request: bool = True) -> str:
    """One message as a block: its state first, then the address, subject and body."""
    state = f"{m['status']}, {m['attempts']} tries"
    if m["next_attempt_at"]:
        state += f", next {m['next_attempt_at']}"
    if with_request:
        state += f"  request {m['request_id'] or '-'}"
    lines = [f"{m['at']}  {state}", f"  to       {m['to']}", f"  subject  {m['subject']}"]
    if m["last_error"]:
        lines.append(f"  error    {m['last_error']}")
    return "\n".join([*lines, *(f"  | {line}" for line in m["body"].splitlines())])


def _audit_read(
    services: Services, staff: Staff, action: str, request_id: str | None, **details: Any
) -> None:
    """A read of requesters' identifiers or messages goes to the audit log like an action."""
    with services.sessions() as session:
        services.audit.append(
            session,
            AuditEvent(actor=staff.actor, action=action, request_id=request_id, details=details),
        )
        session.commit()


def _last_message(session: Session, request_id: str) -> int:
    """The id of the request's latest message so far (0 for none)."""
    last = session.scalar(
        select(Outbox.id).where(Outbox.request_id == request_id).order_by(Outbox.id.desc())
    )
    return int(last or 0)


def _deliver(services: Services, request_id: str, *, after: int) -> str:
    """Send what is due now; in words, how the message this step queued (if any) fared."""
    with services.sessions() as session:
        services.requests.send_outbox(session)
        new = session.scalar(
            select(Outbox)
            .where(Outbox.request_id == request_id, Outbox.id > after)
            .order_by(Outbox.id.desc())
        )
        if new is None:
            return "no message to the requester for this step"
        if new.status == MessageStatus.HELD:
            return (
                "the message to the requester is held (no SMTP configured): pass it on from "
                f"`tietotie dsar outbox --request {request_id}`"
            )
        return f"the message to the requester is {new.status}"


def _view(row: RequestRow, messages: list[Outbox]) -> dict[str, Any]:
    return {
        **Requests.view(row),
        "identity": row.identity,
        "subject_id": row.subject_id,
        "verified_by": row.verified_by,
        "details": row.details,
        "result": row.result,
        "closed_at": _iso(row.closed_at),
        "messages": [_message_json(m) for m in messages],
    }


def _show_text(view: Mapping[str, Any], today: date) -> str:
    due = date.fromisoformat(view["due_at"])
    open_ = view["closed_at"] is None
    facts = [
        ("request", view["id"]),
        ("type", view["type"]),
        ("status", view["status"]),
        ("received", view["received_at"]),
        ("due", view["due_at"] + (f" ({_days_left(due, today)})" if open_ else "")),
        ("extended", "yes" if view["extended"] else "no"),
        ("identity", ", ".join(f"{k}: {v}" for k, v in view["identity"].items())),
        ("subject", view["subject_id"] or "no customer matched (yet)"),
    ]
    if view["verified_by"]:
        facts.append(("verified", view["verified_by"]))
    if view["reason"]:
        facts.append(("reason", view["reason"]))
    if view["details"]:
        facts.append(("details", json.dumps(view["details"], ensure_ascii=False)))
    if view["result"]:
        facts.append(("result", json.dumps(view["result"], ensure_ascii=False)))
    if view["closed_at"]:
        facts.append(("closed", view["closed_at"]))
    width = max(len(k) for k, _ in facts)
    out = [f"{k.ljust(width)}  {v}" for k, v in facts]
    out += ["", "history"]
    history = [(e["at"], e["status"], e["actor"], e["note"] or "") for e in view["history"]]
    out += ["  " + line for line in columns(("at", "status", "by", "note"), history).splitlines()]
    out += ["", "messages"]
    out += [
        "\n".join("  " + line for line in _message_text(m, with_request=False).splitlines())
        for m in view["messages"]
    ] or ["  no message to the requester"]
    return "\n".join(out)


def register(app: typer.Typer) -> None:
    """Add the `dsar` group."""
    dsar = typer.Typer(
        help="Data-subject requests: the desk's work from a shell.", no_args_is_help=True
    )
    app.add_typer(dsar, name="dsar")

    @dsar.command("list")
    def nearing(
        token: TokenOption = None,
        strategy: StrategyOption = None,
        within: Annotated[int, typer.Option(min=0, help="Due within this many days.")] = 7,
        as_json: JsonOption = False,
    ) -> None:
        """Open requests due within --within days, overdue first (duty requests)."""
        services = open_from_cli(strategy)
        acting_staff(services, token, duties=[Duty.REQUESTS])
        today = datetime.now(UTC).date()
        with services.sessions() as session:
            found: list[dict[str, Any]] = [
                {
                    "due_at": r.due_at.isoformat(),
                    "days_left": (r.due_at - today).days,
                    "id": r.id,
                    "type": r.type,
                    "status": r.status,
                    "extended": r.extended,
                }
                for r in services.requests.nearing_deadline(session, within_days=within)
            ]
        if as_json:
            typer.echo(json.dumps(found, indent=2))
            return
        if not found:
            typer.echo(f"no open request is due within {within} days")
            return
        rows = [
            (
                f["due_at"],
                _days_left(date.fromisoformat(f["due_at"]), today),
                f["id"],
                f["type"],
                f["status"],
                "yes" if f["extended"] else "",
            )
            for f in found
        ]
        typer.echo(columns(("due", "days left", "id", "type", "status", "extended"), rows))

    @dsar.command("show")
    def show(
        request_id: RequestId,
        token: TokenOption = None,
        strategy: StrategyOption = None,
        as_json: JsonOption = False,
    ) -> None:
        """The request: status, due date, the identifier it was opened with, its history and
        every message to the requester (duty requests or audit; the read is audited)."""
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, duties=[Duty.REQUESTS, Duty.AUDIT])
        with services.sessions() as session:
            try:
                row = services.requests.get(session, request_id)
            except TietotieError as exc:
                raise _fail(exc) from None
            view = _view(row, _messages(session, request_id))
        _audit_read(services, staff, "dsar.viewed", request_id, messages=len(view["messages"]))
        if as_json:
            typer.echo(json.dumps(view, indent=2, ensure_ascii=False))
            return
        typer.echo(_show_text(view, datetime.now(UTC).date()))

    @dsar.command("outbox")
    def outbox(
        token: TokenOption = None,
        strategy: StrategyOption = None,
        request: Annotated[str | None, typer.Option(help="Only this request id.")] = None,
        status: Annotated[
            MessageStatus | None, typer.Option(help="Only messages in this state.")
        ] = None,
        as_json: Annotated[bool, typer.Option("--json", help="JSON lines.")] = False,
    ) -> None:
        """Every message to requesters and its state: held for staff (no SMTP configured),
        queued, sent, failed (with the last error) or suppressed (over the message cap).
        Duty requests; the read is audited."""
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, duties=[Duty.REQUESTS])
        with services.sessions() as session:
            rows = [r for r in _messages(session, request) if status is None or r.status == status]
        _audit_read(services, staff, "dsar.outbox_read", request, messages=len(rows))
        if as_json:
            for r in rows:
                typer.echo(json.dumps(_message_json(r), ensure_ascii=False))
            return
        if not rows:
            where = f" for request {request}" if request else ""
            state = f" {status}" if status else ""
            typer.echo(f"no{state} message{where} in the outbox")
            return
        typer.echo("\n\n".join(_message_text(_message_json(r)) for r in rows))

    @dsar.command("send-outbox")
    def send_outbox(
        strategy: StrategyOption = None,
        limit: Annotated[int, typer.Option(min=1, help="At most this many messages.")] = 200,
    ) -> None:
        """Deliver queued messages that are due (retries included); for a scheduler, e.g.
        every minute, with no token. Exits 1 when a message failed for good (see
        `tietotie dsar outbox`)."""
        services = open_from_cli(strategy)
        with services.sessions() as session:
            done = services.requests.send_outbox(session, limit=limit)
        typer.echo(f"sent {done.sent}, to retry later {done.retrying}, failed {done.failed}")
        if done.failed:
            raise typer.Exit(1)

    @dsar.command("remind")
    def remind_command(
        strategy: StrategyOption = None,
        within: Annotated[int, typer.Option(min=0, help="Due within this many days.")] = 7,
    ) -> None:
        """Mail the roles with the requests duty (their `email` in organisation.yaml, else the
        controller's) the open requests due within --within days; for a scheduler, no token.
        Says so and sends nothing when nothing is due."""
        from dsar.requests.reminders import remind

        services = open_from_cli(strategy)
        today = datetime.now(UTC).date()
        with services.sessions() as session:
            done = remind(
                session,
                services.requests,
                within_days=within,
                today=today,
                desk_url=get_settings().public_url,
                audit=services.audit,
            )
            session.commit()
        if not done.due:
            typer.echo(f"no open request is due within {within} days; no reminder sent")
            return
        if not done.recipients:
            typer.echo(
                f"{len(done.due)} request(s) due within {within} days, but no role with the "
                "requests duty has an email in organisation.yaml and the controller has none: "
                "add `email:` to such a role"
            )
            raise typer.Exit(1)
        with services.sessions() as session:
            sent = services.requests.send_outbox(session)
        typer.echo(
            f"{len(done.due)} request(s) due within {within} days: reminder queued to "
            f"{', '.join(done.recipients)} ({sent.sent} sent now; held messages wait in "
            "`tietotie dsar outbox` when no SMTP server is set)"
        )

    @dsar.command("verify")
    def verify(
        request_id: RequestId,
        note: Annotated[
            str, typer.Option("--note", help="How you checked the identity, e.g. the document.")
        ],
        in_person: Annotated[
            bool,
            typer.Option("--in-person", help="You saw the requester's proof of identity."),
        ] = False,
        token: TokenOption = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Verify a requester in person (duty requests); the note goes to the history.

        Prints the requester's access token (shown once): it reads the request's status and
        export (GET /v1/dsar/ID), so hand it to the requester only."""
        if not in_person:
            raise typer.BadParameter(
                "staff verify in person only: add --in-person (a requester's code is entered "
                "on their own request page)",
                param_hint="--in-person",
            )
        if not note.strip():
            raise typer.BadParameter("say how you checked the identity", param_hint="--note")
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, duties=[Duty.REQUESTS])
        with services.sessions() as session:
            try:
                done = services.requests.verify_in_person(
                    session, request_id, actor=staff.actor, note=note
                )
            except TietotieError as exc:
                raise _fail(exc) from None
            session.commit()
            row = done.request
            known = (
                f"matches customer {row.subject_id}"
                if row.subject_id
                else "no customer holds that identifier"
            )
            expires = _iso(row.requester_token_expires_at)
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        err.print(f"request {request_id} verified in person by {staff.person}; {known}")
        err.print(f"the requester's access token, shown once (works until {expires}):")
        typer.echo(done.requester_token)

    @dsar.command("extend")
    def extend(
        request_id: RequestId,
        reason: Annotated[
            str, typer.Option("--reason", help="Why, in words the requester understands.")
        ],
        token: TokenOption = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Extend once by two further months (Art. 12(3)); the requester is sent the reason."""
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, duties=[Duty.REQUESTS])
        with services.sessions() as session:
            before = _last_message(session, request_id)
            try:
                row = services.requests.extend(
                    session, request_id, actor=staff.actor, reason=reason
                )
            except TietotieError as exc:
                raise _fail(exc) from None
            session.commit()
            due = row.due_at.isoformat()
        typer.echo(f"request {request_id} extended by {staff.person}: now due {due}")
        typer.echo(_deliver(services, request_id, after=before))

    @dsar.command("reject")
    def reject(
        request_id: RequestId,
        ground: Annotated[RejectionGround, typer.Option("--ground", help="Art. 12(5) ground.")],
        reason: Annotated[
            str, typer.Option("--reason", help="Why, in words the requester understands.")
        ],
        token: TokenOption = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Refuse with a ground and a reason; the requester is told them and their right to
        complain to the supervisory authority."""
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, duties=[Duty.REQUESTS])
        with services.sessions() as session:
            before = _last_message(session, request_id)
            try:
                services.requests.reject(
                    session, request_id, actor=staff.actor, ground=ground.value, reason=reason
                )
            except TietotieError as exc:
                raise _fail(exc) from None
            session.commit()
        typer.echo(f"request {request_id} refused by {staff.person} ({ground.value})")
        typer.echo(_deliver(services, request_id, after=before))

    @dsar.command("complete")
    def complete(
        request_id: RequestId,
        token: TokenOption = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Carry out the right a verified request asks for and close it, exactly as
        POST /v1/dsar/ID/complete does. An erasure that could not reach every system stays
        in progress (exit 1): run the command again to resume only what is pending."""
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, duties=[Duty.REQUESTS])
        with services.sessions() as session:
            before = _last_message(session, request_id)
            try:
                done = complete_request(
                    session,
                    request_id,
                    requests=services.requests,
                    fulfiller=services.fulfiller,
                    audit=services.audit,
                    actor=staff.actor,
                )
            except TietotieError as exc:
                raise _fail(exc) from None
            session.commit()
            status, result = done.request.status, done.request.result
        typer.echo(f"request {request_id} {status} by {staff.person}")
        typer.echo(f"result: {json.dumps(result, ensure_ascii=False, default=str)}")
        if not done.finished:
            typer.echo(
                "not finished: a step is pending (see the result); run "
                f"`tietotie dsar complete {request_id}` again to resume it",
                err=True,
            )
            raise typer.Exit(1)
        typer.echo(_deliver(services, request_id, after=before))
