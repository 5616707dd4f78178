"""`tietotie compile` writes JSON Schema 2020-12 per entity and the RoPA, or refuses."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from schemas import load_strategy
from schemas.ropa import build_ropa
from tests.records.support import BUNDLED, MINIMAL
from tietotie.cli import get_app

runner = CliRunner()


def test_compile_writes_valid_json_schemas_with_annotations(tmp_path: Path) -> None:
    """Each entity's schema is valid 2020-12 and carries the field's strategy facts."""
    result = runner.invoke(get_app(), ["compile", str(BUNDLED), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    schema = json.loads((tmp_path / "schemas" / "customer.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    email = schema["properties"]["email"]
    assert email["format"] == "email"
    assert email["x-tietotie-protect"] == "hmac"
    assert "booking-form" in email["x-tietotie-sources"]
    assert "seasonal-reminders" in email["x-tietotie-uses"]
    need = schema["properties"]["accessibility_need"]
    assert need["x-tietotie-special-category"] is True
    assert need["x-tietotie-encrypted-at-rest"] is True
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert validator.is_valid({"name": "Anna", "phone": "+358401234567", "branch": "espoo"})
    assert not validator.is_valid({"name": "Anna", "phone": "+358401234567", "branch": "oulu"})
    assert not validator.is_valid(
        {"name": "Anna", "phone": "+358", "branch": "espoo", "shoe_size": 38}
    )


def test_ropa_lists_every_use_with_the_article_30_items(tmp_path: Path) -> None:
    """The RoPA has one activity per use, with basis, recipients, retention and measures."""
    result = runner.invoke(
        get_app(), ["compile", "--strategy", str(BUNDLED), "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    strategy = load_strategy(BUNDLED).strategy
    assert strategy is not None
    body = json.loads((tmp_path / "ropa.json").read_text())
    activities = {a["activity"]: a for a in body["activities"]}
    assert set(activities) == {u.id for u in strategy.uses}
    bookkeeping = activities["bookkeeping"]
    assert bookkeeping["legal_basis_article"].startswith("Art. 6(1)(c)")
    assert bookkeeping["retention"]["use"] == "P6Y"
    assert bookkeeping["controller"]["name"] == strategy.controller.name
    access = activities["accessibility-service"]
    assert access["special_categories"] == ["health"]
    assert access["special_category_condition"].startswith("Art. 9(2)(a)")
    assert any("encrypted at rest" in m for m in access["security_measures"])
    with (tmp_path / "ropa.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["activity"] for r in rows] == [u.id for u in strategy.uses]


def test_build_ropa_reports_transfers_outside_the_eea_with_their_safeguard() -> None:
    """A processor outside the EEA appears as a third-country transfer with its safeguard."""
    strategy = load_strategy(MINIMAL).strategy
    assert strategy is not None
    service = next(e for e in build_ropa(strategy) if e.activity == "service")
    assert [(t.id, t.country, t.transfer_safeguard) for t in service.third_country_transfers] == [
        ("texter", "US", "standard_contractual_clauses")
    ]


def test_compile_refuses_a_strategy_with_errors_and_prints_them(tmp_path: Path) -> None:
    """A strategy that does not validate is not compiled; the errors are printed."""
    broken = tmp_path / "broken"
    shutil.copytree(MINIMAL, broken)
    uses = broken / "2-use.yaml"
    uses.write_text(uses.read_text().replace("legal_basis: contract", "legal_basis: whim"))
    out = tmp_path / "out"
    result = runner.invoke(get_app(), ["compile", str(broken), "--out", str(out)])
    assert result.exit_code == 1
    assert "error" in result.output and "2-use.yaml" in result.output
    assert not out.exists()
