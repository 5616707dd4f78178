"""The command line starts fast: a command imports only what it uses, and the lazily loaded
app shows the same commands, help and suggestions as the app with everything registered."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pycountry
import pytest
import typer
from typer.testing import CliRunner

from schemas.countries import ALPHA_2, is_country_code
from tietotie.cli import get_app, lazy_app
from tietotie.commands.strategy import DEFAULT_STRATEGY
from tietotie.settings import Settings

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("fastapi", "starlette", "uvicorn", "jinja2", "sqlalchemy")
"""The web stack and the database layer: none of them is needed to read a strategy."""

runner = CliRunner()


_WRAPPER = """
import atexit, json, sys
atexit.register(lambda: print("MODULES " + json.dumps(sorted(sys.modules)), file=sys.stderr))
from tietotie.cli import main
main()
"""
"""The console script's ``main``, reporting on stderr every module loaded when it exits."""


def _imported(*argv: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``tietotie ARGV`` in a fresh interpreter; its result and every module it imported.

    Without ``TIETOTIE_*`` variables, from the repository, as a process owner runs it on the
    bundled strategy.
    """
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TIETOTIE_")}
    done = subprocess.run(
        [sys.executable, "-c", _WRAPPER, *argv],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    found = re.search(r"^MODULES (.*)$", done.stderr, re.M)
    assert found, done.stderr[-2000:]
    return done, set(json.loads(found.group(1)))


def _heavy(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize("argv", [["validate"], ["validate", "--format", "json"], ["dpia"]])
def test_strategy_commands_import_neither_the_web_stack_nor_sqlalchemy(argv: list[str]) -> None:
    """`tietotie validate` and `tietotie dpia` on the bundled strategy load no FastAPI,
    Starlette, uvicorn, Jinja2 or SQLAlchemy module, and no other command's module."""
    done, modules = _imported(*argv)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "0 errors" in done.stdout or '"ok": true' in done.stdout or "screened" in done.stdout
    assert _heavy(modules) == []
    commands = sorted(m for m in modules if m.startswith("tietotie.commands."))
    expected = {"strategy", "opened"} | ({"dpia"} if argv[0] == "dpia" else set())
    assert commands == sorted(f"tietotie.commands.{name}" for name in expected)


def test_the_access_matrix_imports_neither_the_web_stack_nor_sqlalchemy() -> None:
    """`tietotie policy matrix` compiles the policy and prints it without loading a database
    toolkit: the row filters as SQL (access_policy.rows) load only when asked for."""
    done, modules = _imported("policy", "matrix")
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert "marketing" in done.stdout
    assert _heavy(modules) == []
    assert "access_policy.rows" not in modules


def test_the_root_help_imports_no_command() -> None:
    """`tietotie --help` lists the commands without importing any of their modules."""
    done, modules = _imported("--help")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "validate" in done.stdout and "report" in done.stdout
    assert [m for m in modules if m.startswith(("tietotie.commands", "schemas"))] == []
    assert _heavy(modules) == []


@pytest.mark.parametrize("argv", [["--help"], []], ids=["--help", "no arguments"])
def test_the_root_help_is_the_full_apps(argv: list[str]) -> None:
    """The lazy root lists every command with the help the full app shows, in its order."""
    lazy = runner.invoke(lazy_app(), argv)
    full = runner.invoke(get_app(), argv)
    assert (lazy.exit_code, lazy.output) == (full.exit_code, full.output)
    assert "Commands" in full.output


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under ``command``, as the words that name it."""
    out = []
    for name, sub in getattr(command, "commands", {}).items():
        out.append((*prefix, name))
        out.extend(_paths(sub, (*prefix, name)))
    return out


def test_every_command_loads_by_its_name_with_the_full_apps_help() -> None:
    """Each command and group, named on a fresh lazy app, is found and shows exactly the help
    (usage, options, sub-commands) of the app with every module registered."""
    paths = _paths(typer.main.get_command(get_app()))
    assert len(paths) > 40
    for path in paths:
        lazy = runner.invoke(lazy_app(), [*path, "--help"])
        full = runner.invoke(get_app(), [*path, "--help"])
        assert lazy.exit_code == full.exit_code == 0, (path, lazy.output)
        assert lazy.output == full.output, path


@pytest.mark.parametrize("typo", ["valdate", "repor", "brech"])
def test_a_mistyped_command_is_answered_as_the_full_app_answers_it(typo: str) -> None:
    """A near miss gets "Did you mean …" naming a command whose module was never imported."""
    lazy = runner.invoke(lazy_app(), [typo])
    full = runner.invoke(get_app(), [typo])
    assert lazy.exit_code == 2
    assert "Did you mean" in lazy.output
    assert lazy.output == full.output


def test_the_default_strategy_is_the_settings_default() -> None:
    """Without TIETOTIE_* variables validate reads the strategy the settings would name."""
    assert Settings.model_fields["strategy"].default == DEFAULT_STRATEGY


def test_validate_prints_the_strategy_s_own_words_verbatim(tmp_path: Path) -> None:
    """A value that looks like markup or an emoji code is shown as written, not rendered."""
    root = tmp_path / "s"
    minimal = REPO / "tests" / "schemas" / "minimal"
    root.mkdir()
    for file in minimal.iterdir():
        (root / file.name).write_bytes(file.read_bytes())
    goal = root / "1-goal.yaml"
    goal.write_text(goal.read_text().replace("owner: owner", 'owner: "[red]x[/red] :smile:"'))
    result = runner.invoke(get_app(), ["validate", str(root)])
    assert result.exit_code == 1
    assert "'[red]x[/red] :smile:' is not a kebab-case id" in result.output


def test_the_country_codes_are_pycountry_s() -> None:
    """The written-out ISO 3166-1 codes are pycountry's, and are looked up as pycountry does."""
    assert {country.alpha_2 for country in pycountry.countries} == ALPHA_2
    for code in ("FI", "fi", "Se", "XX", "FIN", "", "ﬁ"):
        expected = pycountry.countries.get(alpha_2=code) is not None
        assert is_country_code(code) is expected, code
