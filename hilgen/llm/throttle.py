"""Pacing of requests: a requests-per-minute limiter and jittered exponential backoff."""

from __future__ import annotations

import random
import threading
import time


class RateLimiter:
    """Spaces requests at least 60/requests_per_minute seconds apart, across threads.

    Each caller reserves the next free slot under a lock and sleeps outside it, so waiting
    threads never hold the lock. `None` or 0 means no limit.
    """

    def __init__(self, requests_per_minute: float | None) -> None:
        self._interval_s = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._next_slot = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self._interval_s:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval_s
        if slot > now:
            time.sleep(slot - now)


def backoff_delay(
    retry_number: int,
    base_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry `retry_number` (1-based): base * 2^(n-1), capped, jittered.

    Half the delay is fixed and half random ("equal jitter"), so clients that failed together
    do not retry together yet every retry still waits. A server's Retry-After wins when longer,
    up to `max_s`.
    """
    cap = min(max_s, base_s * 2 ** (retry_number - 1))
    delay = cap / 2 + (rng or random).uniform(0.0, cap / 2)
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, max_s))
    return delay
