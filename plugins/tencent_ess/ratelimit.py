"""Client-side pacing that keeps a DAG under the API's per-action limit (20 requests/s by default)."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from typing import Callable

#: Pace at this share of the limit; the window guard's margin absorbs the jitter between our sends and the
#: gateway's count.
HEADROOM = 0.99
#: The server's rate window, plus a margin for the time between our send and the gateway's count. The margin
#: starts small and widens by a step after a refusal taken for jitter (up to the most), so a process learns
#: how much its own path needs instead of every process giving up 3% of the quota for the worst case.
WINDOW = 1.0
WINDOW_MARGIN = 0.01
MARGIN_STEP, MARGIN_MAX = 0.01, 0.05
#: A refusal this soon after the previous one of the same action is contention, not jitter.
CONTENTION_SPAN = 5.0
#: A jitter refusal widens the margin only when another came less than this before it (and more than a window:
#: refusals of several actions in one window are one event). A lone one (a thread of ours or of the gateway
#: descheduled between a slot and its count) costs one retried call, at 20/s one in 1,800 calls; a wider margin
#: costs 1% of the quota for the rest of the run.
JITTER_SPAN = 30.0
#: A schedule idle (or behind) for longer than this restarts from now instead of handing out overdue slots.
CATCH_UP = 0.02
#: A caller woken this much after its slot (GIL, a busy CPU) still sends; a later one (a stall: GC, swapping)
#: reserves again, so the callers of a stall never fire together.
STALL = 0.1


class ActionRateLimiter:
    """Paces each action's requests, shared by all threads of a process.

    Two rules: requests of an action are scheduled ``1 / rate`` apart (rate = this process's share ×
    headroom), and no window of one second (plus a margin) holds more actual sends than the share.
    A send a few milliseconds late keeps the schedule; after a longer stall (GC, a busy CPU) the
    schedule restarts from that send, so overdue requests are never fired in a burst.

    The share is ``limit / sharers()``, where ``sharers`` says how many processes use the quota at
    once (for onboarding: the API-heavy tasks of every run that are running now), asked again at most
    every ``refresh`` seconds. When the server still answers RequestLimitExceeded, `throttled()` tells
    jitter from contention: a process alone on the quota whose last refusal is long past widens its
    window margin and keeps its pace; otherwise (others share the quota, or refusals repeat: someone
    uncounted uses it) it halves that action's rate and each later request wins back a little
    (additive increase, multiplicative decrease), so users never tune anything to avoid throttling.
    """

    def __init__(
        self,
        limit: float,
        *,
        headroom: float = HEADROOM,
        min_rate: float = 0.5,
        sharers: Callable[[], int] | None = None,
        refresh: float = 0.5,
    ) -> None:
        if limit <= 0:
            raise ValueError("rate limit must be positive")
        self.limit = limit
        self.headroom = headroom
        self.min_rate = min_rate
        self._sharers = sharers
        self._refresh = refresh
        self._shared_by = 1
        self._checked = self._counted_at = float("-inf")
        self._rate: dict[str, float] = {}
        self._next: dict[str, float] = {}
        self._sent: dict[str, deque[float]] = {}
        self._refused_at: dict[str, float] = {}  # each action's last refusal event
        self._epoch: dict[str, int] = {}
        self._guarded: dict[str, int] = {}
        self._jitter_at = float("-inf")
        self.margin = WINDOW_MARGIN
        self._lock = threading.Lock()

    @property
    def max_rate(self) -> float:
        """This process's pace when nothing is refused: its share of the limit, times the headroom."""
        return max(self.min_rate, self.limit * self.headroom / self._shared_by)

    @property
    def per_window(self) -> int:
        """How many requests this process may send in one window: its share of the limit."""
        return max(1, math.floor(self.limit / self._shared_by))

    def _recount(self, force: bool = False) -> None:
        """Ask `sharers` again when `refresh` has passed; the ask (an API round trip) runs outside the lock, so the
        other threads keep sending meanwhile. A failing count keeps the last one (AIMD still protects the quota)."""
        if self._sharers is None:
            return
        with self._lock:
            asked = time.monotonic()
            if not force and asked - self._checked < self._refresh:
                return
            self._checked = asked
        try:
            count = max(1, int(self._sharers()))
        except Exception:  # noqa: BLE001 - pacing must not fail a call
            return
        with self._lock:
            if asked >= self._counted_at:  # a slow earlier ask must not overwrite a fresher count
                if count > self._shared_by:  # a smaller share: the slots reserved at the larger one are void
                    now = time.monotonic()
                    for action in self._next:
                        self._cut_schedule(action, now)
                self._counted_at, self._shared_by = asked, count

    def rate(self, action: str) -> float:
        """The rate this action is paced at now (requests per second)."""
        with self._lock:
            return min(self._rate.get(action, self.max_rate), self.max_rate)

    def _reserve(self, action: str, now: float) -> tuple[float, int]:
        """The next free slot of this action (under the lock), and the schedule's epoch it belongs to. A schedule
        left idle, or stalled, for more than CATCH_UP restarts from now: overdue slots are never handed out."""
        ceiling = self.max_rate
        rate = min(self._rate.get(action, ceiling), ceiling)
        slot = self._next.get(action, now)
        if now - slot > CATCH_UP:
            slot = now
        self._next[action] = slot + 1.0 / rate
        self._rate[action] = min(ceiling, rate + ceiling / 50.0)
        return slot, self._epoch.get(action, 0)

    def acquire(self, action: str) -> None:
        """Block until this action may send; the caller sends right after.

        Each caller reserves its own slot and sleeps until it, so one thread wakes per slot: a hundred threads
        polling one shared slot would all wake at each send and spend a core on it (measured: 3.7 ms of CPU a
        request with 90 threads waiting at 100/s, against 0.3 ms with reservations). At its slot, a caller
        takes a new one when it woke more than STALL late (a stall: the overdue callers queue again instead of
        firing together) or the schedule was cut since it reserved; then it honours the window guard, in turn:
        with the window full, the callers held wait each for its own turn, not all for the oldest send."""
        self._recount()
        with self._lock:
            slot, epoch = self._reserve(action, time.monotonic())
        queued = False  # waiting on the window guard
        while True:
            wait = slot - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            with self._lock:
                now = time.monotonic()
                if queued:
                    self._guarded[action] -= 1
                elif now - slot > STALL or self._epoch.get(action, 0) != epoch:
                    slot, epoch = self._reserve(action, now)
                    continue
                sent = self._sent.setdefault(action, deque())
                while sent and now - sent[0] >= WINDOW + self.margin:
                    sent.popleft()
                full = len(sent) - self.per_window  # >= 0: this many sends must leave the window first, plus one
                if full >= 0:
                    # Callers already waiting on the guard go first: each waits for its own send to leave the
                    # window, not all of them for the oldest one (a herd, woken together at every send).
                    ahead = 0 if queued else self._guarded.get(action, 0)
                    until = sent[min(full + ahead, len(sent) - 1)] + WINDOW + self.margin
                    if until > now:
                        self._guarded[action] = self._guarded.get(action, 0) + 1
                        slot, queued = until, True
                        continue
                sent.append(now)
                return

    def _cut_schedule(self, action: str, now: float) -> None:
        """Slots reserved at the old pace are void: their callers reserve again at the new one."""
        self._epoch[action] = self._epoch.get(action, 0) + 1
        self._next[action] = now

    def throttled(self, action: str) -> None:
        """The server refused a request of this action for its rate: let it pass, widen the margin, or back off.

        Refusals within one window are one event: threads in flight all see it, and halving once
        per refusal would cut the rate by 2ⁿ for a single burst. Alone on the quota, a refusal long after
        the last one is taken for jitter (our send times and the gateway's count disagreed by more than
        the margin): the pace holds, and the margin widens a step when another jitter refusal came within
        `JITTER_SPAN`. The sharers are counted afresh first: a refusal is often the first sign that another
        task has just started.
        """
        with self._lock:
            now = time.monotonic()
            previous = self._refused_at.get(action, float("-inf"))
            if now - previous < WINDOW:
                return
            self._refused_at[action] = now
        self._recount(force=True)  # once per event, not once per refused thread
        with self._lock:
            if self._shared_by == 1 and now - previous >= CONTENTION_SPAN:
                if now - self._jitter_at < WINDOW:
                    return  # the same event, seen by another action
                if now - self._jitter_at < JITTER_SPAN:
                    self.margin = min(MARGIN_MAX, self.margin + MARGIN_STEP)
                self._jitter_at = now
                return
            self._rate[action] = max(self.min_rate, min(self._rate.get(action, self.max_rate), self.max_rate) / 2.0)
            self._cut_schedule(action, now)
