"""The DPIA screening (Art. 35, WP248): each criterion, the verdict, review dates, the examples."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas import Strategy, load_strategy, validate
from schemas.dpia import CRITERIA, MISSING, REVIEW_DUE, UseScreening, screen

ROOT = Path(__file__).resolve().parents[2]
MINIMAL = Path(__file__).parent / "minimal"
BUNDLED = ROOT / "strategy"
B2B = ROOT / "tests" / "examples" / "b2b-wholesaler"
DAY = date(2027, 3, 1)

DPIA = {
    "ref": "DPIA-7",
    "done_on": "2026-05-01",
    "outcome": "Low remaining risk.",
    "review_by": "2028-05-01",
}


def _minimal() -> dict[str, Any]:
    """The minimal strategy as one document, to change before it is validated."""
    data: dict[str, Any] = {}
    for file in sorted(MINIMAL.glob("*.yaml")):
        data.update(yaml.safe_load(file.read_text(encoding="utf-8")))
    return data


def _use(data: dict[str, Any], use_id: str) -> dict[str, Any]:
    return next(u for u in data["uses"] if u["id"] == use_id)


def _screened(data: dict[str, Any], use_id: str, today: date = DAY) -> UseScreening:
    strategy = Strategy.model_validate(data)
    return next(s for s in screen(strategy, today=today) if s.use == use_id)


def _loaded(path: Path) -> Strategy:
    result = load_strategy(path)
    assert result.strategy is not None, [f.message for f in result.findings]
    return result.strategy


# ── the criteria read from the declarations ──────────────────────────────────────────────────


def test_a_profiling_use_meets_evaluation_or_scoring() -> None:
    """kind: profiling is criterion 1, and only it is; analytics alone is not scoring."""
    data = _minimal()
    assert "evaluation_scoring" not in _screened(data, "reminders").criteria
    _use(data, "reminders")["kind"] = "profiling"
    screening = _screened(data, "reminders")
    assert "evaluation_scoring" in screening.criteria
    assert screening.evidence["evaluation_scoring"] == ["kind: profiling"]


def test_automated_decision_making_meets_the_automated_decision_criterion() -> None:
    """automated_decision_making: true (Art. 22) is criterion 2."""
    data = _minimal()
    assert "automated_decision" not in _screened(data, "reminders").criteria
    _use(data, "reminders")["automated_decision_making"] = True
    assert "automated_decision" in _screened(data, "reminders").criteria


def test_a_special_category_field_is_sensitive_data() -> None:
    """The health field of 'service' is named as the evidence, with its category."""
    screening = _screened(_minimal(), "service")
    assert screening.evidence["sensitive_data"] == ["customer.mobility_note"]
    assert "customer.mobility_note (health)" in screening.reasons[0]
    assert "sensitive_data" not in _screened(_minimal(), "reminders").criteria


def test_criminal_offence_data_is_sensitive_data_too() -> None:
    """Art. 10 data counts although it is not an Art. 9 special category."""
    data = _minimal()
    data["system"]["entities"]["customer"]["fields"]["conviction"] = {
        "type": "text",
        "category": "criminal",
    }
    _use(data, "reminders")["fields"].append("customer.conviction")
    screening = _screened(data, "reminders")
    assert screening.evidence["sensitive_data"] == ["customer.conviction"]


@pytest.mark.parametrize(
    ("threshold", "large"), [(1499, True), (1500, True), (1501, False), (10_000, False)]
)
def test_large_scale_is_the_main_sources_records_against_the_threshold(
    threshold: int, large: bool
) -> None:
    """'reminders' takes three fields from the booking form (1500 a year) and one from the till
    (3000): the booking form is its main source, and the threshold is reached at 1500."""
    data = _minimal()
    data["controller"]["large_scale_records_per_year"] = threshold
    screening = _screened(data, "reminders")
    assert screening.records_per_year == 1500
    assert ("large_scale" in screening.criteria) is large
    if large:
        assert screening.evidence["large_scale"] == ["booking-form"]


def test_a_busy_source_that_shares_one_field_does_not_make_a_use_large() -> None:
    """The till's 3000 records a year feed 'reminders' one field; they do not set its scale."""
    data = _minimal()
    data["controller"]["large_scale_records_per_year"] = 2000
    assert "large_scale" not in _screened(data, "reminders").criteria


def test_the_large_scale_threshold_defaults_to_ten_thousand_and_must_be_positive() -> None:
    """Existing strategies keep validating; a threshold of 0 is an invalid value."""
    assert _loaded(MINIMAL).controller.large_scale_records_per_year == 10_000
    data = _minimal()
    data["controller"]["large_scale_records_per_year"] = 0
    with pytest.raises(ValueError, match="large_scale_records_per_year"):
        Strategy.model_validate(data)


def test_fields_only_two_sources_hold_together_are_matching_datasets() -> None:
    """'reminders' needs the booking form and the till; both are named, the larger share
    first."""
    screening = _screened(_minimal(), "reminders")
    assert screening.evidence["matching_datasets"] == ["booking-form", "till"]


def test_the_same_fields_through_two_channels_are_not_a_combination() -> None:
    """A phone line taking what the booking form takes does not make 'reminders' combine
    datasets when its fields all come from one source."""
    data = _minimal()
    data["sources"].append(
        {
            "id": "phone",
            "channel": "phone",
            "collected_by": "owner",
            "records_per_year": 900,
            "collects": ["customer.email", "customer.name", "vehicle.tyre_type"],
        }
    )
    _use(data, "reminders")["fields"] = ["customer.email", "customer.name", "vehicle.tyre_type"]
    assert "matching_datasets" not in _screened(data, "reminders").criteria


DECLARED = ["vulnerable_subjects", "systematic_monitoring", "innovative_technology"]
DECLARED += ["blocks_right_or_service"]


@pytest.mark.parametrize("key", DECLARED)
def test_each_declared_criterion_is_met_when_declared(key: str) -> None:
    """The four criteria only the controller can judge are read from the use's own keys."""
    data = _minimal()
    assert key not in _screened(data, "reminders").criteria
    _use(data, "reminders")[key] = True
    screening = _screened(data, "reminders")
    assert key in screening.criteria
    assert screening.evidence[key] == [f"{key}: true"]


# ── the verdict ──────────────────────────────────────────────────────────────────────────────


def test_one_criterion_does_not_require_a_dpia_and_two_do() -> None:
    """'reminders' combines two sources (one criterion); deciding automatically makes two."""
    data = _minimal()
    one = _screened(data, "reminders")
    assert (one.criteria, one.required, one.problem) == (["matching_datasets"], False, None)
    _use(data, "reminders")["automated_decision_making"] = True
    two = _screened(data, "reminders")
    assert two.criteria == ["automated_decision", "matching_datasets"]  # WP248 order
    assert two.required and two.problem == MISSING and two.status == MISSING
    assert len(two.reasons) == 2 and two.listed_case is None


def test_special_category_data_at_large_scale_is_the_listed_case_of_art_35_3_b() -> None:
    """Health data whose main source is over the threshold is named as Art. 35(3)(b)."""
    data = _minimal()
    data["controller"]["large_scale_records_per_year"] = 1000
    screening = _screened(data, "service")
    assert {"sensitive_data", "large_scale"} <= set(screening.criteria)
    assert screening.required and screening.listed_case == "35(3)(b)"


def test_profiling_with_automated_decisions_is_the_listed_case_of_art_35_3_a() -> None:
    data = _minimal()
    _use(data, "bookkeeping").update(kind="profiling", automated_decision_making=True)
    assert _screened(data, "bookkeeping").listed_case == "35(3)(a)"


# ── the declared assessment and its review ───────────────────────────────────────────────────


def test_a_declared_dpia_answers_the_requirement_until_its_review_date_passes() -> None:
    """On the review date it is still in date; the day after, the problem is review_due."""
    data = _minimal()
    _use(data, "service")["dpia"] = dict(DPIA)
    on_the_day = _screened(data, "service", today=date(2028, 5, 1))
    assert on_the_day.required and on_the_day.problem is None
    assert on_the_day.status == "declared" and on_the_day.declared is not None
    assert on_the_day.declared.ref == "DPIA-7"
    late = _screened(data, "service", today=date(2028, 5, 2))
    assert late.problem == REVIEW_DUE and late.review_due and late.status == REVIEW_DUE


def test_a_voluntary_dpia_past_review_is_shown_but_is_no_problem() -> None:
    """A use that needs no DPIA may still declare one; its late review is no warning."""
    data = _minimal()
    _use(data, "bookkeeping")["dpia"] = dict(DPIA)
    screening = _screened(data, "bookkeeping", today=date(2030, 1, 1))
    assert not screening.required
    assert screening.review_due and screening.status == REVIEW_DUE and screening.problem is None


def test_a_review_date_before_the_assessment_is_refused_at_review_by(tmp_path: Path) -> None:
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    uses = root / "2-use.yaml"
    uses.write_text(
        uses.read_text(encoding="utf-8").replace("review_by: 2099-12-31", "review_by: 2025-01-01")
    )
    result = validate(str(root))
    (hit,) = [f for f in result.findings if f.severity == "error"]
    assert hit.rule == "invalid-value" and "review_by must come after done_on" in hit.message
    assert "review_by" in uses.read_text(encoding="utf-8").splitlines()[hit.line - 1]


def test_validate_warns_at_the_use_naming_its_criteria(tmp_path: Path) -> None:
    """A required DPIA left out is a warning at the use's id, and a late one at review_by."""
    root = tmp_path / "s"
    shutil.copytree(MINIMAL, root)
    uses = root / "2-use.yaml"
    text = uses.read_text(encoding="utf-8")
    uses.write_text(text.replace("review_by: 2099-12-31", "review_by: 2026-02-01"))
    (late,) = validate(str(root)).findings
    assert (late.rule, late.severity) == ("dpia-required", "warning")
    assert "DPIA-1 of 'service' was due for review on 2026-02-01" in late.message
    assert "sensitive_data, matching_datasets" in late.message
    assert "review_by: 2026-02-01" in uses.read_text(encoding="utf-8").splitlines()[late.line - 1]
    start, end = text.index("    dpia:\n"), text.index("2099-12-31\n") + len("2099-12-31\n")
    uses.write_text(text[:start] + text[end:])
    (missing,) = validate(str(root)).findings
    assert missing.message == (
        "use 'service' meets 2 of the 9 WP248 criteria (sensitive_data, matching_datasets), "
        "so it needs a DPIA, but declares none"
    )
    assert uses.read_text(encoding="utf-8").splitlines()[missing.line - 1] == "  - id: service"


def test_the_criteria_are_the_nine_of_wp248_in_order() -> None:
    assert [c.number for c in CRITERIA] == list(range(1, 10))
    assert len({c.id for c in CRITERIA}) == 9


# ── the two example strategies ───────────────────────────────────────────────────────────────


def test_the_bundled_car_service_needs_no_dpia_and_assesses_its_health_data_anyway() -> None:
    """No use of the seven-person workshop meets two criteria: its sources take at most 4000
    records a year. The accessibility service holds health data (one criterion) and declares a
    voluntary DPIA; validate has nothing to say."""
    screenings = {s.use: s for s in screen(_loaded(BUNDLED), today=DAY)}
    assert not any(s.required for s in screenings.values())
    access = screenings["accessibility-service"]
    assert access.criteria == ["sensitive_data"] and access.status == "declared"
    assert access.evidence["sensitive_data"] == ["customer.accessibility_need"]
    assert screenings["service-history"].criteria == ["matching_datasets"]
    assert screenings["service-quality-analytics"].criteria == []
    assert "dpia-required" not in [f.rule for f in validate(str(BUNDLED)).findings]


def test_the_wholesaler_needs_a_dpia_for_its_order_handling_and_purchase_analytics() -> None:
    """25 000 webshop orders a year combined with trade-account and call data make two criteria;
    the newsletter and the product panel reach a few hundred people through their main source."""
    screenings = {s.use: s for s in screen(_loaded(B2B), today=DAY)}
    required = {u for u, s in screenings.items() if s.required}
    assert required == {"order-handling", "purchase-analytics"}
    order = screenings["order-handling"]
    assert order.criteria == ["large_scale", "matching_datasets"] and order.problem == MISSING
    assert order.evidence["large_scale"] == ["webshop-checkout"]
    assert order.records_per_year == 25_000
    assert screenings["product-panel"].records_per_year == 300
    assert screenings["bookkeeping"].criteria == ["large_scale"]
    warned = [f for f in validate(str(B2B)).findings if f.rule == "dpia-required"]
    assert sorted(f.message.split("'")[1] for f in warned) == sorted(required)
