"""The hash-chained audit log of every step the service takes."""

from audit.service import (
    ACTOR_LENGTH,
    GENESIS,
    MAX_SEQ,
    AuditEvent,
    AuditLog,
    Break,
    Verification,
    actor_person,
    actor_role,
    person_actor,
    person_room,
)
from audit.tables import AuditBase, AuditEntry, AuditHead

__all__ = [
    "ACTOR_LENGTH",
    "GENESIS",
    "MAX_SEQ",
    "AuditBase",
    "AuditEntry",
    "AuditEvent",
    "AuditHead",
    "AuditLog",
    "Break",
    "Verification",
    "actor_person",
    "actor_role",
    "person_actor",
    "person_room",
]
