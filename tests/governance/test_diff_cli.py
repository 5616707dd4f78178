"""`tietotie diff` as a reviewer meets it in a pull request: output, formats and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from tests.governance.diff_support import BUNDLED, declarations, git, grant, item, write_strategy
from tietotie.cli import get_app

runner = CliRunner()


def _changed(tmp_path: Path) -> Path:
    """The bundled strategy with the reminders' purpose changed, as a one-file strategy."""
    data = declarations()
    item(data, "uses", "seasonal-reminders")["description"] = (
        "Muistutukset ja kumppanien tarjoukset."
    )
    return write_strategy(data, tmp_path / "new")


def test_nothing_to_sign_off_exits_zero() -> None:
    """The same strategy on both sides: exit 0 and a review that says so."""
    result = runner.invoke(get_app(), ["diff", str(BUNDLED), str(BUNDLED)])
    assert result.exit_code == 0, result.output
    assert "Nothing here needs the data protection officer's sign-off." in result.stdout
    assert result.stderr == ""


def test_a_finding_to_sign_off_exits_one_and_names_it(tmp_path: Path) -> None:
    """A changed consent purpose: exit 1, Markdown on stdout, the findings named on stderr."""
    result = runner.invoke(get_app(), ["diff", str(BUNDLED), str(_changed(tmp_path))])
    assert result.exit_code == 1, result.output
    assert result.stdout.startswith(f"# Strategy review: `{BUNDLED}` → `{tmp_path / 'new'}`")
    assert "consent-based use seasonal-reminders needs new consent" in result.stdout
    assert "need the DPO's sign-off: uses:seasonal-reminders:purpose-changed, " in result.stderr
    assert "consent:seasonal-reminders:new-consent" in result.stderr


def test_json_for_tools(tmp_path: Path) -> None:
    """--format json prints one JSON document with the ids that need sign-off."""
    result = runner.invoke(
        get_app(), ["diff", str(BUNDLED), str(_changed(tmp_path)), "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    document = json.loads(result.stdout)
    assert "consent:seasonal-reminders:new-consent" in document["sign_off"]
    assert document["counts"]["consent"] == 1


def test_new_defaults_to_the_strategy_option_and_out_writes_a_file(tmp_path: Path) -> None:
    """Without NEW, --strategy is the new side; --out writes the review instead of printing."""
    target = tmp_path / "review.md"
    result = runner.invoke(
        get_app(),
        ["diff", str(BUNDLED), "--strategy", str(_changed(tmp_path)), "--out", str(target)],
    )
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "needs new consent" in target.read_text(encoding="utf-8")


def test_a_missing_side_is_bad_input(tmp_path: Path) -> None:
    """A side that is neither a path nor REV:PATH: exit 2, naming the side and what to give."""
    result = runner.invoke(get_app(), ["diff", str(BUNDLED), str(tmp_path / "nowhere")])
    assert result.exit_code == 2
    assert f"error: NEW ({tmp_path / 'nowhere'}): no such directory or file" in result.stderr
    assert "REV:PATH (e.g. HEAD~1:strategy)" in result.stderr


def test_a_new_side_with_validation_errors_is_bad_input(tmp_path: Path) -> None:
    """NEW must validate: its errors are listed with their position, exit 2."""
    data = declarations()
    grant(data, "mechanic", "service-history")["role"] = "mekaanikko"
    new = write_strategy(data, tmp_path / "new")
    result = runner.invoke(get_app(), ["diff", str(BUNDLED), str(new)])
    assert result.exit_code == 2
    assert f"{new / 'strategy.yaml'}:" in result.stderr and "unknown-role" in result.stderr
    assert "NEW (" in result.stderr and "does not validate: 1 error(s)" in result.stderr


def test_an_old_side_with_validation_errors_is_compared_with_a_note(tmp_path: Path) -> None:
    """OLD may predate a rule; it is compared as it is, and the review says so."""
    data = declarations()
    grant(data, "mechanic", "service-history")["role"] = "mekaanikko"
    old = write_strategy(data, tmp_path / "old")
    result = runner.invoke(get_app(), ["diff", str(old), str(BUNDLED)])
    assert "> Note: OLD does not validate (1 error(s)); it was compared as it is" in result.stdout
    assert result.exit_code == 1  # mechanic now holds service-history: access widened


def test_git_revisions_on_both_sides(tmp_path: Path) -> None:
    """HEAD~1:strategy against HEAD:strategy in a repository named by --repo."""
    repo = tmp_path / "repo"
    write_strategy(declarations(), repo / "strategy")
    git(tmp_path, "init", "--quiet", str(repo))
    git(repo, "add", "strategy")
    git(repo, "commit", "--quiet", "-m", "first")
    _changed(tmp_path).joinpath("strategy.yaml").replace(repo / "strategy" / "strategy.yaml")
    git(repo, "commit", "--quiet", "-am", "second")
    result = runner.invoke(
        get_app(), ["diff", "HEAD~1:strategy", "HEAD:strategy", "--repo", str(repo)]
    )
    assert result.exit_code == 1, result.output
    first = git(repo, "rev-parse", "--short", "HEAD~1").strip()
    assert f"# Strategy review: `HEAD~1:strategy ({first})` → `HEAD:strategy (" in result.stdout
    assert "needs new consent" in result.stdout


def test_an_unknown_revision_is_bad_input(tmp_path: Path) -> None:
    """A revision git does not know: exit 2 and how to find one."""
    repo = tmp_path / "repo"
    write_strategy(declarations(), repo / "strategy")
    git(tmp_path, "init", "--quiet", str(repo))
    result = runner.invoke(
        get_app(), ["diff", "HEAD~1:strategy", str(repo / "strategy"), "--repo", str(repo)]
    )
    assert result.exit_code == 2
    assert "error: OLD (HEAD~1:strategy): git knows no revision 'HEAD~1'" in result.stderr
