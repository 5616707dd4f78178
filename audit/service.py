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

Appending queues the entry in the session; the commit writes all of a transaction's entries at
once, taking the chain's head lock only then (:func:`write_pending`), so audited writes queue
for the head for the length of a commit, not of a whole request.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, cast

from sqlalchemy import Table, select, update
from sqlalchemy import event as orm_events
from sqlalchemy.orm import Session, SessionTransaction

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

    def append(self, session: Session, event: AuditEvent, *, at: datetime | None = None) -> None:
        """Append ``event`` in the caller's transaction.

        The entry is checked at once (a bad detail or a too-long actor is refused here) and
        written when the transaction commits, with every other entry the transaction appended:
        see :func:`write_pending`. Until then nothing is locked, so a transaction that audits
        early and works long does not hold up every other audited write.
        """
        details = _check_details(event.details)  # refused before anything is queued
        if len(event.actor) > ACTOR_LENGTH:
            raise ValueError(
                f"audit actor {event.actor[:20]!r}… is longer than {ACTOR_LENGTH} characters"
            )
        stamp = (at or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="microseconds")
        session.connection()  # begins the transaction (if none is), whose end drops the queue
        pending: list[_Pending] = session.info.setdefault(_PENDING, [])
        pending.append(_Pending(self, stamp, event, details))

    def flush(self, session: Session) -> int | None:
        """Write the transaction's pending entries now; the last one's sequence number, or
        None when none was pending. For callers that must name the entry before committing;
        from here to the commit the chain's head stays locked."""
        return write_pending(session)

    def entries(
        self,
        session: Session,
        *,
        after: int = 0,
        limit: int = 100,
        subject_id: str | None = None,
        request_id: str | None = None,
    ) -> list[AuditEntry]:
        """A page of entries in sequence order, optionally for one subject or request
        (the transaction's own pending entries included)."""
        write_pending(session)
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
        write_pending(session)
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

    def append(self, session: Session, event: AuditEvent, *, at: datetime | None = None) -> None:
        """Append ``event``, under the person's actor where it was the role's."""
        if event.actor == self._role_actor:
            event = dataclasses.replace(event, actor=self._person)
        super().append(session, event, at=at)


_PENDING: Final = "tietotie.audit.pending"
"""The key in ``Session.info`` of the entries a transaction appended and has not written yet."""


@dataclass(frozen=True, slots=True)
class _Pending:
    """One appended event waiting for its transaction's commit."""

    log: AuditLog
    at: str
    event: AuditEvent
    details: str


def write_pending(session: Session) -> int | None:
    """Write the entries ``session``'s transaction appended, in order; the last sequence number.

    Called by the session's ``before_commit`` hook (so every commit writes its transaction's
    entries), and by :meth:`AuditLog.flush`, ``entries`` and ``verify``. The first statement
    moves the head on by the number of entries, and so locks it until the transaction ends: the
    row lock on PostgreSQL and MariaDB, the database's write lock on SQLite, taken before the
    head is read (a plain read first would let two writers read the same head). Concurrent
    committers therefore queue for the head only while they commit, and each links to the entry
    the one before it committed: no duplicate sequence number, no fork. An entry's ``at`` is the
    moment it was appended, so entries of transactions that overlapped may be a little out of
    time order; the sequence is the order of the commits.
    """
    pending: list[_Pending] | None = session.info.pop(_PENDING, None)
    if not pending:
        return None
    count = len(pending)
    session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(seq=_HEAD.c.seq + count))
    head = session.execute(
        select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == HEAD_ID)
    ).one_or_none()
    if head is None:
        raise RuntimeError("the audit log has no head row: run `tietotie db upgrade` to create it")
    last, prev_hash = int(head.seq), head.hash
    entries = []
    for seq, item in enumerate(pending, start=last - count + 1):
        entry = AuditEntry(
            seq=seq,
            at=item.at,
            actor=item.event.actor,
            action=item.event.action,
            subject_id=item.event.subject_id,
            request_id=item.event.request_id,
            details=item.details,
            prev_hash=prev_hash,
        )
        entry.hash = prev_hash = item.log._hash(prev_hash, entry)
        entries.append(entry)
    session.add_all(entries)
    session.execute(update(_HEAD).where(_HEAD.c.id == HEAD_ID).values(hash=prev_hash))
    session.flush()
    return last


@orm_events.listens_for(Session, "before_commit")
def _write_on_commit(session: Session) -> None:
    write_pending(session)


@orm_events.listens_for(Session, "after_transaction_end")
def _forget_on_end(session: Session, transaction: SessionTransaction) -> None:
    """A transaction that ends without committing (rolled back, closed) drops its entries."""
    if transaction.parent is None:
        session.info.pop(_PENDING, None)
