"""Bindings of dpia.feature: the DPIA screening of every use (Art. 35, WP248)."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from schemas import load_strategy, validate
from schemas.dpia import UseScreening, screen
from tietotie.cli import get_app

ROOT = Path(__file__).resolve().parents[2]

scenarios("dpia.feature")

Screenings = dict[str, UseScreening]


# ── Given ────────────────────────────────────────────────────────────────────────────────────


@given("the bundled strategy", target_fixture="strategy_path")
def bundled_strategy() -> Path:
    return ROOT / "strategy"


@given(parsers.parse('the strategy in "{relative}"'), target_fixture="strategy_path")
def strategy_in(relative: str) -> Path:
    return ROOT / relative


@given("a copy of the bundled strategy", target_fixture="strategy_path")
def bundled_copy(tmp_path: Path) -> Path:
    target = tmp_path / "strategy"
    shutil.copytree(ROOT / "strategy", target)
    return target


@given(parsers.re(r'in "(?P<file>[^"]+)" the line "(?P<old>[^"]+)" reads "(?P<new>[^"]*)"'))
def edit(strategy_path: Path, file: str, old: str, new: str) -> None:
    path = strategy_path / file
    text = path.read_text(encoding="utf-8")
    new = new.replace("\\n", "\n")
    assert old in text, f"{old!r} is not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ── When ─────────────────────────────────────────────────────────────────────────────────────


@when(parsers.parse("the uses are screened on {day}"), target_fixture="screenings")
def screened(strategy_path: Path, day: str) -> Screenings:
    result = load_strategy(strategy_path)
    assert result.strategy is not None, [f.message for f in result.findings]
    return {s.use: s for s in screen(result.strategy, today=date.fromisoformat(day))}


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


@then("no use needs a DPIA")
def none_required(screenings: Screenings) -> None:
    assert [u for u, s in screenings.items() if s.required] == []


@then(parsers.parse('"{use}" meets only "{criterion}"'))
def meets_only(screenings: Screenings, use: str, criterion: str) -> None:
    assert screenings[use].criteria == [criterion]
    assert not screenings[use].required


@then(parsers.parse('"{use}" needs a DPIA for "{criteria}"'))
def needs(screenings: Screenings, use: str, criteria: str) -> None:
    screening = screenings[use]
    assert screening.required
    assert set(screening.criteria) == {c.strip() for c in criteria.split(",")}


@then(parsers.parse('"{use}" does not need a DPIA'))
def does_not_need(screenings: Screenings, use: str) -> None:
    assert not screenings[use].required and screenings[use].problem is None


@then(parsers.parse('"{use}" is the case of Art. "{case}"'))
def listed_case(screenings: Screenings, use: str, case: str) -> None:
    assert screenings[use].listed_case == case


@then(parsers.parse('the DPIA of "{use}" is "{status}"'))
def dpia_status(screenings: Screenings, use: str, status: str) -> None:
    assert screenings[use].status == status


@then(parsers.parse('"{use}" has the problem "{problem}"'))
def dpia_problem(screenings: Screenings, use: str, problem: str) -> None:
    assert screenings[use].problem == (None if problem == "none" else problem)


@then(parsers.parse('validate warns "{rule}" in "{file}" at the line containing "{text}"'))
def warns_at(strategy_path: Path, rule: str, file: str, text: str) -> None:
    lines = (strategy_path / file).read_text(encoding="utf-8").splitlines()
    expected = next(i for i, line in enumerate(lines, 1) if text in line)
    result = validate(str(strategy_path))
    hits = [f for f in result.findings if f.rule == rule]
    assert [(Path(f.file).name, f.line, f.severity) for f in hits] == [(file, expected, "warning")]
    assert result.ok


@then(parsers.parse('validate --strict fails on "{rule}"'))
def strict_fails(strategy_path: Path, rule: str) -> None:
    run = CliRunner().invoke(get_app(), ["validate", str(strategy_path), "--strict"])
    assert run.exit_code == 1, run.output
    assert f"error {rule}" in run.output
