"""`tietotie validate` as a process owner meets it: output, exit codes and formats."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from tietotie.cli import get_app

MINIMAL = Path(__file__).parent / "schemas" / "minimal"
runner = CliRunner()


def test_a_clean_strategy_exits_zero_and_prints_the_summary() -> None:
    """The summary counts what every step declares."""
    result = runner.invoke(get_app(), ["validate", str(MINIMAL)])
    assert result.exit_code == 0, result.output
    assert (
        "1 goals, 3 uses, 1 questions, 3 sources, 3 entities, 9 fields, 1 reports, "
        "1 activations; 0 errors, 0 warnings" in result.output
    )


def test_errors_exit_one_grouped_by_step_with_position_rule_and_hint(tmp_path: Path) -> None:
    """Each finding shows file:line:col, its rule id and a hint, under its step's heading."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    goal = root / "1-goal.yaml"
    goal.write_text(goal.read_text().replace("owner: owner", "owner: boss"))
    result = runner.invoke(get_app(), ["validate", "--strategy", str(root)])
    assert result.exit_code == 1
    assert "── 1. goal ──" in result.output
    assert f"{goal}:4:12: error unknown-role role 'boss' is not declared" in result.output
    assert "hint: Declare the role under 'roles:'" in result.output
    assert "validation-rules.md#unknown-role" in result.output


def test_warnings_alone_do_not_fail(tmp_path: Path) -> None:
    """A strategy with only warnings exits 0."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    src = root / "4-sources.yaml"
    src.write_text(src.read_text().replace("cost_eur_per_record: 0.10", "cost_eur_per_record: 100"))
    result = runner.invoke(get_app(), ["validate", str(root)])
    assert result.exit_code == 0
    assert "warning cost-exceeds-value" in result.output


def test_json_format_is_machine_readable(tmp_path: Path) -> None:
    """--format json gives findings with rule, severity, file, line and column."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    use = root / "2-use.yaml"
    use.write_text(use.read_text().replace("legal_basis: contract", "legal_basis: contrakt"))
    result = runner.invoke(get_app(), ["validate", str(root), "--format", "json"])
    assert result.exit_code == 1
    body = json.loads(result.output)
    assert body["ok"] is False
    (hit,) = body["findings"]
    assert hit["rule"] == "invalid-value" and hit["severity"] == "error"
    assert hit["file"].endswith("2-use.yaml") and hit["line"] == 16
    assert hit["path"] == "uses.1.legal_basis"


def test_usage_errors_exit_two() -> None:
    """An unknown format or two different strategies is a usage error."""
    assert runner.invoke(get_app(), ["validate", "--format", "xml"]).exit_code == 2
    both = runner.invoke(get_app(), ["validate", str(MINIMAL), "--strategy", "elsewhere"])
    assert both.exit_code == 2


def test_the_strategy_comes_from_the_environment_when_not_given(monkeypatch) -> None:
    """TIETOTIE_STRATEGY names the default strategy."""
    from tietotie.settings import get_settings

    monkeypatch.setenv("TIETOTIE_STRATEGY", str(MINIMAL))
    get_settings.cache_clear()
    try:
        result = runner.invoke(get_app(), ["validate"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output


def test_a_typo_is_one_finding_that_counts_what_it_explains(tmp_path: Path) -> None:
    """A misspelt field shows as one error; the text says how many findings it explains and
    the JSON carries the same number."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    use = root / "2-use.yaml"
    use.write_text(use.read_text().replace("fields: [visit.amount_eur,", "fields: [visit.amount,"))
    body = json.loads(runner.invoke(get_app(), ["validate", str(root), "-f", "json"]).output)
    (hit,) = body["findings"]
    assert hit["rule"] == "unknown-field" and hit["explains"] > 0
    text = runner.invoke(get_app(), ["validate", str(root)])
    assert text.exit_code == 1
    verdict = f"1 error, 0 warnings (and {hit['explains']} that follow from them, not shown)"
    assert verdict in text.output
    assert "did you mean 'visit.amount_eur'?" in text.output


def test_the_page_each_hint_links_to_has_that_rules_section() -> None:
    """The hint's link, docs/guides/validation-rules.md#<rule>, opens a file of the checkout
    that holds the rule's section."""
    result = runner.invoke(get_app(), ["validate", str(MINIMAL.parent / "nowhere")])
    assert result.exit_code == 1
    target = next(w for w in result.output.split() if "validation-rules.md#" in w).strip("()")
    page, _, anchor = target.partition("#")
    repo = Path(__file__).resolve().parents[1]
    assert f"{{ #{anchor} }}" in (repo / page).read_text(encoding="utf-8")
