"""How the service reaches a requester: every message is queued, then carried by a transport.

A message is written to the outbox table in the caller's transaction (:meth:`Notifier.send`)
and never sent while a request is being answered, so a slow or failing mail server can neither
delay nor fail an answer, nor tell a customer's answer from a stranger's. The outbox sender
(:mod:`dsar.requests.outbox`) hands queued messages to :meth:`Notifier.deliver` afterwards.
Without SMTP the outbox keeps messages for staff to read with ``tietotie dsar outbox``.
"""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from enum import StrEnum
from typing import Protocol

from sqlalchemy.orm import Session

from dsar.requests.errors import DeliveryFailed
from dsar.requests.tables import Outbox

__all__ = ["MessageStatus", "Notifier", "OutboxNotifier", "SmtpNotifier"]


class MessageStatus(StrEnum):
    """Where a message in the outbox stands."""

    HELD = "held"
    """No transport reaches the address: kept for staff to read."""
    QUEUED = "queued"
    """Waiting for the sender (again, after a failed attempt, at ``next_attempt_at``)."""
    SENT = "sent"
    """Handed to the transport."""
    FAILED = "failed"
    """Every delivery attempt failed; ``last_error`` says why."""
    SUPPRESSED = "suppressed"
    """Over the cap of messages to one identifier (DESIGN §11): recorded, never sent."""


class Notifier(Protocol):
    """Queues messages to requesters, and delivers queued ones when it has a transport."""

    def send(
        self,
        session: Session,
        *,
        to: str,
        subject: str,
        body: str,
        request_id: str | None = None,
        suppressed: bool = False,
        at: datetime | None = None,
    ) -> None:
        """Queue one message in the caller's transaction; nothing leaves the process here.

        ``at`` is when it was written (by default the notifier's clock): a queued message is
        due from then.
        """

    def reaches(self, to: str) -> bool:
        """Whether :meth:`deliver` can carry a message to ``to``."""

    def deliver(self, *, to: str, subject: str, body: str) -> None:
        """Carry one message now; :class:`DeliveryFailed` when it cannot."""


class _Queueing:
    """The queueing half every notifier shares."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))

    def reaches(self, to: str) -> bool:
        """No transport: nothing is reached."""
        return False

    def send(
        self,
        session: Session,
        *,
        to: str,
        subject: str,
        body: str,
        request_id: str | None = None,
        suppressed: bool = False,
        at: datetime | None = None,
    ) -> None:
        """Queue for the sender when the address is reachable, else hold it for staff."""
        now = at or self._clock()
        if suppressed:
            status = MessageStatus.SUPPRESSED
        elif self.reaches(to):
            status = MessageStatus.QUEUED
        else:
            status = MessageStatus.HELD
        session.add(
            Outbox(
                at=now,
                to=to,
                subject=subject,
                body=body,
                request_id=request_id,
                status=status,
                attempts=0,
                next_attempt_at=now if status is MessageStatus.QUEUED else None,
            )
        )


class OutboxNotifier(_Queueing):
    """No transport: messages stay in the outbox for staff to read (`tietotie dsar outbox`)."""

    def deliver(self, *, to: str, subject: str, body: str) -> None:
        """There is no transport to carry anything."""
        raise DeliveryFailed("no transport is configured (set TIETOTIE_SMTP_HOST)")


class SmtpNotifier(_Queueing):
    """Delivers email through an SMTP server (STARTTLS when the server offers it)."""

    def __init__(
        self,
        host: str,
        *,
        port: int = 587,
        sender: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 10.0,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        super().__init__(clock)
        self.host, self.port, self.sender = host, port, sender
        self._username, self._password = username, password
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SmtpNotifier(host={self.host!r}, port={self.port}, sender={self.sender!r})"

    def reaches(self, to: str) -> bool:
        """Email addresses; a phone number is held in the outbox for staff."""
        return "@" in to

    def deliver(self, *, to: str, subject: str, body: str) -> None:
        """Send one email now."""
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self._timeout) as smtp:
                smtp.ehlo()
                if smtp.has_extn("starttls"):
                    smtp.starttls()
                    smtp.ehlo()
                if self._username and self._password:
                    smtp.login(self._username, self._password)
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            # The reason is kept as last_error; the address is not (it is in the row already).
            raise DeliveryFailed(
                f"SMTP {self.host}:{self.port}: {type(exc).__name__}: {exc}".replace(to, "<to>")
            ) from None
