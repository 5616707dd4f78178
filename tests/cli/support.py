"""Helpers for tests that run the CLI as a member of staff: a token issued the way staff get one."""

from __future__ import annotations

from typer.testing import CliRunner

from tietotie.cli import get_app

__all__ = ["cli_token"]


def cli_token(role: str, name: str) -> str:
    """A new staff token of ``role`` held by ``name``, issued by `tietotie token issue` into the
    database the settings point at (the test's ``service_env``)."""
    result = CliRunner().invoke(get_app(), ["token", "issue", "--role", role, "--name", name])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()
