"""The guides' code blocks work: YAML validates, Gherkin holds, the commands exist."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import markdown  # type: ignore[import-untyped]
import pytest
import typer
import yaml
from typer.testing import CliRunner

from schemas import RULES, validate
from schemas.tables import retention_rule
from tietotie.cli import get_app
from tietotie.docsite.rules import RULES_PAGE, rules_page

REPO = Path(__file__).resolve().parents[2]
GUIDES = REPO / "docs" / "guides"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks(guide: str, language: str) -> list[str]:
    text = (GUIDES / guide).read_text(encoding="utf-8")
    return [body for lang, body in FENCE.findall(text) if lang == language]


def _merge(base: Any, extra: Any) -> Any:
    """Lists grow, mappings merge key by key, scalars are replaced."""
    if isinstance(base, dict) and isinstance(extra, dict):
        out = dict(base)
        for key, value in extra.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    if isinstance(base, list) and isinstance(extra, list):
        return base + extra
    return extra


def _commands() -> list[tuple[str, list[str]]]:
    out = []
    for guide in sorted(GUIDES.glob("*.md")):
        for lang, body in FENCE.findall(guide.read_text(encoding="utf-8")):
            if lang != "console":
                continue
            for line in body.splitlines():
                if line.startswith("$ tietotie "):
                    out.append((guide.name, shlex.split(line[2:])[1:]))
    return out


def test_the_process_owners_yaml_snippets_validate_together(tmp_path: Path) -> None:
    """Each YAML snippet names its file; merged into a copy of the bundled strategy they add a
    goal-to-activation chain with no validation error, whose new field keeps its use's
    retention."""
    snippets = _blocks("process-owners.md", "yaml")
    assert len(snippets) >= 7
    strategy = tmp_path / "strategy"
    shutil.copytree(REPO / "strategy", strategy)
    added: dict[str, list[str]] = {}
    for snippet in snippets:
        first = snippet.splitlines()[0]
        assert re.fullmatch(r"# [\w-]+\.yaml", first), f"snippet must name its file: {first!r}"
        target = strategy / first[2:]
        assert target.is_file(), first
        body = yaml.safe_load(snippet)
        for key, items in body.items():
            if isinstance(items, list):
                added.setdefault(key, []).extend(item["id"] for item in items)
        merged = _merge(yaml.safe_load(target.read_text(encoding="utf-8")), body)
        target.write_text(
            yaml.safe_dump(merged, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
    result = validate(str(strategy))
    errors = [f"{f.rule}: {f.message}" for f in result.findings if f.severity == "error"]
    assert errors == []
    assert result.strategy is not None
    index = result.strategy.index
    assert set(added["goals"]) <= set(index.goals)
    assert set(added["activations"]) <= set(index.activations)
    assert "visit.booked_for" in index.fields
    # what the guide says of retention: the use's three months, not visit's six years
    assert retention_rule(result.strategy, "visit.booked_for") == (
        "P3M",
        "longest use: booking-reminders (contract)",
    )


def test_the_opt_out_example_carries_an_objection_route() -> None:
    """The guide's opt_out example sets the key the format defines on an activation."""
    snippet = next(s for s in _blocks("process-owners.md", "yaml") if "opt_out:" in s)
    activation = yaml.safe_load(snippet)["activations"][0]
    assert activation["opt_out"].strip()


def test_the_auditors_gherkin_examples_pass_against_the_bundled_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The feature files shown to auditors run with `tietotie policy check` and hold."""
    monkeypatch.chdir(REPO)
    features = []
    for i, body in enumerate(_blocks("auditors.md", "gherkin")):
        path = tmp_path / f"example_{i}.feature"
        path.write_text(body, encoding="utf-8")
        features.append(str(path))
    assert len(features) >= 2
    result = CliRunner().invoke(get_app(), ["policy", "check", "--strategy", "strategy", *features])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("guide", "argv"), _commands(), ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_every_command_in_the_guides_exists_with_its_options(guide: str, argv: list[str]) -> None:
    """Each `$ tietotie …` line names a real command, and every --option it uses is one of that
    command's options."""
    # typer carries its own click, so groups are recognised by their sub-commands
    command: Any = typer.main.get_command(get_app())
    consumed = 0
    while hasattr(command, "commands") and consumed < len(argv):
        sub = command.commands.get(argv[consumed])
        if sub is None:
            break
        command, consumed = sub, consumed + 1
    assert not hasattr(command, "commands"), f"{guide}: no command for {argv}"
    options = {opt for param in command.params for opt in param.opts}
    for token in argv[consumed:]:
        if token.startswith("--"):
            assert token.split("=", 1)[0] in options, f"{guide}: {token} of {argv}"


def test_the_validate_commands_of_the_process_owners_guide_succeed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The validate commands shown to process owners run cleanly on the bundled strategy."""
    monkeypatch.chdir(REPO)
    lines = [
        argv
        for guide, argv in _commands()
        if guide == "process-owners.md" and argv[0] == "validate"
    ]
    assert lines
    for argv in lines:
        result = CliRunner().invoke(get_app(), argv)
        assert result.exit_code == 0, result.output


def test_make_docs_builds_with_the_strategy() -> None:
    """`make docs`, shown in the guide, calls `tietotie docs build` with the strategy."""
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert re.search(
        r"^docs:.*\n\t\$\(BIN\)/tietotie docs build --strategy \$\(STRATEGY\)",
        makefile,
        re.MULTILINE,
    )


def test_the_validation_rules_page_in_the_repository_is_the_generated_one() -> None:
    """docs/guides/validation-rules.md holds a section per rule as schemas/rules.py and its
    examples make it, so the link each hint prints exists in a checkout; a rule added without
    regenerating the page (`python -m tietotie.docsite.rules`) fails here."""
    text = (REPO / RULES_PAGE).read_text(encoding="utf-8")
    assert text == rules_page(text), "run: .venv/bin/python -m tietotie.docsite.rules"
    for rule in RULES.values():
        assert f"## {rule.id} {{ #{rule.id} }}" in text
        assert rule.example.mistake.rstrip() in text and rule.example.fix.rstrip() in text


def test_the_validation_rules_page_renders_without_stray_escapes() -> None:
    """Rendered as mkdocs renders it, the page shows '<<' as code, no backslash before < or >,
    and an anchor for every rule."""
    html = markdown.markdown(
        (REPO / RULES_PAGE).read_text(encoding="utf-8"),
        extensions=["toc", "attr_list", "tables", "md_in_html", "pymdownx.superfences"],
    )
    assert "A <code>&lt;&lt;</code> merge key is used" in html
    assert "\\&lt;" not in html and "\\&gt;" not in html and "\\<" not in html
    for rule in RULES:
        assert f'id="{rule}"' in html
