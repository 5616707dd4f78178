"""`tietotie consent verify-receipt FILE` and `consent public-key`: check signed receipts;
`consent check-current`: compare the current-state table with the ledger, and rebuild it."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from consent.receipts import ReceiptCheck, ReceiptSigner, verify_receipt
from kernel.errors import TietotieError
from kernel.keys import Keyring
from tietotie.commands.strategy import StrategyOption
from tietotie.keys import open_keyring
from tietotie.settings import get_settings

__all__ = ["register"]


def _public_key(text: str) -> bytes:
    cleaned = text.strip()
    try:
        raw = base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        raise typer.BadParameter(
            "give the key as base64url (what `tietotie consent public-key` prints)",
            param_hint="--public-key",
        ) from None
    if len(raw) != 32:
        raise typer.BadParameter(
            f"an Ed25519 public key is 32 bytes, this one is {len(raw)}", param_hint="--public-key"
        )
    return raw


def _summary(check: ReceiptCheck) -> list[str]:
    claims = check.claims or {}
    ext = claims.get("extensions") or {}
    return [
        f"  receipt   {claims.get('consentReceiptID', '?')}",
        f"  subject   {claims.get('piiPrincipalId', '?')}",
        f"  use       {ext.get('use', '?')}: {ext.get('state', '?')} "
        f"at {ext.get('eventTime', '?')}",
        f"  source    {ext.get('source', '?')} ({ext.get('channel', '?')}), "
        f"notice {ext.get('notice', '?')}",
    ]


def register(app: typer.Typer) -> None:
    """Add the ``consent`` command group to ``app``."""
    consent_app = typer.Typer(
        name="consent",
        help="The consent ledger: verify signed receipts (Kantara v1.1, Ed25519 JWS) and check "
        "the current-state table against it.",
        no_args_is_help=True,
    )
    app.add_typer(consent_app, name="consent")

    @consent_app.command("verify-receipt")
    def verify_receipt_command(
        file: Annotated[
            Path,
            typer.Argument(
                help="A receipt: the JWS text, or the JSON answer of POST /v1/consents.",
                exists=True,
                dir_okay=False,
                readable=True,
            ),
        ],
        public_key: Annotated[
            str | None,
            typer.Option(
                "--public-key",
                help="Verify against this controller key (base64url) instead of the keyring.",
            ),
        ] = None,
        embedded: Annotated[
            bool,
            typer.Option(
                "--embedded",
                help="Only check the receipt against the key it carries (integrity, not origin).",
            ),
        ] = False,
    ) -> None:
        """Verify a consent receipt's signature: exit 0 when valid, 1 when not (with the reason).

        By default the receipt must be signed by the controller's key from the keyring
        (TIETOTIE_MASTER_KEY / key file); without a keyring it falls back to the embedded key
        and says so.
        """
        out = Console(highlight=False, soft_wrap=True)
        err = Console(stderr=True, highlight=False, soft_wrap=True)
        pinned = _public_key(public_key) if public_key else None
        keyring: Keyring | None = None
        if pinned is None and not embedded:
            try:
                keyring = open_keyring(get_settings())
            except (TietotieError, OSError) as exc:
                reason = exc.message if isinstance(exc, TietotieError) else str(exc)
                err.print(
                    f"note: no keyring ({reason}); checking against the embedded key only",
                    markup=False,
                )
        text = file.read_text(encoding="utf-8", errors="replace")
        check = verify_receipt(text, keyring=keyring, public_key=pinned)
        if check.valid:
            out.print(f"valid: {check.reason}", markup=False)
            for line in _summary(check):
                out.print(line, markup=False)
            raise typer.Exit(0)
        out.print(f"invalid: {check.reason}", markup=False)
        raise typer.Exit(1)

    @consent_app.command("public-key")
    def public_key_command(
        version: Annotated[
            int | None,
            typer.Option("--version", help="Keyring data key version (default: current)."),
        ] = None,
    ) -> None:
        """Print the controller's receipt-verifying public key (base64url), to publish or pin."""
        try:
            signer = ReceiptSigner(open_keyring(get_settings()))
            key = signer.public_key_b64(version)
        except (TietotieError, OSError) as exc:
            reason = exc.message if isinstance(exc, TietotieError) else str(exc)
            typer.secho(f"error: {reason}", err=True, fg=typer.colors.RED)
            raise typer.Exit(1) from None
        chosen = signer.current_version if version is None else version
        typer.echo(f"{key}  (Ed25519, consent-receipt-v{chosen})")

    @consent_app.command("check-current")
    def check_current_command(
        strategy: StrategyOption = None,
        rebuild: Annotated[
            bool,
            typer.Option(
                "--rebuild",
                help="Recompute the table from the ledger (one transaction), then check again.",
            ),
        ] = False,
    ) -> None:
        """Check that consent_current holds every (use, subject) pair's latest ledger event:
        exit 0 when it does, 1 with the counts of missing, stale and extra rows when not.

        Needs no token: it prints counts only. The ledger is the proof and is never changed;
        ``--rebuild`` rewrites only the derived table.
        """
        from consent.current import drift
        from consent.current import rebuild as rebuild_current
        from tietotie.commands.service import open_from_cli

        services = open_from_cli(strategy)
        out = Console(highlight=False, soft_wrap=True)
        if rebuild:
            with services.engine.begin() as conn:
                written = rebuild_current(conn)
            out.print(f"rebuilt consent_current from the ledger: {written:,} pairs")
        with services.engine.connect() as conn:
            found = drift(conn)
        if found.ok:
            out.print(f"consent_current agrees with the ledger: {found.pairs:,} pairs")
            return
        out.print(
            f"[red]consent_current DISAGREES with the ledger[/red] ({found.pairs:,} pairs): "
            f"{found.missing:,} missing, {found.stale:,} stale, {found.extra:,} extra; "
            "run `tietotie consent check-current --rebuild`"
        )
        raise typer.Exit(1)
