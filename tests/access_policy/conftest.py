"""Fixtures of the access-policy tests: the minimal and bundled strategies, and variants."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from access_policy import Policy, compile_policy
from schemas import Strategy, load_strategy

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = ROOT / "tests" / "schemas" / "minimal"
BUNDLED = ROOT / "strategy"


def load(path: Path) -> Strategy:
    """Load a strategy that must load cleanly."""
    result = load_strategy(path)
    assert result.strategy is not None, [str(f) for f in result.findings]
    return result.strategy


@pytest.fixture(scope="session")
def minimal() -> Strategy:
    """tests/schemas/minimal, loaded."""
    return load(MINIMAL)


@pytest.fixture(scope="session")
def minimal_policy(minimal: Strategy) -> Policy:
    """The minimal strategy's policy: clerk holds service, owner holds reminders."""
    return compile_policy(minimal)


@pytest.fixture(scope="session")
def bundled() -> Strategy:
    """The bundled example strategy, loaded."""
    return load(BUNDLED)


@pytest.fixture(scope="session")
def bundled_policy(bundled: Strategy) -> Policy:
    """The bundled strategy's policy."""
    return compile_policy(bundled)


@pytest.fixture
def variant(tmp_path: Path) -> Callable[[str, str, str], Strategy]:
    """A copy of the minimal strategy with one line of one file replaced."""

    def make(file: str, old: str, new: str) -> Strategy:
        root = tmp_path / f"s{len(list(tmp_path.iterdir()))}"
        shutil.copytree(MINIMAL, root)
        path = root / file
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} is not in {file}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
        return load(root)

    return make
