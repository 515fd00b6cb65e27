"""Client-side pacing that keeps a process under the API's per-action limit (20 requests/s by default)."""

from __future__ import annotations

import threading
import time

#: Pace at this share of the limit: evenly spaced requests at exactly the limit would put the 21st request
#: of a sliding one-second window at the mercy of a few milliseconds of jitter.
HEADROOM = 0.95


class ActionRateLimiter:
    """Spaces each action's requests evenly at `rate` per second, shared by all threads of a process.

    When the server still answers RequestLimitExceeded (another process shares the quota: several
    chunks under a real executor), `throttled()` halves that action's rate, and each later request
    wins back a little (additive increase, multiplicative decrease), so concurrent chunks settle on
    their share without any tuning.
    """

    def __init__(self, limit: float, *, headroom: float = HEADROOM, min_rate: float = 0.5) -> None:
        if limit <= 0:
            raise ValueError("rate limit must be positive")
        self.max_rate = limit * headroom
        self.min_rate = min(min_rate, self.max_rate)
        self._rate: dict[str, float] = {}
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def rate(self, action: str) -> float:
        with self._lock:
            return self._rate.get(action, self.max_rate)

    def acquire(self, action: str) -> None:
        """Block until this action's next slot."""
        with self._lock:
            rate = self._rate.get(action, self.max_rate)
            now = time.monotonic()
            slot = max(now, self._next.get(action, now))
            self._next[action] = slot + 1.0 / rate
            self._rate[action] = min(self.max_rate, rate + self.max_rate / 50.0)
        delay = slot - now
        if delay > 0:
            time.sleep(delay)

    def throttled(self, action: str) -> None:
        """The server refused a request of this action for its rate: back off."""
        with self._lock:
            self._rate[action] = max(self.min_rate, self._rate.get(action, self.max_rate) / 2.0)
