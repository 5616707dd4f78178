"""``GET /v1/activations/{id}/audience`` and ``GET /v1/reports/{id}`` (and its chart).

An audience is for a role that holds the activation's use; a report for a role in its
audience (and, when identified, one that may read its fields in clear). Both answer with their
numbers (matched, excluded by reason, final; groups and suppressed groups) beside the rows,
and both leave one audit entry per call, a refused one too (``activation.audience.refused``,
``report.refused``: who, which activation or report, and why; committed before the 403).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy.orm import Session

from access_policy.service import Policy
from activation.audiences import audience
from activation.charts import render_chart
from activation.exports import plain
from activation.reporting import DEFAULT_K, Period, ReportBuild, build_report
from audit import AuditLog
from dsar.api.deps import PolicyDep, SessionDep, StaffDep, StoreDep
from dsar.api.pseudonymise import audit_refusal
from dsar.auth import Staff
from kernel.crypto import Pseudonymiser
from kernel.errors import AccessDenied, NotFound, PolicyError, UnknownReference
from records.store import RecordStore

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
    audit: AuditLog = staff.audit_as(request.app.state.audit)
    try:
        run = audience(
            session,
            store,
            policy,
            activation_id,
            role=staff.role,
            record_sends=record_send,
            audit=audit,
        )
    except UnknownReference:
        raise
    except PolicyError as exc:  # the role does not hold the activation's use
        raise audit_refusal(
            session,
            audit,
            exc,
            actor=staff.actor,
            action="activation.audience.refused",
            reason="purpose_not_held",
            details={"activation": activation_id, "use": str(exc.context.get("use"))},
        ) from None
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


def _build(
    request: Request,
    session: Session,
    store: RecordStore,
    policy: Policy,
    report_id: str,
    *,
    staff: Staff,
    k: int,
    period: Period,
    pseudonymiser: Pseudonymiser | None = None,
) -> ReportBuild:
    """Build the report for the caller; a refusal is audited and committed before the 403."""
    try:
        return build_report(
            session,
            store,
            policy,
            report_id,
            role=staff.role,
            pseudonymiser=pseudonymiser,
            k=k,
            period=period,
            audit=staff.audit_as(request.app.state.audit),
        )
    except AccessDenied:
        session.commit()  # build_report appended the refusal; the error rolls the rest back
        raise


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
    build = _build(
        request,
        session,
        store,
        policy,
        report_id,
        staff=staff,
        k=k,
        period=period,
        pseudonymiser=request.app.state.crypto.pseudonymiser,
    )
    rows = [{c: plain(row.get(c)) for c in build.columns} for row in build.rows(session)]
    build.audit(session, staff.audit_as(request.app.state.audit))
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
    build = _build(request, session, store, policy, report_id, staff=staff, k=k, period=period)
    image = render_chart(build)
    if image is None:
        raise NotFound(
            f"report {report_id!r} has no chart: only aggregated reports with chart bar, "
            "line or pie are drawn",
            report=report_id,
        )
    build.rows_written = len(build.groups)
    build.audit(session, staff.audit_as(request.app.state.audit))
    session.commit()
    return Response(content=image, media_type="image/png")
