"""The hash-chained audit log of every step the service takes."""

from dsar.audit.service import GENESIS, AuditEvent, AuditLog, Break, Verification
from dsar.audit.tables import AuditBase, AuditEntry, AuditHead

__all__ = [
    "GENESIS",
    "AuditBase",
    "AuditEntry",
    "AuditEvent",
    "AuditHead",
    "AuditLog",
    "Break",
    "Verification",
]
