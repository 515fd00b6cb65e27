"""The run report: `<name>.json` (summary, every tenant, every retried call, every change the run made) and
`<name>.csv` (one row a tenant), written atomically to a local folder or an object-storage URL. The CSV is safe
to open in a spreadsheet: a cell that would start a formula is escaped.

A report is never lost: each attempt of the report task writes its own `<name>.try<N>.json`, and
`<name>.json`/`.csv` are the latest. The latest lists every change the run made across its attempts (a cleared
run's earlier seals, grants and revocations included), carried over from the report it replaces."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterable
from typing import Any

from ..errors import ReportError
from ..storage import StoragePath, is_present, read_if_present, write_atomic
from .engine import TenantResult

#: The XCom key under which the report task records where it wrote the run's report (`report_location`), before
#: anything can fail the task: the report view finds a failed run's report by it.
LOCATION_XCOM = "ess_tenant_report"

#: First characters that make a spreadsheet read a cell as a formula (OWASP's CSV-injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as text: a leading formula character gets a `'` before it."""
    if isinstance(value, list):
        value = " ".join(map(str, value))
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def summarize(
    rows: list[dict], attempts: Iterable[dict[str, Any]], note: str = "", mode: str = "apply"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Counts by status, seals created and users granted (failed rows included: they count what was done),
    API calls and retried calls by code."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    stats: dict[str, int] = {}
    retried: list[dict[str, Any]] = []
    for attempt in attempts:
        for key, value in (attempt.get("stats") or {}).items():
            stats[key] = stats.get(key, 0) + value
        retried.extend(attempt.get("retried") or [])
    stats = dict(sorted(stats.items()))
    summary = {
        "mode": mode,
        "tenants": len(rows),
        "by_status": counts,
        "seals_created": sum(1 for r in rows if r.get("created")),
        "users_granted": sum(len(r.get("granted") or []) for r in rows),
        "users_revoked": sum(len(r.get("revoked") or []) for r in rows),
        "would_create": sum(1 for r in rows if r.get("would_create")),
        "would_grant": sum(len(r.get("would_grant") or []) for r in rows),
        "would_revoke": sum(len(r.get("would_revoke") or []) for r in rows),
        "retried_calls": {k.split(".", 1)[1]: v for k, v in stats.items() if k.startswith("retries.")},
        "tenants_retried_by_task_retry": sum(1 for e in retried if e.get("retried_by") == "task retry"),
        "api_calls": {k.split(".", 1)[1]: v for k, v in stats.items() if k.startswith("calls.")},
    }
    if note:
        summary["note"] = note
    return summary, retried


def row_changes(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the rows say was changed: one entry per seal created, per grant and per revocation."""
    changes = []
    for row in rows:
        where = {
            "proxy_organization_open_id": row.get("proxy_organization_open_id", ""),
            "seal_name": row.get("seal_name", ""),
            "seal_id": row.get("seal_id", ""),
        }
        if row.get("created"):
            changes.append({**where, "change": "created"})
        for kind in ("granted", "revoked"):
            if row.get(kind):
                changes.append({**where, "change": kind, "users": list(row[kind])})
    return changes


def report_location(summary: dict[str, Any], ds: str) -> dict[str, str]:
    """What the report task records under `LOCATION_XCOM`: the report's two files, its mode and its day."""
    return {"json": summary["json"], "csv": summary["csv"], "mode": summary.get("mode", "apply"), "day": ds}


def earlier_changes(latest: StoragePath) -> list[dict[str, Any]]:
    """The changes the run's latest report recorded ([] when there is none yet)."""
    raw = read_if_present(latest)
    if raw is None:
        return []
    try:
        document = json.loads(raw.decode("utf-8"))
        if "changes" in document:
            return list(document["changes"])
        return row_changes(document.get("tenants") or [])
    except (ValueError, TypeError, AttributeError) as err:
        raise ReportError(
            f"the run's earlier report {latest} cannot be read ({type(err).__name__}); a new report "
            "would replace what it recorded: move it aside, then clear the report task"
        ) from None


def merge_changes(*lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The changes of every list, each once, in order of first appearance."""
    seen: set[str] = set()
    merged = []
    for change in (c for changes in lists for c in changes):
        key = json.dumps(change, sort_keys=True, ensure_ascii=False)
        if key not in seen:
            seen.add(key)
            merged.append(change)
    return merged


def report_json(
    summary: dict[str, Any],
    rows: list[dict],
    retried: list[dict[str, Any]],
    changes: list[dict[str, Any]] = (),
    revocations: list[dict[str, Any]] = (),
) -> str:
    """The JSON report: `{"summary", "tenants", "retried_calls", "changes", "revocations"}`, the summary indented,
    each tenant, retried call, change and ledger record on a line of its own (easy to read and to grep). Written by
    the C encoder a line at a time: with `indent` json falls back to its much slower pure-Python encoder."""
    encode = json.JSONEncoder(ensure_ascii=False).encode

    def lines(items: list[dict[str, Any]]) -> str:
        return "[]" if not items else "[\n" + ",\n".join("    " + encode(item) for item in items) + "\n  ]"

    head = json.dumps(summary, ensure_ascii=False, indent=2).replace("\n", "\n  ")
    return (
        f'{{\n  "summary": {head},\n  "tenants": {lines(rows)},\n  "retried_calls": {lines(retried)},\n'
        f'  "changes": {lines(list(changes))},\n  "revocations": {lines(list(revocations))}\n}}\n'
    )


def write_report(
    rows: list[dict],
    out_dir: StoragePath,
    name: str,
    attempts: Iterable[dict[str, Any]] = (),
    note: str = "",
    mode: str = "apply",
    attempt: int | None = None,
    revoked: Iterable[dict[str, Any]] = (),
) -> dict[str, Any]:
    """Write the JSON and CSV reports (the attempt's own, then the latest); returns the summary with their
    locations. `revoked`: the run's revocation ledger, every revocation any attempt recorded before sending it."""
    rows = sorted(rows, key=lambda r: r["index"])
    summary, retried = summarize(rows, attempts, note, mode)
    json_path, csv_path = out_dir / f"{name}.json", out_dir / f"{name}.csv"
    revocations = sorted(revoked, key=lambda r: float(r.get("at") or 0))
    changes = merge_changes(earlier_changes(json_path), row_changes(rows))
    summary["changes_in_run"] = {
        "seals_created": sum(1 for c in changes if c["change"] == "created"),
        "users_granted": sum(len(c.get("users") or []) for c in changes if c["change"] == "granted"),
        "users_revoked": sum(len(r.get("users") or []) for r in revocations),
    }
    document = report_json(summary, rows, retried, changes, revocations).encode("utf-8")
    columns = [c for c in TenantResult.__dataclass_fields__ if c != "fingerprint"]
    text = io.StringIO(newline="")
    # `mode` on every row: a sheet of a plan's would_* columns is not mistaken for an apply's, once copied apart
    writer = csv.DictWriter(text, fieldnames=["mode", *columns], extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({"mode": mode, **{key: spreadsheet_safe(row.get(key, "")) for key in columns}})
    table = text.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheets read UTF-8
    if attempt is not None:  # this attempt's own copy first: a later attempt replaces only the latest
        own = out_dir / f"{name}.try{attempt}.json"
        if is_present(own):  # the same try number again (a run made anew): never overwritten
            own = out_dir / f"{name}.try{attempt}.{time.time_ns()}.json"
        write_atomic(own, document)
        summary["attempt_json"] = str(own)
    write_atomic(json_path, document)
    write_atomic(csv_path, table)
    summary["json"], summary["csv"] = str(json_path), str(csv_path)
    return summary
