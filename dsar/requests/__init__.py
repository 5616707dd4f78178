"""Data-subject requests: lifecycle, identity verification, deadlines and notification."""

from dsar.requests.notifier import Notifier, OutboxNotifier, SmtpNotifier
from dsar.requests.service import (
    CODE_LIFETIME,
    MAX_ATTEMPTS,
    OPEN_STATUSES,
    Opened,
    RejectionGround,
    Requests,
    RequestType,
    Status,
    SubjectFinder,
    Verified,
)
from dsar.requests.tables import (
    Outbox,
    RequestBase,
    RequestEvent,
    RequestRow,
    VerificationCode,
    request_metadata,
)

__all__ = [
    "CODE_LIFETIME",
    "MAX_ATTEMPTS",
    "OPEN_STATUSES",
    "Notifier",
    "Opened",
    "Outbox",
    "OutboxNotifier",
    "RejectionGround",
    "RequestBase",
    "RequestEvent",
    "RequestRow",
    "RequestType",
    "Requests",
    "SmtpNotifier",
    "Status",
    "SubjectFinder",
    "VerificationCode",
    "Verified",
    "request_metadata",
]
