"""`tietotie compile` writes JSON Schema 2020-12 per entity and the RoPA, or refuses."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from schemas import load_strategy
from schemas.jsonschema import entity_schema
from schemas.ropa import build_ropa
from schemas.tables import entity_retention, longest
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


def _with_booking_reminders(tmp_path: Path, visit_retention: str = "P6Y") -> Path:
    """The bundled strategy plus the process owners' guide example: visit.booked_for, needed
    only by a contract-based use kept for three months."""
    root = tmp_path / "strategy"
    shutil.copytree(BUNDLED, root)
    system = root / "5-system.yaml"
    text = system.read_text(encoding="utf-8")
    text = text.replace("      retention: P6Y ", f"      retention: {visit_retention} ", 1).replace(
        "      fields:\n        visited_at:",
        "      fields:\n        booked_for: {type: datetime, category: behavioural}\n"
        "        visited_at:",
        1,
    )
    system.write_text(text, encoding="utf-8")
    uses = root / "2-use.yaml"
    uses.write_text(
        uses.read_text(encoding="utf-8")
        + """
  - id: booking-reminders
    description: A text message the day before a booked visit.
    serves: [keep-customers]
    kind: service_delivery
    legal_basis: contract
    data_subjects: [customer]
    fields: [customer.phone, visit.booked_for]
    recipients: [sms-gateway]
    retention: P3M
""",
        encoding="utf-8",
    )
    return root


def test_a_field_is_kept_as_long_as_the_longest_use_that_lists_it(tmp_path: Path) -> None:
    """visit.booked_for, listed only by a P3M use, compiles to P3M although visit has its own
    P6Y for bookkeeping; each property says which rule applied; a visit row is kept as long as
    its longest-kept field."""
    root = _with_booking_reminders(tmp_path)
    result = runner.invoke(get_app(), ["compile", str(root), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    schema = json.loads((tmp_path / "out" / "schemas" / "visit.schema.json").read_text())
    props = schema["properties"]
    assert props["booked_for"]["x-tietotie-retention"] == "P3M"
    assert props["booked_for"]["x-tietotie-retention-rule"] == (
        "longest use: booking-reminders (contract)"
    )
    assert props["mileage_km"]["x-tietotie-retention"] == "P3Y"
    assert props["amount_eur"]["x-tietotie-retention"] == "P6Y"
    assert props["amount_eur"]["x-tietotie-retention-rule"] == (
        "longest use: bookkeeping (legal obligation)"
    )
    strategy = load_strategy(root).strategy
    assert strategy is not None
    kept = {p["x-tietotie-retention"] for p in props.values()}
    assert schema["x-tietotie-retention"] == longest(sorted(kept)) == "P6Y"
    assert entity_retention(strategy, "visit") == schema["x-tietotie-retention"]
    assert schema["x-tietotie-retention-rule"].startswith("its longest-kept field: visit.")


def test_the_entitys_own_retention_applies_only_where_a_legal_obligation_lists_the_field(
    tmp_path: Path,
) -> None:
    """With visit kept P10Y, the fields bookkeeping lists are kept P10Y and say so; the fields
    only other uses list keep those uses' retention."""
    strategy = load_strategy(_with_booking_reminders(tmp_path, "P10Y")).strategy
    assert strategy is not None
    props = entity_schema(strategy, "visit")["properties"]
    assert props["amount_eur"]["x-tietotie-retention"] == "P10Y"
    assert props["amount_eur"]["x-tietotie-retention-rule"] == (
        "the retention of entity visit, for bookkeeping (legal obligation)"
    )
    assert props["booked_for"]["x-tietotie-retention"] == "P3M"
    assert props["satisfaction_score"]["x-tietotie-retention"] == "P2Y"
    assert entity_retention(strategy, "visit") == "P10Y"
