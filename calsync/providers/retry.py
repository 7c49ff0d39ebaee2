"""The waiting part of every provider's retry policy, written once.

Each HTTP client (``google.client``, ``outlook.client``) decides for itself
what is retryable and how its library reports a failure; how long to wait
before the next attempt is the same for all: the server's ``Retry-After``
when it sent one (capped), otherwise exponential backoff with jitter.
"""

from __future__ import annotations

from collections.abc import Callable

MAX_RETRY_AFTER = 120.0  # seconds: a longer Retry-After is cut to this
MAX_BACKOFF = 32.0  # seconds: 0.5 s, 1 s, 2 s ... 32 s


def backoff_delay(attempt: int, retry_after: float | None, rand: Callable[[], float]) -> float:
    """Seconds to wait before attempt ``attempt + 1``; ``rand`` returns [0, 1)."""
    if retry_after is not None:
        # A negative or absurd Retry-After from a misbehaving server is clamped.
        return min(max(retry_after, 0.0), MAX_RETRY_AFTER)
    # Exponential backoff with jitter, capped.
    return min(MAX_BACKOFF, 0.5 * 2**attempt) * (0.5 + rand() / 2)


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header in seconds, or None when absent or not a number."""
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
