"""JUnit reports of `tietotie policy check`: failures in an auditor's words, never a traceback."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from access_policy import Policy, run_checks
from tietotie.cli import get_app

from .conftest import BUNDLED

runner = CliRunner()

FAILING = """Feature: Marketing sees only what reminders need
  Rule: Art. 5(1)(c) data minimisation
    Scenario: marketing may not change how a customer wants to be reached
      Given the role "marketing"
      When it writes "customer.preferred_channel" for "seasonal-reminders"
      Then access is denied

    Scenario: marketing reads the email for reminders
      Given the role "marketing"
      When it reads "customer.email" for "seasonal-reminders"
      Then access is allowed

  Scenario: a typo in the role
    Given the role "marketer"
    When it reads "customer.email" for "seasonal-reminders"
    Then access is allowed

  Scenario: deleting is not a step
    Given the role "marketing"
    When it deletes "customer.email" for "seasonal-reminders"
"""

# What pytest's own report put in the body before: none of it may reach an auditor.
TRACEBACK_MARKS = ("Traceback", "fixturefunc", "_pytest", "site-packages", ".py:", "raise ")


def run(tmp_path: Path, text: str = FAILING) -> tuple[Path, ET.Element]:
    path = tmp_path / "marketing.feature"
    path.write_text(text, encoding="utf-8")
    junit = tmp_path / "out" / "checks.xml"
    result = runner.invoke(
        get_app(), ["policy", "check", str(path), "-s", str(BUNDLED), "--junit", str(junit)]
    )
    assert result.exit_code in (0, 1), result.output
    return path, ET.parse(junit).getroot()


def cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_a_mismatch_reports_scenario_step_expectation_and_the_policys_answer(tmp_path: Path):
    """A failed expectation's body lists scenario, step, expectation and the policy's answer."""
    path, root = run(tmp_path)
    failure = cases(root)["marketing may not change how a customer wants to be reached"].find(
        "failure"
    )
    assert failure is not None
    assert failure.get("type") == "policy mismatch"
    assert failure.get("message") == (
        "marketing writes customer.preferred_channel for seasonal-reminders: expected denied, "
        "policy says allowed (the grant of marketing for seasonal-reminders lists "
        "customer.preferred_channel under write)"
    )
    assert (failure.text or "").splitlines() == [
        "Scenario: marketing may not change how a customer wants to be reached",
        "Feature: Marketing sees only what reminders need",
        "Rule: Art. 5(1)(c) data minimisation",
        f"File: {path}:3",
        "Step: Then access is denied (line 6)",
        "Asked: marketing writes customer.preferred_channel for seasonal-reminders",
        "Expected: denied",
        "Policy says: allowed (the grant of marketing for seasonal-reminders lists "
        "customer.preferred_channel under write)",
    ]


def test_no_failure_body_carries_a_python_traceback(tmp_path: Path):
    """Neither the message nor the body of any failure shows pytest's or Python's internals."""
    _, root = run(tmp_path)
    failures = list(root.iter("failure"))
    assert len(failures) == 3
    for failure in failures:
        shown = (failure.get("message") or "") + "\n" + (failure.text or "")
        assert not [mark for mark in TRACEBACK_MARKS if mark in shown], shown


def test_a_step_that_cannot_run_names_the_step_and_the_problem(tmp_path: Path):
    """An unknown role or step is a check error naming the step and what is wrong."""
    _, root = run(tmp_path)
    found = cases(root)
    typo = found["a typo in the role"].find("failure")
    assert typo is not None and typo.get("type") == "check error"
    body = (typo.text or "").splitlines()
    assert 'Step: Given the role "marketer" (line 14)' in body
    assert any(
        line.startswith("Problem: unknown role 'marketer'; did you mean 'marketing'?")
        for line in body
    ), body
    unknown = found["deleting is not a step"].find("failure")
    assert unknown is not None
    assert 'Step: When it deletes "customer.email" for "seasonal-reminders" (line 20)' in (
        unknown.text or ""
    )
    assert "see the step vocabulary" in (unknown.get("message") or "")


def test_the_report_is_well_formed_xunit2_with_one_case_per_scenario(tmp_path: Path):
    """One suite, counts matching its cases, named by feature and scenario, xunit2 attributes."""
    _, root = run(tmp_path)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    testcases = suite.findall("testcase")
    assert suite.get("tests") == str(len(testcases)) == "4"
    assert suite.get("failures") == str(len(suite.findall("testcase/failure"))) == "3"
    assert suite.get("errors") == "0" and suite.get("skipped") == "0"
    for case in testcases:
        assert set(case.attrib) == {"classname", "name", "time"}
        assert case.get("classname") == "Marketing sees only what reminders need"
        assert float(case.get("time", "x")) >= 0
        assert [child.tag for child in case] in ([], ["failure"])
    passing = cases(root)["marketing reads the email for reminders"]
    assert passing.find("failure") is None


def test_characters_xml_cannot_hold_are_shown_escaped(tmp_path: Path, bundled_policy: Policy):
    """A control character in a scenario name is written as \\xNN, so the report still parses."""
    path = tmp_path / "odd.feature"
    path.write_text(
        'Feature: odd\n  Scenario: bell\x07 in the name\n    Given the role "marketer"\n',
        encoding="utf-8",
    )
    junit = tmp_path / "odd.xml"
    report = run_checks([path], policy=bundled_policy, junit=junit)
    assert report.failed == 1
    names = [case.get("name") for case in ET.parse(junit).getroot().iter("testcase")]
    assert names == ["bell\\x07 in the name"]


def test_the_terminal_names_the_failing_step_and_its_line(tmp_path: Path):
    """The CLI's verdict points at the step that failed, not only at the scenario."""
    path = tmp_path / "marketing.feature"
    path.write_text(FAILING, encoding="utf-8")
    result = runner.invoke(get_app(), ["policy", "check", str(path), "-s", str(BUNDLED)])
    assert result.exit_code == 1, result.output
    assert "step 'Then access is denied' (line 6)" in result.output
    assert "Traceback" not in result.output and "fixturefunc" not in result.output


def test_the_body_shows_the_feature_file_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Run from the checkout, a failure names the feature file as the auditor wrote its path."""
    monkeypatch.chdir(tmp_path)
    _, root = run(tmp_path)
    failure = cases(root)["a typo in the role"].find("failure")
    assert failure is not None
    assert "File: marketing.feature:13" in (failure.text or "").splitlines()
