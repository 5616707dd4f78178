"""`db upgrade` applies additive strategy changes and refuses destructive ones unless told."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import inspect

from dsar.tables import database_metadata
from records.migrations import DestructiveMigration, plan_upgrade, upgrade
from schemas import load_strategy
from tests.records.support import BUNDLED


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    target = tmp_path / "strategy"
    shutil.copytree(BUNDLED, target)
    system = target / "5-system.yaml"
    text = system.read_text(encoding="utf-8")
    assert old in text
    system.write_text(text.replace(old, new), encoding="utf-8")
    return target


def _metadata(path: Path):
    strategy = load_strategy(path).strategy
    assert strategy is not None
    return database_metadata(strategy)


def test_first_upgrade_creates_everything_and_a_second_finds_nothing(engine) -> None:
    """A fresh database is created by the same path, after which it matches."""
    plan = upgrade(engine, _metadata(BUNDLED))
    tables = set(inspect(engine).get_table_names())
    assert {"customer", "vehicle", "visit", "tyre_storage"} <= tables
    assert all(not s.destructive for s in plan.steps)
    assert plan_upgrade(engine, _metadata(BUNDLED)).empty


def test_a_new_field_is_added_as_a_column(engine, tmp_path) -> None:
    """Adding a field to the strategy adds its column."""
    upgrade(engine, _metadata(BUNDLED))
    changed = _variant(
        tmp_path,
        "city: {type: string, category: location}",
        "city: {type: string, category: location}\n"
        "        country: {type: country, category: location}",
    )
    plan = upgrade(engine, _metadata(changed))
    assert [(s.kind, s.table) for s in plan.steps] == [("add column", "customer")]
    assert "country" in {c["name"] for c in inspect(engine).get_columns("customer")}


def test_dropping_a_field_is_refused_unless_allowed(engine, tmp_path) -> None:
    """Removing a field would lose its column: refused with the list, applied when allowed."""
    upgrade(engine, _metadata(BUNDLED))
    changed = _variant(tmp_path, "        city: {type: string, category: location}\n", "")
    with pytest.raises(DestructiveMigration) as caught:
        upgrade(engine, _metadata(changed))
    assert caught.value.context["steps"][0]["kind"] == "drop column"
    assert "city" in {c["name"] for c in inspect(engine).get_columns("customer")}
    upgrade(engine, _metadata(changed), allow_destructive=True)
    assert "city" not in {c["name"] for c in inspect(engine).get_columns("customer")}
