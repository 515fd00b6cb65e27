"""The run report: `<name>.json` (summary, every tenant, every retried call, every change the run made) and
`<name>.csv` (one row a tenant), written atomically to a local folder or an object-storage URL. The CSV is safe
to open in a spreadsheet: a cell that would start a formula is escaped.

A report is never lost: each attempt of the report task writes its own `<name>.try<N>.json`, and
`<name>.json`/`.csv` are the latest. The latest lists every change the run made across its attempts (a cleared
run's earlier seals, grants and revocations included), carried over from the report it replaces."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from ..errors import ReportError
from ..storage import StoragePath, is_present, lines_if_present, read_if_present, write_atomic
from .engine import TenantResult

#: The XCom key under which the report task records where it wrote the run's report (`report_location`), before
#: anything can fail the task: the report view finds a failed run's report by it.
LOCATION_XCOM = "ess_tenant_report"

#: First characters that make a spreadsheet read a cell as a formula (OWASP's CSV-injection list).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

#: Rows (or report lines) encoded and written at a time.
PIECE_ITEMS = 2000


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
    """The changes the run's latest report recorded ([] when there is none yet). Only its `changes` section is
    parsed, a line at a time as `report_pieces` writes it: parsed whole, a 100,000-tenant report took 500 MB, and
    a cleared report task's peak RSS neared 1 GB (bench stage 9). A report not exactly as this writer leaves it (an
    older version's, one rewritten by hand, one cut short) is parsed whole, which refuses it if it is damaged."""
    lines = lines_if_present(latest)
    if lines is None:
        return []
    try:
        changes: list[dict[str, Any]] = []
        batch: list[bytes] = []
        state, last = "before", b""
        for line in lines:
            last = line
            if state == "before" and line.startswith(b'  "changes": ['):
                if line.rstrip(b",\n") == b'  "changes": []':
                    state = "after"
                elif line == b'  "changes": [\n':
                    state = "in"
                else:
                    break  # not this writer's layout
            elif state == "in":
                if line.rstrip(b",\n") == b"  ]":
                    state = "after"
                else:
                    batch.append(line.strip().rstrip(b","))
                if len(batch) == PIECE_ITEMS or (state == "after" and batch):
                    changes += parsed_changes(batch)
                    batch = []
        if state == "after" and last == b"}\n":  # the section closed, and the document was written to its end
            return changes
    except (ValueError, TypeError, AttributeError):
        pass  # not as this writer leaves it: parsed whole, which reads any layout and refuses a damaged report
    try:
        return whole_report_changes(latest)
    except (ValueError, TypeError, AttributeError) as err:
        raise ReportError(
            f"the run's earlier report {latest} cannot be read ({type(err).__name__}); a new report "
            "would replace what it recorded: move it aside, then clear the report task"
        ) from None


def parsed_changes(lines: list[bytes]) -> list[dict[str, Any]]:
    """Changes, one a line, parsed in one call: the keys of its dicts are then one string each, not one a change."""
    changes = json.loads(b"[" + b",".join(lines) + b"]")
    if not all(isinstance(change, dict) and "change" in change for change in changes):
        raise TypeError("a change that is not one")
    return changes


def whole_report_changes(latest: StoragePath) -> list[dict[str, Any]]:
    """The changes of a report parsed whole: its `changes`, or, in an older report without them, its rows'."""
    document = json.loads((read_if_present(latest) or b"").decode("utf-8"))
    if "changes" in document:
        return list(document["changes"])
    return row_changes(document.get("tenants") or [])


def change_key(change: dict[str, Any]) -> bytes:
    """What makes two changes the same change: their canonical JSON, kept as a 16-byte digest (the texts
    themselves took 80 MB at 100,000 tenants)."""
    return hashlib.blake2b(json.dumps(change, sort_keys=True, ensure_ascii=False).encode(), digest_size=16).digest()


def merge_changes(*lists: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The changes of every list, each once, in order of first appearance."""
    seen: set[bytes] = set()
    merged = []
    for change in (c for changes in lists for c in changes):
        key = change_key(change)
        if key not in seen:
            seen.add(key)
            merged.append(change)
    return merged


def report_pieces(
    summary: dict[str, Any],
    rows: list[dict],
    retried: list[dict[str, Any]],
    changes: list[dict[str, Any]] = (),
    revocations: list[dict[str, Any]] = (),
) -> Iterator[bytes]:
    """The JSON report, `{"summary", "tenants", "retried_calls", "changes", "revocations"}`, as UTF-8 pieces of
    about `PIECE_ITEMS` items each: the summary indented first (the report view reads only the head), then each
    tenant, retried call, change and ledger record on a line of its own (easy to read and to grep). Pieces, not
    one text: a 100,000-tenant report is 64 MB of UTF-8 and, whole, three to four times that as Python text.
    Encoded by the C encoder a line at a time: with `indent` json falls back to its much slower pure-Python one."""
    encode = json.JSONEncoder(ensure_ascii=False).encode
    head = json.dumps(summary, ensure_ascii=False, indent=2).replace("\n", "\n  ")
    yield f'{{\n  "summary": {head},\n'.encode()
    sections = (("tenants", rows), ("retried_calls", retried), ("changes", changes), ("revocations", revocations))
    for number, (key, items) in enumerate(sections):
        items = list(items) if not isinstance(items, list) else items
        end = "\n}\n" if number == len(sections) - 1 else ",\n"
        if not items:
            yield f'  "{key}": []{end}'.encode()
            continue
        yield f'  "{key}": [\n'.encode()
        for first in range(0, len(items), PIECE_ITEMS):
            batch = items[first : first + PIECE_ITEMS]
            tail = "\n  ]" + end if first + PIECE_ITEMS >= len(items) else ",\n"
            yield (",\n".join("    " + encode(item) for item in batch) + tail).encode()


def csv_pieces(rows: list[dict], mode: str) -> Iterator[bytes]:
    """The CSV report as UTF-8 pieces of `PIECE_ITEMS` rows, a BOM first (it makes spreadsheets read UTF-8); the
    fingerprint left out, `mode` on every row (a sheet of a plan's would_* columns, once copied apart, is not
    mistaken for an apply's)."""
    columns = [c for c in TenantResult.__dataclass_fields__ if c != "fingerprint"]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=["mode", *columns], extrasaction="ignore")
    writer.writeheader()
    yield "\ufeff".encode() + text.getvalue().encode()
    for first in range(0, len(rows), PIECE_ITEMS):
        text.seek(0)
        text.truncate()
        for row in rows[first : first + PIECE_ITEMS]:
            writer.writerow({"mode": mode, **{key: spreadsheet_safe(row.get(key, "")) for key in columns}})
        yield text.getvalue().encode()


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
    document = report_pieces(summary, rows, retried, changes, revocations)
    if attempt is not None:  # this attempt's own copy first: a later attempt replaces only the latest
        own = out_dir / f"{name}.try{attempt}.json"
        if is_present(own):  # the same try number again (a run made anew): never overwritten
            own = out_dir / f"{name}.try{attempt}.{time.time_ns()}.json"
        write_atomic(own, document, json_path)  # encoded once, the same bytes in both
        summary["attempt_json"] = str(own)
    else:
        write_atomic(json_path, document)
    write_atomic(csv_path, csv_pieces(rows, mode))
    summary["json"], summary["csv"] = str(json_path), str(csv_path)
    return summary
