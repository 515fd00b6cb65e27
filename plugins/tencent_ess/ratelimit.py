"""Client-side pacing that keeps a DAG under the API's per-action limit (20 requests/s by default)."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import deque
from collections.abc import Callable

#: Pace at this share of the limit; the window guard's margin absorbs the jitter between our sends and the
#: gateway's count.
HEADROOM = 0.99
#: The server's rate window, plus a margin for the time between our send and the gateway's count. The margin
#: starts small and widens by a step when refusals taken for jitter cost more than the step would (up to the
#: most), so a process learns how much its own path needs instead of every process giving up 3% of the quota for
#: the worst case.
WINDOW = 1.0
WINDOW_MARGIN = 0.01
MARGIN_STEP, MARGIN_MAX = 0.01, 0.05
#: Alone on the quota, an action is contended when more than CONTENTION_SHARE of its share was refused over the
#: last CONTENTION_SPAN seconds: someone the count does not see takes that much of the quota. Fewer refusals are
#: jitter: on a busy 2-core machine at 100/s, stalls of ours or of the gateway refuse a call every second or two
#: (0.5% of the calls), in two windows running for one stall (its burst, then the window a second later that
#: holds it), so neither timing nor repetition tells them apart; their number does. (A lone refusal is always
#: jitter: at a quota of a few requests a second, 5% of the share is less than one.)
CONTENTION_SHARE = 0.05
CONTENTION_SPAN = 3.0
#: Jitter refusals (a thread of ours or of the gateway descheduled between a slot and its count) are counted over
#: this span: each costs one retried call, while a margin step costs MARGIN_STEP of every action's sends for the
#: rest of the run, so the margin widens only when the refusals of the span outnumber what a step would cost.
#: (Widened at every jitter event that followed another within 30 s, as before, it reached its most within 20 s
#: at 100/s, where a 2-core machine's stalls refuse a call every second or two, and held the run to 95/s.)
MARGIN_SPAN = 10.0
#: After contention, the pace is set to what the server accepted (never more than half the pace that was refused)
#: and climbs back fast only up to that; beyond it, it probes by this share of it per second (+0.2/s at 20/s), so
#: a limit set above the real quota (a quota believed raised, or shared with another system) settles on what the
#: API accepts instead of flooding it.
PROBE = 0.01
#: The smallest pace: however many tasks share the quota, their paces add up to it (no floor per task).
MIN_RATE = 0.01
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
    jitter from contention: a process alone on the quota keeps its pace, and widens its window margin
    only when such refusals cost more than the wider margin would; otherwise (others share the quota, or
    refusals recur window after window: someone uncounted uses it) it halves that action's rate and each
    later request wins back a little (additive increase, multiplicative decrease), so users never tune
    anything to avoid throttling.
    """

    def __init__(
        self,
        limit: float,
        *,
        headroom: float = HEADROOM,
        min_rate: float = MIN_RATE,
        sharers: Callable[[], int] | None = None,
        refresh: float = 0.5,
        uncounted: int = 1,
    ) -> None:
        if limit <= 0:
            raise ValueError("rate limit must be positive")
        self.limit = limit
        self.headroom = headroom
        self.min_rate = min_rate
        self._sharers = sharers
        self._refresh = refresh
        self._uncounted = max(1, uncounted)  # the share assumed until the sharers were counted once
        self._shared_by = 1
        self._checked = self._counted_at = float("-inf")
        self._rate: dict[str, float] = {}
        self._next: dict[str, float] = {}
        self._sent: dict[str, deque[float]] = {}
        self._refused_at: dict[str, float] = {}  # each action's last refusal event
        self._epoch: dict[str, int] = {}
        self._guarded: dict[str, int] = {}
        self._refusals: dict[str, deque[float]] = {}  # each action's refusals over the last CONTENTION_SPAN
        self._spanned: dict[str, deque[float]] = {}  # each action's sends over the last CONTENTION_SPAN
        self._refused: dict[str, deque[float]] = {}  # and every refusal over it (never cleared: for measuring)
        self._knee: dict[str, float] = {}  # each action's accepted pace measured at its last contention
        self._halved_at: dict[str, float] = {}
        self._counting: set[str] = set()  # actions whose refusal is having the sharers counted afresh
        self._jitter: deque[float] = deque()  # refusals taken for jitter, over the last MARGIN_SPAN
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
            with self._lock:  # never counted yet: assume the most sharers, not none (fail closed on the quota)
                if self._counted_at == float("-inf") and self._shared_by < self._uncounted:
                    self._shared_by = self._uncounted
            return
        with self._lock:
            if asked >= self._counted_at:  # a slow earlier ask must not overwrite a fresher count
                if count > self._shared_by:  # a smaller share: the slots reserved at the larger one are void
                    now = time.monotonic()
                    for action in self._next:
                        self._cut_schedule(action, now)
                self._counted_at, self._shared_by = asked, count

    def _window_cap(self, action: str) -> int:
        """Sends of this action allowed in one window (under the lock): the share's, or, once contention has shown
        what the server accepts, no more than the pace now probing above it."""
        if action in self._knee:
            return max(1, min(self.per_window, math.floor(min(self._rate.get(action, self.max_rate), self.max_rate))))
        return self.per_window

    def rate(self, action: str) -> float:
        """The rate this action is paced at now (requests per second)."""
        with self._lock:
            return min(self._rate.get(action, self.max_rate), self.max_rate)

    def paced(self) -> dict[str, float]:
        """The rate each action sent so far is paced at now (requests per second), for the pacing metrics."""
        with self._lock:
            ceiling = self.max_rate
            return {action: min(self._rate.get(action, ceiling), ceiling) for action in sorted(self._next)}

    def _reserve(self, action: str, now: float) -> tuple[float, int]:
        """The next free slot of this action (under the lock), and the schedule's epoch it belongs to. A schedule
        left idle, or stalled, for more than CATCH_UP restarts from now: overdue slots are never handed out. A
        process's first slot, when others share the quota, falls at a random point of its first interval: tasks
        that start together do not all send at once."""
        ceiling = self.max_rate
        rate = min(self._rate.get(action, ceiling), ceiling)
        if action not in self._next and self._shared_by > 1:
            slot = now + random.uniform(0.0, 1.0 / rate)
        else:
            slot = self._next.get(action, now)
            if now - slot > CATCH_UP:
                slot = now
        self._next[action] = slot + 1.0 / rate
        knee = self._knee.get(action)
        if knee is None:  # additive increase back to the share after a halving
            self._rate[action] = min(ceiling, rate + ceiling / 50.0)
        elif rate < knee:  # back fast to what the server accepted, no further
            self._rate[action] = min(ceiling, knee, rate + ceiling / 50.0)
        else:  # beyond it, probe slowly: PROBE of it per second
            self._rate[action] = min(ceiling, rate + PROBE * knee / rate)
        return slot, self._epoch.get(action, 0)

    def acquire(self, action: str) -> None:
        """Block until this action may send; the caller sends right after.

        Each caller reserves its own slot and sleeps until it, so one thread wakes per slot: a hundred threads
        polling one shared slot would all wake at each send and spend a core on it (the figures:
        docs/performance.md). At its slot, a caller
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
                full = len(sent) - self._window_cap(action)  # >= 0: this many sends must leave the window first, +1
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
                _recent(self._spanned.setdefault(action, deque()), now, CONTENTION_SPAN)
                return

    def _cut_schedule(self, action: str, now: float) -> None:
        """Slots reserved at the old pace are void: their callers reserve again at the new one."""
        self._epoch[action] = self._epoch.get(action, 0) + 1
        self._next[action] = now

    def throttled(self, action: str) -> None:
        """The server refused a request of this action for its rate: let it pass, widen the margin, or back off.

        The sharers are counted afresh at the first refusal of a window (threads in flight all see the same
        burst): a refusal is often the first sign that another task has just started, and the refusals that come
        while the count is asked are that task's burst, answered with the fresh count. Then a refusal is
        contention when others share the quota, or when more than `CONTENTION_SHARE` of the action's share was
        refused over the last `CONTENTION_SPAN` seconds (someone uncounted uses the quota): the action's pace
        halves, at most once a window (halving once per refusal would cut it by 2ⁿ for a single burst).
        Otherwise it is jitter (our send times and the gateway's count disagreed by more than the margin): the
        pace holds, and the margin widens a step only when the jitter refusals cost more than a step would
        (`_count_jitter`).
        """
        with self._lock:
            now = time.monotonic()
            _recent(self._refused.setdefault(action, deque()), now, CONTENTION_SPAN)  # every refusal is measured
            if action in self._counting:
                return  # judged by the refusal that asked for the count, against the fresh one
            first = now - self._refused_at.get(action, float("-inf")) >= WINDOW
            if first:
                self._refused_at[action] = now
                self._counting.add(action)
        if first:
            try:
                self._recount(force=True)  # once per window, not once per refused thread
            finally:
                with self._lock:
                    self._counting.discard(action)
        with self._lock:
            if now - self._halved_at.get(action, float("-inf")) < WINDOW:
                return  # the burst that just halved the pace: neither contention again nor jitter
            recent = _recent(self._refusals.setdefault(action, deque()), now, CONTENTION_SPAN)
            sends = self._spanned.get(action) or deque()
            while sends and now - sends[0] > CONTENTION_SPAN:
                sends.popleft()
            seen = sends[-1] - sends[0] if len(sends) > 1 else 0.0  # how long the span's sends went on
            # The share's worth of sends, or the pace actually sent when less: with a limit set far above the
            # real quota, a twentieth of the share would never be reached, however many calls were refused.
            sent_rate = self.per_window if seen < WINDOW else min(self.per_window, len(sends) / seen)
            if self._shared_by == 1 and len(recent) <= max(1.0, CONTENTION_SHARE * sent_rate * CONTENTION_SPAN):
                self._count_jitter(now)
                return
            self._halved_at[action] = now
            current = min(self._rate.get(action, self.max_rate), self.max_rate)
            rate = current / 2.0
            if seen >= WINDOW:  # what the server accepted over the span: never more than half the refused pace
                refused = self._refused[action]
                while refused and refused[0] < sends[0]:
                    refused.popleft()
                accepted = max(0.0, len(sends) - len(refused)) / seen
                self._knee[action] = max(self.min_rate, accepted * self.headroom)
                rate = min(rate, self._knee[action])
            recent.clear()  # the next halving needs fresh evidence, at the new pace
            self._rate[action] = max(self.min_rate, rate)
            self._cut_schedule(action, now)

    def _count_jitter(self, now: float) -> None:
        """One more refusal taken for jitter (under the lock). A margin step leaves MARGIN_STEP of every paced
        action's sends unused, `MARGIN_STEP × share × actions` calls a second: the margin widens when the jitter
        refusals of the last MARGIN_SPAN seconds outnumber that, and the count starts again at the new margin."""
        jitter = _recent(self._jitter, now, MARGIN_SPAN)
        if len(jitter) > MARGIN_STEP * self.per_window * max(1, len(self._next)) * MARGIN_SPAN:
            self.margin = min(MARGIN_MAX, self.margin + MARGIN_STEP)
            jitter.clear()


def _recent(times: deque[float], now: float, span: float) -> deque[float]:
    """`times` with `now` added and those more than `span` before it dropped: the events of the last `span`."""
    times.append(now)
    while now - times[0] > span:
        times.popleft()
    return times
