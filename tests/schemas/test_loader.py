"""The loader reads YAML safely, keeps positions, and turns every problem into a finding."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas import load_strategy, validate
from schemas.loader import MAX_FILE_BYTES

MINIMAL = Path(__file__).parent / "minimal"


def _single_file(tmp_path: Path) -> Path:
    merged = "".join(p.read_text(encoding="utf-8") + "\n" for p in sorted(MINIMAL.glob("*.yaml")))
    target = tmp_path / "strategy.yaml"
    target.write_text(merged, encoding="utf-8")
    return target


def test_single_file_form_loads_the_same_strategy_as_the_directory(tmp_path: Path) -> None:
    """One file with the same top-level keys is the same strategy as the directory form."""
    from_dir = load_strategy(MINIMAL).strategy
    from_file = load_strategy(_single_file(tmp_path)).strategy
    assert from_dir is not None and from_file is not None
    assert from_dir.model_dump() == from_file.model_dump()


def test_positions_point_at_keys_in_their_own_file() -> None:
    """Every value keeps its file, line and column."""
    result = load_strategy(MINIMAL)
    pos = result.source_map.at(("uses", 1, "legal_basis"))
    assert Path(pos.file).name == "2-use.yaml"
    line = (MINIMAL / "2-use.yaml").read_text().splitlines()[pos.line - 1]
    assert line.strip() == "legal_basis: contract"
    assert pos.column == line.index("contract") + 1
    key = result.source_map.key_at(("uses", 1, "legal_basis"))
    assert (key.line, key.column) == (pos.line, line.index("legal_basis") + 1)


def test_a_missing_path_is_one_clear_finding(tmp_path: Path) -> None:
    """Pointing at nothing names the path and says what a strategy looks like."""
    result = validate(str(tmp_path / "nowhere"))
    assert [f.rule for f in result.findings] == ["file-missing"]
    assert "nowhere" in result.findings[0].message


def test_non_utf8_bytes_are_reported_at_their_line_and_column(tmp_path: Path) -> None:
    """A Latin-1 'ä' in a UTF-8 strategy is pointed at, not decoded into garbage."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    (root / "1-goal.yaml").write_bytes(b"goals:\n  - id: x\n    statement: Pid\xe4 asiakkaat\n")
    hit = next(f for f in validate(str(root)).findings if f.rule == "not-utf8")
    assert (Path(hit.file).name, hit.line, hit.column) == ("1-goal.yaml", 3, 19)


def test_oversized_files_are_refused_before_parsing(tmp_path: Path) -> None:
    """A file over the size limit is refused with its size, never parsed."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    (root / "8-extra.yaml").write_bytes(b"# " + b"x" * (MAX_FILE_BYTES + 1) + b"\n")
    hit = next(f for f in validate(str(root)).findings if f.rule == "file-too-large")
    assert Path(hit.file).name == "8-extra.yaml"


def test_an_alias_expansion_bomb_is_stopped(tmp_path: Path) -> None:
    """Nested aliases that would expand to billions of values are refused quickly."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join(['*a' + str(i - 1)] * 10)}]" for i in range(1, 10)]
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    result = validate(str(bomb))
    assert [f.rule for f in result.findings] == ["yaml-alias-bomb"]


def test_a_file_that_cannot_be_read_is_a_finding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unreadable file is reported by name, and the others are still read."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    real = Path.read_bytes

    def refuse(self: Path) -> bytes:
        if self.name == "3-questions.yaml":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    hit = next(f for f in validate(str(root)).findings if f.rule == "file-unreadable")
    assert Path(hit.file).name == "3-questions.yaml"
    assert "Permission denied" in hit.message


def test_an_empty_file_is_simply_empty(tmp_path: Path) -> None:
    """An empty step file adds nothing and is not an error in itself."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    (root / "8-notes.yaml").write_text("# nothing yet\n")
    assert validate(str(root)).ok


# ── fuzzing: the loader never crashes ───────────────────────────────────────────────────────

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.dates(),
)
_trees = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=30,
)
_keys = st.sampled_from(
    [
        "controller",
        "roles",
        "processors",
        "goals",
        "uses",
        "questions",
        "sources",
        "system",
        "reports",
        "activations",
        "bogus",
    ]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=st.dictionaries(_keys, _trees, max_size=6))
def test_random_structures_yield_findings_not_crashes(tmp_path: Path, doc: dict) -> None:
    """Any YAML structure gives a clean result or a list of findings, never an exception."""
    target = tmp_path / "random.yaml"
    target.write_text(yaml.safe_dump(doc, allow_unicode=True))
    result = validate(str(target))
    assert result.ok or result.findings
    assert all(f.line >= 1 and f.column >= 1 and f.rule for f in result.findings)


_TEXT = {p.name: p.read_text(encoding="utf-8") for p in MINIMAL.glob("*.yaml")}


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(sorted(_TEXT)),
    data=st.data(),
)
def test_random_edits_of_the_example_yield_findings_not_crashes(
    tmp_path: Path, name: str, data: st.DataObject
) -> None:
    """Cutting, duplicating or garbling part of a real strategy never crashes the loader."""
    text = _TEXT[name]
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 40)))
    insert = data.draw(
        st.sampled_from(
            [
                "",
                "\t",
                ":",
                "- ",
                "&a ",
                "*a",
                "{",
                "]",
                "\n  x: 1",
                "\x00",
                "\udcff",
                "é",
                text[start:end],
            ]
        )
    )
    root = tmp_path / "s"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(MINIMAL, root)
    (root / name).write_bytes(
        (text[:start] + insert + text[end:]).encode("utf-8", "surrogateescape")
    )
    result = validate(str(root))
    assert result.ok or result.findings
