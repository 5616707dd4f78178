"""Charts speak the strategy's language: axes, legends and value names use the fields' labels."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from sqlalchemy import Engine

from access_policy import compile_policy
from activation.charts import chart_figure
from activation.reporting import Period, ReportBuild, build_report
from dsar.tables import database_metadata
from kernel.crypto import Pseudonymiser
from kernel.db import session_factory, transaction
from kernel.keys import Keyring
from kernel.keystore import SubjectKeyStore
from records.migrations import upgrade
from records.seed import seed
from records.store import FieldCrypto, RecordStore
from schemas import load_strategy
from tests.records.support import BUNDLED, bundled
from tests.support import backend_database

pytestmark = pytest.mark.activation

RAW_IDS = re.compile(r"\b[a-z_]+\.[a-z_]+\b")  # entity.field, as the YAML spells it


@dataclass
class Seeded:
    """A seeded SQLite database and the bundled strategy's store over it."""

    engine: Engine
    store: RecordStore
    crypto: FieldCrypto


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeded]:
    """800 demo customers (with their consents) in a SQLite file, seeded once for the module."""
    folder = tmp_path_factory.mktemp("charts")
    keyring = Keyring.ephemeral()
    keystore = SubjectKeyStore(folder / "keystore.db", keyring=keyring)
    crypto = FieldCrypto(keystore=keystore, pseudonymiser=Pseudonymiser(keyring))
    with backend_database("sqlite", folder, prefix="charts") as engine:
        strategy = bundled()
        upgrade(engine, database_metadata(strategy))
        store = RecordStore(strategy, crypto=crypto)
        seed(session_factory(engine), store, customers=800)
        yield Seeded(engine, store, crypto)
    keystore.close()


def _build(
    seeded: Seeded,
    report: str,
    *,
    store: RecordStore | None = None,
    period: Period = Period.MONTH,
    k: int = 5,
) -> ReportBuild:
    chosen = store or seeded.store
    with transaction(seeded.engine) as session:
        return build_report(
            session, chosen, compile_policy(chosen.strategy), report, period=period, k=k
        )


def _figure(build: ReportBuild) -> Figure:
    figure = chart_figure(build)
    assert figure is not None
    return figure


def _texts(figure: Figure) -> list[str]:
    """Every text drawn on the figure: titles, axis labels, ticks, legend, slice labels."""
    return [t.get_text() for t in figure.findobj(Text) if t.get_text()]


def _legend_title(figure: Figure) -> str:
    legend = figure.axes[0].get_legend()
    assert legend is not None
    return str(legend.get_title().get_text())


def test_a_bar_chart_names_its_axes_and_legend_by_the_finnish_labels(seeded: Seeded) -> None:
    """tyre-change-load reads Käyntiaika (kuukausi) under the bars, henkilöitä beside them
    and Palvelu / Toimipiste over the legend, with no field id and no English word."""
    figure = _figure(_build(seeded, "tyre-change-load"))
    axes = figure.axes[0]
    assert axes.get_xlabel() == "Käyntiaika (kuukausi)"
    assert axes.get_ylabel() == "henkilöitä"
    assert _legend_title(figure) == "Palvelu / Toimipiste"
    title = axes.get_title()
    assert title.startswith("tyre-change-load (koottu)\n") and "jätetty pois" in title
    texts = " ".join(_texts(figure))
    assert not RAW_IDS.search(texts), RAW_IDS.findall(texts)
    assert not re.search(r"\b(subjects|suppressed|average|by)\b", texts)


def test_an_average_is_named_after_the_labelled_field_it_averages(seeded: Seeded) -> None:
    """customer-value-report plots the average invoice: its value name is the amount's label,
    and its series are named by branch and make."""
    figure = _figure(_build(seeded, "customer-value-report"))
    assert figure.axes[0].get_ylabel() == "Laskun summa (€), keskiarvo"
    assert _legend_title(figure) == "Toimipiste / Automerkki"


def test_a_pie_says_what_it_sums_in_the_strategy_language(seeded: Seeded) -> None:
    """reminder-audience (consent-gated, so it draws only on seeded consents) is a pie of
    subjects by tyre type, said in Finnish with the labels."""
    build = _build(seeded, "reminder-audience", period=Period.YEAR)
    assert build.groups, "seeded consents let some customers into the consent-gated report"
    figure = _figure(build)
    assert figure.axes[0].get_xlabel() == (
        "henkilöitä – jaottelu: Rengastyyppi (näytettyjen ryhmien summa)"
    )
    assert {"summer", "winter"} <= set(_texts(figure))


def test_an_empty_chart_says_so_in_finnish(seeded: Seeded) -> None:
    """A k no group reaches leaves a chart that says no group had that many people."""
    figure = _figure(_build(seeded, "tyre-change-load", k=100_000))
    assert "ei yhtään vähintään 100000 henkilön ryhmää" in _texts(figure)


def _english_unlabelled(tmp_path: Path) -> RecordStore:
    """The bundled strategy written in English and with its labels taken out."""
    copy = tmp_path / "strategy-en"
    shutil.copytree(BUNDLED, copy)
    system = copy / "5-system.yaml"
    text = re.sub(r"label: [^,\n]+, |\n +label: [^\n]+", "", system.read_text("utf-8"))
    assert "label:" not in text
    system.write_text(text, "utf-8")
    organisation = copy / "organisation.yaml"
    organisation.write_text(
        organisation.read_text("utf-8").replace("language: fi", "language: en"), "utf-8"
    )
    strategy = load_strategy(copy).strategy
    assert strategy is not None and strategy.controller.language == "en"
    return RecordStore(strategy)


def test_without_labels_an_english_chart_shows_the_field_names_humanised(
    seeded: Seeded, tmp_path: Path
) -> None:
    """An English strategy without labels reads Visited at (month), average Amount eur and
    Service type / Branch, with the chart's words in English."""
    english = _english_unlabelled(tmp_path)
    load = _figure(_build(seeded, "tyre-change-load", store=english))
    assert load.axes[0].get_xlabel() == "Visited at (month)"
    assert load.axes[0].get_ylabel() == "subjects"
    assert _legend_title(load) == "Service type / Branch"
    assert "suppressed" in load.axes[0].get_title()
    value = _figure(_build(seeded, "customer-value-report", store=english))
    assert value.axes[0].get_ylabel() == "average Amount eur"
