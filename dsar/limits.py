"""Rate limits at the service's edges (DESIGN §11), on the ``limits`` library.

Each limit is counted in a moving window in a storage every worker process sees: ``memory://``
for one process (the default, tests), ``redis://host:port/db`` for several. Identifiers are
never stored as given: a limit's key is a keyed hash of the normalised identifier, so the
counter store holds no personal data, and the key does not depend on whether the identifier
belongs to a customer (a limit must not become an oracle itself).
"""

from __future__ import annotations

import hashlib
import hmac
import math
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Final

from limits import RateLimitItem, parse_many
from limits.storage import Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from kernel.errors import RateLimited, TietotieError

__all__ = ["DEFAULT_LIMITS", "Limit", "RateLimits"]


class Limit(StrEnum):
    """What a limit counts, and per what."""

    OPEN_PER_IDENTIFIER = "open_per_identifier"
    """Requests opened naming one identifier (any type of request)."""
    OPEN_PER_CLIENT = "open_per_client"
    """Requests opened from one client address."""
    WRONG_CODES_PER_IDENTIFIER = "wrong_codes_per_identifier"
    """Wrong verification codes for one identifier, across all of its requests."""
    CONSENT_PER_CLIENT = "consent_per_client"
    """Consent calls without a staff token, from one client address."""
    MESSAGES_PER_IDENTIFIER = "messages_per_identifier"
    """Messages sent to one identifier (codes and notices): nobody floods a customer's inbox."""


DEFAULT_LIMITS: Final[Mapping[Limit, str]] = {
    Limit.OPEN_PER_IDENTIFIER: "5/hour;20/day",
    Limit.OPEN_PER_CLIENT: "30/hour;200/day",
    Limit.WRONG_CODES_PER_IDENTIFIER: "10/hour;30/day",
    Limit.CONSENT_PER_CLIENT: "60/minute;600/hour",
    Limit.MESSAGES_PER_IDENTIFIER: "5/hour;20/day",
}
"""Safe defaults, in the ``limits`` notation (``N/second|minute|hour|day``, ``;`` between)."""


class LimitConfigError(TietotieError):
    """A rate-limit setting cannot be read."""

    code = "limit_config"
    status = 500


class RateLimits:
    """Moving-window counters for the limits of :class:`Limit`, shared through ``storage``."""

    def __init__(
        self,
        *,
        storage: str = "memory://",
        rules: Mapping[Limit, str] | None = None,
        key: bytes,
        prefix: str = "tietotie",
    ) -> None:
        merged = {**DEFAULT_LIMITS, **(rules or {})}
        self._items: dict[Limit, list[RateLimitItem]] = {}
        for limit, text in merged.items():
            try:
                self._items[limit] = parse_many(text)
            except ValueError as exc:
                raise LimitConfigError(
                    f"rate limit {limit.value}={text!r} cannot be read ({exc}); write it as "
                    "'N/minute', 'N/hour' or 'N/day', several joined by ';'",
                    setting=f"TIETOTIE_RATE_LIMITS__{limit.value.upper()}",
                ) from None
        try:
            opened = storage_from_string(storage, key_prefix=prefix)
        except Exception as exc:  # the library raises ConfigurationError and driver errors
            raise LimitConfigError(
                f"the rate-limit storage {storage!r} cannot be opened ({exc}); use memory:// "
                "for one process or redis://host:port for several",
                setting="TIETOTIE_RATE_LIMIT_STORAGE",
            ) from None
        if not isinstance(opened, Storage):
            raise LimitConfigError(
                f"the rate-limit storage {storage!r} is asynchronous; use its synchronous form "
                "(memory://, redis://)",
                setting="TIETOTIE_RATE_LIMIT_STORAGE",
            )
        self._storage: Storage = opened
        self._limiter = MovingWindowRateLimiter(self._storage)
        self._key = key
        self.storage_uri = storage

    def _keyed(self, limit: Limit, value: str) -> str:
        digest = hmac.new(self._key, f"{limit.value}\0{value}".encode(), hashlib.sha256)
        return digest.hexdigest()[:32]

    def _retry_after(self, limit: Limit, keyed: str) -> int:
        now = time.time()
        waits = [
            stats.reset_time - now
            for item in self._items[limit]
            if (stats := self._limiter.get_window_stats(item, limit.value, keyed)).remaining <= 0
        ]
        return max(1, math.ceil(max(waits, default=1)))

    def hit(self, limit: Limit, value: str) -> None:
        """Count one event; :class:`RateLimited` (429) with ``retry_after`` when over the limit.

        Windows are charged shortest first, each atomically in the storage, and a full one
        stops the rest: however many attempts arrive at once, none passes a full window.
        """
        keyed = self._keyed(limit, value)
        if all(self._limiter.hit(item, limit.value, keyed) for item in self._items[limit]):
            return
        raise RateLimited(
            "too many attempts; wait before trying again (the Retry-After header says how long)",
            retry_after=self._retry_after(limit, keyed),
            limit=limit.value,
        )

    def allows(self, limit: Limit, value: str) -> bool:
        """Whether one more event would be within the limit; counts nothing."""
        keyed = self._keyed(limit, value)
        return all(self._limiter.test(item, limit.value, keyed) for item in self._items[limit])

    def take(self, limit: Limit, value: str) -> bool:
        """Count one event if there is room, and say whether there was; never raises."""
        try:
            self.hit(limit, value)
        except RateLimited:
            return False
        return True

    def reset(self) -> None:
        """Forget every counter (tests, and an operator clearing a mistaken lock-out)."""
        self._storage.reset()
