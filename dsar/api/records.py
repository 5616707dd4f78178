"""``POST /v1/records/{entity}``: validate, deduplicate and store one record."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from access_policy.models import Decision
from access_policy.service import Policy
from dsar.api.deps import PolicyDep, SessionDep, StaffDep, StoreDep
from dsar.api.subjects import name_subject, reachable, readable_identifier
from kernel.errors import AccessDenied, RecordError
from records.store import RecordStore, ingest

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
    """Store a record: the caller's role must be granted write on every field, for some use.

    The subject is named by its id or by an identifier the role reads in clear, and must be
    within the row filters of a use that lets the role write each field; an unknown subject and
    one the role cannot reach are the same 404 (no identifier oracle, DESIGN §11).
    """
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
    writers = {
        name: [
            use
            for use in held
            if policy.decide(staff.role, f"{entity}.{name}", use, "write") is Decision.ALLOW
        ]
        for name in body.values
    }
    refused = [f"{entity}.{name}" for name, uses in writers.items() if not uses]
    if refused:
        raise AccessDenied(
            f"role {staff.role!r} may not write {', '.join(refused)} for any use it holds "
            "(5-system.yaml access: write)",
            role=staff.role,
            fields=refused,
        )
    write_uses = [u for u in held if any(u in uses for uses in writers.values())]
    subject = body.subject
    if entity == store.subject_entity:
        _check_identifying(store, policy, role=staff.role, values=body.values, uses=write_uses)
    elif subject is not None:
        subject_id = name_subject(
            session, store, policy, role=staff.role, named=subject, uses=write_uses
        )
        _within_filters(session, store, policy, staff.role, subject_id, entity, writers)
        subject = {"id": subject_id}
    result = ingest(
        session,
        store,
        entity,
        source=body.source,
        values=body.values,
        subject=subject,
        parent=body.parent,
    )
    if entity == store.subject_entity:
        # A new subject outside the role's row filters (a mechanic storing another branch's
        # customer) is refused like a write to one; the session rolls back on the error.
        _within_filters(session, store, policy, staff.role, result.subject_id, entity, writers)
    session.commit()
    return RecordCreated(
        subject_id=result.subject_id, record_id=result.record_id, merged=result.merged
    )


def _check_identifying(
    store: RecordStore,
    policy: Policy,
    *,
    role: str,
    values: Mapping[str, Any],
    uses: Sequence[str],
) -> None:
    """Refuse identifying values a subject record would be deduplicated by, when the role may
    not read them or is bound by row filters: ``merged`` would tell it who is a customer."""
    subject = store.subject_entity
    spec = store.strategy.index.entities[subject]
    keys = set(spec.identifiers) | {k for keyset in spec.match_on for k in keyset}
    identifying = [n for n in values if n in keys]
    if not identifying:
        return
    held = policy.held_uses(role)
    unreadable = [
        f"{subject}.{n}"
        for n in identifying
        if not readable_identifier(policy, role=role, ref=f"{subject}.{n}", uses=held)
    ]
    if unreadable:
        raise AccessDenied(
            f"role {role!r} may not read {', '.join(unreadable)}, so it may not store a "
            f"{subject} by it: deduplication would tell it whether that value belongs to a "
            "customer. Leave the field out, or have a role that reads it store the record",
            role=role,
            fields=unreadable,
        )
    bound = [u for u in uses if policy.row_filters(role, u)]
    if bound:
        raise AccessDenied(
            f"role {role!r} is bound by row filters (for {', '.join(bound)}), so it may not "
            f"store {subject} records by {', '.join(identifying)}: merging into a "
            f"{subject} outside its filters would reveal and change that {subject}. Have a "
            "role without row filters (the service desk) store it",
            role=role,
            fields=[f"{subject}.{n}" for n in identifying],
        )


def _within_filters(
    session: Session,
    store: RecordStore,
    policy: Policy,
    role: str,
    subject_id: str,
    entity: str,
    writers: Mapping[str, Sequence[str]],
) -> None:
    """Refuse a field the role writes only for uses whose row filters leave the subject out."""
    outside = [
        f"{entity}.{name}"
        for name, uses in writers.items()
        if not reachable(session, store, policy, role=role, subject_id=subject_id, uses=uses)
    ]
    if outside:
        raise AccessDenied(
            f"role {role!r} may write {', '.join(outside)} only for subjects within its row "
            "filters (5-system.yaml access: rows), and this subject is not",
            role=role,
            fields=outside,
        )
