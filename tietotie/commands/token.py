"""`tietotie token issue|list|revoke`: personal staff bearer tokens, one role each.

A token is printed once and stored only as a hash. It names the person who holds it, and the
audit log names that person for everything done with it. Issuing needs access to the service's
database (it is how the first token comes to be); listing and revoking need a token whose role
has the ``requests`` or ``audit`` duty, and are audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from audit import AuditEvent
from dsar.auth import issue_token, list_tokens, revoke_token
from dsar.tables import database_metadata
from kernel.db import make_engine, transaction
from kernel.errors import AuthError, ValidationFailed
from records.migrations import upgrade
from schemas.enums import Duty
from tietotie.commands.compile import load_valid_strategy
from tietotie.commands.service import open_from_cli
from tietotie.commands.staff import TokenOption, acting_staff, columns
from tietotie.commands.strategy import StrategyOption, resolve_strategy
from tietotie.settings import get_settings

__all__ = ["register"]

_MANAGERS = (Duty.REQUESTS, Duty.AUDIT)
"""Duties whose holders may list and revoke tokens."""


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


def register(app: typer.Typer) -> None:
    """Add the `token` group to the CLI."""
    group = typer.Typer(help="Personal staff bearer tokens.", no_args_is_help=True)
    app.add_typer(group, name="token")

    @group.command("issue")
    def issue_command(
        role: Annotated[str, typer.Option("--role", help="Role id of organisation.yaml.")],
        name: Annotated[
            str,
            typer.Option("--name", help="The person who will hold it; the audit log names them."),
        ],
        strategy: StrategyOption = None,
    ) -> None:
        """Print a new token for ROLE held by NAME (shown once; only its hash is kept)."""
        console = Console(stderr=True, highlight=False, soft_wrap=True)
        loaded = load_valid_strategy(resolve_strategy(None, strategy), console)
        engine = make_engine(get_settings().database_url)
        try:
            upgrade(engine, database_metadata(loaded))  # first use creates the tables
            with transaction(engine) as session:
                token = issue_token(session, loaded, role=role, name=name)
        except AuthError as exc:
            console.print(f"error: {escape(exc.message)}")
            raise typer.Exit(2) from None
        except ValidationFailed as exc:
            console.print(f"error: --name: {escape(exc.message)}")
            raise typer.Exit(2) from None
        finally:
            engine.dispose()
        typer.echo(token)
        console.print(
            f"token for {escape(name.strip())} as role {role!r}: store it now, it is not shown "
            "again (`tietotie token list` shows its id; `token revoke ID` ends it)"
        )

    @group.command("list")
    def list_command(token: TokenOption = None, strategy: StrategyOption = None) -> None:
        """Every token issued: id, role, holder, when issued and revoked (never the token).

        Needs a token whose role has the requests or audit duty; the listing is audited."""
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, duties=_MANAGERS)
        with services.sessions() as session:
            tokens = list_tokens(session)
            services.audit.append(
                session,
                AuditEvent(
                    actor=staff.actor, action="token.listed", details={"count": len(tokens)}
                ),
            )
            session.commit()
        rows = [
            (
                str(t.id),
                t.role,
                t.name or f"(no name: {t.person} in the audit log)",
                _when(t.created_at),
                _when(t.revoked_at) if t.revoked_at else "active",
            )
            for t in tokens
        ]
        typer.echo(columns(("id", "role", "holder", "issued", "revoked"), rows))

    @group.command("revoke")
    def revoke_command(
        token_id: Annotated[int, typer.Argument(metavar="ID", help="Id from `token list`.")],
        token: TokenOption = None,
        strategy: StrategyOption = None,
    ) -> None:
        """End a token at once (requests or audit duty); the revocation is audited."""
        services = open_from_cli(strategy)
        staff = acting_staff(services, token, duties=_MANAGERS)
        with services.sessions() as session:
            known = {t.id: t for t in list_tokens(session)}
            if token_id not in known:
                typer.echo(
                    f"error: no token has id {token_id}: `tietotie token list` shows them", err=True
                )
                raise typer.Exit(1)
            target = known[token_id]
            if not revoke_token(session, token_id):
                typer.echo(f"token {token_id} was already revoked on {_when(target.revoked_at)}")
                return
            services.audit.append(
                session,
                AuditEvent(
                    actor=staff.actor,
                    action="token.revoked",
                    details={"token": token_id, "role": target.role},
                ),
            )
            session.commit()
        own = (
            " (your own: this shell's token no longer works)" if token_id == staff.token_id else ""
        )
        typer.echo(f"token {token_id} of {target.person} (role {target.role}) revoked{own}")
