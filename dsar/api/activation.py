"""``GET /v1/activations/{id}/audience`` and ``GET /v1/reports/{id}`` (and its chart).

An audience is for a role that holds the activation's use; a report for a role in its
audience (and, when identified, one that may read its fields in clear). Both answer with their
numbers (matched, excluded by reason, final; groups and suppressed groups) beside the rows,
and both leave one audit entry per call.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from activation.audiences import audience
from activation.charts import render_chart
from activation.exports import plain
from activation.reporting import DEFAULT_K, Period, build_report
from audit import AuditLog
from dsar.api.deps import PolicyDep, SessionDep, StaffDep, StoreDep
from kernel.errors import NotFound

__all__ = ["router"]

router = APIRouter(tags=["activation"])


@router.get("/v1/activations/{activation_id}/audience")
def get_audience(
    request: Request,
    activation_id: str,
    session: SessionDep,
    store: StoreDep,
    policy: PolicyDep,
    staff: StaffDep,
    record_send: Annotated[
        bool, Query(description="Log one contact per subject returned (frequency caps).")
    ] = False,
) -> dict[str, Any]:
    """The lawful audience now: consent-, restriction-, objection- and cap-checked."""
    audit: AuditLog = request.app.state.audit
    run = audience(
        session,
        store,
        policy,
        activation_id,
        role=staff.role,
        record_sends=record_send,
        audit=audit,
    )
    masked = set(run.masked)
    subjects = [
        {
            name: ({"masked": True, "value": value} if name in masked else plain(value))
            for name, value in row.items()
        }
        for row in run.rows(session)
    ]
    session.commit()
    return {**run.summary(), "subjects": subjects}


@router.get("/v1/reports/{report_id}")
def get_report(
    request: Request,
    report_id: str,
    session: SessionDep,
    store: StoreDep,
    policy: PolicyDep,
    staff: StaffDep,
    k: Annotated[int, Query(ge=1, description="Smallest group shown (aggregated).")] = DEFAULT_K,
    period: Annotated[Period, Query(description="Date grouping (aggregated).")] = Period.MONTH,
) -> dict[str, Any]:
    """The report at its declared identity level, for the caller's role."""
    build = build_report(
        session,
        store,
        policy,
        report_id,
        role=staff.role,
        pseudonymiser=request.app.state.crypto.pseudonymiser,
        k=k,
        period=period,
    )
    rows = [{c: plain(row.get(c)) for c in build.columns} for row in build.rows(session)]
    build.audit(session, request.app.state.audit)
    session.commit()
    return {**build.summary(), "data": rows}


@router.get(
    "/v1/reports/{report_id}/chart.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def get_report_chart(
    request: Request,
    report_id: str,
    session: SessionDep,
    store: StoreDep,
    policy: PolicyDep,
    staff: StaffDep,
    k: Annotated[int, Query(ge=1, description="Smallest group shown.")] = DEFAULT_K,
    period: Annotated[Period, Query(description="Date grouping.")] = Period.MONTH,
) -> Response:
    """The aggregated report drawn as its declared chart (404 for reports without one)."""
    build = build_report(session, store, policy, report_id, role=staff.role, k=k, period=period)
    image = render_chart(build)
    if image is None:
        raise NotFound(
            f"report {report_id!r} has no chart: only aggregated reports with chart bar, "
            "line or pie are drawn",
            report=report_id,
        )
    build.rows_written = len(build.groups)
    build.audit(session, request.app.state.audit)
    session.commit()
    return Response(content=image, media_type="image/png")
