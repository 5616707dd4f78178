"""Aggregated reports drawn as the chart their declaration asks for (bar, line or pie), as PNG.

matplotlib is imported when a chart is drawn, never at import time, and only through its
object-oriented API (a ``Figure`` with the Agg canvas): no pyplot state, no display needed.

What is drawn: the x axis (bar, line) is the report's first date or datetime dimension, else
its first dimension; the other dimensions make the series (at most :data:`MAX_SERIES`, the
largest first). The value is the average of the report's first numeric field when it has one
(the customer value, the satisfaction score), else the number of subjects. A pie shows one
slice per value of the first dimension that is not a date (summed over the shown groups; the
largest :data:`MAX_SLICES`, the rest as "other"). Suppressed groups are not drawn; the
title says how many there were.

Every text is in the strategy's language (``controller.language``: Finnish, else English):
fields are named by their ``label`` in 5-system.yaml, else by their name with spaces, and the
chart's own words come from :class:`ChartWords`.
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from activation.reporting import ReportBuild, chart_kind
from kernel.files import atomic_path
from schemas.enums import Chart, FieldType
from schemas.primitives import split_ref

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "CHART_LANGUAGES",
    "MAX_SERIES",
    "MAX_SLICES",
    "ChartWords",
    "chart_figure",
    "render_chart",
    "write_chart",
]

MAX_SERIES: Final = 8
"""Most series (lines, bar colours) one chart shows."""
MAX_SLICES: Final = 11
"""Most pie slices before the rest is drawn as one "other" slice."""
CHART_LANGUAGES: Final = ("fi", "en")
"""Languages the chart's own words are written in; any other language reads English."""

_TEMPORAL: Final = frozenset({FieldType.DATE, FieldType.DATETIME})

# key → (Finnish, English). Finnish avoids inflecting a label: "X, keskiarvo", not "X:n ka.".
_WORDS: Final[dict[str, tuple[str, str]]] = {
    "average": ("{field}, keskiarvo", "average {field}"),
    "subjects": ("henkilöitä", "subjects"),
    "by": (
        "{value} – jaottelu: {dim} (näytettyjen ryhmien summa)",
        "{value} by {dim}, summed over the shown groups",
    ),
    "suppressed": (
        "{groups} alle {k} henkilön ryhmää ({subjects} henkilöä) jätetty pois",
        "{groups} group(s) of fewer than {k} subjects ({subjects} subjects) suppressed",
    ),
    "empty": ("ei yhtään vähintään {k} henkilön ryhmää", "no group of at least {k} subjects"),
    "none": ("(ei arvoa)", "(none)"),
    "other": ("muut", "other"),
    "identity.aggregated": ("koottu", "aggregated"),
    "period.day": ("päivä", "day"),
    "period.week": ("viikko maanantaista", "week from Monday"),
    "period.month": ("kuukausi", "month"),
    "period.year": ("vuosi", "year"),
}


@dataclass(frozen=True)
class ChartWords:
    """The chart's own words in one language (:data:`CHART_LANGUAGES`; others read English)."""

    language: str

    def __call__(self, key: str, **fmt: object) -> str:
        """The words of ``key``, formatted with ``fmt``."""
        text = _WORDS[key][0 if self.language == "fi" else 1]
        return text.format(**fmt) if fmt else text


@dataclass(frozen=True)
class _Names:
    """How one build's fields and values read on its chart."""

    build: ReportBuild
    words: ChartWords

    def field(self, ref: str) -> str:
        """A field by its label, else its name humanised."""
        spec = self.build.strategy.index.fields.get(ref)
        name = split_ref(ref)[1]
        return spec.shown_name(name) if spec is not None else name

    def axis(self, ref: str) -> str:
        """A dimension as an axis title: its name, and the period dates are grouped by."""
        if self.build.field_types[ref] in _TEMPORAL:
            return f"{self.field(ref)} ({self.words(f'period.{self.build.period}')})"
        return self.field(ref)

    def value(self, value: Any) -> str:
        """A group's value as text; no value reads "(none)"."""
        return self.words("none") if value is None else str(value)


def _value_column(build: ReportBuild, names: _Names) -> tuple[str, str]:
    averages = [c for c in build.columns if c.endswith(":avg")]
    if averages:
        ref = averages[0].removesuffix(":avg")
        return averages[0], names.words("average", field=names.field(ref))
    return "subjects", names.words("subjects")


def _dimensions(build: ReportBuild) -> list[str]:
    return build.columns[: build.columns.index("subjects")]


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    return float(value)


def chart_figure(build: ReportBuild) -> Figure | None:
    """The report's declared chart as a matplotlib ``Figure`` (Agg canvas), not yet saved;
    None when it has no chart (table or row-level reports)."""
    kind = chart_kind(build)
    if kind is None:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    words = ChartWords(build.strategy.controller.language)
    names = _Names(build, words)
    figure = Figure(figsize=(10, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    value, value_name = _value_column(build, names)
    dims = _dimensions(build)
    suppressed = words(
        "suppressed",
        groups=build.suppressed_groups,
        k=build.k,
        subjects=build.suppressed_subjects,
    )
    identity = words(f"identity.{build.identity}")
    axes.set_title(f"{build.report.id} ({identity})\n{suppressed}", fontsize=10)
    if not build.groups or not dims:
        axes.text(
            0.5,
            0.5,
            words("empty", k=build.k),
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
        axes.set_axis_off()
    elif kind is Chart.PIE:
        _pie(axes, build, names, dims, value, value_name)
    else:
        _series_chart(axes, build, names, dims, value, value_name, line=kind is Chart.LINE)
    return figure


def render_chart(build: ReportBuild) -> bytes | None:
    """The report as a PNG image of its declared chart; None when it has no chart (table or
    row-level reports)."""
    figure = chart_figure(build)
    if figure is None:
        return None
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _pie(
    axes: Axes, build: ReportBuild, names: _Names, dims: list[str], value: str, value_name: str
) -> None:
    types = build.field_types
    dim = next((d for d in dims if types[d] not in _TEMPORAL), dims[0])
    totals: dict[str, float] = defaultdict(float)
    for g in build.groups:
        totals[names.value(g[dim])] += _number(g[value])
    slices = sorted(totals.items(), key=lambda s: -s[1])
    if len(slices) > MAX_SLICES:
        rest = sum(v for _, v in slices[MAX_SLICES:])
        slices = [*slices[:MAX_SLICES], (names.words("other"), rest)]
    labels, values = zip(*slices, strict=True)
    axes.pie(values, labels=labels, autopct="%1.0f%%", textprops={"fontsize": 9})
    axes.set_aspect("equal")
    axes.set_xlabel(names.words("by", value=value_name, dim=names.axis(dim)))


def _series_chart(
    axes: Axes,
    build: ReportBuild,
    names: _Names,
    dims: list[str],
    value: str,
    value_name: str,
    *,
    line: bool,
) -> None:
    types = build.field_types
    x_dim = next((d for d in dims if types[d] in _TEMPORAL), dims[0])
    others = [d for d in dims if d != x_dim]
    series: dict[str, dict[str, float]] = defaultdict(dict)
    for g in build.groups:
        name = " / ".join(names.value(g[d]) for d in others) or value_name
        x = names.value(g[x_dim])
        series[name][x] = series[name].get(x, 0.0) + _number(g[value])
    xs = sorted({x for points in series.values() for x in points})
    ranked = sorted(series, key=lambda s: -sum(series[s].values()))[:MAX_SERIES]
    positions = range(len(xs))
    width = 0.8 / max(len(ranked), 1)
    for i, name in enumerate(ranked):
        ys = [series[name].get(x, math.nan) for x in xs]  # suppressed: a gap, not a zero
        if line:
            axes.plot(list(positions), ys, marker="o", label=name)
        else:
            axes.bar([p - 0.4 + width * (i + 0.5) for p in positions], ys, width=width, label=name)
    axes.set_xticks(
        list(positions),
        xs,
        rotation=45 if len(xs) > 6 else 0,
        ha="right" if len(xs) > 6 else "center",
        fontsize=8,
    )
    axes.set_xlabel(names.axis(x_dim))
    axes.set_ylabel(value_name)
    if others or len(ranked) > 1:
        axes.legend(
            title=" / ".join(names.field(d) for d in others) or None,
            fontsize=8,
            loc="upper left",
            bbox_to_anchor=(1.01, 1),
        )
    axes.grid(axis="y", alpha=0.3)


def write_chart(build: ReportBuild, path: Path) -> bool:
    """Write the chart PNG to ``path`` atomically; False (nothing written) when it has none."""
    image = render_chart(build)
    if image is None:
        return False
    with atomic_path(Path(path)) as tmp:
        tmp.write_bytes(image)
    return True
