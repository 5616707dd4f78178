"""Strategies to review: the bundled one and the B2B example as plain data, edited in tests.

Edits go through the declarations as data rather than through the YAML text, so that a test
states the change a process owner makes (a use's purpose, a processor) and not a line of a
file that others edit too.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from schemas import Strategy, check_strategy, load_strategy

__all__ = [
    "B2B",
    "BUNDLED",
    "declarations",
    "drop_field",
    "git",
    "grant",
    "item",
    "strategy",
    "valid",
    "write_strategy",
]

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = ROOT / "strategy"
B2B = ROOT / "tests" / "examples" / "b2b-wholesaler"


def declarations(path: Path = BUNDLED) -> dict[str, Any]:
    """The strategy at ``path`` as plain data that :func:`strategy` reads back."""
    loaded = load_strategy(path).strategy
    assert loaded is not None, f"{path} does not load"
    return loaded.model_dump(mode="json", by_alias=True, exclude_defaults=True)


def strategy(data: dict[str, Any]) -> Strategy:
    """The strategy that ``data`` declares."""
    return Strategy.model_validate(data)


def valid(data: dict[str, Any]) -> Strategy:
    """The strategy ``data`` declares, asserting that `tietotie validate` finds no error in it
    (a review of a change that would not validate proves little)."""
    loaded = strategy(data)
    errors = [f"{f.rule}: {f.message}" for f in check_strategy(loaded) if f.severity == "error"]
    assert not errors, errors
    return loaded


def item(data: dict[str, Any], kind: str, ident: str) -> dict[str, Any]:
    """The declaration with id ``ident`` among ``kind`` (uses, sources, processors, roles)."""
    return next(x for x in data[kind] if x["id"] == ident)


def grant(data: dict[str, Any], role: str, use: str) -> dict[str, Any]:
    """The access grant of ``role`` for ``use``."""
    return next(g for g in data["system"]["access"] if g["role"] == role and use in g["for"])


def drop_field(data: Any, ref: str) -> Any:
    """``data`` without the field ``ref``: its declaration and every reference to it."""
    entity, field = ref.split(".")
    data["system"]["entities"][entity]["fields"].pop(field)

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items()}
        if isinstance(node, list):
            return [
                strip(x)
                for x in node
                if x != ref and not (isinstance(x, dict) and x.get("field") == ref)
            ]
        return node

    return strip(data)


def write_strategy(data: dict[str, Any], directory: Path) -> Path:
    """Write ``data`` as a one-file strategy in ``directory``; the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "strategy.yaml").write_text(
        yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8"
    )
    return directory


def git(repo: Path, *args: str) -> str:
    """Run git in ``repo`` as a developer of the project would; its standard output."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Process Owner",
        "GIT_AUTHOR_EMAIL": "owner@example.com",
        "GIT_COMMITTER_NAME": "Process Owner",
        "GIT_COMMITTER_EMAIL": "owner@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    done = subprocess.run(
        ["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout
