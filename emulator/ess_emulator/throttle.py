"""The gateway's rate limit, as the server enforces it: N requests in any one-second window per (SecretId, action).

(The provider's `tencent_ess/ratelimit.py` is the other side: the client pacing itself under this limit.)
"""

from __future__ import annotations

import threading
import time
from collections import deque


class SlidingWindowLimiter:
    """Admits at most `limit` requests per key in any sliding 1-second window; 0 means unlimited.

    ASSUMPTION: a refused request does not use up quota (the docs say nothing either way).
    """

    def __init__(self, limit: int, window: float = 1.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def admit(self, key: tuple[str, str]) -> bool:
        if self.limit <= 0:
            return True
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                return False
            hits.append(now)
            return True

    def reset(self) -> None:
        """Forget every window: the next requests start with a full quota."""
        with self._lock:
            self._hits.clear()
