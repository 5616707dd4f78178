"""The breach register (Art. 33 and 34 GDPR): record a breach, update it, notify, read it back.

:func:`open_breach` records a breach with its scope and computes, from the declarations and the
system of record, what it touched (:func:`governance.breach_assessment.assess`); the 72-hour
deadline runs from its discovery. :func:`update_breach` adds what is learnt later, in phases
(Art. 33(4)), with the measures taken or proposed and, where staff judge differently from the
computation, the risk. :func:`notify` records when the authority or the subjects were told.
Every breach stays in the register, notified or not (Art. 33(5)), and every change is in the
audit log under the acting person. The caller owns the transaction.

The supervisory authority is given by the caller (the CLI and HTTP layers look it up for the
controller's jurisdiction), so this package needs nothing from the service above it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from governance.breach_assessment import assess, parse_scopes
from governance.breach_models import (
    AUTHORITY_DEADLINE,
    BreachEvent,
    BreachKind,
    BreachRecord,
    Recipient,
    Risk,
    SupervisoryAuthority,
)
from governance.breach_tables import BreachEventRow, BreachRow
from governance.errors import BreachError, BreachNotFound
from records.store import RecordStore

__all__ = [
    "TEXT_MAX",
    "get_breach",
    "list_breaches",
    "notify",
    "open_breach",
    "parse_bound",
    "parse_time",
    "update_breach",
]

TEXT_MAX: Final = 10_000
"""The longest description, note or list of measures accepted, in characters."""

_TIME_EXAMPLE = "2026-03-02T09:15+02:00 (or …Z for UTC)"
_FIRST_YEAR, _LAST_YEAR = 1970, 9998  # MariaDB's DATETIME ends in 9999; UTC shifts stay inside


def parse_time(text: str, *, name: str) -> datetime:
    """An ISO 8601 moment with its time zone (``2026-03-02T09:15+02:00``), in UTC.

    Raises :class:`BreachError` naming ``name`` when the text is not one, has no time of day,
    or no time zone (a moment the 72 hours run from must not depend on where it is read).
    """
    raw = text.strip()
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        raise BreachError(
            f"{name} {raw!r} is not a date and time: write e.g. {_TIME_EXAMPLE}", field=name
        ) from None
    if "T" not in raw.upper() and " " not in raw:
        raise BreachError(
            f"{name} {raw!r} has no time of day: write e.g. {_TIME_EXAMPLE}", field=name
        )
    if moment.tzinfo is None:
        raise BreachError(
            f"{name} {raw!r} has no time zone: write e.g. {_TIME_EXAMPLE}", field=name
        )
    return _in_range(moment, raw=raw, name=name)


def _in_range(moment: datetime, *, raw: str, name: str) -> datetime:
    """``moment`` in UTC, when it lies in the years every database stores."""
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not _FIRST_YEAR <= utc.year <= _LAST_YEAR:
        raise BreachError(
            f"{name} {raw!r} is out of range: give a date between {_FIRST_YEAR} and {_LAST_YEAR}",
            field=name,
        )
    return utc


def parse_bound(text: str, *, name: str, end: bool) -> datetime:
    """A period's start (``end=False``) or end: a date is a whole UTC day, the end day
    included; a date and time needs its zone, as in :func:`parse_time`."""
    raw = text.strip()
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return parse_time(raw, name=name)
    start = _in_range(datetime.combine(day, time(0), tzinfo=UTC), raw=raw, name=name)
    return start + timedelta(days=1) if end else start


def _text(value: str | None, *, name: str, required: bool) -> str | None:
    clean = (value or "").strip()
    if not clean:
        if required:
            raise BreachError(f"{name} is empty: say it in a sentence or two", field=name)
        return None
    if len(clean) > TEXT_MAX:
        raise BreachError(
            f"{name} has {len(clean)} characters; at most {TEXT_MAX} fit in the register: "
            "keep the details in your case file and refer to it",
            field=name,
        )
    return clean


def _aware(moment: datetime | None, *, name: str) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise BreachError(f"{name} has no time zone: write e.g. {_TIME_EXAMPLE}", field=name)
    return _in_range(moment, raw=moment.isoformat(), name=name)


def _language(store: RecordStore) -> str:
    return "fi" if store.strategy.controller.language == "fi" else "en"


def _record(row: BreachRow, events: Sequence[BreachEventRow]) -> BreachRecord:
    return BreachRecord.model_validate(
        {
            "id": row.id,
            "what": row.what,
            "kind": row.kind,
            "scope": list(row.scope),
            "since": row.since,
            "until": row.until,
            "keys_compromised": row.keys_compromised,
            "discovered_at": row.discovered_at,
            "recorded_at": row.recorded_at,
            "recorded_by": row.recorded_by,
            "language": row.language,
            "authority": row.authority,
            "assessment": row.assessment,
            "risk": row.risk,
            "authority_due_at": row.discovered_at + AUTHORITY_DEADLINE,
            "authority_notified_at": row.authority_notified_at,
            "subjects_notified_at": row.subjects_notified_at,
            "events": [
                BreachEvent(
                    at=e.at,
                    actor=e.actor,
                    action=e.action,
                    note=e.note,
                    measures=e.measures,
                    risk=Risk(e.risk) if e.risk else None,
                    recipient=Recipient(e.recipient) if e.recipient else None,
                    delay_reason=e.delay_reason,
                )
                for e in events
            ],
        }
    )


def _events(session: Session, breach_id: int) -> list[BreachEventRow]:
    query = (
        select(BreachEventRow)
        .where(BreachEventRow.breach_id == breach_id)
        .order_by(BreachEventRow.at, BreachEventRow.id)
    )
    return list(session.scalars(query))


def _row(session: Session, breach_id: int) -> BreachRow:
    row = session.get(BreachRow, breach_id)
    if row is None:
        raise BreachNotFound(
            f"no breach {breach_id} in the register: `tietotie breach list` shows them",
            breach=breach_id,
        )
    return row


def get_breach(session: Session, breach_id: int) -> BreachRecord:
    """The breach with its whole history; :class:`BreachNotFound` when there is none."""
    return _record(_row(session, breach_id), _events(session, breach_id))


def list_breaches(session: Session) -> list[BreachRecord]:
    """Every breach in the register, the latest discovered first."""
    query = select(BreachRow).order_by(BreachRow.discovered_at.desc(), BreachRow.id.desc())
    rows = list(session.scalars(query))
    events: dict[int, list[BreachEventRow]] = {row.id: [] for row in rows}
    history = select(BreachEventRow).order_by(BreachEventRow.at, BreachEventRow.id)
    for event in session.scalars(history):
        events.setdefault(event.breach_id, []).append(event)
    return [_record(row, events[row.id]) for row in rows]


def open_breach(
    session: Session,
    store: RecordStore,
    *,
    what: str,
    kind: BreachKind | str,
    scope: Sequence[str],
    authority: SupervisoryAuthority,
    actor: str,
    audit: AuditLog,
    discovered_at: datetime | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    keys_compromised: bool = False,
    measures: str | None = None,
    now: datetime | None = None,
) -> BreachRecord:
    """Record a breach and what it touched; the 72 hours run from ``discovered_at`` (now).

    Raises :class:`BreachError` naming the parameter when the description is empty, a scope
    is not declared, the period is reversed, or the discovery lies in the future.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    description = _text(what, name="what", required=True)
    assert description is not None
    try:
        kind = BreachKind(kind)
    except ValueError:
        raise BreachError(
            f"kind {kind!r}: write one of {', '.join(k.value for k in BreachKind)}", field="kind"
        ) from None
    scopes = parse_scopes(scope, store.strategy)
    discovered = _aware(discovered_at, name="discovered_at") or now
    if discovered > now:
        raise BreachError(
            f"discovered_at {discovered.isoformat()} is in the future: give when the breach "
            "was discovered (default: now)",
            field="discovered_at",
        )
    since, until = _aware(since, name="since"), _aware(until, name="until")
    if since is not None and until is not None and since >= until:
        raise BreachError(
            f"the period ends ({until.isoformat()}) before it starts ({since.isoformat()}): "
            "give --since before --until",
            field="until",
        )
    found = assess(
        session,
        store,
        scopes,
        kind=kind,
        since=since,
        until=until,
        keys_compromised=keys_compromised,
        now=now,
    )
    row = BreachRow(
        what=description,
        kind=kind.value,
        scope=[str(s) for s in scopes],
        since=since,
        until=until,
        keys_compromised=keys_compromised,
        discovered_at=discovered,
        recorded_at=now,
        recorded_by=actor,
        language=_language(store),
        authority=authority.model_dump(mode="json"),
        assessment=found.model_dump(mode="json"),
        risk=found.risk.value,
    )
    session.add(row)
    session.flush()
    session.add(
        BreachEventRow(
            breach_id=row.id,
            at=now,
            actor=actor,
            action="opened",
            measures=_text(measures, name="measures", required=False),
            risk=found.risk.value,
        )
    )
    audit.append(
        session,
        AuditEvent(
            actor=actor,
            action="breach.opened",
            details={
                "breach": row.id,
                "kind": kind.value,
                "scope": row.scope,
                "risk": found.risk.value,
                "subjects": found.subjects,
                "records": found.records,
            },
        ),
        at=now,
    )
    session.flush()
    return get_breach(session, row.id)


def update_breach(
    session: Session,
    breach_id: int,
    *,
    note: str,
    actor: str,
    audit: AuditLog,
    measures: str | None = None,
    risk: Risk | str | None = None,
    now: datetime | None = None,
) -> BreachRecord:
    """Add what was learnt (Art. 33(4)), the measures taken or proposed, and, where staff
    judge it differently, the risk (the note says why)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    row = _row(session, breach_id)
    text = _text(note, name="note", required=True)
    try:
        judged = Risk(risk) if risk is not None else None
    except ValueError:
        raise BreachError(
            f"risk {risk!r}: write one of {', '.join(r.value for r in Risk)}", field="risk"
        ) from None
    if judged is not None:
        row.risk = judged.value
    session.add(
        BreachEventRow(
            breach_id=breach_id,
            at=now,
            actor=actor,
            action="update",
            note=text,
            measures=_text(measures, name="measures", required=False),
            risk=judged.value if judged else None,
        )
    )
    audit.append(
        session,
        AuditEvent(
            actor=actor,
            action="breach.updated",
            details={
                "breach": breach_id,
                "risk": judged.value if judged else None,
                "measures": bool(measures and measures.strip()),
            },
        ),
        at=now,
    )
    session.flush()
    return get_breach(session, breach_id)


def notify(
    session: Session,
    breach_id: int,
    *,
    recipient: Recipient | str,
    actor: str,
    audit: AuditLog,
    delay_reason: str | None = None,
    now: datetime | None = None,
) -> BreachRecord:
    """Record that the authority or the subjects were notified, now.

    The first notification of the authority after the 72 hours needs ``delay_reason``
    (Art. 33(1)); later ones are the further phases of Art. 33(4). Notifying where the
    register does not require it is allowed and recorded like any other.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    row = _row(session, breach_id)
    try:
        to = Recipient(recipient)
    except ValueError:
        raise BreachError(
            f"recipient {recipient!r}: write authority or subjects", field="recipient"
        ) from None
    reason = _text(delay_reason, name="delay_reason", required=False)
    late = (
        to is Recipient.AUTHORITY
        and row.authority_notified_at is None
        and now > row.discovered_at + AUTHORITY_DEADLINE
    )
    if late and reason is None:
        hours = int((now - row.discovered_at).total_seconds() // 3600)
        raise BreachError(
            f"the authority is notified {hours} hours after the breach was discovered, past "
            "the 72 hours of Art. 33(1): give the reasons for the delay (--delay-reason)",
            field="delay_reason",
        )
    if to is Recipient.AUTHORITY and row.authority_notified_at is None:
        row.authority_notified_at = now
    if to is Recipient.SUBJECTS and row.subjects_notified_at is None:
        row.subjects_notified_at = now
    session.add(
        BreachEventRow(
            breach_id=breach_id,
            at=now,
            actor=actor,
            action="notified",
            recipient=to.value,
            delay_reason=reason,
        )
    )
    audit.append(
        session,
        AuditEvent(
            actor=actor,
            action="breach.notified",
            details={"breach": breach_id, "to": to.value, "late": late},
        ),
        at=now,
    )
    session.flush()
    return get_breach(session, breach_id)
