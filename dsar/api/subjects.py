"""``GET /v1/subjects?{identifier}=…`` and ``GET /v1/subjects/{id}?purpose=…``: find and read.

Every read states its purpose (a use id) and is filtered by the access policy for the
caller's role and that purpose: fields in clear, masked (``{"masked": true, "value": …}``) or
left out; a subject outside the role's row filter is not found.

No endpoint is an identifier oracle (DESIGN §11): a role names a subject by its id, or by an
identifier it may read in clear (:func:`name_subject`); naming it by anything else is refused
before any lookup, and "no such subject" and "a subject this role cannot reach" are one and
the same 404, so the answer never tells a customer from a stranger.

A refused find or read (a purpose the role does not hold, an identifier it may not read, a
subject outside its reach) is in the audit log as ``subject.find.refused`` or
``subject.read.refused``: the role, the purpose, the field and why; the subject id only when
such a subject exists, never a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from sqlalchemy import ColumnElement, and_, exists, select
from sqlalchemy.orm import Session

from access_policy.models import Decision, DecisionEvent
from access_policy.rows import condition_sql
from access_policy.service import Policy, view_record
from audit import AuditEvent, AuditLog
from dsar.api.deps import PolicyDep, SessionDep, StaffDep, StoreDep
from dsar.api.pseudonymise import audit_refusal
from dsar.auth import Staff
from kernel.errors import AccessDenied, NotFound, PolicyError, RecordError, UnknownReference
from records.store import RecordStore, find_subject, read_subject, subject_exists
from schemas.enums import OutputDomain

__all__ = [
    "MASK_DOMAIN",
    "find_for",
    "name_subject",
    "reachable",
    "readable_identifier",
    "router",
    "subject_view",
    "subject_visible",
]

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])

PurposeQuery = Annotated[str, Query(description="The use (purpose) the read is for.")]


def subject_visible(
    session: Session, store: RecordStore, policy: Policy, *, role: str, use: str, subject_id: str
) -> bool:
    """Whether the subject passes the row filters of ``role``'s grants for ``use``."""
    conditions = policy.row_filters(role, use)
    subject_table = store.tables.subject_table
    clauses: list[ColumnElement[bool]] = [subject_table.c.id == subject_id]
    for cond in conditions:
        entity, _, name = cond.field.partition(".")
        column = store.tables.columns.get(cond.field)
        if column is None or column.encrypted:
            return False  # a filter the database cannot evaluate never widens access
        if entity == store.subject_entity:
            clauses.append(condition_sql(cond, subject_table.c[name]))
        else:
            child = store.tables.table(entity)
            clauses.append(
                exists(
                    select(child.c.id).where(
                        child.c.subject_id == subject_table.c.id, condition_sql(cond, child.c[name])
                    )
                )
            )
    stmt = select(subject_table.c.id).where(and_(*clauses))
    return session.execute(stmt).first() is not None


def reachable(
    session: Session,
    store: RecordStore,
    policy: Policy,
    *,
    role: str,
    subject_id: str,
    uses: Iterable[str] | None = None,
) -> bool:
    """Whether the subject is stored and within ``role``'s row filters for one of ``uses``.

    ``uses`` defaults to every use the role holds; uses it does not hold reach nobody, so a
    role without grants reaches no subject at all.
    """
    held = [u for u in (policy.held_uses(role) if uses is None else uses) if policy.holds(role, u)]
    if not held:
        return False
    if any(not policy.row_filters(role, u) for u in held):
        return subject_exists(session, store, subject_id)
    return any(
        subject_visible(session, store, policy, role=role, use=u, subject_id=subject_id)
        for u in held
    )


def readable_identifier(policy: Policy, *, role: str, ref: str, uses: Iterable[str]) -> bool:
    """Whether ``role`` reads the identifier ``ref`` in clear for one of ``uses``."""
    return any(policy.decide(role, ref, u, "read") is Decision.ALLOW for u in uses)


def name_subject(
    session: Session,
    store: RecordStore,
    policy: Policy,
    *,
    role: str,
    named: Mapping[str, Any],
    uses: Iterable[str] | None = None,
) -> str:
    """The id of the subject ``role`` names by ``named`` (``{"id": …}`` or one identifier).

    An identifier must be one the role reads in clear for some use it holds; otherwise the
    call is refused (403) before anything is looked up, because the answer would tell the role
    whether a value it may not see belongs to a customer. A subject that does not exist, or is
    outside the role's row filters for ``uses`` (default: every use it holds), is the same
    :class:`NotFound`: same status, same body.
    """
    subject = store.subject_entity
    identifiers = store.strategy.index.entities[subject].identifiers
    if isinstance(named, Mapping) and len(named) == 1:
        ((key, _),) = named.items()
        ref = f"{subject}.{key}"
        held = policy.held_uses(role)
        if key in identifiers and not readable_identifier(policy, role=role, ref=ref, uses=held):
            raise AccessDenied(
                f"role {role!r} may not read {ref}, so it may not name a subject by it: "
                'name the subject by its id ({"id": …}), or by an identifier the role '
                "reads for a use it holds (5-system.yaml access)",
                role=role,
                field=ref,
                parameter="subject",
            )
    subject_id = find_subject(session, store, named)  # 422 for a malformed name, value-only
    if subject_id is None or not reachable(
        session, store, policy, role=role, subject_id=subject_id, uses=uses
    ):
        raise NotFound(
            f"no {subject} matches the given subject for this role: check the id or "
            "identifier (subjects outside the role's row filters are not found either)",
            parameter="subject",
        )
    return subject_id


def _refused(
    request: Request,
    session: Session,
    why: PolicyError | NotFound,
    *,
    actor: str,
    action: str,
    reason: str,
    subject_id: str | None = None,
    details: Mapping[str, Any],
) -> PolicyError | NotFound:
    """Audit a refused find or read (committed at once) and give back the error to raise.

    ``subject_id`` must be the id of a stored subject (or None): text typed into a path is
    never logged.
    """
    audit_refusal(
        session,
        request.app.state.audit,
        why,
        actor=actor,
        action=action,
        reason=reason,
        subject_id=subject_id,
        details=details,
    )
    return why


def _check_purpose(
    request: Request,
    session: Session,
    store: RecordStore,
    policy: Policy,
    *,
    role: str,
    actor: str,
    purpose: str,
    action: str,
    subject_id: str | None = None,
) -> None:
    """Refuse (and audit) a purpose the role does not hold; an unknown use is a plain 422."""
    try:
        policy.check_purpose(role, purpose)
    except UnknownReference:
        raise
    except PolicyError as exc:
        known = subject_id if subject_id and subject_exists(session, store, subject_id) else None
        raise _refused(
            request,
            session,
            exc,
            actor=actor,
            action=action,
            reason="purpose_not_held",
            subject_id=known,
            details={"purpose": purpose},
        ) from None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@router.get("")
def find(
    request: Request,
    purpose: PurposeQuery,
    session: SessionDep,
    store: StoreDep,
    policy: PolicyDep,
    staff: StaffDep,
) -> dict[str, Any]:
    """Find a subject by one identifier (``?email=…``) for a purpose the role holds."""
    given = [(k, v) for k, v in request.query_params.items() if k != "purpose"]
    key, value = given[0] if len(given) == 1 else ("", "")
    subject_id = find_for(
        request, session, store, policy, staff, purpose=purpose, key=key, value=value
    )
    return {"subject_id": subject_id, "purpose": purpose}


def find_for(
    request: Request,
    session: Session,
    store: RecordStore,
    policy: Policy,
    staff: Staff,
    *,
    purpose: str,
    key: str,
    value: str,
) -> str:
    """The subject ``staff`` finds by identifier ``key`` = ``value`` for ``purpose``.

    Refused (and audited) for a purpose the role does not hold or an identifier it does not
    read in clear, before any lookup; NotFound alike for no such subject and one outside the
    role's row filters. Shared by ``GET /v1/subjects`` and the desk's customer view.
    """
    _check_purpose(
        request,
        session,
        store,
        policy,
        role=staff.role,
        actor=staff.actor,
        purpose=purpose,
        action="subject.find.refused",
    )
    subject = store.subject_entity
    identifiers = store.strategy.index.entities[subject].identifiers
    if key not in identifiers:
        raise RecordError(
            f"give exactly one identifier of {subject} as a query parameter: "
            f"{', '.join(identifiers) or 'none declared'} (and purpose)"
        )
    ref = f"{subject}.{key}"
    if not readable_identifier(policy, role=staff.role, ref=ref, uses=[purpose]):
        # Refused whatever the value, before any lookup: the answer must not say whether a
        # value the role may not read belongs to a customer (masked is not read either).
        usable = [
            i
            for i in identifiers
            if readable_identifier(policy, role=staff.role, ref=f"{subject}.{i}", uses=[purpose])
        ]
        raise _refused(
            request,
            session,
            AccessDenied(
                f"role {staff.role!r} does not read {ref} for {purpose!r}, so it may not find "
                f"subjects by it: use an identifier it reads for that purpose "
                f"({', '.join(usable) or 'none'}) or the subject id",
                role=staff.role,
                field=ref,
                use=purpose,
            ),
            actor=staff.actor,
            action="subject.find.refused",
            reason="identifier_not_readable",
            details={"purpose": purpose, "field": ref},
        )
    subject_id = find_subject(session, store, {key: value})
    if subject_id is None or not subject_visible(
        session, store, policy, role=staff.role, use=purpose, subject_id=subject_id
    ):
        raise NotFound(f"no {subject} with that {key}", field=ref)
    return subject_id


MASK_DOMAIN: Final = OutputDomain.MASKED_READ.value
"""Pseudonymisation domain of identifiers shown masked in staff reads."""


@router.get("/{subject_id}")
def read(
    request: Request,
    subject_id: str,
    purpose: PurposeQuery,
    session: SessionDep,
    store: StoreDep,
    policy: PolicyDep,
    staff: StaffDep,
) -> dict[str, Any]:
    """The subject's records across entities, each field as the policy allows for the purpose."""
    return subject_view(request, session, store, policy, staff, subject_id, purpose=purpose)


def subject_view(
    request: Request,
    session: Session,
    store: RecordStore,
    policy: Policy,
    staff: Staff,
    subject_id: str,
    *,
    purpose: str,
) -> dict[str, Any]:
    """The subject's records as ``staff`` may read them for ``purpose``, audited (and every
    refusal too). Shared by ``GET /v1/subjects/{id}`` and the desk's customer view."""
    _check_purpose(
        request,
        session,
        store,
        policy,
        role=staff.role,
        actor=staff.actor,
        purpose=purpose,
        action="subject.read.refused",
        subject_id=subject_id,
    )
    if not subject_visible(
        session, store, policy, role=staff.role, use=purpose, subject_id=subject_id
    ):
        # Audited either way, the same work each time (no timing oracle); the id goes to the
        # log only when a subject has it, so text typed into the path never does.
        exists = subject_exists(session, store, subject_id)
        raise _refused(
            request,
            session,
            NotFound(f"no subject {subject_id!r} for this role and purpose", subject_id=subject_id),
            actor=staff.actor,
            action="subject.read.refused",
            reason="outside_row_filter" if exists else "no_such_subject",
            subject_id=subject_id if exists else None,
            details={"purpose": purpose},
        )
    records = read_subject(session, store, subject_id)
    specs = store.strategy.index.fields
    crypto = request.app.state.crypto
    decisions: list[DecisionEvent] = []

    def token(value: str) -> str:
        return str(crypto.pseudonymiser.hmac(MASK_DOMAIN, value))

    out: dict[str, list[dict[str, Any]]] = {}
    masked: set[str] = set()
    for entity, rows in records.items():
        visible_rows = []
        for rec in rows:
            shown = view_record(
                policy,
                rec.values,
                role=staff.role,
                use=purpose,
                entity=entity,
                specs=specs,
                token=token,
                sink=decisions.append,
                subject_id=subject_id,
            )
            masked |= {
                f"{entity}.{k}" for k, v in shown.items() if isinstance(v, dict) and v.get("masked")
            }
            erased = [
                e
                for e in rec.erased
                if policy.decide(staff.role, f"{entity}.{e}", purpose, "read") is not Decision.DENY
            ]
            if not shown and not erased:
                continue
            visible_rows.append(
                {
                    "id": rec.id,
                    "parent_id": rec.parent_id,
                    "source": rec.source,
                    "collected_at": rec.collected_at.isoformat(),
                    "retention_until": rec.retention_until.isoformat(),
                    "values": _plain(shown),
                    "erased": erased,
                }
            )
        if visible_rows:
            out[entity] = visible_rows
    audit: AuditLog = request.app.state.audit
    audit.append(
        session,
        AuditEvent(
            actor=staff.actor,
            action="subject.read",
            subject_id=subject_id,
            details={
                "purpose": purpose,
                "masked": sorted({d.field for d in decisions if d.decision is Decision.MASK}),
                "denied": sorted({d.field for d in decisions if d.decision is Decision.DENY}),
            },
        ),
    )
    session.commit()
    return {
        "subject_id": subject_id,
        "purpose": purpose,
        "role": staff.role,
        "records": out,
        "masked": sorted(masked),
    }
