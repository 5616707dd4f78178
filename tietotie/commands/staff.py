"""Who runs a command: the staff token (``--token`` or ``TIETOTIE_TOKEN``) of commands that
read personal data or act on requests, and plain output that never cuts an id.

The token decides the role and names the person in the audit log, as over HTTP. Commands that
read only the strategy (validate, compile, docs, policy, settings, keys, db upgrade) need no
token. A missing, unknown or revoked token, a ``--role`` that is not the token's, or a role
without the duty a command needs ends the command with exit code 2 and what to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from dsar.auth import Staff, check_token
from kernel.errors import AuthError
from schemas.enums import Duty
from tietotie.wiring import Services

__all__ = ["TOKEN_VARIABLE", "TokenOption", "acting_staff", "columns", "refuse"]

TOKEN_VARIABLE = "TIETOTIE_TOKEN"  # noqa: S105 - the name of a variable, not a secret
"""The environment variable a staff token is read from when ``--token`` is not given."""

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=TOKEN_VARIABLE,
        show_envvar=True,
        show_default=False,
        help="Your staff token (`tietotie token issue --role ROLE --name NAME`); the command "
        "runs as its holder and role, and the audit log names you.",
    ),
]

_ISSUE = '`tietotie token issue --role ROLE --name "Your Name"`'


def refuse(message: str) -> NoReturn:
    """Say why the caller may not run the command, on stderr, and exit 2."""
    Console(stderr=True, highlight=False, soft_wrap=True).print(
        f"[red]error:[/red] {escape(message)}"
    )
    raise typer.Exit(2)


def acting_staff(
    services: Services,
    token: str | None,
    *,
    duties: Iterable[Duty] = (),
    role: str | None = None,
) -> Staff:
    """The staff member behind ``token``, holding one of ``duties`` (any, when several are
    given) and, if ``role`` is given, of that role; otherwise exit 2 with what to do."""
    if not token or not token.strip():
        refuse(
            "this command reads personal data or acts on requests, so it runs only with your "
            f"staff token: pass --token TOKEN or set {TOKEN_VARIABLE}. Whoever runs the "
            f"service issues one with {_ISSUE}."
        )
    with services.sessions() as session:
        try:
            staff = check_token(session, services.strategy, token)
        except AuthError as exc:
            refuse(
                f"{exc.message}: ask for a new token ({_ISSUE}); `tietotie token list` shows "
                "which tokens are revoked"
            )
    if role is not None and role != staff.role:
        refuse(
            f"--role {role} does not match your token, which is for role {staff.role!r}: leave "
            "--role out (the token decides the role) or use a token of that role"
        )
    wanted = list(duties)
    if wanted and not any(d in staff.duties for d in wanted):
        names = " or ".join(repr(d.value) for d in wanted)
        refuse(
            f"role {staff.role!r} does not have the duty {names} this command needs: use the "
            "token of a role that has it (duties in organisation.yaml)"
        )
    return staff


def columns(headers: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """Rows as plain text in aligned columns, every value whole (ids are never cut, whatever
    the terminal's width); the last column is not padded."""
    table = [list(headers), *([str(v) for v in row] for row in rows)]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    lines = (
        "  ".join(v.ljust(w) for v, w in zip(r[:-1], widths[:-1], strict=True)) + "  " + r[-1]
        for r in table
    )
    return "\n".join(line.rstrip() for line in lines)
