"""ActionRateLimiter on a fake clock: even spacing, the quota shared among chunks, AIMD after a refusal."""

from __future__ import annotations

import threading
import time

import pytest

from tencent_ess import ratelimit
from tencent_ess.ratelimit import (
    CONTENTION_SHARE,
    CONTENTION_SPAN,
    HEADROOM,
    MARGIN_MAX,
    MARGIN_SPAN,
    MARGIN_STEP,
    WINDOW,
    WINDOW_MARGIN,
    ActionRateLimiter,
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(ratelimit, "time", fake)
    return fake


def send_times(limiter: ActionRateLimiter, clock: FakeClock, n: int, action: str = "A") -> list[float]:
    times = []
    for _ in range(n):
        limiter.acquire(action)
        times.append(clock.now)
    return times


def test_requests_are_spaced_evenly_below_the_limit(clock):
    times = send_times(ActionRateLimiter(20), clock, 41)
    gaps = {round(b - a, 9) for a, b in zip(times, times[1:], strict=False)}
    assert gaps == {round(1 / (20 * HEADROOM), 9)}
    # no one-second window holds more than the limit
    assert max(sum(1 for t in times if start <= t < start + 1) for start in times) <= 20


def test_a_stalled_process_does_not_send_its_overdue_requests_in_a_burst(clock):
    limiter = ActionRateLimiter(20)
    limiter.acquire("A")
    clock.now += 0.5  # a GC pause or a busy CPU: ten slots go by unused
    times = send_times(limiter, clock, 3)
    assert times[1] - times[0] == pytest.approx(1 / (20 * HEADROOM))
    assert times[2] - times[1] == pytest.approx(1 / (20 * HEADROOM))


def test_no_window_holds_more_than_the_limit_even_at_full_pace(clock):
    limiter = ActionRateLimiter(20, headroom=1.0)  # spacing alone would allow a 21st request at 1.000 s
    times = send_times(limiter, clock, 21)
    assert times[20] - times[0] >= WINDOW + WINDOW_MARGIN - 1e-9


def test_actions_are_paced_independently(clock):
    limiter = ActionRateLimiter(10)
    limiter.acquire("Create")
    limiter.acquire("Grant")  # another action's first slot is not delayed by Create's
    assert clock.now == 100.0


def test_quota_is_shared_among_running_chunks_and_recounted(clock):
    running = [4]
    limiter = ActionRateLimiter(20, sharers=lambda: running[0], refresh=2.0)
    times = send_times(limiter, clock, 5)
    assert times[1] - times[0] == pytest.approx(4 / (20 * HEADROOM))
    running[0] = 1  # the other chunks finished: the share grows back after the next recount
    clock.now += 2.0
    limiter.acquire("B")
    assert limiter.max_rate == pytest.approx(20 * HEADROOM)


def test_a_failing_count_keeps_the_last_share(clock):
    answers = iter([2])

    def sharers() -> int:
        return next(answers)  # the second call raises StopIteration

    limiter = ActionRateLimiter(10, sharers=sharers, refresh=0.0)
    limiter.acquire("A")
    limiter.acquire("A")
    assert limiter.max_rate == pytest.approx(10 * HEADROOM / 2)


def test_throttled_halves_then_recovers_additively(clock):
    limiter = ActionRateLimiter(20, sharers=lambda: 2)  # others use the quota: a refusal is contention
    limiter.acquire("B")  # the share is counted
    full = limiter.rate("A")
    limiter.throttled("A")
    assert limiter.rate("A") == pytest.approx(full / 2)
    send_times(limiter, clock, 10)
    assert full / 2 < limiter.rate("A") < full
    send_times(limiter, clock, 40)
    assert limiter.rate("A") == pytest.approx(full)


def test_refusals_within_one_window_are_one_event(clock):
    limiter = ActionRateLimiter(20, sharers=lambda: 3)
    limiter.acquire("B")
    full = limiter.rate("A")
    for _ in range(5):  # five threads in flight all refused by the same burst
        limiter.throttled("A")
    assert limiter.rate("A") == pytest.approx(full / 2)
    clock.now += 1.0
    limiter.throttled("A")
    assert limiter.rate("A") == pytest.approx(full / 4)


def test_alone_a_lone_refusal_is_jitter_and_passes_the_pace_and_margin_hold(clock):
    limiter = ActionRateLimiter(20)
    full = limiter.rate("A")
    limiter.throttled("A")
    assert limiter.rate("A") == full and limiter.margin == WINDOW_MARGIN
    clock.now += 0.2
    limiter.throttled("B")  # another action refused by the same stall
    clock.now += MARGIN_SPAN + 0.1  # the next one long after: the earlier ones no longer count
    limiter.throttled("C")
    assert limiter.rate("B") == limiter.rate("C") == full and limiter.margin == WINDOW_MARGIN


def test_alone_jitter_refusals_widen_the_margin_only_when_they_cost_more_than_a_step(clock):
    """A step leaves 1% of each action's sends unused: at 20/s for two actions, 0.4 calls a second, 4 over
    MARGIN_SPAN. Four jitter refusals in that span pass; the fifth widens the margin; the pace always holds."""
    limiter = ActionRateLimiter(20)
    limiter.acquire("A"), limiter.acquire("B")
    full = limiter.rate("A")
    for action in "ABAB":  # each action's events more than CONTENTION_SPAN apart: jitter, not contention
        limiter.throttled(action)
        clock.now += CONTENTION_SPAN / 2 + 0.05
    assert limiter.margin == WINDOW_MARGIN
    limiter.throttled("A")
    assert limiter.margin == pytest.approx(WINDOW_MARGIN + MARGIN_STEP)
    assert limiter.rate("A") == limiter.rate("B") == full
    clock.now += 1.0
    times = send_times(limiter, clock, 21)  # the guard now keeps 21 sends a wider window apart
    assert times[20] - times[0] >= WINDOW + WINDOW_MARGIN + MARGIN_STEP - 1e-9
    for _ in range(60):  # a step needs fresh evidence each time, and never goes past the most
        clock.now += 1.1  # three in CONTENTION_SPAN: jitter still
        limiter.throttled("A")
    assert limiter.margin == pytest.approx(MARGIN_MAX) and limiter.rate("A") == full


def test_the_refusals_of_one_jitter_event_count_and_those_of_a_contention_event_do_not(clock):
    alone = ActionRateLimiter(20)
    alone.acquire("A")
    for _ in range(3):  # a stall refused three calls in flight at once: 3 > 2 (1% of 20/s over the span)
        alone.throttled("A")
    assert alone.margin == pytest.approx(WINDOW_MARGIN + MARGIN_STEP) and alone.rate("A") == alone.max_rate
    shared = ActionRateLimiter(20, sharers=lambda: 2)
    shared.acquire("A")
    for _ in range(5):  # the same burst while sharing: contention, the pace halves once, the margin holds
        shared.throttled("A")
    assert shared.margin == WINDOW_MARGIN and shared.rate("A") == pytest.approx(shared.max_rate / 2)


def test_a_refusal_recounts_the_sharers_before_it_is_taken_for_jitter(clock):
    running = [1]
    limiter = ActionRateLimiter(20, sharers=lambda: running[0], refresh=60.0)
    limiter.acquire("A")  # counted alone
    full = limiter.rate("A")
    running[0] = 3  # another task started since: the next scheduled count is a minute away
    limiter.throttled("A")
    assert limiter.max_rate == pytest.approx(20 * HEADROOM / 3)
    assert limiter.rate("A") == pytest.approx(limiter.max_rate / 2) and limiter.rate("A") < full
    assert limiter.margin == WINDOW_MARGIN


def test_alone_refusals_of_more_than_a_twentieth_of_the_share_are_contention_and_halve_the_rate(clock):
    limiter = ActionRateLimiter(20)  # someone the count does not see (another DAG, another system) uses the quota
    full = limiter.rate("A")
    assert CONTENTION_SHARE * 20 * CONTENTION_SPAN == pytest.approx(3)
    for _ in range(3):  # 3 in CONTENTION_SPAN, what a stall or two can do: jitter
        limiter.throttled("A")
        clock.now += 0.9
    assert limiter.rate("A") == full
    limiter.throttled("A")  # a fourth: refusals persist beyond what jitter does
    assert limiter.rate("A") == pytest.approx(full / 2)
    margin = limiter.margin  # (the first three, taken for jitter, cost more than a step: it widened)
    for _ in range(5):
        clock.now += 0.1
        limiter.throttled("A")  # the same window's burst: halved once, and not taken for jitter either
    assert limiter.rate("A") == pytest.approx(full / 2) and limiter.margin == margin


def test_rate_never_falls_below_the_floor(clock):
    limiter = ActionRateLimiter(1, min_rate=0.5)
    for _ in range(10):
        limiter.throttled("A")
        clock.now += 1.0
    assert limiter.rate("A") == 0.5


def test_limit_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        ActionRateLimiter(0)


def test_small_wake_up_delays_do_not_slow_the_pace(clock, monkeypatch):
    monkeypatch.setattr(clock, "sleep", lambda seconds: setattr(clock, "now", clock.now + seconds + 0.005))
    limiter = ActionRateLimiter(20)
    gap = 1 / (20 * HEADROOM)
    times = send_times(limiter, clock, 20)  # every wake-up 5 ms late
    # the schedule holds: 19 gaps plus one late wake-up, not 19 gaps of (gap + 5 ms)
    assert times[-1] - times[0] == pytest.approx(19 * gap + 0.005, abs=1e-6)


def test_a_burst_of_refusals_recounts_the_sharers_once(clock):
    asked = []
    limiter = ActionRateLimiter(20, sharers=lambda: asked.append(1) or 1, refresh=60.0)
    limiter.acquire("A")
    for _ in range(5):  # five threads in flight refused by the same burst: one event, one round trip
        limiter.throttled("A")
    assert len(asked) == 2


def test_a_refusal_voids_the_slots_reserved_at_the_old_pace(clock, monkeypatch):
    limiter = ActionRateLimiter(20, sharers=lambda: 2)  # others use the quota: a refusal halves the pace
    limiter.acquire("A")
    first = clock.now
    real_sleep = clock.sleep

    def refused_meanwhile(seconds: float) -> None:  # another thread's call is refused while this one waits
        monkeypatch.setattr(clock, "sleep", real_sleep)
        limiter.throttled("A")
        real_sleep(seconds)

    monkeypatch.setattr(clock, "sleep", refused_meanwhile)
    limiter.acquire("A")  # its slot was reserved at the full pace: the cut makes it reserve again
    second = clock.now
    limiter.acquire("A")
    assert second - first == pytest.approx(1 / (10 * HEADROOM))
    assert clock.now - second == pytest.approx(1 / (10 * HEADROOM / 2))  # at the halved pace, not the old one


class CountingTime:
    """The real clock, counting the limiter's sleeps (each one a wake-up of a waiting thread)."""

    def __init__(self) -> None:
        self.sleeps = 0
        self.monotonic = time.monotonic

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        time.sleep(seconds)


def send_from_threads(limiter: ActionRateLimiter, threads: int, each: int) -> list[float]:
    times: list[float] = []

    def work() -> None:
        for _ in range(each):
            limiter.acquire("A")
            times.append(ratelimit.time.monotonic())

    running = [threading.Thread(target=work) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return sorted(times)


def test_each_waiting_thread_wakes_once_for_its_own_slot(monkeypatch):
    """Many threads waiting on one action: one wake-up per send, not one per waiting thread per send (a herd of
    a hundred threads polling one slot spent a core at 100 requests/s)."""
    clock = CountingTime()
    monkeypatch.setattr(ratelimit, "time", clock)
    send_from_threads(ActionRateLimiter(400), threads=40, each=4)
    assert clock.sleeps < 2 * 160  # polling one shared slot: about 40 wake-ups per send


def test_callers_held_by_the_window_guard_queue_instead_of_waking_together(monkeypatch):
    clock = CountingTime()
    monkeypatch.setattr(ratelimit, "time", clock)
    limiter = ActionRateLimiter(100, headroom=10.0)  # the schedule outruns the window: the guard paces them all
    times = send_from_threads(limiter, threads=40, each=5)
    assert max(sum(1 for t in times if start <= t < start + WINDOW) for start in times) <= 100
    assert clock.sleeps < 3 * 200  # all waiting for the oldest send to leave: about 2,300 wake-ups


def test_refusals_that_come_while_the_sharers_are_counted_are_judged_with_the_fresh_count(clock):
    """A task that has just started makes refusals cluster. Those that came while the refusal before them had the
    sharers counted (an API round trip) were judged against the old count: taken for jitter, they widened the
    margin for the rest of the task."""
    running = [1]

    def sharers() -> int:
        if running[0] > 1:  # inside the count the first refusal asked for: three other threads refused meanwhile
            for _ in range(3):
                limiter.throttled("A")
        return running[0]

    limiter = ActionRateLimiter(20, sharers=sharers, refresh=60.0)
    limiter.acquire("A")  # counted alone
    running[0] = 3
    limiter.throttled("A")
    assert limiter.margin == WINDOW_MARGIN
    assert limiter.rate("A") == pytest.approx(limiter.max_rate / 2)


def test_at_a_small_quota_a_lone_refusal_still_passes(clock):
    limiter = ActionRateLimiter(4)  # 5% of 4/s over 3 s is less than one refusal
    limiter.acquire("A")
    full = limiter.rate("A")
    limiter.throttled("A")
    assert limiter.rate("A") == full
    clock.now += 1.0
    limiter.throttled("A")  # a second within 3 s: contention
    assert limiter.rate("A") == pytest.approx(full / 2)


def test_however_many_tasks_share_the_quota_their_paces_add_up_to_it():
    """Regression (issue 25.16): each task kept at least 0.5 req/s and sent its first request at once: 48 tasks
    sharing a 20/s quota paced 24/s and sent 48 requests in their first second."""
    limiters = [ActionRateLimiter(20, sharers=lambda: 48) for _ in range(48)]
    sends: list[float] = []
    lock = threading.Lock()
    start = time.monotonic()

    def task(limiter: ActionRateLimiter) -> None:
        while time.monotonic() - start < 2.5:
            limiter.acquire("CreateSealByImage")
            with lock:
                sends.append(time.monotonic() - start)

    threads = [threading.Thread(target=task, args=(limiter,)) for limiter in limiters]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(limiter.max_rate for limiter in limiters) <= 20
    first_second = sum(1 for t in sends if t < 1.0)
    assert first_second <= 30, f"{first_second} requests in the first second against a 20/s quota"


def test_a_limit_set_above_the_real_quota_settles_on_what_the_api_accepts(make_emulator, monkeypatch):
    """Regression (issue 25.19): with rate_limit 10,000 against a 20/s quota the client sent ~150 requests/s, 69%
    refused, for as long as the run lasted. After five seconds the refusals are at most 15% of the calls: the pace
    probes upward and is refused now and then by design, more often on a loaded 2-core machine (5% flaked there,
    at 5.5%); the bug's 69% stays far outside."""
    from tencent_ess.errors import EssApiError
    from tencent_ess.hooks import EssHook
    from tests.conftest import agent, conn_json

    emulator = make_emulator(rate_limit=20)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    limiter = ActionRateLimiter(10_000)
    hook = EssHook(limiter=limiter, backoff_base=0.05)
    events: list[tuple[float, str]] = []
    real_acquire, real_throttled = limiter.acquire, limiter.throttled
    start = time.monotonic()

    def acquire(action):
        real_acquire(action)
        events.append((time.monotonic() - start, "sent"))

    def throttled(action):
        events.append((time.monotonic() - start, "refused"))
        real_throttled(action)

    limiter.acquire, limiter.throttled = acquire, throttled

    def worker() -> None:
        while time.monotonic() - start < 11.0:
            try:
                hook.call("ChannelDescribeOrganizationSeals", {"Agent": agent(), "Limit": 1})
            except EssApiError:
                pass

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    late = [kind for at, kind in events if 5.0 <= at < 11.0]
    sent, refused = late.count("sent"), late.count("refused")
    assert sent and refused <= 0.15 * sent, f"{refused} of {sent} calls refused after the first 5 s"
    # Not a speed target (make bench measures how close to the quota it settles): a pace that collapsed fails
    # here. 75% flaked on a loaded 2-core machine (14.8/s against 15).
    assert sent / 6.0 >= 0.5 * 20, f"settled far below the quota: {sent / 6.0:.1f}/s"


def test_a_count_of_sharers_that_fails_at_first_is_never_taken_for_alone(clock):
    """Review finding: a failing first count left the task pacing at the whole quota."""

    def broken():
        raise ConnectionError("API server restarting")

    limiter = ActionRateLimiter(20, sharers=broken, uncounted=40)
    limiter.acquire("A")
    assert limiter.max_rate == pytest.approx(20 * HEADROOM / 40)
