"""``/v1/policy``: the access matrix and single decisions, for roles with the audit duty."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import PlainTextResponse

from access_policy.matrix import MatrixFormat, export_matrix, matrix_document
from access_policy.models import DecideRequest, DecideResponse
from dsar.api.deps import PolicyDep, require_duty
from dsar.auth import Staff
from schemas.enums import Duty

__all__ = ["router"]

router = APIRouter(prefix="/v1/policy", tags=["policy"])

AuditorDep = Annotated[Staff, Depends(require_duty(Duty.AUDIT))]

_MEDIA = {
    MatrixFormat.CSV: "text/csv; charset=utf-8",
    MatrixFormat.MD: "text/markdown; charset=utf-8",
}


@router.get("/matrix", response_model=None)
def get_matrix(
    policy: PolicyDep,
    _auditor: AuditorDep,
    fmt: Annotated[
        MatrixFormat, Query(alias="format", description="json (default), csv or md.")
    ] = (MatrixFormat.JSON),
) -> dict[str, Any] | PlainTextResponse:
    """The whole access matrix: role × use × field → read and write decision; deny by default."""
    if fmt is MatrixFormat.JSON:
        return matrix_document(policy)
    return PlainTextResponse(export_matrix(policy, fmt), media_type=_MEDIA[fmt])


@router.post("/decide")
def decide(body: DecideRequest, policy: PolicyDep, _auditor: AuditorDep) -> DecideResponse:
    """One decision with its reason; a role, field or use the strategy lacks is a 422."""
    policy.require_known(role=body.role, field=body.field, use=body.use)
    decision = policy.decide(body.role, body.field, body.use, body.action)
    return DecideResponse(
        role=body.role,
        field=body.field,
        use=body.use,
        action=body.action,
        decision=decision,
        reason=policy.explain(body.role, body.field, body.use, body.action),
        row_filters=[c.model_dump(mode="json") for c in policy.row_filters(body.role, body.use)],
    )
