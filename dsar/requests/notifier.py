"""How the service reaches a requester: SMTP when configured, otherwise an outbox table."""

from __future__ import annotations

import smtplib
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Protocol

from sqlalchemy.orm import Session

from dsar.requests.tables import Outbox

__all__ = ["Notifier", "OutboxNotifier", "SmtpNotifier"]


class Notifier(Protocol):
    """Sends one message to an identifier of the requester (an email address or a phone)."""

    def send(
        self, session: Session, *, to: str, subject: str, body: str, request_id: str | None = None
    ) -> None:
        """Send, or queue in the caller's transaction."""


class OutboxNotifier:
    """Keeps messages in the outbox table, for staff to read with `tietotie dsar outbox`."""

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self._clock = clock or (lambda: datetime.now(UTC))

    def send(
        self, session: Session, *, to: str, subject: str, body: str, request_id: str | None = None
    ) -> None:
        """Queue the message in the caller's transaction."""
        session.add(
            Outbox(at=self._clock(), to=to, subject=subject, body=body, request_id=request_id)
        )


class SmtpNotifier:
    """Sends email through an SMTP server (STARTTLS when the server offers it)."""

    def __init__(
        self,
        host: str,
        *,
        port: int = 587,
        sender: str,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self._username, self._password = username, password

    def __repr__(self) -> str:
        return f"SmtpNotifier(host={self.host!r}, port={self.port}, sender={self.sender!r})"

    def send(
        self, session: Session, *, to: str, subject: str, body: str, request_id: str | None = None
    ) -> None:
        """Send now; a phone identifier cannot be reached by email and goes to the outbox."""
        if "@" not in to:
            OutboxNotifier().send(session, to=to, subject=subject, body=body, request_id=request_id)
            return
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, to, subject
        message.set_content(body)
        with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
            smtp.ehlo()
            if smtp.has_extn("starttls"):
                smtp.starttls()
                smtp.ehlo()
            if self._username and self._password:
                smtp.login(self._username, self._password)
            smtp.send_message(message)
