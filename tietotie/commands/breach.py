"""`tietotie breach …`: the breach register (Art. 33 and 34) from a shell.

`open` records a breach and prints what it touched, the risk and the 72-hour deadline;
`update` adds what was learnt (Art. 33(4)); `notify` records when the authority or the subjects
were told; `list` and `show` read the register, `show` with the drafted notifications in the
controller's language. Every command runs with the staff token of someone whose role has the
``audit`` duty; every change is audited under that person's name.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from governance.breach import (
    TEXT_MAX,
    get_breach,
    list_breaches,
    notify,
    open_breach,
    parse_bound,
    parse_time,
    update_breach,
)
from governance.breach_drafts import breach_json, register_markdown
from governance.breach_models import BreachKind, BreachRecord, Recipient, Risk
from governance.errors import BreachError, BreachNotFound
from schemas.enums import Duty
from tietotie.commands.service import open_from_cli
from tietotie.commands.staff import TokenOption, acting_staff, columns
from tietotie.commands.strategy import StrategyOption
from tietotie.wiring import Services

__all__ = ["register"]

_T = TypeVar("_T")

_OPTIONS = {
    "what": "--what",
    "kind": "--kind",
    "scope": "--scope",
    "since": "--since",
    "until": "--until",
    "discovered_at": "--discovered-at",
    "measures": "--measures",
    "note": "--note",
    "risk": "--risk",
    "delay_reason": "--delay-reason",
}
"""Domain parameter → the option that gives it, for error messages."""

BreachId = Annotated[int, typer.Argument(metavar="ID", min=1, help="The breach's number.")]
MeasuresOption = Annotated[
    str | None, typer.Option("--measures", help="Measures taken or proposed (Art. 33(3)(d)).")
]


class ListFormat(StrEnum):
    """How `breach list` prints the register."""

    TABLE = "table"
    JSON = "json"


class ShowFormat(StrEnum):
    """How `breach show` prints one breach."""

    MARKDOWN = "markdown"
    JSON = "json"


def _fail(message: str) -> NoReturn:
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]error:[/red] {escape(message)}"
    )
    raise typer.Exit(1)


def _run(step: Callable[[], _T]) -> _T:
    """``step()``; bad input exits 2 naming the option, a missing breach exits 1."""
    try:
        return step()
    except BreachNotFound as exc:
        _fail(exc.message)
    except BreachError as exc:
        name = str(exc.context.get("field", ""))
        raise typer.BadParameter(exc.message, param_hint=_OPTIONS.get(name, name)) from None


def _staff_actor(services: Services, token: str | None) -> str:
    return acting_staff(services, token, duties=[Duty.AUDIT]).actor


def _next_steps(record: BreachRecord) -> list[str]:
    """What the person who recorded or updated the breach does next, in words."""
    found, n = record.assessment, record.id
    out: list[str] = []
    if record.must_notify_authority and record.authority_notified_at is None:
        due = record.authority_due_at.isoformat(timespec="minutes")
        out.append(
            f"notify {record.authority.name} by {due} (Art. 33(1)): the draft is in "
            f"`tietotie breach show {n}`; once sent, `tietotie breach notify {n} --authority`"
        )
    elif not record.must_notify_authority:
        out.append(
            "no notification needed (unlikely to result in a risk); the breach stays in the "
            "register (Art. 33(5))"
        )
    if record.must_tell_subjects and record.subjects_notified_at is None:
        out.append(
            f"tell the data subjects without undue delay (about {found.exposed_subjects}, "
            f"Art. 34): the message is in `tietotie breach show {n}`; once sent, "
            f"`tietotie breach notify {n} --subjects`"
        )
    return out


def _summary(record: BreachRecord) -> str:
    found = record.assessment
    lines = [
        f"touched: {found.subjects} data subjects, {found.records} records "
        f"({', '.join(f'{e} {c}' for e, c in found.records_by_entity.items()) or 'none'})",
        f"categories: {', '.join(found.categories) or 'none'}; special categories: "
        f"{', '.join(found.special_categories) or 'none'}",
    ]
    if found.encrypted_fields:
        lines.append(f"held only encrypted, keys safe: {', '.join(found.encrypted_fields)}")
    lines += [f"processor outside the EEA: {p.id} ({p.country})" for p in found.outside_eea]
    lines.append(f"risk: {record.risk.value}: " + "; ".join(r.text for r in found.reasons[:1]))
    return "\n".join(lines + _next_steps(record))


def register(app: typer.Typer) -> None:
    """Add the `breach` group."""
    group = typer.Typer(
        help="The breach register (Art. 33-34): record, update, notify, read (duty audit).",
        no_args_is_help=True,
    )
    app.add_typer(group, name="breach")

    @group.command("open")
    def open_command(
        what: Annotated[str, typer.Option("--what", help="What happened, in a few sentences.")],
        kind: Annotated[
            BreachKind, typer.Option("--kind", help="What the breach did to the data.")
        ],
        scope: Annotated[
            list[str],
            typer.Option(
                "--scope",
                help="Where, once or more: processor:ID, entity:NAME, field:ENTITY.FIELD, "
                "source:ID.",
            ),
        ],
        since: Annotated[
            str | None,
            typer.Option(help="Only records collected from this date (a UTC day) or time."),
        ] = None,
        until: Annotated[
            str | None,
            typer.Option(help="Only records collected until this date (included) or time."),
        ] = None,
        discovered_at: Annotated[
            str | None,
            typer.Option(
                "--discovered-at",
                help="When it was discovered, with its zone, e.g. 2026-03-02T09:15+02:00 "
                "(default: now); the 72 hours run from it.",
            ),
        ] = None,
        keys_compromised: Annotated[
            bool,
            typer.Option(
                "--keys-compromised",
                help="The master key or the keystore was exposed too, or the data left "
                "decrypted (an export, a copy): encrypted fields count as exposed.",
            ),
        ] = False,
        measures: MeasuresOption = None,
        token: TokenOption = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Record a breach; print what it touched, the risk and what to do by when."""
        from dsar.api.breaches import controller_authority  # loads the web stack: only here

        discovered = _run(
            lambda: parse_time(discovered_at, name="--discovered-at") if discovered_at else None
        )
        start = _run(lambda: parse_bound(since, name="--since", end=False) if since else None)
        end = _run(lambda: parse_bound(until, name="--until", end=True) if until else None)
        services = open_from_cli(strategy)
        actor = _staff_actor(services, token)
        with services.sessions() as session:
            record = _run(
                lambda: open_breach(
                    session,
                    services.store,
                    what=what,
                    kind=kind,
                    scope=scope,
                    authority=controller_authority(services.strategy),
                    actor=actor,
                    audit=services.audit,
                    discovered_at=discovered,
                    since=start,
                    until=end,
                    keys_compromised=keys_compromised,
                    measures=measures,
                )
            )
            session.commit()
        typer.echo(
            f"breach {record.id} recorded ({record.kind.value}; risk level: {record.risk.value})"
        )
        typer.echo(_summary(record))

    @group.command("update")
    def update_command(
        breach_id: BreachId,
        note: Annotated[str, typer.Option("--note", help="What was learnt since (Art. 33(4)).")],
        measures: MeasuresOption = None,
        risk: Annotated[
            Risk | None,
            typer.Option(help="Reassess the risk (the note says why)."),
        ] = None,
        token: TokenOption = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Add a dated update: what was learnt, measures taken or proposed, a new risk."""
        services = open_from_cli(strategy)
        actor = _staff_actor(services, token)
        with services.sessions() as session:
            record = _run(
                lambda: update_breach(
                    session,
                    breach_id,
                    note=note,
                    measures=measures,
                    risk=risk,
                    actor=actor,
                    audit=services.audit,
                )
            )
            session.commit()
        typer.echo(f"breach {breach_id} updated (risk {record.risk.value})")
        for line in _next_steps(record):
            typer.echo(line)

    @group.command("notify")
    def notify_command(
        breach_id: BreachId,
        authority: Annotated[
            bool, typer.Option("--authority", help="You notified the supervisory authority.")
        ] = False,
        subjects: Annotated[
            bool, typer.Option("--subjects", help="You told the data subjects.")
        ] = False,
        delay_reason: Annotated[
            str | None,
            typer.Option(
                "--delay-reason",
                help=f"After 72 hours: why the authority is notified late (Art. 33(1)); "
                f"at most {TEXT_MAX} characters.",
            ),
        ] = None,
        token: TokenOption = None,
        strategy: StrategyOption = None,
    ) -> None:
        """Record that you notified the authority and/or told the data subjects, now."""
        if not authority and not subjects:
            raise typer.BadParameter(
                "say who was notified: --authority, --subjects, or both",
                param_hint="--authority / --subjects",
            )
        services = open_from_cli(strategy)
        actor = _staff_actor(services, token)
        recipients = [Recipient.AUTHORITY] * authority + [Recipient.SUBJECTS] * subjects
        with services.sessions() as session:
            record = _run(lambda: get_breach(session, breach_id))
            for to in recipients:
                record = _run(
                    functools.partial(
                        notify,
                        session,
                        breach_id,
                        recipient=to,
                        delay_reason=delay_reason,
                        actor=actor,
                        audit=services.audit,
                    )
                )
            session.commit()
        told = " and ".join(f"the {r.value}" for r in recipients)
        typer.echo(f"breach {breach_id}: recorded that {actor} notified {told}")
        for line in _next_steps(record):
            typer.echo(line)

    @group.command("list")
    def list_command(
        token: TokenOption = None,
        strategy: StrategyOption = None,
        output: Annotated[
            ListFormat, typer.Option("--format", help="table or json.")
        ] = ListFormat.TABLE,
    ) -> None:
        """Every breach in the register, notified or not, the latest discovered first."""
        services = open_from_cli(strategy)
        _staff_actor(services, token)
        now = datetime.now(UTC)
        with services.sessions() as session:
            records = list_breaches(session)
        if output is ListFormat.JSON:
            typer.echo(
                json.dumps(
                    [{**r.model_dump(mode="json"), "status": r.status_at(now)} for r in records],
                    indent=2,
                    ensure_ascii=False,
                )
            )
            return
        if not records:
            typer.echo("the breach register is empty")
            return
        rows = [
            (
                str(r.id),
                r.discovered_at.isoformat(timespec="minutes"),
                r.kind.value,
                r.risk.value,
                r.status_at(now),
                str(r.assessment.subjects),
                str(r.assessment.records),
                ", ".join(r.scope),
            )
            for r in records
        ]
        headers = ("id", "discovered", "kind", "risk", "status", "subjects", "records", "scope")
        typer.echo(columns(headers, rows))

    @group.command("show")
    def show_command(
        breach_id: BreachId,
        token: TokenOption = None,
        strategy: StrategyOption = None,
        output: Annotated[
            ShowFormat, typer.Option("--format", help="markdown or json.")
        ] = ShowFormat.MARKDOWN,
    ) -> None:
        """The breach, what it touched, its history, and the drafted notifications."""
        services = open_from_cli(strategy)
        _staff_actor(services, token)
        now = datetime.now(UTC)
        with services.sessions() as session:
            record = _run(lambda: get_breach(session, breach_id))
        if output is ShowFormat.JSON:
            view = breach_json(record, services.strategy, now=now)
            typer.echo(json.dumps(view, indent=2, ensure_ascii=False))
            return
        typer.echo(register_markdown(record, services.strategy, now=now))
