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
"""

from __future__ import annotations

import io
import math
from collections import defaultdict
from pathlib import Path
from typing import Any, Final

from activation.reporting import ReportBuild, chart_kind
from kernel.files import atomic_path
from schemas.enums import Chart, FieldType

__all__ = ["MAX_SERIES", "MAX_SLICES", "render_chart", "write_chart"]

MAX_SERIES: Final = 8
"""Most series (lines, bar colours) one chart shows."""
MAX_SLICES: Final = 11
"""Most pie slices before the rest is drawn as one "other" slice."""

_TEMPORAL: Final = frozenset({FieldType.DATE, FieldType.DATETIME})


def _value_column(build: ReportBuild) -> tuple[str, str]:
    averages = [c for c in build.columns if c.endswith(":avg")]
    if averages:
        return averages[0], f"average {averages[0].removesuffix(':avg')}"
    return "subjects", "subjects"


def _dimensions(build: ReportBuild) -> list[str]:
    return build.columns[: build.columns.index("subjects")]


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    return float(value)


def _label(value: Any) -> str:
    return "(none)" if value is None else str(value)


def render_chart(build: ReportBuild) -> bytes | None:
    """The report as a PNG image of its declared chart; None when it has no chart (table or
    row-level reports)."""
    kind = chart_kind(build)
    if kind is None:
        return None
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    value, value_name = _value_column(build)
    dims = _dimensions(build)
    suppressed = (
        f"{build.suppressed_groups} group(s) of fewer than {build.k} subjects "
        f"({build.suppressed_subjects} subjects) suppressed"
    )
    axes.set_title(f"{build.report.id} ({build.identity})\n{suppressed}", fontsize=10)
    if not build.groups or not dims:
        axes.text(
            0.5,
            0.5,
            f"no group of at least {build.k} subjects",
            ha="center",
            va="center",
            transform=axes.transAxes,
        )
        axes.set_axis_off()
    elif kind is Chart.PIE:
        _pie(axes, build, dims, value)
    else:
        _series_chart(axes, build, dims, value, value_name, line=kind is Chart.LINE)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def _pie(axes: Any, build: ReportBuild, dims: list[str], value: str) -> None:
    types = build.field_types
    dim = next((d for d in dims if types[d] not in _TEMPORAL), dims[0])
    totals: dict[str, float] = defaultdict(float)
    for g in build.groups:
        totals[_label(g[dim])] += _number(g[value])
    slices = sorted(totals.items(), key=lambda s: -s[1])
    if len(slices) > MAX_SLICES:
        rest = sum(v for _, v in slices[MAX_SLICES:])
        slices = [*slices[:MAX_SLICES], ("other", rest)]
    labels, values = zip(*slices, strict=True)
    axes.pie(values, labels=labels, autopct="%1.0f%%", textprops={"fontsize": 9})
    axes.set_aspect("equal")
    axes.set_xlabel(f"{value} by {dim}, summed over the shown groups")


def _series_chart(
    axes: Any, build: ReportBuild, dims: list[str], value: str, value_name: str, *, line: bool
) -> None:
    types = build.field_types
    x_dim = next((d for d in dims if types[d] in _TEMPORAL), dims[0])
    others = [d for d in dims if d != x_dim]
    series: dict[str, dict[str, float]] = defaultdict(dict)
    for g in build.groups:
        name = " / ".join(_label(g[d]) for d in others) or value_name
        x = _label(g[x_dim])
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
    axes.set_xlabel(x_dim)
    axes.set_ylabel(value_name)
    if others or len(ranked) > 1:
        axes.legend(
            title=" / ".join(others) or None, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1)
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
