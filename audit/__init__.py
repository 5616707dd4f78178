"""The hash-chained audit log of every step the service takes."""

from audit.service import GENESIS, MAX_SEQ, AuditEvent, AuditLog, Break, Verification
from audit.tables import AuditBase, AuditEntry, AuditHead

__all__ = [
    "GENESIS",
    "MAX_SEQ",
    "AuditBase",
    "AuditEntry",
    "AuditEvent",
    "AuditHead",
    "AuditLog",
    "Break",
    "Verification",
]
