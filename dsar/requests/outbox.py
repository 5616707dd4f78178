"""The outbox sender: delivers queued messages after the answer, retrying with backoff.

A sender run claims each due message with one conditional UPDATE (status queued, due now),
which also counts the attempt and pushes ``next_attempt_at`` a lease ahead, and commits before
the network is touched. So two senders (two server processes, a scheduler's
``tietotie dsar send-outbox``) never carry the same message at once, and a sender that dies
mid-delivery leaves its message to be retried once the lease passes: delivery is at least once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from dsar.requests.errors import DeliveryFailed
from dsar.requests.notifier import MessageStatus, Notifier
from dsar.requests.tables import Outbox, RequestRow

__all__ = [
    "DELIVERY_ATTEMPTS",
    "HELD_ADDRESS_KEPT",
    "KEYED",
    "Deliveries",
    "forget_held",
    "send_due",
]

DELIVERY_ATTEMPTS: Final = 5
"""Attempts at one message before it is marked failed."""
KEYED: Final = "hmac-sha256:"
"""How a keyed hash of an address or identifier begins (``Requests.keyed``)."""
HELD_ADDRESS_KEPT: Final = timedelta(days=1)
"""How long a message of no request that no transport reached (a sign-in code, a staff
reminder) keeps its address in clear for staff to read; then only its keyed hash."""
_BACKOFF: Final = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
)
_LEASE: Final = timedelta(minutes=10)
_ERROR_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class Deliveries:
    """What one sender run did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0


def _retry_after(attempts: int) -> timedelta:
    return _BACKOFF[min(attempts, len(_BACKOFF)) - 1]


def send_due(
    session: Session,
    notifier: Notifier,
    *,
    clock: Callable[[], datetime],
    forget: Callable[[str], str],
    limit: int = 50,
) -> Deliveries:
    """Deliver up to ``limit`` due messages; the run owns its transactions (it commits).

    ``forget`` turns an address into its keyed hash: applied once a message is sent, or has
    failed for good on a closed request, so the outbox keeps no address it no longer needs.
    """
    now = clock()
    due = list(
        session.scalars(
            select(Outbox.id)
            .where(Outbox.status == MessageStatus.QUEUED, Outbox.next_attempt_at <= now)
            .order_by(Outbox.next_attempt_at, Outbox.id)
            .limit(limit)
        )
    )
    session.commit()
    sent = retrying = failed = 0
    for message_id in due:
        now = clock()
        claimed = session.execute(
            update(Outbox)
            .where(
                Outbox.id == message_id,
                Outbox.status == MessageStatus.QUEUED,
                Outbox.next_attempt_at <= now,
            )
            .values(attempts=Outbox.attempts + 1, next_attempt_at=now + _LEASE)
            .execution_options(synchronize_session=False)
        )
        session.commit()
        if getattr(claimed, "rowcount", 0) != 1:
            continue  # another sender took it first
        message = session.get(Outbox, message_id, populate_existing=True)
        if message is None:
            continue
        if not notifier.reaches(message.to):
            message.status, message.next_attempt_at = MessageStatus.HELD, None
            session.commit()
            continue
        try:
            notifier.deliver(to=message.to, subject=message.subject, body=message.body)
        except DeliveryFailed as exc:
            message.last_error = exc.message[:_ERROR_CHARS]
            if message.attempts >= DELIVERY_ATTEMPTS:
                message.status, message.next_attempt_at = MessageStatus.FAILED, None
                if _closed(session, message.request_id):
                    message.to = forget(message.to)
                failed += 1
            else:
                message.next_attempt_at = clock() + _retry_after(message.attempts)
                retrying += 1
        else:
            message.status, message.sent_at = MessageStatus.SENT, clock()
            message.next_attempt_at, message.last_error = None, None
            message.to = forget(message.to)
            sent += 1
        session.commit()
    return Deliveries(sent=sent, retrying=retrying, failed=failed)


def _closed(session: Session, request_id: str | None) -> bool:
    if request_id is None:
        return True
    closed_at = session.scalar(select(RequestRow.closed_at).where(RequestRow.id == request_id))
    return closed_at is not None


def forget_held(
    session: Session,
    forget: Callable[[str], str],
    *,
    before: datetime | None = None,
    only: set[str] | None = None,
    dry_run: bool = False,
) -> int:
    """Replace with its keyed hash the address of every held message of no request (messages
    of a request are forgotten when it closes): those queued by ``before``, or only those
    whose keyed address is in ``only``. How many were (or would be) forgotten."""
    where: list[ColumnElement[bool]] = [
        Outbox.request_id.is_(None),
        Outbox.status == MessageStatus.HELD,
        Outbox.to.not_like(f"{KEYED}%"),
    ]
    if before is not None:
        where.append(Outbox.at <= before)
    forgotten = 0
    for message in session.scalars(select(Outbox).where(*where)):
        keyed = forget(message.to)
        if only is not None and keyed not in only:
            continue
        if not dry_run:
            message.to = keyed
        forgotten += 1
    return forgotten
