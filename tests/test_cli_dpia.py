"""`tietotie dpia` as a DPO meets it, and `tietotie validate --strict` as CI meets it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from tietotie.cli import get_app

ROOT = Path(__file__).resolve().parents[1]
BUNDLED = ROOT / "strategy"
B2B = ROOT / "tests" / "examples" / "b2b-wholesaler"
runner = CliRunner()
WIDE = {"COLUMNS": "160"}  # every table row on one line


def test_the_table_lists_every_use_with_its_criteria_verdict_and_dpia() -> None:
    """The bundled strategy: seven uses, none requiring a DPIA, the voluntary one shown."""
    result = runner.invoke(
        get_app(), ["dpia", "--strategy", str(BUNDLED), "--on", "2027-01-01"], env=WIDE
    )
    assert result.exit_code == 0, result.output
    for use in ("service-history", "accessibility-service", "customer-feedback"):
        assert use in result.output
    row = next(line for line in result.output.splitlines() if "accessibility-service" in line)
    assert "sensitive_data" in row and "not required" in row
    assert "TVA-2026-01, review by 2028-11-16" in row
    assert "sensitive_data: it holds special-category or criminal data: " in result.output
    assert "7 uses screened: 0 need a DPIA, 0 of them without one in date; 1 DPIA declared" in (
        " ".join(result.output.split())
    )


def test_json_gives_each_use_and_the_nine_criteria() -> None:
    """The wholesaler's two uses that need a DPIA are missing one; JSON carries why."""
    result = runner.invoke(get_app(), ["dpia", str(B2B), "--format", "json", "--on", "2027-01-01"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["on"] == "2027-01-01" and body["large_scale_records_per_year"] == 10_000
    assert [c["number"] for c in body["criteria"]] == list(range(1, 10))
    uses = {u["use"]: u for u in body["uses"]}
    order = uses["order-handling"]
    assert order["required"] and order["status"] == "missing" and order["problem"] == "missing"
    assert order["criteria"] == ["large_scale", "matching_datasets"]
    assert order["evidence"]["large_scale"] == ["webshop-checkout"] and order["dpia"] is None
    assert uses["product-panel"]["required"] is False and uses["product-panel"]["problem"] is None


def test_a_date_after_the_review_shows_the_review_due() -> None:
    """--on a day after review_by: the voluntary DPIA is shown as due, in JSON and the table."""
    args = ["dpia", str(BUNDLED), "--on", "2028-11-17"]
    body = json.loads(runner.invoke(get_app(), [*args, "-f", "json"]).output)
    access = next(u for u in body["uses"] if u["use"] == "accessibility-service")
    assert access["status"] == "review_due" and access["problem"] is None
    assert access["dpia"]["review_by"] == "2028-11-16"
    table = runner.invoke(get_app(), args, env=WIDE)
    row = next(line for line in table.output.splitlines() if "accessibility-service" in line)
    assert "TVA-2026-01, review due since 2028-11-16" in row


def test_a_bad_date_is_a_usage_error_naming_the_option() -> None:
    result = runner.invoke(get_app(), ["dpia", str(BUNDLED), "--on", "next week"])
    assert result.exit_code == 2
    assert "--on" in result.output and "YYYY-MM-DD" in result.output


def test_an_unreadable_strategy_exits_two_and_says_what_to_run(tmp_path: Path) -> None:
    result = runner.invoke(get_app(), ["dpia", str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert "could not be read as a strategy" in result.output


def test_validate_strict_turns_the_missing_dpia_into_an_error(tmp_path: Path) -> None:
    """Without --strict the wholesaler validates (warnings only); with it, it fails, and the
    bundled strategy, which declares what it needs, passes either way."""
    plain = runner.invoke(get_app(), ["validate", str(B2B)])
    assert plain.exit_code == 0, plain.output
    assert "warning dpia-required use 'order-handling' meets 2 of the 9" in plain.output
    strict = runner.invoke(get_app(), ["validate", str(B2B), "--strict"])
    assert strict.exit_code == 1
    assert "error dpia-required use 'order-handling'" in strict.output
    as_json = json.loads(
        runner.invoke(get_app(), ["validate", str(B2B), "--strict", "-f", "json"]).output
    )
    assert as_json["ok"] is False
    assert {f["severity"] for f in as_json["findings"]} == {"error"}
    assert runner.invoke(get_app(), ["validate", str(BUNDLED), "--strict"]).exit_code == 0


def test_strict_fails_on_a_use_that_newly_needs_a_dpia(tmp_path: Path) -> None:
    """A copy of the bundled strategy whose service history starts deciding automatically."""
    root = tmp_path / "strategy"
    shutil.copytree(BUNDLED, root)
    uses = root / "2-use.yaml"
    text = uses.read_text(encoding="utf-8")
    uses.write_text(
        text.replace("automated_decision_making: false", "automated_decision_making: true", 1)
    )
    result = runner.invoke(get_app(), ["validate", str(root), "--strict"])
    assert result.exit_code == 1
    assert (
        "use 'service-history' meets 2 of the 9 WP248 criteria "
        "(automated_decision, matching_datasets)" in result.output
    )
