"""``POST /v1/records/{entity}``: validate, deduplicate and store one record."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from access_policy.models import Decision
from dsar.api.deps import PolicyDep, SessionDep, StaffDep, StoreDep
from kernel.errors import AccessDenied, RecordError
from records.store import ingest

__all__ = ["RecordCreate", "RecordCreated", "router"]

router = APIRouter(prefix="/v1/records", tags=["records"])


class RecordCreate(BaseModel):
    """A record to store, and who collected it."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(description="The source id (4-sources.yaml) that collected the values.")
    subject: dict[str, Any] | None = Field(
        default=None,
        description='The subject, {"id": …} or one identifier; left out for the '
        "subject entity itself.",
    )
    parent: str | None = Field(
        default=None,
        description="Parent record id, for an entity whose parent is not the "
        "subject entity (else the subject's single parent record is used).",
    )
    values: dict[str, Any] = Field(description="Field name → value.")


class RecordCreated(BaseModel):
    """Where the record went."""

    subject_id: str = Field(description="The subject's opaque id.")
    record_id: str = Field(description="The record's opaque id.")
    merged: bool = Field(description="Whether it merged into an existing subject (match_on).")


@router.post("/{entity}", status_code=201, response_model=RecordCreated)
def create_record(
    entity: str,
    body: RecordCreate,
    session: SessionDep,
    store: StoreDep,
    policy: PolicyDep,
    staff: StaffDep,
) -> RecordCreated:
    """Store a record: the caller's role must be granted write on every field, for some use."""
    store.check_entity(entity)
    undeclared = [
        f"{entity}.{n}" for n in body.values if f"{entity}.{n}" not in store.strategy.index.fields
    ]
    if undeclared:
        raise RecordError(
            f"{', '.join(undeclared)}: not declared in the strategy, so it may not be stored "
            "(declare it in 5-system.yaml with a use that needs it)",
            fields=undeclared,
        )
    held = policy.held_uses(staff.role)
    refused = [
        f"{entity}.{name}"
        for name in body.values
        if not any(
            policy.decide(staff.role, f"{entity}.{name}", use, "write") is Decision.ALLOW
            for use in held
        )
    ]
    if refused:
        raise AccessDenied(
            f"role {staff.role!r} may not write {', '.join(refused)} for any use it holds "
            "(5-system.yaml access: write)",
            role=staff.role,
            fields=refused,
        )
    result = ingest(
        session,
        store,
        entity,
        source=body.source,
        values=body.values,
        subject=body.subject,
        parent=body.parent,
    )
    session.commit()
    return RecordCreated(
        subject_id=result.subject_id, record_id=result.record_id, merged=result.merged
    )
