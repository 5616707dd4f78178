"""`tietotie policy check`: auditors run Gherkin against the policy and get a verdict."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pytest_bdd.feature import get_features
from typer.testing import CliRunner

from access_policy import Policy, run_checks
from tietotie.cli import get_app

from .conftest import BUNDLED, MINIMAL, ROOT

runner = CliRunner()
EXAMPLES = sorted((ROOT / "access_policy" / "checks").glob("*.feature"))


def scenario_count(paths: list[Path]) -> int:
    """Scenarios in the files, each Examples row of an outline counted once."""
    total = 0
    for feature in get_features([str(p) for p in paths]):
        for template in feature.scenarios.values():
            rows = sum(len(ex.examples) for ex in template.examples)
            total += rows or 1
    return total


def check(*args: str):
    return runner.invoke(get_app(), ["policy", "check", *args])


def feature(tmp_path: Path, body: str, name: str = "audit.feature") -> Path:
    path = tmp_path / name
    path.write_text("Feature: An auditor's spot checks\n" + body, encoding="utf-8")
    return path


def junit_counts(path: Path) -> dict[str, int]:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}


def test_the_bundled_example_checks_all_pass_with_junit_counts(tmp_path: Path):
    assert len(EXAMPLES) >= 2
    junit = tmp_path / "report.xml"
    result = check(*map(str, EXAMPLES), "--strategy", str(BUNDLED), "--junit", str(junit))
    assert result.exit_code == 0, result.output
    expected = scenario_count(EXAMPLES)
    assert expected >= 20
    assert f"{expected} scenarios: {expected} passed, 0 failed" in result.output
    assert result.output.count("✓") == expected
    assert "✓ marketing reads the email for reminders" in result.output
    assert "Rule: Art. 9 special categories" in result.output
    assert junit_counts(junit) == {"tests": expected, "failures": 0, "errors": 0, "skipped": 0}


def test_a_wrong_expectation_fails_in_plain_words_and_exits_one(tmp_path: Path):
    path = feature(
        tmp_path,
        """
  Scenario: marketing may not change how a customer wants to be reached
    Given the role "marketing"
    When it writes "customer.preferred_channel" for "seasonal-reminders"
    Then access is denied

  Scenario: marketing reads the email for reminders
    Given the role "marketing"
    When it reads "customer.email" for "seasonal-reminders"
    Then access is allowed
""",
    )
    junit = tmp_path / "j.xml"
    result = check(str(path), "-s", str(BUNDLED), "--junit", str(junit))
    assert result.exit_code == 1, result.output
    assert (
        "✗ marketing may not change how a customer wants to be reached: marketing writes "
        "customer.preferred_channel for seasonal-reminders: expected denied, policy says "
        "allowed (the grant of marketing for seasonal-reminders lists "
        "customer.preferred_channel under write)"
    ) in result.output
    assert f"at {path}:3" in result.output or "audit.feature:3" in result.output
    assert "2 scenarios: 1 passed, 1 failed" in result.output
    assert junit_counts(junit)["failures"] == 1


def test_an_unknown_role_or_field_fails_the_scenario_naming_it(tmp_path: Path):
    path = feature(
        tmp_path,
        """
  Scenario: a typo in the role
    Given the role "marketer"
    When it reads "customer.email" for "seasonal-reminders"
    Then access is allowed

  Scenario: a typo in the field
    Given the role "marketing"
    When it reads "customer.mail" for "seasonal-reminders"
    Then access is allowed

  Scenario: a word the vocabulary does not have
    Given the role "marketing"
    When it reads "customer.email" for "seasonal-reminders"
    Then access is granted
""",
    )
    result = check(str(path), "--strategy", str(BUNDLED))
    assert result.exit_code == 1, result.output
    assert "unknown role 'marketer'; did you mean 'marketing'?" in result.output
    assert "unknown field 'customer.mail'; did you mean 'customer.email'?" in result.output
    assert "'Then access is granted': say allowed, masked or denied" in result.output
    assert "3 scenarios: 0 passed, 3 failed" in result.output


def test_a_step_outside_the_vocabulary_fails_the_scenario_saying_so(tmp_path: Path):
    path = feature(
        tmp_path,
        """
  Scenario: deleting is not a step
    Given the role "marketing"
    When it deletes "customer.email" for "seasonal-reminders"
    Then access is denied
""",
    )
    result = check(str(path), "--strategy", str(BUNDLED))
    assert result.exit_code == 1
    assert (
        'no step matches \'When it deletes "customer.email" for "seasonal-reminders"\''
        in result.output
    )


def test_outlines_report_each_examples_row(tmp_path: Path):
    path = feature(
        tmp_path,
        """
  @art5
  Scenario Outline: the owner reads reminder fields
    Given the role "owner"
    When it reads "<field>" for "reminders"
    Then access is <decision>

    Examples:
      | field          | decision |
      | customer.email | allowed  |
      | customer.name  | masked   |
      | customer.phone | allowed  |
""",
    )
    result = check(str(path), "--strategy", str(MINIMAL))
    assert result.exit_code == 1, result.output
    assert "✓ the owner reads reminder fields (customer.email, allowed)" in result.output
    assert "✓ the owner reads reminder fields (customer.name, masked)" in result.output
    assert (
        "✗ the owner reads reminder fields (customer.phone, allowed): owner reads "
        "customer.phone for reminders: expected allowed, policy says denied"
    ) in result.output


def test_the_coverage_table_shows_cells_no_scenario_touched(tmp_path: Path):
    path = feature(
        tmp_path,
        """
  Scenario: the owner reads the email for reminders
    Given the role "owner"
    When it reads "customer.email" for "reminders"
    Then access is allowed
""",
    )
    result = check(str(path), "--strategy", str(MINIMAL))
    assert result.exit_code == 0, result.output
    assert "Role × field cells no scenario touched" in result.output
    owner = next(line for line in result.output.splitlines() if "│ owner" in line)
    assert "1/9" in owner and "customer.name" in owner and "customer.email" not in owner
    clerk = next(line for line in result.output.splitlines() if "│ clerk" in line)
    assert "0/9" in clerk


def test_a_missing_feature_file_is_a_usage_error(tmp_path: Path):
    result = check(str(tmp_path / "nope.feature"), "--strategy", str(MINIMAL))
    assert result.exit_code == 2
    assert "no such feature file" in " ".join(result.output.replace("│", " ").split())


def test_a_feature_file_that_cannot_be_parsed_is_a_usage_error(tmp_path: Path):
    path = tmp_path / "broken.feature"
    path.write_text('Scenario: no feature line\n  Given the role "owner"\n', encoding="utf-8")
    result = check(str(path), "--strategy", str(MINIMAL))
    assert result.exit_code == 2, result.output
    assert f"cannot run: {path}:1: Misplaced or incorrect 'Scenario' keyword" in result.output
    assert "nothing was checked" in result.output
    empty = tmp_path / "empty.feature"
    empty.write_text("Feature: nothing yet\n", encoding="utf-8")
    result = check(str(empty), "--strategy", str(MINIMAL))
    assert result.exit_code == 2
    assert f"{empty}: holds no scenarios" in result.output


def test_runs_in_one_process_do_not_leak_into_each_other(tmp_path: Path, minimal_policy: Policy):
    first = feature(
        tmp_path,
        """
  Scenario: one
    Given the role "owner"
    When it reads "customer.email" for "reminders"
    Then access is allowed
""",
        "one.feature",
    )
    second = feature(
        tmp_path,
        """
  Scenario: two
    Given the role "clerk"
    When it reads "customer.email" for "service"
    Then access is allowed
""",
        "two.feature",
    )
    a = run_checks([first], policy=minimal_policy)
    b = run_checks([second], policy=minimal_policy)
    assert [(r.name, r.passed) for r in a.results] == [("one", True)]
    assert [(r.name, r.passed) for r in b.results] == [("two", False)]
    assert a.exit_code == 0 and b.exit_code == 1
    assert b.touched == {("clerk", "customer.email")}
