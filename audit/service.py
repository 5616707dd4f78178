"""The append-only, hash-chained audit log: append, read, and verify.

Each entry's hash is HMAC-SHA-256, under a key derived from the keyring, over the previous
entry's hash and the entry's canonical JSON. Editing an entry breaks its hash; removing or
reordering entries breaks the chain's links or sequence; cutting entries off the end no longer
matches the head row; and without the key a forger cannot recompute the chain.

An entry's actor says who acted: ``person:<name> (role:<role>)`` for a member of staff with a
personal token, ``role:<role>`` where only the role is known, ``requester``, ``subject``,
``system``. :func:`person_actor` writes the first form and :func:`actor_role` reads the role
out of either; :meth:`AuditLog.as_person` gives a log that records code which only knows the
role under the person's name. The actor is part of what each hash covers, like every field.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from audit.tables import GENESIS, HEAD_ID, AuditEntry, AuditHead

__all__ = [
    "ACTOR_LENGTH",
    "GENESIS",
    "MAX_SEQ",
    "AuditEvent",
    "AuditLog",
    "Break",
    "Verification",
    "actor_person",
    "actor_role",
    "person_actor",
    "person_room",
]

_HEAD = cast(Table, AuditHead.__table__)
MAX_SEQ = 2**63 - 1
"""The largest sequence number a database's 64-bit integer holds (``after`` beyond it is
refused as a parameter error, not sent to the driver)."""
_SCALARS = (str, int, float, bool, type(None))
ACTOR_LENGTH = 80
"""The longest actor an entry holds (the column's length, and that of a request's history)."""
_PERSON, _ROLE, _OPEN = "person:", "role:", " (role:"


def person_room(role: str) -> int:
    """How many characters of a person's name fit in an actor beside ``role``."""
    return ACTOR_LENGTH - len(_PERSON) - len(_OPEN) - len(role) - 1


def person_actor(name: str, *, role: str) -> str:
    """``person:<name> (role:<role>)``, the name shortened with an ellipsis where the two
    would not fit in :data:`ACTOR_LENGTH` characters."""
    room = max(person_room(role), 1)
    shown = name if len(name) <= room else name[: room - 1] + "\u2026"
    return f"{_PERSON}{shown}{_OPEN}{role})"


def actor_role(actor: str) -> str | None:
    """The role in ``role:<role>`` or ``person:<name> (role:<role>)``; None for other actors."""
    if actor.startswith(_ROLE):
        return actor[len(_ROLE) :]
    if actor.startswith(_PERSON) and actor.endswith(")") and _OPEN in actor:
        return actor[:-1].rpartition(_OPEN)[2]
    return None


def actor_person(actor: str) -> str | None:
    """The name in ``person:<name> (role:<role>)``; None for every other actor."""
    if actor_role(actor) is None or not actor.startswith(_PERSON):
        return None
    return actor[len(_PERSON) :].rpartition(_OPEN)[0]


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """What happened, by whom, to which pseudonymous subject or request."""

    actor: str
    action: str
    subject_id: str | None = None
    request_id: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Break:
    """Where and how the chain is broken."""

    seq: int
    problem: str


@dataclass(frozen=True, slots=True)
class Verification:
    """The result of verifying the whole log."""

    entries: int
    head_seq: int
    breaks: list[Break]

    @property
    def ok(self) -> bool:
        """Whether no break was found."""
        return not self.breaks


def _canonical(entry: AuditEntry) -> bytes:
    body = {
        "seq": entry.seq,
        "at": entry.at,
        "actor": entry.actor,
        "action": entry.action,
        "subject_id": entry.subject_id,
        "request_id": entry.request_id,
        "details": entry.details,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _check_details(details: Mapping[str, Any]) -> str:
    for key, value in details.items():
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, _SCALARS) for v in values):
            raise ValueError(
                f"audit detail {key!r} must be a scalar or a list of scalars: ids, codes and "
                "counts only, never records"
            )
    return json.dumps(dict(details), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class AuditLog:
    """The audit log of one database, keyed by a secret from the keyring."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the audit key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "AuditLog(key=<hidden>)"

    def as_person(self, name: str, *, role: str) -> AuditLog:
        """The same log, recording the events of ``role:<role>`` as the person ``name``.

        For code below the HTTP and CLI layers that knows only the role it acts for (an
        audience, a report): given this log, its entries name the person too. Other actors
        (``system``, another role) are recorded as they are.
        """
        return _PersonLog(self._key, actor=f"{_ROLE}{role}", person=person_actor(name, role=role))

    def _hash(self, prev_hash: str, entry: AuditEntry) -> str:
        return hmac.new(
            self._key, prev_hash.encode() + _canonical(entry), hashlib.sha256
        ).hexdigest()

    def append(self, session: Session, event: AuditEvent, *, at: datetime | None = None) -> int:
        """Append ``event`` in the caller's transaction; returns its sequence number.

        The first statement moves the head on, and so locks it until the caller's transaction
        ends: the row lock on PostgreSQL and MariaDB, the database's write lock on SQLite, taken
        before the head is read (a plain read first would let two writers read the same head).
        Concurrent appenders therefore queue, and each links to the entry the one before it
        committed: no duplicate sequence number, no fork.
        """
        details = _check_details(event.details)  # refused before anything is locked
        if len(event.actor) > ACTOR_LENGTH:
            raise ValueError(
                f"audit actor {event.actor[:20]!r}… is longer than {ACTOR_LENGTH} characters"
            )
        session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=_HEAD.c.seq + 1))
        head = session.execute(
            select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)
        ).one_or_none()
        if head is None:
            raise RuntimeError(
                "the audit log has no head row: run `tietotie db upgrade` to create it"
            )
        seq, prev_hash = head
        entry = AuditEntry(
            seq=seq,
            at=(at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds"),
            actor=event.actor,
            action=event.action,
            subject_id=event.subject_id,
            request_id=event.request_id,
            details=details,
            prev_hash=prev_hash,
        )
        entry.hash = self._hash(prev_hash, entry)
        session.add(entry)
        session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(hash=entry.hash))
        session.flush()
        return int(seq)

    def entries(
        self,
        session: Session,
        *,
        after: int = 0,
        limit: int = 100,
        subject_id: str | None = None,
        request_id: str | None = None,
    ) -> list[AuditEntry]:
        """A page of entries in sequence order, optionally for one subject or request."""
        query = select(AuditEntry).where(AuditEntry.seq > after).order_by(AuditEntry.seq)
        if subject_id is not None:
            query = query.where(AuditEntry.subject_id == subject_id)
        if request_id is not None:
            query = query.where(AuditEntry.request_id == request_id)
        return list(session.execute(query.limit(limit)).scalars())

    def _stream(self, session: Session, batch: int = 5_000) -> Iterator[AuditEntry]:
        last = 0
        while True:
            rows = self.entries(session, after=last, limit=batch)
            if not rows:
                return
            yield from rows
            last = rows[-1].seq

    def verify(self, session: Session) -> Verification:
        """Walk the whole chain; every edited, removed, reordered or cut-off entry is a break."""
        breaks: list[Break] = []
        expected_seq, prev, count = 1, GENESIS, 0
        for entry in self._stream(session):
            count += 1
            if entry.seq != expected_seq:
                breaks.append(Break(entry.seq, f"expected entry {expected_seq}: entries removed"))
            if entry.prev_hash != prev:
                breaks.append(Break(entry.seq, "does not link to the entry before it"))
            if not hmac.compare_digest(entry.hash, self._hash(entry.prev_hash, entry)):
                breaks.append(Break(entry.seq, "content does not match its hash: edited"))
            expected_seq, prev = entry.seq + 1, entry.hash
        head = session.execute(
            select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)
        ).one_or_none()
        head_seq = head.seq if head else 0
        if head is None:
            breaks.append(
                Break(
                    expected_seq - 1,
                    "the head row is missing: it was deleted, or the log was not created by "
                    "`tietotie db upgrade`",
                )
            )
        elif head.seq != expected_seq - 1 or head.hash != prev:
            breaks.append(
                Break(
                    head.seq,
                    f"the log ends at entry {expected_seq - 1} but its head says "
                    f"{head.seq}: entries cut off the end, or the head was altered",
                )
            )
        return Verification(entries=count, head_seq=head_seq, breaks=breaks)


class _PersonLog(AuditLog):
    """An :class:`AuditLog` that records one role's events under one person's actor."""

    def __init__(self, key: bytes, *, actor: str, person: str) -> None:
        super().__init__(key)
        self._role_actor, self._person = actor, person

    def __repr__(self) -> str:
        return f"AuditLog(key=<hidden>, as={self._person!r})"

    def append(self, session: Session, event: AuditEvent, *, at: datetime | None = None) -> int:
        """Append ``event``, under the person's actor where it was the role's."""
        if event.actor == self._role_actor:
            event = dataclasses.replace(event, actor=self._person)
        return super().append(session, event, at=at)
