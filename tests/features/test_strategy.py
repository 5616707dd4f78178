"""Bindings of strategy.feature: process owners validating their declarations."""

from __future__ import annotations

import shutil
from pathlib import Path

from pytest_bdd import given, parsers, scenarios, then, when

from schemas import LoadResult, validate

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "tests" / "schemas" / "minimal"

scenarios("strategy.feature")


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n")


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


@given("a copy of the minimal strategy", target_fixture="strategy_path")
def minimal_copy(tmp_path: Path) -> Path:
    target = tmp_path / "strategy"
    shutil.copytree(MINIMAL, target)
    return target


@given(parsers.re(r'in "(?P<file>[^"]+)" the line "(?P<old>[^"]+)" reads "(?P<new>[^"]*)"'))
def edit(strategy_path: Path, file: str, old: str, new: str) -> None:
    path = strategy_path / file
    text = path.read_text(encoding="utf-8")
    old, new = _unescape(old), _unescape(new)
    assert old in text, f"{old!r} is not in {file}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


# ── When ─────────────────────────────────────────────────────────────────────────────────────


@when("the process owner validates it", target_fixture="result")
def validate_it(strategy_path: Path) -> LoadResult:
    return validate(str(strategy_path))


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


@then("no error is reported")
def no_error(result: LoadResult) -> None:
    errors = [
        f"{f.position} {f.rule} {f.message}" for f in result.findings if f.severity == "error"
    ]
    assert result.ok and not errors, errors


@then(
    parsers.parse(
        "the summary counts at least {goals:d} goals, {uses:d} uses, "
        "{questions:d} questions, {sources:d} sources and {entities:d} entities"
    )
)
def counts(
    result: LoadResult, goals: int, uses: int, questions: int, sources: int, entities: int
) -> None:
    s = result.strategy
    assert s is not None
    assert len(s.goals) >= goals and len(s.uses) >= uses and len(s.questions) >= questions
    assert len(s.sources) >= sources and len(s.system.entities) >= entities


@then(parsers.parse('"{rule}" is reported in "{file}" at the line containing "{text}"'))
def reported_at(result: LoadResult, strategy_path: Path, rule: str, file: str, text: str) -> None:
    lines = (strategy_path / file).read_text(encoding="utf-8").splitlines()
    expected = next(i for i, line in enumerate(lines, 1) if text in line)
    where = [(Path(f.file).name, f.line) for f in result.findings if f.rule == rule]
    assert (file, expected) in where, f"{rule} reported at {where}, expected {file}:{expected}"


@then(parsers.parse('the hint suggests "{suggestion}"'))
def hint_suggests(result: LoadResult, suggestion: str) -> None:
    hints = [f.hint for f in result.findings if f.rule == "unknown-key"]
    assert any(f"'{suggestion}'" in h for h in hints), hints


@then("it is the only finding, and it says how many others it explains")
def only_finding_explaining(result: LoadResult) -> None:
    (only,) = result.findings
    assert only.explains > 0
    assert f"(this also explains {only.explains} other findings, not shown" in only.message


@then(parsers.parse('the message names "{where}"'))
def message_names(result: LoadResult, where: str) -> None:
    assert any(where in f.message for f in result.findings), [f.message for f in result.findings]


@then(parsers.parse('the hint lists "{values}"'))
def hint_lists(result: LoadResult, values: str) -> None:
    assert any(values in f.hint for f in result.findings), [f.hint for f in result.findings]
