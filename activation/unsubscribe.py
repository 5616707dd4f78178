"""One-click unsubscribe (RFC 8058) from an activation's messages: signed links, objections.

Every recipient of a recorded send gets a link of their own: ``/privacy/unsubscribe/<token>``,
where the token names the activation and the pseudonymous subject id and is signed with a key
derived from the keyring (HMAC-SHA-256, truncated to 128 bits). Following it records an
objection to that kind of processing (Art. 21(2)-(3): direct marketing stops at once) without a
sign-in: the signature is the proof that the link was sent to that person. Links do not expire,
since a message read months later must still let its reader stop the next one. The audience
excludes an objecting subject in the same query that decides every other exclusion.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from sqlalchemy.orm import Session

from audit import AuditEvent, AuditLog
from kernel.errors import NotFound, TokenError
from records.restrictions import FlagKind, active_flags, raise_flag
from schemas.enums import UseKind
from schemas.models import Activation, Strategy

__all__ = ["LIST_UNSUBSCRIBE_POST", "UnsubscribeLinks", "Unsubscribed", "unsubscribe"]

LIST_UNSUBSCRIBE_POST: Final = "List-Unsubscribe=One-Click"
"""The body a mail client POSTs, and the value of the List-Unsubscribe-Post header (RFC 8058)."""

_MAC_BYTES: Final = 16
_PREFIX: Final = "u1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Link:
    """What a verified unsubscribe token names."""

    activation: str
    subject_id: str


class UnsubscribeLinks:
    """Signs and reads the per-recipient unsubscribe tokens."""

    def __init__(self, key: bytes, *, base_url: str = "") -> None:
        if len(key) < 32:
            raise TokenError("the unsubscribe key must be at least 32 bytes")
        self._key = key
        self.base_url = base_url.rstrip("/")

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_MAC_BYTES]

    def token(self, activation: str, subject_id: str) -> str:
        """The token for one recipient of one activation."""
        payload = json.dumps([activation, subject_id], separators=(",", ":")).encode()
        return f"{_PREFIX}.{_b64(payload)}.{_b64(self._mac(payload))}"

    def url(self, activation: str, subject_id: str) -> str:
        """The recipient's unsubscribe page (absolute when a base URL is set)."""
        return f"{self.base_url}/privacy/unsubscribe/{self.token(activation, subject_id)}"

    def headers(self, activation: str, subject_id: str) -> dict[str, str]:
        """The RFC 8058 headers a message to this recipient carries."""
        return {
            "List-Unsubscribe": f"<{self.url(activation, subject_id)}>",
            "List-Unsubscribe-Post": LIST_UNSUBSCRIBE_POST,
        }

    def read(self, token: str) -> Link:
        """The activation and subject a token names; :class:`TokenError` if it is not ours."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != _PREFIX or len(token) > 400:
            raise TokenError("this unsubscribe link is not complete; open it from the message")
        try:
            payload, mac = _unb64(parts[1]), _unb64(parts[2])
        except (ValueError, UnicodeEncodeError):
            raise TokenError(
                "this unsubscribe link is not complete; open it from the message"
            ) from None
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise TokenError("this unsubscribe link is not valid; open it from the message")
        activation, subject_id = json.loads(payload)
        return Link(activation=str(activation), subject_id=str(subject_id))


@dataclass(frozen=True)
class Unsubscribed:
    """The outcome of following a link."""

    activation: Activation
    scope: str
    already: bool


def _scope(strategy: Strategy, activation: Activation) -> str:
    use = strategy.index.uses[activation.use]
    if use.kind is UseKind.PROFILING:
        return str(UseKind.DIRECT_MARKETING)
    return str(use.kind)


def unsubscribe(
    session: Session,
    strategy: Strategy,
    link: Link,
    *,
    audit: AuditLog | None = None,
    at: datetime | None = None,
) -> Unsubscribed:
    """Record the objection a link stands for (idempotent); the caller commits.

    :class:`NotFound` when the activation is no longer declared (the strategy changed).
    """
    activation = strategy.index.activations.get(link.activation)
    if activation is None:
        raise NotFound("this message's campaign no longer exists; nothing more will be sent")
    scope = _scope(strategy, activation)
    moment = at or datetime.now(UTC)
    already = any(
        f.scope in {scope, "all"}
        for f in active_flags(session, link.subject_id)
        if f.kind == FlagKind.OBJECTION
    )
    if not already:
        raise_flag(
            session,
            link.subject_id,
            kind=FlagKind.OBJECTION,
            scope=scope,
            reason=f"Art. 21(3): unsubscribed from {activation.id}",
            at=moment,
        )
    if audit is not None:
        audit.append(
            session,
            AuditEvent(
                actor="subject",
                action="activation.unsubscribed",
                subject_id=link.subject_id,
                details={"activation": activation.id, "scope": scope, "already": already},
            ),
        )
    return Unsubscribed(activation=activation, scope=scope, already=already)
