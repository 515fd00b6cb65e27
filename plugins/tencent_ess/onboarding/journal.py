"""The attempt journal: what a failed task attempt did, kept beside the reports because Airflow clears a
task's XComs when it retries.

Records are keyed by each tenant's fingerprint (identity and content), never by its manifest position, and
belong to one plan (the `plan_id` the run's `plan` task drew): a cleared run plans again, so nothing from
before the clear is trusted; within a plan, only attempts of the task's current series of tries count
(a cleared task starts a new series, and re-checks everything against the API). Writes are atomic; a
record whose content is damaged is reported and skipped; a journal that cannot be reached fails the task.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from ..hooks import EssHook
from ..storage import StoragePath, json_objects, write_atomic
from .engine import AWAITING_REVIEW, DONE, DRIFT, IN_SYNC, RETRY, TenantResult

log = logging.getLogger(__name__)


def attempt_counts(
    hook: EssHook, results: list[TenantResult], *, task: str, try_number: int, plan_id: str = "", series: int = 1
) -> dict[str, Any]:
    """What one task attempt did, for the run report: its API call counts and every call it retried or left to a
    task retry."""
    retried = [{**event, "task": task, "try": try_number} for event in hook.retried]
    retried += [
        {"retried_by": "task retry", "task": task, "try": try_number, "tenant": r.index, "error": r.error}
        for r in results
        if r.status == RETRY
    ]
    return {
        "task": task,
        "try": try_number,
        "series": series,
        "plan_id": plan_id,
        "stats": dict(hook.stats),
        "retried": retried,
    }


def attempt_record(
    hook: EssHook,
    results: list[TenantResult],
    *,
    task: str,
    try_number: int,
    plan_id: str = "",
    series: int = 1,
    finished: tuple[str, ...] = (DONE, AWAITING_REVIEW, IN_SYNC, DRIFT),
) -> dict[str, Any]:
    """What an attempt that leaves work to a later one did, for the journal: its counts, every tenant's row, and
    the tenants it finished (by default done, or handed on to the review wait), which a later attempt of the same
    series need not redo."""
    counts = attempt_counts(hook, results, task=task, try_number=try_number, plan_id=plan_id, series=series)
    rows = [r.to_dict() for r in results]
    return {**counts, "finished": [row for row in rows if row["status"] in finished], "rows": rows}


def write_record(folder: StoragePath, name: str, record: dict[str, Any]) -> None:
    """Keep a failed attempt's record (atomically: a concurrent reader never sees half of it)."""
    write_atomic(folder / f"{name}.json", json.dumps(record, ensure_ascii=False).encode("utf-8"))


def read_records(folder: StoragePath, plan_id: str) -> tuple[list[dict[str, Any]], list[str]]:
    """(records of this plan, oldest try first; problems: records whose content could not be parsed, each named).
    A folder or file that cannot be reached (permission, network) raises `StorageError`: a journal that was
    written but cannot be read now is never taken as "nothing done yet"."""
    records, problems = [], []
    for file, record in json_objects(folder):
        if isinstance(record, ValueError):
            problems.append(f"attempt journal {file.name}: unreadable, ignored ({type(record).__name__})")
            log.warning("%s", problems[-1])
            continue
        if record.get("plan_id") == plan_id:
            records.append(record)
    records.sort(key=lambda r: (str(r.get("task")), int(r.get("try") or 0)))
    return records, problems


def latest_series(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the records of each task's latest series of tries (a cleared task's older attempts are history)."""
    records = list(records)
    newest: dict[str, int] = {}
    for record in records:
        task = str(record.get("task"))
        newest[task] = max(newest.get(task, 0), int(record.get("series") or 1))
    return [r for r in records if int(r.get("series") or 1) >= newest[str(r.get("task"))]]


def last_rows(records: Iterable[dict[str, Any]], task: str | None = None) -> dict[str, dict[str, Any]]:
    """Each tenant's last known row (any status, what was done included), by fingerprint, oldest try first."""
    rows: dict[str, dict[str, Any]] = {}
    for record in sorted(records, key=lambda r: int(r.get("try") or 0)):
        if task is None or record.get("task") == task:
            rows.update((row["fingerprint"], row) for row in record.get("rows") or [] if row.get("fingerprint"))
    return rows


def carry_over(
    records: Iterable[dict[str, Any]], task: str, series: int, tenants: Iterable[dict]
) -> dict[str, TenantResult]:
    """What earlier attempts of `task`'s current series finished for these `tenants`, by fingerprint, each row
    re-indexed to the tenant's position in today's manifest (an edited manifest may have moved it)."""
    finished = finished_before(records, task, series)
    carried: dict[str, TenantResult] = {}
    for tenant in tenants:
        row = finished.get(tenant["fingerprint"])
        if row is not None:
            row.index = tenant["index"]
            carried[tenant["fingerprint"]] = row
    return carried


def finished_before(
    records: Iterable[dict[str, Any]], task: str | None = None, series: int | None = None
) -> dict[str, TenantResult]:
    """Tenants that earlier attempts (of `task`, or any; of tries ≥ `series`, or any) finished, by fingerprint."""
    carried: dict[str, TenantResult] = {}
    for record in records:
        if task is not None and record.get("task") != task:
            continue
        if series is not None and int(record.get("try") or 0) < series:
            continue
        for row in record.get("finished") or []:
            if row.get("fingerprint"):
                carried[row["fingerprint"]] = TenantResult.from_dict(row)
    return carried
