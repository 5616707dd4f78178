"""Every rule's example holds: its mistake makes the rule fire, its fix validates again."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from schemas import RULES, validate
from tietotie.cli import get_app

BUNDLED = Path(__file__).resolve().parents[2] / "strategy"
HEADER = re.compile(r"^# ([\w.-]+\.yaml)(, the whole file)?$", re.MULTILINE)
PROSE = {"file-unreadable", "file-too-large", "not-utf8"}
"""Rules whose mistake is about bytes on disk, told in words; each has a dedicated test."""
LOADER = {"yaml-syntax", "yaml-duplicate-key", "yaml-alias-bomb", "yaml-merge-key"}
LOADER |= {"yaml-bad-key", "not-a-mapping"}
"""Rules whose example replaces a whole file, so its fix is checked to read, not to validate."""


def _add(base: Any, extra: Any) -> Any:
    """Add a snippet to a file's data the way rule_examples describes it."""
    if isinstance(base, dict) and isinstance(extra, dict):
        merged = dict(base)
        for key, value in extra.items():
            merged[key] = _add(base[key], value) if key in base else value
        return merged
    if isinstance(base, list) and isinstance(extra, list):
        ids = {
            item["id"]: i for i, item in enumerate(base) if isinstance(item, dict) and "id" in item
        }
        items = list(base)
        for item in extra:
            if isinstance(item, dict) and item.get("id") in ids:
                items[ids[item["id"]]] = _add(items[ids[item["id"]]], item)
            elif isinstance(item, dict) or item not in items:
                items.append(item)
        return items
    return extra


def _apply(snippet: str, root: Path) -> None:
    """Write each part of a YAML example into the strategy at ``root``."""
    heads = list(HEADER.finditer(snippet))
    assert heads and heads[0].start() == 0, f"an example starts by naming its file: {snippet!r}"
    ends = [h.start() for h in heads[1:]] + [len(snippet)]
    for head, end in zip(heads, ends, strict=True):
        body = snippet[head.end() : end]
        target = root / head[1]
        if head[2]:
            target.write_text(body.lstrip("\n"), encoding="utf-8")
            continue
        assert target.is_file(), f"{head[1]} is not a file of the bundled strategy"
        data = _add(yaml.safe_load(target.read_text(encoding="utf-8")), yaml.safe_load(body))
        target.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")


def _copy(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name / "strategy"
    shutil.copytree(BUNDLED, root)
    return root


def _coded(kind: str) -> list[str]:
    return [r for r in RULES if r not in PROSE and RULES[r].example.mistake.startswith(kind)]


def test_every_rule_has_an_example_and_only_the_disk_rules_are_prose() -> None:
    """A rule added without an example fails here, and so does a new example in words only."""
    assert {r for r in RULES if not RULES[r].example.mistake.startswith(("#", "$"))} == PROSE
    for rule in RULES.values():
        assert rule.example.fix.strip() and rule.example.fix != rule.example.mistake


@pytest.mark.parametrize("rule", _coded("#"))
def test_the_yaml_mistake_makes_its_rule_fire(tmp_path: Path, rule: str) -> None:
    """The mistake, added to a copy of the bundled strategy, yields a finding of its rule."""
    root = _copy(tmp_path, "mistake")
    _apply(RULES[rule].example.mistake, root)
    found = [f.rule for f in validate(str(root)).findings]
    assert rule in found, f"{rule} did not fire; got {found}"


@pytest.mark.parametrize("rule", _coded("#"))
def test_the_yaml_fix_validates(tmp_path: Path, rule: str) -> None:
    """The fix, added to a copy of the bundled strategy, leaves no error and no finding of its
    rule (a fix that replaces a whole file only has to read cleanly)."""
    root = _copy(tmp_path, "fix")
    _apply(RULES[rule].example.fix, root)
    result = validate(str(root))
    assert rule not in [f.rule for f in result.findings]
    if rule in LOADER:
        assert result.strategy is not None, [f.message for f in result.findings]
    else:
        assert [f"{f.rule}: {f.message}" for f in result.findings if f.severity == "error"] == []


@pytest.mark.parametrize("rule", _coded("$"))
def test_the_command_mistake_fires_and_the_fix_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rule: str
) -> None:
    """The mistaken command reports the rule and exits 1; the fixed one exits 0."""
    monkeypatch.chdir(_copy(tmp_path, "cwd").parent)
    example = RULES[rule].example
    mistake = CliRunner().invoke(get_app(), shlex.split(example.mistake.removeprefix("$ "))[1:])
    assert mistake.exit_code == 1 and rule in mistake.output, mistake.output
    fix = CliRunner().invoke(get_app(), shlex.split(example.fix.removeprefix("$ "))[1:])
    assert fix.exit_code == 0, fix.output
