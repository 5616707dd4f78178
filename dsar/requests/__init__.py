"""Data-subject requests: lifecycle, identity verification, deadlines, notification, answers."""

from dsar.requests.codes import CODE_LIFETIME, MAX_ATTEMPTS
from dsar.requests.enums import OPEN_STATUSES, RejectionGround, RequestType, Status
from dsar.requests.errors import AnswerGone, DeliveryFailed
from dsar.requests.exports import Answers, ExportVault, export_builder
from dsar.requests.notifier import MessageStatus, Notifier, OutboxNotifier, SmtpNotifier
from dsar.requests.outbox import DELIVERY_ATTEMPTS, Deliveries
from dsar.requests.service import (
    ANSWER_LIFETIME,
    TOKEN_LIFETIME,
    CodeDelivery,
    Opened,
    Requests,
    SubjectFinder,
    Verified,
)
from dsar.requests.tables import (
    Outbox,
    RequestBase,
    RequestEvent,
    RequestExport,
    RequestRow,
    VerificationCode,
    request_metadata,
)

__all__ = [
    "ANSWER_LIFETIME",
    "CODE_LIFETIME",
    "DELIVERY_ATTEMPTS",
    "MAX_ATTEMPTS",
    "OPEN_STATUSES",
    "TOKEN_LIFETIME",
    "AnswerGone",
    "Answers",
    "CodeDelivery",
    "Deliveries",
    "DeliveryFailed",
    "ExportVault",
    "MessageStatus",
    "Notifier",
    "Opened",
    "Outbox",
    "OutboxNotifier",
    "RejectionGround",
    "RequestBase",
    "RequestEvent",
    "RequestExport",
    "RequestRow",
    "RequestType",
    "Requests",
    "SmtpNotifier",
    "Status",
    "SubjectFinder",
    "VerificationCode",
    "Verified",
    "export_builder",
    "request_metadata",
]
