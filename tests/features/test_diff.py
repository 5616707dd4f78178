"""Bindings of diff.feature: a data protection officer reviewing a strategy change with the CLI."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_bdd import given, parsers, scenarios, then, when
from typer.testing import CliRunner

from tests.governance.diff_support import declarations, item, write_strategy
from tietotie.cli import get_app

scenarios("diff.feature")


@dataclass(frozen=True)
class Review:
    """What the DPO got: the exit status, the Markdown review and the same as JSON."""

    exit_code: int
    markdown: str
    document: dict[str, Any]

    def change(self, change_id: str) -> dict[str, Any]:
        found = [c for c in self.document["changes"] if c["id"] == change_id]
        assert found, f"{change_id} not in {[c['id'] for c in self.document['changes']]}"
        return found[0]


# ── Given ────────────────────────────────────────────────────────────────────────────────────


@given("the bundled strategy as it is deployed", target_fixture="deployed")
def deployed() -> dict[str, Any]:
    return declarations()


@given(
    parsers.parse('a change where the purpose of "{use}" reads "{text}"'),
    target_fixture="change",
)
def purpose_reads(deployed: dict[str, Any], use: str, text: str) -> dict[str, Any]:
    change = copy.deepcopy(deployed)
    item(change, "uses", use)["description"] = text
    return change


@given(parsers.parse('a change where "{use}" no longer uses "{field}"'), target_fixture="change")
def no_longer_uses(deployed: dict[str, Any], use: str, field: str) -> dict[str, Any]:
    change = copy.deepcopy(deployed)
    item(change, "uses", use)["fields"].remove(field)
    for grant in change["system"]["access"]:
        if use in grant["for"]:
            for kind in ("read", "masked", "write"):
                if field in grant.get(kind, []):
                    grant[kind].remove(field)
    return change


@given(
    parsers.parse('a change where "{use}" keeps its data for "{duration}"'),
    target_fixture="change",
)
def keeps_for(deployed: dict[str, Any], use: str, duration: str) -> dict[str, Any]:
    change = copy.deepcopy(deployed)
    item(change, "uses", use)["retention"] = duration
    return change


@given(parsers.parse('every source shows the notice "{notice}"'), target_fixture="change")
def every_source_shows(change: dict[str, Any], notice: str) -> dict[str, Any]:
    for source in change["sources"]:
        source["notice"] = notice
    return change


# ── When ─────────────────────────────────────────────────────────────────────────────────────


@when("the data protection officer reviews the change", target_fixture="review")
def reviews(deployed: dict[str, Any], change: dict[str, Any], tmp_path: Path) -> Review:
    old = write_strategy(deployed, tmp_path / "old")
    new = write_strategy(change, tmp_path / "new")
    runner = CliRunner()
    markdown = runner.invoke(get_app(), ["diff", str(old), str(new)])
    as_json = runner.invoke(get_app(), ["diff", str(old), str(new), "--format", "json"])
    assert markdown.exit_code == as_json.exit_code, (markdown.output, as_json.output)
    assert markdown.exit_code in {0, 1}, markdown.output
    return Review(markdown.exit_code, markdown.stdout, json.loads(as_json.stdout))


# ── Then ─────────────────────────────────────────────────────────────────────────────────────


@then(parsers.parse('"{change_id}" needs the DPO\'s sign-off'))
def needs_sign_off(review: Review, change_id: str) -> None:
    assert change_id in review.document["sign_off"], review.document["sign_off"]
    number = review.document["sign_off"].index(change_id) + 1
    assert f"(`{change_id}`)" in review.markdown
    assert f"\n{number}. **" in review.markdown


@then(parsers.parse('"{change_id}" is reported without a sign-off'))
def without_sign_off(review: Review, change_id: str) -> None:
    change = review.change(change_id)
    assert change["needs_sign_off"] is False
    assert f"- {change['summary']}" in review.markdown


@then(parsers.parse('the review says "{text}"'))
def review_says(review: Review, text: str) -> None:
    assert text in review.markdown, review.markdown


@then(parsers.parse('nothing in the "{section}" section changes'))
def section_unchanged(review: Review, section: str) -> None:
    assert review.document["counts"][section] == 0
    heading = {"consent": "## Consent"}[section]
    assert f"{heading}\n\nNo change.\n" in review.markdown


@then(parsers.parse("the review exits with status {status:d}"))
def exits_with(review: Review, status: int) -> None:
    assert review.exit_code == status
