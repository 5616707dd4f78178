"""Aggregated reports built from the system of record, for the staff site (``--with-data``).

Only reports whose declared identity level is ``aggregated`` are built: groups smaller than
``k`` subjects are suppressed by :func:`activation.reporting.build_report` before anything reaches
this module, so the site never holds a row about one person. Each build is audited like any
other (``report.build``, counts only). The figures reach the mkdocs hooks through
:func:`published`, which holds them for the length of one build or serve in this process.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from access_policy import compile_policy
from activation.charts import render_chart
from activation.reporting import DEFAULT_K, build_report
from schemas.enums import IdentityLevel
from tietotie.wiring import Services

__all__ = ["ReportFigure", "build_figures", "current", "published"]


@dataclass(frozen=True)
class ReportFigure:
    """One aggregated report as built from the data: its numbers and, if it has one, its chart."""

    report: str
    built_at: datetime
    k: int
    groups: int
    suppressed_groups: int
    suppressed_subjects: int
    png: bytes | None


def build_figures(
    services: Services, *, k: int = DEFAULT_K, at: datetime | None = None
) -> dict[str, ReportFigure]:
    """Build every aggregated report of the strategy from ``services``' database, audited."""
    strategy = services.strategy
    policy = compile_policy(strategy)
    moment = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    figures: dict[str, ReportFigure] = {}
    for report in strategy.reports:
        if report.identity is not IdentityLevel.AGGREGATED:
            continue
        with services.sessions() as session, session.begin():
            build = build_report(session, services.store, policy, report.id, k=k, at=moment)
            build.audit(session, services.audit)
        figures[report.id] = ReportFigure(
            report=report.id,
            built_at=moment,
            k=build.k,
            groups=len(build.groups),
            suppressed_groups=build.suppressed_groups,
            suppressed_subjects=build.suppressed_subjects,
            png=render_chart(build),
        )
    return figures


_published: list[dict[str, ReportFigure]] = []


@contextmanager
def published(figures: dict[str, ReportFigure] | None) -> Iterator[None]:
    """Make ``figures`` what the site's hooks show while the block runs (None: no data)."""
    if figures is None:
        yield
        return
    _published.append(figures)
    try:
        yield
    finally:
        _published.pop()


def current() -> dict[str, ReportFigure]:
    """The figures of the build running now; empty when it was not asked for data."""
    return _published[-1] if _published else {}
