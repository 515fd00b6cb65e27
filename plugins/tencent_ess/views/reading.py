"""What the report view reads: where a run's report is (the XCom the report task records before it can fail), the
report itself (through `tencent_ess.storage`, the code the DAG writes it with: a local path or an object-storage
URL), its summary alone (the head of the file), and a page of its tenants.

No Airflow import at module level: the reading and paging are plain functions, tested without a server."""

from __future__ import annotations

import gc
import json
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from ..errors import ReportError, redact_location
from ..onboarding.locations import run_name
from ..storage import StoragePath, read_if_present, read_until, stat_if_present, storage_path

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

#: The columns of a tenant row the view serves: what the CSV holds, less the internal fingerprint. A row never
#: carries an image or a secret, and a key added to the report later is not served until it is named here.
ROW_KEYS = (
    "index",
    "proxy_organization_open_id",
    "seal_name",
    "seal_id",
    "status",
    "seal_status",
    "requested",
    "created",
    "granted",
    "skipped",
    "revoked",
    "would_create",
    "would_grant",
    "would_revoke",
    "operator_verify",
    "error",
)
#: The page sizes the view accepts: a page is always served whole, never a 100,000-row table.
PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
#: The summary is the head of the report (`report_pieces` writes it first): read this much at a time until it ends,
#: and never more than MAX_HEAD_BYTES (a file whose head is that long is not a report this code wrote).
HEAD_BYTES, MAX_HEAD_BYTES = 64 * 1024, 8 * 1024 * 1024


@dataclass
class Report:
    """One report as the view shows it: its summary, its rows (served keys only), the retried calls."""

    location: str
    summary: dict[str, Any]
    rows: list[dict[str, Any]]
    retried: list[dict[str, Any]] = field(default_factory=list)


def location_from_xcom(value: Any, run_id: str) -> dict[str, str] | None:
    """The report location the report task recorded (`{"json", "csv", "mode", "day"}`), or None when there is
    none. Only the run's own report files are ever read: `<day>/<run>.json` and `.csv` (or the guard's
    `<run>.proposed.*`) in the report folder, as `write_report` names them; any other path is refused."""
    if value in (None, ""):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ReportError("the run's report location is not readable JSON") from None
    if not isinstance(value, dict):
        raise ReportError("the run's report location is not an object")
    json_path, csv_path = value.get("json"), value.get("csv")
    if not (isinstance(json_path, str) and json_path.endswith(".json")):
        raise ReportError("the run's report location names no .json file")
    if not (isinstance(csv_path, str) and csv_path.endswith(".csv")):
        raise ReportError("the run's report location names no .csv file")
    day = str(value.get("day", ""))
    names = {f"{run_name(run_id)}{kind}" for kind in ("", ".proposed")}
    for path, suffix in ((json_path, ".json"), (csv_path, ".csv")):
        parent, _, name = path.rstrip("/").rpartition("/")
        if not _DAY.fullmatch(day) or parent.rpartition("/")[2] != day or name.removesuffix(suffix) not in names:
            raise ReportError(f"the run's report location is not its report (<day>/<run>{suffix})")
    return {"json": json_path, "csv": csv_path, "mode": str(value.get("mode", "")), "day": day}


def _parse(location: str, raw: bytes) -> Report:
    # A 100,000-row report is millions of new objects, none in a cycle: the cyclic collector, which would scan them
    # again and again as they are made, took two thirds of the time to open one. It is off while parsing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _parse_document(location, raw)
    finally:
        if collecting:
            gc.enable()


def _parse_document(location: str, raw: bytes) -> Report:
    try:
        document = json.loads(raw.decode("utf-8"))
        summary, rows = document["summary"], document["tenants"]
        if not isinstance(summary, dict) or not isinstance(rows, list):
            raise TypeError("not a report")
        served = [{key: row.get(key, "") for key in ROW_KEYS} for row in rows]
        retried = [r for r in document.get("retried_calls") or [] if isinstance(r, dict)]
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise ReportError(f"the report {redact_location(location)} is not a report ({type(err).__name__})") from None
    return Report(location, summary, served, retried)


def _version(path: StoragePath) -> tuple[Any, ...] | None:
    """What tells one version of a file from the next (size and modification time), or None when unknown."""
    info = stat_if_present(path)
    if isinstance(info, dict):  # an object store's: its ETag changes with every write, LastModified by the second
        size, mtime = (
            info.get("size"),
            info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified"),
        )
    else:
        size, mtime = getattr(info, "st_size", None), getattr(info, "st_mtime", None)
    return None if size is None or mtime is None else (size, str(mtime))


class ReportCache:
    """The last few reports read, each kept while its file is unchanged: paging through a 100,000-row report reads
    and parses it once, not once a page. A file whose version cannot be told is read every time."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._entries: OrderedDict[str, tuple[tuple[Any, ...], Report]] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, location: str) -> Report | None:
        """The report at `location`, or None when it does not exist; `StorageError` when it cannot be reached,
        `ReportError` when it is not a report."""
        path = storage_path(location)
        version = _version(path)
        with self._lock:
            cached = self._entries.get(location)
            if cached and version is not None and cached[0] == version:
                self._entries.move_to_end(location)
                return cached[1]
        raw = read_if_present(path)
        if raw is None:
            return None
        report = _parse(location, raw)
        if version is not None:
            with self._lock:
                self._entries[location] = (version, report)
                self._entries.move_to_end(location)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return report


def read_summary(location: str) -> dict[str, Any] | None:
    """The summary of the report at `location`, read from the head of the file (the rows are not read), or None
    when there is no report there."""
    marker = b'\n  "tenants": '
    head = read_until(storage_path(location), marker, HEAD_BYTES, MAX_HEAD_BYTES)
    if head is None:
        return None
    end = head.find(marker)
    try:
        text = head[:end].decode("utf-8").rstrip().rstrip(",") + "}" if end >= 0 else head.decode("utf-8")
        summary = json.loads(text)["summary"]
        if not isinstance(summary, dict):
            raise TypeError("not an object")
        return summary
    except (ValueError, KeyError, TypeError) as err:
        raise ReportError(f"the report {redact_location(location)} has no summary ({type(err).__name__})") from None


def matches(row: dict[str, Any], status: str, query: str) -> bool:
    """True when the row has the status (any when empty) and the query (case-insensitive) is in its enterprise,
    seal name or SealId (any when empty)."""
    if status and row["status"] != status:
        return False
    if not query:
        return True
    needle = query.casefold()
    return any(needle in str(row[key]).casefold() for key in ("proxy_organization_open_id", "seal_name", "seal_id"))


def page_of(
    rows: list[dict[str, Any]], status: str = "", query: str = "", offset: int = 0, limit: int = PAGE_SIZE
) -> dict[str, Any]:
    """One page of the rows that match: `{"total", "matched", "offset", "limit", "rows"}`."""
    limit = max(1, min(int(limit), MAX_PAGE_SIZE))
    offset = max(0, int(offset))
    query = query.strip()
    if status or query:
        selected = [row for row in rows if matches(row, status, query)]
    else:
        selected = rows
    return {
        "total": len(rows),
        "matched": len(selected),
        "offset": offset,
        "limit": limit,
        "rows": selected[offset : offset + limit],
    }


def done_per_day(runs: list[dict[str, Any]]) -> list[tuple[str, int]]:
    """Tenants done per manifest day, for the chart: each day's latest apply run with a report counts (a re-run of
    a day finds the same tenants done again: summing the runs would count them twice)."""
    latest: dict[str, dict[str, Any]] = {}
    for run in sorted(runs, key=lambda r: r.get("run_after") or ""):
        summary = run.get("summary")
        if summary and summary.get("mode", "apply") == "apply" and run.get("day"):
            latest[run["day"]] = summary
    return [(day, int((latest[day].get("by_status") or {}).get("done", 0))) for day in sorted(latest)]
