"""`tietotie serve` as an operator meets it: a busy port, a second `make run`."""

from __future__ import annotations

import re
import socket
import subprocess
from pathlib import Path

from sqlalchemy import select
from typer.testing import CliRunner

from dsar.auth import authenticate
from dsar.tables import staff_tokens
from kernel.errors import AuthError
from tests.conftest import ServiceEnv
from tietotie.app import open_services
from tietotie.cli import get_app
from tietotie.commands.serve import _prepare_demo, port_free
from tietotie.settings import get_settings

runner = CliRunner()


def test_a_busy_port_is_refused_with_a_hint_before_anything_starts(
    service_env: ServiceEnv,
) -> None:
    """With the port taken, serve exits 2 saying so and how to choose another; no seeding."""
    service_env()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert not port_free("127.0.0.1", port)
        result = runner.invoke(get_app(), ["serve", "--port", str(port), "--demo", "5"])
    assert result.exit_code == 2, result.output
    assert f"127.0.0.1:{port} is already in use" in result.output
    assert f"make run PORT={port + 1}" in result.output
    assert "seeded" not in result.output


def test_a_second_demo_start_revokes_the_token_the_first_printed(
    service_env: ServiceEnv, capsys
) -> None:
    """Each `make run` prints one working owner token and revokes the earlier one."""
    service_env()
    _prepare_demo(None, 3, "127.0.0.1", 8000)
    first = re.search(r"staff token\s+(\S+)", capsys.readouterr().out)
    _prepare_demo(None, 3, "127.0.0.1", 8000)
    out = capsys.readouterr().out
    second = re.search(r"staff token\s+(\S+)", out)
    assert first and second and first.group(1) != second.group(1)
    assert "revoked 1 staff token(s) printed by an earlier `make run`" in out
    services = open_services(get_settings())
    with services.sessions() as session:
        active = session.execute(
            select(staff_tokens.c.id).where(staff_tokens.c.revoked_at.is_(None))
        ).all()
        assert len(active) == 1
        assert authenticate(session, services.strategy, f"Bearer {second.group(1)}")
        try:
            authenticate(session, services.strategy, f"Bearer {first.group(1)}")
        except AuthError:
            pass
        else:
            raise AssertionError("the first token still works")
    services.engine.dispose()


def test_make_run_takes_host_and_port() -> None:
    """`make run HOST=… PORT=…` serves there (the dry run shows the serve command line)."""
    root = Path(__file__).resolve().parents[1]
    dry = subprocess.run(
        [
            "make",
            "-n",
            "-W",
            "pyproject.toml",
            "-o",
            ".venv/.installed",
            "run",
            "HOST=0.0.0.0",
            "PORT=8123",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    serve = next(line for line in dry.stdout.splitlines() if " serve " in line)
    assert "--host 0.0.0.0 --port 8123" in serve
