"""The vocabulary of requests: the rights exercised, where a request stands, grounds of refusal."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["OPEN_STATUSES", "RejectionGround", "RequestType", "Status"]


class RequestType(StrEnum):
    """The rights a data subject exercises, by article of the GDPR."""

    ACCESS = "access"
    """Art. 15: confirmation, a copy of the data and the processing information."""
    PORTABILITY = "portability"
    """Art. 20: the data the subject provided, machine-readable."""
    RECTIFICATION = "rectification"
    """Art. 16: inaccurate data corrected."""
    ERASURE = "erasure"
    """Art. 17: data erased where no ground keeps it."""
    RESTRICTION = "restriction"
    """Art. 18: processing restricted to storage."""
    OBJECTION = "objection"
    """Art. 21: processing for direct marketing stops at once."""


class Status(StrEnum):
    """Where a request stands."""

    RECEIVED = "received"
    AWAITING_VERIFICATION = "awaiting_verification"
    VERIFIED = "verified"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset(
    {Status.RECEIVED, Status.AWAITING_VERIFICATION, Status.VERIFIED, Status.IN_PROGRESS}
)


class RejectionGround(StrEnum):
    """Why a request may be refused."""

    MANIFESTLY_UNFOUNDED = "manifestly_unfounded"
    """Art. 12(5)(b)."""
    EXCESSIVE = "excessive"
    """Art. 12(5)(b), in particular because of its repetitive character."""
    IDENTITY_NOT_VERIFIED = "identity_not_verified"
    """Art. 12(2) and 12(6): the controller cannot identify the data subject."""
    EXEMPTION = "exemption"
    """A restriction under Art. 23 or an exception within the right itself (e.g. Art. 17(3))."""
