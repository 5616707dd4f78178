"""The DPIA screening page of the staff docs site, in the strategy's language."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from schemas import Strategy, load_strategy
from tietotie.docsite.context import PAGES, Context
from tietotie.docsite.dpia import dpia_page
from tietotie.docsite.labels import Labels
from tietotie.docsite.site import generate_site

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / "strategy"
B2B = REPO / "tests" / "examples" / "b2b-wholesaler"


def _strategy(path: Path) -> Strategy:
    result = load_strategy(path)
    assert result.strategy is not None
    return result.strategy


def _page(strategy: Strategy, day: date) -> str:
    ctx = Context(strategy, Labels(strategy.controller.language)).on("dpia")
    return dpia_page(ctx, today=day)


def _row(page: str, use: str) -> str:
    return next(line for line in page.splitlines() if line.startswith(f"| [`{use}`]"))


def test_the_page_is_a_register_of_the_site_and_on_the_home_page() -> None:
    site = generate_site(_strategy(BUNDLED))
    assert PAGES["dpia"] in site.files
    registers = next(item["Selosteet"] for item in site.nav if "Selosteet" in item)
    assert {"Vaikutustenarvioinnin tarve": PAGES["dpia"]} in registers
    assert "[Vaikutustenarvioinnin tarve](registers/dpia.md)" in site.home


def test_the_bundled_page_is_finnish_and_shows_the_voluntary_assessment() -> None:
    """Every use has a row; the health data's criterion and DPIA are shown in Finnish."""
    strategy = _strategy(BUNDLED)
    page = _page(strategy, date(2027, 1, 1))
    assert page.startswith("# Vaikutustenarvioinnin tarve")
    assert "10\u00a0000 tietuetta vuodessa" in page and "Tilanne 1.1.2027." in page
    for use in strategy.uses:
        assert f"[`{use.id}`]" in page
    row = _row(page, "accessibility-service")
    assert "Arkaluonteiset tiedot" in row and "ei vaadita" in row
    assert "TVA-2026-01, tarkistetaan viimeistään 16.11.2028" in row
    assert (
        "Avuntarve ([`customer.accessibility_need`](../fields/customer.md#accessibility_need))"
        in page
    )
    assert "vaaditaan**" not in page  # no use needs one
    late = _row(_page(strategy, date(2029, 1, 1)), "accessibility-service")
    assert "tarkistus myöhässä (16.11.2028 alkaen)" in late


def test_the_wholesaler_page_is_english_and_marks_the_missing_assessments() -> None:
    page = _page(_strategy(B2B), date(2027, 1, 1))
    assert page.startswith("# DPIA screening")
    row = _row(page, "order-handling")
    assert "Processing on a large scale, Matching or combining datasets" in row
    assert "**required**" in row and row.endswith("| missing |")
    assert "25,000 records a year (threshold 10,000)" in page
    assert "| **Status** | **missing** |" in page
    assert _row(page, "product-panel").endswith("| not required | – |")


def test_a_listed_case_of_art_35_3_is_named() -> None:
    """Health data whose main source passes the threshold is the case of Art. 35(3)(b)."""
    strategy = _strategy(BUNDLED)
    busy = strategy.model_copy(
        update={
            "controller": strategy.controller.model_copy(
                update={"large_scale_records_per_year": 1000}
            )
        }
    )
    page = _page(busy, date(2027, 1, 1))
    assert "Tapaus, jonka art. 35(3)(b) nimeää: vaikutustenarviointi on pakollinen." in page
