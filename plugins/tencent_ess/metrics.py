"""This provider's metrics, sent through Airflow's own (`[metrics]`: StatsD or OpenTelemetry, whichever the
deployment set up; nothing is sent while metrics are off). Every name is made here, and docs/metrics.md lists
them with example queries.

The dimensions (action, answer code, status) are in the names, not in tags: plain StatsD drops tags, and a
counter of every action's calls under one name would tell nothing there. Airflow adds its prefix
(`[metrics] statsd_prefix`, `airflow` by default) in front of each name.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

PREFIX = "tencent_ess"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def _part(value: object) -> str:
    """One segment of a name: an answer code's dots (`InternalError.DependsDb`) would add levels, and a code the
    server made up could be any length (Airflow drops a name over 250 characters)."""
    return _UNSAFE.sub("_", str(value))[:64] or "none"


def _stats() -> Any:
    from airflow.sdk.observability import stats

    return stats


def call_answered(action: str, code: str, seconds: float | None) -> None:
    """One HTTP call and its answer: `Ok`, or the error code (`RequestLimitExceeded` also counts apart)."""
    stats = _stats()
    stats.incr(f"{PREFIX}.api.calls.{_part(action)}.{_part(code)}")
    if seconds is not None:
        stats.timing(f"{PREFIX}.api.latency.{_part(action)}", timedelta(seconds=seconds))
    if code.startswith("RequestLimitExceeded"):
        stats.incr(f"{PREFIX}.api.rate_limited.{_part(action)}")


def call_retried(action: str, code: str) -> None:
    """The hook retries a call after a transient answer."""
    _stats().incr(f"{PREFIX}.api.retries.{_part(action)}.{_part(code)}")


def pacing(rates: dict[str, float], share: float) -> None:
    """Where a task's pacing settled: the rate of each action (requests/s) and this task's share of the quota."""
    stats = _stats()
    for action, rate in rates.items():
        stats.gauge(f"{PREFIX}.pacing.rate.{_part(action)}", rate)
    stats.gauge(f"{PREFIX}.pacing.share", share)


def run_reported(summary: dict[str, Any]) -> None:
    """A run's report: its tenants by outcome (`tenants.<mode>.<status>`), and what the run changed across its
    attempts (seals created, users granted and revoked). A report task that runs again counts its run again."""
    stats = _stats()
    mode = _part(summary.get("mode", "apply"))
    for status, count in (summary.get("by_status") or {}).items():
        stats.incr(f"{PREFIX}.tenants.{mode}.{_part(status)}", count)
    changed = summary.get("changes_in_run") or {}
    for key in ("seals_created", "users_granted", "users_revoked"):
        if changed.get(key):
            stats.incr(f"{PREFIX}.{key}", changed[key])
