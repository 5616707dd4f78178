"""The data-subject request service: requests, verification, deadlines, fulfilment, HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kernel.lazy import lazy_exports

if TYPE_CHECKING:
    from dsar.auth import Staff, authenticate, issue_token, require_duty, revoke_token
    from dsar.deadlines import due_date, next_working_day
    from dsar.fulfil import Fulfiller, processing_info
    from dsar.requests import (
        Notifier,
        Opened,
        OutboxNotifier,
        RejectionGround,
        Requests,
        RequestType,
        SmtpNotifier,
        Status,
        Verified,
    )
    from dsar.tables import database_metadata, staff_tokens

__all__ = [
    "Fulfiller",
    "Notifier",
    "Opened",
    "OutboxNotifier",
    "RejectionGround",
    "RequestType",
    "Requests",
    "SmtpNotifier",
    "Staff",
    "Status",
    "Verified",
    "authenticate",
    "database_metadata",
    "due_date",
    "issue_token",
    "next_working_day",
    "processing_info",
    "require_duty",
    "revoke_token",
    "staff_tokens",
]

_NAMES = {
    **dict.fromkeys(
        [
            "Notifier",
            "Opened",
            "OutboxNotifier",
            "RejectionGround",
            "RequestType",
            "Requests",
            "SmtpNotifier",
            "Status",
            "Verified",
        ],
        "dsar.requests",
    ),
    **dict.fromkeys(["due_date", "next_working_day"], "dsar.deadlines"),
    **dict.fromkeys(["Fulfiller", "processing_info"], "dsar.fulfil"),
    **dict.fromkeys(
        ["Staff", "authenticate", "issue_token", "require_duty", "revoke_token"], "dsar.auth"
    ),
    **dict.fromkeys(["database_metadata", "staff_tokens"], "dsar.tables"),
}

__getattr__ = lazy_exports(__name__, _NAMES)
