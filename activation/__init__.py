"""Reports at their identity levels, campaign audiences and the contact log, charts, exports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.lazy import lazy_exports

if TYPE_CHECKING:
    from activation.audiences import (
        AudienceCounts,
        AudienceRun,
        Exclusion,
        audience,
        contact_log,
        contact_log_metadata,
        record_send,
    )
    from activation.charts import render_chart, write_chart
    from activation.exports import OutputFormat, write_file, write_rows
    from activation.reporting import (
        DEFAULT_K,
        REPORTING_DOMAIN,
        ReportBuild,
        build_report,
        report_uses,
        write_report,
    )

__all__ = [
    "DEFAULT_K",
    "REPORTING_DOMAIN",
    "AudienceCounts",
    "AudienceRun",
    "Exclusion",
    "OutputFormat",
    "ReportBuild",
    "audience",
    "build_report",
    "contact_log",
    "contact_log_metadata",
    "record_send",
    "render_chart",
    "report_uses",
    "write_chart",
    "write_file",
    "write_report",
    "write_rows",
]

_NAMES = {
    **dict.fromkeys(
        [
            "DEFAULT_K",
            "REPORTING_DOMAIN",
            "ReportBuild",
            "build_report",
            "report_uses",
            "write_report",
        ],
        "activation.reporting",
    ),
    **dict.fromkeys(
        [
            "AudienceCounts",
            "AudienceRun",
            "Exclusion",
            "audience",
            "contact_log",
            "contact_log_metadata",
            "record_send",
        ],
        "activation.audiences",
    ),
    **dict.fromkeys(["render_chart", "write_chart"], "activation.charts"),
    **dict.fromkeys(["OutputFormat", "write_file", "write_rows"], "activation.exports"),
}

__getattr__ = lazy_exports(__name__, _NAMES)
