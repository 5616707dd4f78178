"""A field's optional `label`: what people read for it, in the strategy's language."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from schemas import load_strategy, validate
from schemas.models import FieldSpec

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = Path(__file__).parent / "minimal"


def _with_visited_at(tmp_path: Path, spec: str) -> Path:
    """The minimal strategy with visit.visited_at declared as ``spec`` (a YAML flow mapping)."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    system = root / "5-system.yaml"
    old = "visited_at: {type: datetime, category: behavioural}"
    text = system.read_text("utf-8")
    assert old in text
    system.write_text(text.replace(old, f"visited_at: {spec}"), "utf-8")
    return root


def test_a_label_is_read_and_shown_instead_of_the_field_name(tmp_path: Path) -> None:
    """label: Käyntiaika loads, and it is the name the field is shown by."""
    root = _with_visited_at(tmp_path, "{label: Käyntiaika, type: datetime, category: behavioural}")
    strategy = load_strategy(root).strategy
    assert strategy is not None
    spec = strategy.index.fields["visit.visited_at"]
    assert spec.label == "Käyntiaika"
    assert spec.shown_name("visited_at") == "Käyntiaika"


def test_without_a_label_the_field_name_is_humanised() -> None:
    """A field without a label is shown by its name with spaces and a capital."""
    spec = FieldSpec.model_validate({"type": "datetime", "category": "behavioural"})
    assert spec.label is None
    assert spec.shown_name("visited_at") == "Visited at"


@pytest.mark.parametrize("label", ['""', '"   "', '"Käynti\\naika"', "x" * 61])
def test_an_empty_multiline_or_overlong_label_is_an_error_at_its_line(
    tmp_path: Path, label: str
) -> None:
    """A label that could not title an axis is refused at its file and line, saying why."""
    root = _with_visited_at(tmp_path, f"{{label: {label}, type: datetime, category: behavioural}}")
    result = validate(str(root))
    hit = next(f for f in result.findings if f.path[-1:] == ("label",))
    assert Path(hit.file).name == "5-system.yaml"
    line = (root / "5-system.yaml").read_text("utf-8").splitlines()[hit.line - 1]
    assert "visited_at:" in line and "label" in line
    assert "one line" in hit.message
    assert result.strategy is None


def test_a_misspelt_label_key_is_still_an_unknown_key(tmp_path: Path) -> None:
    """`lable:` is not silently ignored: extra keys stay forbidden next to label."""
    root = _with_visited_at(tmp_path, "{lable: Käyntiaika, type: datetime, category: behavioural}")
    hit = next(f for f in validate(str(root)).findings if f.path[-1:] == ("lable",))
    assert hit.rule == "unknown-key" and "label" in hit.hint


def test_the_bundled_strategy_labels_every_field_in_finnish() -> None:
    """Every field of the bundled (Finnish) strategy has a label, and none is its raw name."""
    strategy = load_strategy(ROOT / "strategy").strategy
    assert strategy is not None and strategy.controller.language == "fi"
    for ref, spec in strategy.index.fields.items():
        assert spec.label, ref
        assert spec.label != ref.partition(".")[2], ref
