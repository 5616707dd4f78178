"""HTTP for the breach register (Art. 33 and 34): staff with the ``audit`` duty record, update
and read breaches, and say when the authority or the subjects were told.

Every write is audited under the person behind the token. The supervisory authority is the
one of the controller's jurisdiction (:func:`controller_authority`), looked up here, in the
service layer, and handed to :mod:`governance.breach`, which knows no authority table itself.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from audit import AuditLog
from dsar.api.deps import SessionDep, StoreDep, StrategyDep, require_duty
from dsar.auth import Staff
from dsar.web.authorities import EDPB_MEMBERS, authority_for
from governance.breach import (
    TEXT_MAX,
    get_breach,
    list_breaches,
    notify,
    open_breach,
    parse_bound,
    parse_time,
    update_breach,
)
from governance.breach_drafts import breach_json
from governance.breach_models import (
    BreachKind,
    BreachRecord,
    Recipient,
    Risk,
    SupervisoryAuthority,
)
from schemas.enums import Duty
from schemas.models import Strategy

__all__ = ["controller_authority", "router"]

router = APIRouter(prefix="/v1/breaches", tags=["breaches"])
Auditor = Annotated[Staff, Depends(require_duty(Duty.AUDIT))]
BreachId = Annotated[int, Path(ge=1, le=2**31 - 1, description="Register number of the breach.")]
_SCOPE_ITEM = Annotated[str, Field(min_length=1, max_length=200)]


def controller_authority(strategy: Strategy) -> SupervisoryAuthority:
    """The supervisory authority of the controller's jurisdiction; for a jurisdiction the
    table does not hold, the EDPB's list of its members, where every authority is found."""
    jurisdiction = strategy.controller.jurisdiction.upper()
    found = authority_for(jurisdiction)
    if found is None:
        return SupervisoryAuthority(
            name=f"the supervisory authority of {jurisdiction}", url=EDPB_MEMBERS
        )
    return SupervisoryAuthority(
        name=found.name, address=found.address, email=found.email, url=found.url
    )


def _audit(request: Request) -> AuditLog:
    log: AuditLog = request.app.state.audit
    return log


AuditDep = Annotated[AuditLog, Depends(_audit)]


class BreachCreate(BaseModel):
    """A breach to record."""

    model_config = ConfigDict(extra="forbid")

    what: str = Field(
        min_length=1, max_length=TEXT_MAX, description="What happened, in a few sentences."
    )
    kind: BreachKind = Field(description="confidentiality, integrity or availability.")
    scope: list[_SCOPE_ITEM] = Field(
        min_length=1,
        max_length=50,
        description="Where: processor:ID, entity:NAME, field:ENTITY.FIELD or source:ID.",
        examples=[["processor:mailer"], ["field:customer.email", "source:booking-form"]],
    )
    since: str | None = Field(
        default=None,
        max_length=40,
        description="Only records collected from then: a date (a UTC day) or a date-time "
        "with its zone.",
    )
    until: str | None = Field(
        default=None,
        max_length=40,
        description="Only records collected until then (a date: that day included).",
    )
    discovered_at: str | None = Field(
        default=None,
        max_length=40,
        description="When the breach was discovered, with its zone (default: now); the 72 "
        "hours of Art. 33(1) run from it.",
        examples=["2026-03-02T09:15+02:00"],
    )
    keys_compromised: bool = Field(
        default=False,
        description="Whether the encryption keys (master key or keystore) were exposed too, "
        "or the data left decrypted (an export, a copy): encrypted fields then count as exposed.",
    )
    measures: str | None = Field(
        default=None, max_length=TEXT_MAX, description="Measures taken or proposed so far."
    )


class BreachUpdateIn(BaseModel):
    """What was learnt since (Art. 33(4))."""

    model_config = ConfigDict(extra="forbid")

    note: str = Field(min_length=1, max_length=TEXT_MAX, description="What was learnt.")
    measures: str | None = Field(
        default=None, max_length=TEXT_MAX, description="Measures taken or proposed."
    )
    risk: Risk | None = Field(
        default=None, description="The risk, where staff judge it differently (the note says why)."
    )


class BreachNotificationIn(BaseModel):
    """Who was notified, now."""

    model_config = ConfigDict(extra="forbid")

    to: Recipient = Field(description="authority or subjects.")
    delay_reason: str | None = Field(
        default=None,
        max_length=TEXT_MAX,
        description="Why the authority is notified after 72 hours (Art. 33(1)).",
    )


class BreachListed(BreachRecord):
    """A register entry and where it stands."""

    status: str = Field(description="What is left to do, e.g. 'authority due', 'notified'.")
    notify_authority: bool = Field(description="Whether the authority must be notified.")
    tell_subjects: bool = Field(description="Whether the data subjects must be told.")


class BreachDrafts(BaseModel):
    """The drafted notifications, in the controller's language (Markdown)."""

    authority: str = Field(description="To the supervisory authority (Art. 33(3)).")
    subjects: str | None = Field(
        description="To the data subjects (Art. 34(2)); null when they need not be told."
    )


class BreachPublic(BreachListed):
    """A register entry, where it stands, and its drafted notifications."""

    drafts: BreachDrafts = Field(description="The notifications to check and send.")


def _public(record: BreachRecord, strategy: Strategy) -> BreachPublic:
    return BreachPublic.model_validate(breach_json(record, strategy, now=datetime.now(UTC)))


def _bound(value: str | None, *, name: str, end: bool) -> datetime | None:
    return parse_bound(value, name=name, end=end) if value is not None else None


@router.post("", status_code=201, response_model=BreachPublic, summary="Record a breach")
def create(
    body: BreachCreate,
    session: SessionDep,
    store: StoreDep,
    strategy: StrategyDep,
    audit: AuditDep,
    staff: Auditor,
) -> BreachPublic:
    """Record a breach and compute what it touched (duty audit; audited)."""
    record = open_breach(
        session,
        store,
        what=body.what,
        kind=body.kind,
        scope=body.scope,
        authority=controller_authority(strategy),
        actor=staff.actor,
        audit=audit,
        discovered_at=(
            parse_time(body.discovered_at, name="discovered_at") if body.discovered_at else None
        ),
        since=_bound(body.since, name="since", end=False),
        until=_bound(body.until, name="until", end=True),
        keys_compromised=body.keys_compromised,
        measures=body.measures,
    )
    session.commit()
    return _public(record, strategy)


@router.get("", response_model=list[BreachListed], summary="The breach register")
def register(session: SessionDep, strategy: StrategyDep, _: Auditor) -> list[BreachListed]:
    """Every breach, notified or not, the latest discovered first (duty audit)."""
    now = datetime.now(UTC)
    return [
        BreachListed.model_validate(
            {
                **r.model_dump(mode="json"),
                "status": r.status_at(now),
                "notify_authority": r.must_notify_authority,
                "tell_subjects": r.must_tell_subjects,
            }
        )
        for r in list_breaches(session)
    ]


@router.get("/{breach_id}", response_model=BreachPublic, summary="One breach and its drafts")
def show(
    breach_id: BreachId, session: SessionDep, strategy: StrategyDep, _: Auditor
) -> BreachPublic:
    """The breach, its history and the drafted notifications (duty audit)."""
    return _public(get_breach(session, breach_id), strategy)


@router.post(
    "/{breach_id}/updates",
    status_code=201,
    response_model=BreachPublic,
    summary="Add what was learnt (Art. 33(4))",
)
def add_update(
    breach_id: BreachId,
    body: BreachUpdateIn,
    session: SessionDep,
    strategy: StrategyDep,
    audit: AuditDep,
    staff: Auditor,
) -> BreachPublic:
    """A dated update: a note, measures taken or proposed, a reassessed risk (audited)."""
    record = update_breach(
        session,
        breach_id,
        note=body.note,
        measures=body.measures,
        risk=body.risk,
        actor=staff.actor,
        audit=audit,
    )
    session.commit()
    return _public(record, strategy)


@router.post(
    "/{breach_id}/notifications",
    status_code=201,
    response_model=BreachPublic,
    summary="Record that the authority or the subjects were notified",
)
def add_notification(
    breach_id: BreachId,
    body: BreachNotificationIn,
    session: SessionDep,
    strategy: StrategyDep,
    audit: AuditDep,
    staff: Auditor,
) -> BreachPublic:
    """Record the notification, now; after 72 hours the first one to the authority needs
    ``delay_reason`` (audited)."""
    record = notify(
        session,
        breach_id,
        recipient=body.to,
        delay_reason=body.delay_reason,
        actor=staff.actor,
        audit=audit,
    )
    session.commit()
    return _public(record, strategy)
