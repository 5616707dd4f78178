"""Errors of the request lifecycle, beside those of :mod:`kernel.errors` it raises directly.

RequestError (kernel.errors)
└── AnswerGone                 a closed request's answer is past its lifetime or shredded (410)
TietotieError (kernel.errors)
└── DeliveryFailed             a transport could not carry a message (kept queued, retried)
"""

from __future__ import annotations

from kernel.errors import RequestError, TietotieError

__all__ = ["AnswerGone", "DeliveryFailed"]


class AnswerGone(RequestError):
    """The answer of a closed request is no longer kept: its lifetime passed, or it was erased."""

    code = "gone"
    status = 410


class DeliveryFailed(TietotieError):
    """A transport could not carry a message now; the sender retries it later."""

    code = "delivery_failed"
    status = 503
