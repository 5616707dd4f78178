"""Rate limits: moving windows, shared storage, no identifier stored, settings read clearly."""

from __future__ import annotations

import threading
import uuid

import pytest

from dsar.limits import DEFAULT_LIMITS, Limit, LimitConfigError, RateLimits
from kernel.errors import RateLimited

KEY = bytes(range(32))


def test_a_limit_refuses_the_attempt_past_its_window_with_a_retry_after() -> None:
    """The fourth attempt against 3/minute is refused with a positive Retry-After."""
    limits = RateLimits(key=KEY, rules={Limit.OPEN_PER_IDENTIFIER: "3/minute"})
    for _ in range(3):
        limits.hit(Limit.OPEN_PER_IDENTIFIER, "liisa@example.fi")
    with pytest.raises(RateLimited) as refused:
        limits.hit(Limit.OPEN_PER_IDENTIFIER, "liisa@example.fi")
    assert refused.value.status == 429
    assert 1 <= refused.value.retry_after <= 60
    assert refused.value.to_dict()["error"] == "rate_limited"


def test_limits_are_counted_per_key_and_per_limit() -> None:
    """Another identifier, or another limit for the same value, has its own window."""
    limits = RateLimits(
        key=KEY,
        rules={Limit.OPEN_PER_IDENTIFIER: "1/minute", Limit.MESSAGES_PER_IDENTIFIER: "1/minute"},
    )
    limits.hit(Limit.OPEN_PER_IDENTIFIER, "a@example.fi")
    limits.hit(Limit.OPEN_PER_IDENTIFIER, "b@example.fi")
    limits.hit(Limit.MESSAGES_PER_IDENTIFIER, "a@example.fi")
    assert not limits.allows(Limit.OPEN_PER_IDENTIFIER, "a@example.fi")


def test_every_window_of_a_limit_holds() -> None:
    """With '5/minute;2/hour' the hourly window refuses the third attempt."""
    limits = RateLimits(key=KEY, rules={Limit.CONSENT_PER_CLIENT: "5/minute;2/hour"})
    assert [limits.take(Limit.CONSENT_PER_CLIENT, "10.0.0.1") for _ in range(3)] == [
        True,
        True,
        False,
    ]


def test_allows_counts_nothing() -> None:
    """Asking whether one more would pass leaves the window as it was."""
    limits = RateLimits(key=KEY, rules={Limit.OPEN_PER_CLIENT: "1/minute"})
    for _ in range(5):
        assert limits.allows(Limit.OPEN_PER_CLIENT, "127.0.0.1")
    assert limits.take(Limit.OPEN_PER_CLIENT, "127.0.0.1")
    assert not limits.allows(Limit.OPEN_PER_CLIENT, "127.0.0.1")


def test_concurrent_attempts_never_pass_a_full_window() -> None:
    """Forty threads racing against 5/minute: exactly five get through."""
    limits = RateLimits(key=KEY, rules={Limit.WRONG_CODES_PER_IDENTIFIER: "5/minute"})
    passed: list[bool] = []
    start = threading.Barrier(40)

    def attempt() -> None:
        start.wait()
        passed.append(limits.take(Limit.WRONG_CODES_PER_IDENTIFIER, "liisa@example.fi"))

    threads = [threading.Thread(target=attempt) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert passed.count(True) == 5 and len(passed) == 40


def test_an_unreadable_setting_names_it_and_the_notation() -> None:
    """'5 per hour' is refused with the setting's variable and the notation to use."""
    with pytest.raises(LimitConfigError) as bad:
        RateLimits(key=KEY, rules={Limit.OPEN_PER_CLIENT: "five per hour"})
    assert bad.value.context["setting"] == "TIETOTIE_RATE_LIMITS__OPEN_PER_CLIENT"
    assert "N/minute" in bad.value.message


def test_an_unknown_storage_is_refused_with_what_to_use() -> None:
    """A storage URI the library does not know names the setting and the choices."""
    with pytest.raises(LimitConfigError) as bad:
        RateLimits(key=KEY, storage="carrier-pigeon://loft")
    assert bad.value.context["setting"] == "TIETOTIE_RATE_LIMIT_STORAGE"
    assert "redis://" in bad.value.message


def test_the_defaults_cover_every_limit() -> None:
    """Each limit has a safe default."""
    assert set(DEFAULT_LIMITS) == set(Limit)
    RateLimits(key=KEY)  # every default parses


@pytest.mark.redis
def test_two_limiters_on_one_redis_share_their_windows_and_store_no_identifier(
    redis_url: str,
) -> None:
    """Two processes' limiters on one Redis count together; Redis holds only keyed hashes."""
    import redis

    prefix = f"tt-test-{uuid.uuid4().hex[:8]}"
    rules = {Limit.OPEN_PER_IDENTIFIER: "3/minute"}
    first = RateLimits(key=KEY, storage=redis_url, rules=rules, prefix=prefix)
    second = RateLimits(key=KEY, storage=redis_url, rules=rules, prefix=prefix)
    try:
        first.hit(Limit.OPEN_PER_IDENTIFIER, "liisa@example.fi")
        second.hit(Limit.OPEN_PER_IDENTIFIER, "liisa@example.fi")
        first.hit(Limit.OPEN_PER_IDENTIFIER, "liisa@example.fi")
        with pytest.raises(RateLimited):
            second.hit(Limit.OPEN_PER_IDENTIFIER, "liisa@example.fi")
        client = redis.Redis.from_url(redis_url)
        keys = [k.decode() for k in client.scan_iter(f"{prefix}*")]
        assert keys, "the counters live in Redis"
        assert not any("liisa" in k or "example" in k for k in keys)
    finally:
        first.reset()
