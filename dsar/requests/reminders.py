"""Deadline reminders for privacy staff: what is due soon, mailed to the requests duty.

`tietotie dsar remind` (for a scheduler, e.g. each weekday morning) lists the open requests due
within N days, overdue first, and queues one message to each mailbox of a role with the
``requests`` duty (``email`` in organisation.yaml), or to the controller's address when no such
role declares one. A reminder names requests by reference, right, status and due date and
links to the desk; it carries no identifier of a requester. Nothing due, nothing sent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from dsar.requests.service import Requests
from dsar.requests.tables import RequestRow
from schemas.enums import Duty
from schemas.models import Strategy

__all__ = ["Reminder", "remind", "reminder_recipients"]


@dataclass(frozen=True, slots=True)
class Reminder:
    """What one run found and whom it told."""

    due: list[RequestRow]
    recipients: list[str]


def reminder_recipients(strategy: Strategy) -> list[str]:
    """The mailboxes of roles with the requests duty; else the controller's address."""
    boxes = sorted({r.email for r in strategy.roles if r.email and Duty.REQUESTS in r.duties})
    if boxes:
        return boxes
    return [strategy.controller.email] if strategy.controller.email else []


def _line(row: RequestRow, today: date, desk: str) -> str:
    days = (row.due_at - today).days
    when = (
        f"{-days} days overdue" if days < 0 else "due today" if days == 0 else f"{days} days left"
    )
    return (
        f"- {row.id[:8].upper()}  {row.type}, {row.status}, due {row.due_at.isoformat()} "
        f"({when}){', extended' if row.extended else ''}\n  {desk}/desk/requests/{row.id}"
    )


def remind(
    session: Session,
    requests: Requests,
    *,
    within_days: int,
    today: date,
    desk_url: str,
    audit: AuditLog | None = None,
) -> Reminder:
    """Queue the reminder of requests due within ``within_days`` (the caller commits and sends
    the outbox). Audited as ``dsar.reminded`` by ``system``."""
    due = requests.nearing_deadline(session, within_days=within_days, today=today)
    recipients = reminder_recipients(requests.strategy) if due else []
    if due and recipients:
        name = requests.strategy.controller.name
        overdue = sum(1 for r in due if r.due_at < today)
        subject = f"{name}: {len(due)} data-subject request(s) due within {within_days} days"
        if overdue:
            subject += f", {overdue} overdue"
        base = desk_url.rstrip("/")
        body = (
            f"Open requests due by {today.isoformat()} + {within_days} days, overdue first:\n\n"
            + "\n".join(_line(r, today, base) for r in due)
            + f"\n\nWork them at {base}/desk/requests (sign in with your staff token)."
        )
        for to in recipients:
            requests.queue_message(session, request_id=None, to=to, subject=subject, body=body)
    if audit is not None:
        audit.append(
            session,
            AuditEvent(
                actor="system",
                action="dsar.reminded",
                details={
                    "within_days": within_days,
                    "due": len(due),
                    "recipients": len(recipients),
                },
            ),
        )
    return Reminder(due, recipients)
