"""The error tree every tietotie package raises from.

    TietotieError                      root: anything tietotie raises on purpose
    ├── StrategyError                  schemas: the strategy cannot be loaded or does not hold
    ├── RecordError                    schemas/dsar: a record is refused (validation, source, dedup)
    │   └── ValidationFailed           a value does not fit its field
    ├── CryptoError                    kernel.crypto: keys and tokens
    │   ├── KeyConfigError             missing, placeholder or world-readable master key
    │   ├── TokenError                 a token is malformed, tampered, or from another domain
    │   └── SubjectErased              the subject's key was destroyed (crypto-shredding)
    ├── ConsentError                   consent: refused capture, unknown purpose
    ├── PolicyError                    access_policy: unknown role, purpose not held
    │   ├── AccessDenied               the policy says no
    │   └── UnknownReference           a role, use or field the strategy does not declare
    ├── RequestError                   dsar: data-subject request lifecycle
    │   ├── NotFound                   no such request, subject or record
    │   └── Conflict                   a transition that the request's state does not allow
    ├── AuthError                      a missing or unknown staff token
    │   └── Forbidden                  a valid token whose role lacks the duty needed
    └── InputRejected                  the edges: input no handler should see
        ├── PayloadTooLarge            a body over the size limit (413)
        └── RateLimited                too many attempts from one client or for one identifier (429)

Each error carries structured context (``file``, ``line``, ``subject_id``, ``article``…) in
``context``; ``code`` is the stable machine-readable name used in HTTP error bodies.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AccessDenied",
    "AuthError",
    "Conflict",
    "ConsentError",
    "CryptoError",
    "Forbidden",
    "InputRejected",
    "KeyConfigError",
    "NotFound",
    "PayloadTooLarge",
    "PolicyError",
    "RateLimited",
    "RecordError",
    "RequestError",
    "StrategyError",
    "SubjectErased",
    "TietotieError",
    "TokenError",
    "UnknownReference",
    "ValidationFailed",
]


class TietotieError(Exception):
    """Root of every error tietotie raises on purpose."""

    code: str = "error"
    status: int = 400

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context: dict[str, Any] = context

    def to_dict(self) -> dict[str, Any]:
        """The JSON error body: ``{"error": code, "detail": message, **context}``."""
        body: dict[str, Any] = {"error": self.code, "detail": self.message}
        body.update({k: v for k, v in self.context.items() if v is not None})
        return body


class StrategyError(TietotieError):
    """The strategy cannot be loaded, or it does not hold together."""

    code = "strategy_invalid"
    status = 500


class RecordError(TietotieError):
    """A record is refused: it is not justified by the strategy or does not fit it."""

    code = "record_refused"
    status = 422


class ValidationFailed(RecordError):
    """A value does not fit the type of its field."""

    code = "validation_failed"


class CryptoError(TietotieError):
    """A key or token problem."""

    code = "crypto_error"


class KeyConfigError(CryptoError):
    """The master key is missing, a placeholder, or readable by others."""

    code = "key_config"
    status = 500


class TokenError(CryptoError):
    """A token is malformed, tampered with, or belongs to another domain."""

    code = "invalid_token"
    status = 422


class SubjectErased(CryptoError):
    """The subject's data key was destroyed: protected fields are gone for good."""

    code = "erased"
    status = 410


class ConsentError(TietotieError):
    """Consent cannot be recorded as asked (Art. 7)."""

    code = "consent_refused"
    status = 422


class PolicyError(TietotieError):
    """The access policy cannot answer: unknown role, field or purpose."""

    code = "policy_error"
    status = 403


class AccessDenied(PolicyError):
    """The access policy denies the action."""

    code = "access_denied"
    status = 403


class UnknownReference(PolicyError):
    """A role, use or field named in a policy question that the strategy does not declare."""

    code = "unknown_reference"
    status = 422


class RequestError(TietotieError):
    """A data-subject request cannot proceed as asked."""

    code = "request_error"
    status = 400


class NotFound(RequestError):
    """No such request, subject or record."""

    code = "not_found"
    status = 404


class Conflict(RequestError):
    """The request's current state does not allow this transition."""

    code = "conflict"
    status = 409


class AuthError(TietotieError):
    """A missing or unknown staff token, or a duty the caller's role does not hold."""

    code = "unauthorised"
    status = 401


class Forbidden(AuthError):
    """The caller is authenticated, but its role lacks the duty the action needs."""

    code = "forbidden"
    status = 403


class InputRejected(TietotieError):
    """Input refused at the service's edge: unreadable text, too large, too often."""

    code = "invalid_input"
    status = 422


class PayloadTooLarge(InputRejected):
    """A request body over the configured size limit."""

    code = "payload_too_large"
    status = 413


class RateLimited(InputRejected):
    """Too many attempts; ``retry_after`` (seconds) says when the next one is accepted."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, *, retry_after: int, **context: Any) -> None:
        super().__init__(message, retry_after=retry_after, **context)
        self.retry_after = retry_after
