"""Onboarding many tenants: manifest → chunks → (describe, create, grant) per tenant → run report.

Airflow-free on purpose: the DAG's tasks are thin wrappers, and this module is tested and benchmarked
directly. Every step is idempotent: the enterprise's seals are read once (one describe call per
enterprise, 100 seals a page), a seal that exists is reused, and only users not yet authorized are granted.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .errors import EssApiError, EssError, EssValidationError
from .hooks import EssHook
from .operators import create_or_find_seal, grant_seal
from .validation import TENANT_KEYS, Tenant, check_tenant, load_seal_image

#: Outcomes of a tenant in the report.
DONE, AWAITING_REVIEW, FAILED, RETRY = "done", "awaiting_review", "failed", "retry"


class ManifestError(EssError):
    """The manifest file itself is unusable (not JSON, not a list)."""


@dataclass
class TenantResult:
    """One row of the run report."""

    index: int
    proxy_organization_open_id: str
    seal_name: str
    status: str
    seal_id: str = ""
    seal_status: str = ""
    created: bool = False
    granted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_manifest(path: str | Path) -> list[Any] | None:
    """The manifest's entries; None when there is no manifest for that date."""
    file = Path(path)
    if not file.exists():
        return None
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"manifest {file}: not valid JSON ({err})") from None
    if not isinstance(data, list):
        raise ManifestError(f"manifest {file}: must be a JSON list of tenant objects, got {type(data).__name__}")
    return data


def plan_tenants(entries: Iterable[Any], base_dir: str | Path | None = None) -> tuple[list[dict], list[dict]]:
    """Check every entry: (valid tenants as dicts with their manifest index, rejected rows naming entry and field).

    A bad entry does not stop the others; a duplicate (same enterprise and seal name) is rejected,
    the first occurrence kept.
    """
    seen: dict[tuple[str, str], int] = {}
    tenants: list[dict] = []
    rejected: list[dict] = []
    for index, entry in enumerate(entries):
        try:
            tenant = check_tenant(entry, base_dir)
            if tenant.key in seen:
                raise EssValidationError(
                    "seal_name", f"duplicate of entry {seen[tenant.key]} (same enterprise and seal name)"
                )
        except EssValidationError as err:
            org = entry.get("proxy_organization_open_id", "") if isinstance(entry, dict) else ""
            name = entry.get("seal_name", "") if isinstance(entry, dict) else ""
            rejected.append(TenantResult(index, str(org), str(name), FAILED, error=f"entry {index}: {err}").to_dict())
            continue
        seen[tenant.key] = index
        tenants.append({"index": index, **tenant.to_dict()})
    return tenants, rejected


def make_chunks(tenants: list[dict], chunk_size: int, max_chunks: int | None = None) -> list[list[dict]]:
    """Chunks of about `chunk_size`, an enterprise's tenants kept together so it is described once.

    With `max_chunks` (Airflow's `[core] max_map_length`), chunks grow so that their number stays within it.
    """
    if chunk_size < 1:
        raise EssValidationError("chunk_size", "must be at least 1")
    by_org: dict[str, list[dict]] = {}
    for tenant in tenants:
        by_org.setdefault(tenant["proxy_organization_open_id"], []).append(tenant)
    while True:
        chunks: list[list[dict]] = [[]]
        for group in by_org.values():
            if chunks[-1] and len(chunks[-1]) + len(group) > chunk_size:
                chunks.append([])
            chunks[-1].extend(group)
        chunks = [chunk for chunk in chunks if chunk]
        if max_chunks is None or len(chunks) <= max(1, max_chunks):
            return chunks
        chunk_size = max(chunk_size * 2, -(-len(tenants) // max_chunks))


class _EnterpriseSeals:
    """Each enterprise's seals, described once per chunk and shared by its threads."""

    def __init__(self, hook: EssHook) -> None:
        self.hook = hook
        self._seals: dict[str, dict[str, dict]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, agent: dict[str, Any]) -> dict[str, dict]:
        org = agent["ProxyOrganizationOpenId"]
        with self._guard:
            lock = self._locks.setdefault(org, threading.Lock())
        with lock:
            if org not in self._seals:
                self._seals[org] = {seal["SealName"]: seal for seal in self.hook.describe_seals(agent)}
            return self._seals[org]


def _spec(tenant: dict, base_dir: str | Path | None) -> Tenant:
    """A planned tenant dict (which also carries bookkeeping such as `index`) checked again as a Tenant.

    The image file was checked by `plan_tenants`; it is read again only where a create needs it.
    """
    entry = {key: tenant[key] for key in TENANT_KEYS if key in tenant}
    return check_tenant(entry, base_dir, check_image=False)


def _holders(seal: dict[str, Any]) -> set[str]:
    held: set[str] = set()
    for user in seal.get("AuthorizedUsers") or []:
        held.update(filter(None, (user.get("OpenId"), user.get("UserId"))))
    return held


def onboard_tenant(
    hook: EssHook, seals: _EnterpriseSeals, tenant: dict, base_dir: str | Path | None, log: Any
) -> TenantResult:
    """Describe → create if missing → grant the users who lack the seal. Raises EssError on failure."""
    spec = _spec(tenant, base_dir)
    agent = hook.agent(spec.proxy_organization_open_id, spec.operator_open_id)
    result = TenantResult(tenant["index"], spec.proxy_organization_open_id, spec.seal.seal_name, DONE)
    seal = seals.get(agent).get(spec.seal.seal_name)
    if seal is None:
        image = load_seal_image(spec.seal_image_path, None, base_dir) if spec.seal_image_path else ""
        seal_id, _, found = create_or_find_seal(hook, agent, spec.seal.to_params(image), "reuse", log)
        # A seal this call created has no holders yet; a system seal is usable at once, an image one is in review.
        seal = found or {"SealId": seal_id, "SealStatus": "CHECKING" if image else "SUCCESS"}
        result.created = found is None
    result.seal_id, result.seal_status = seal["SealId"], seal.get("SealStatus", "")
    if result.seal_status == "FAIL":
        raise EssApiError("CreateSealByImage", "FailedOperation.ReviewFailed", seal.get("FailReason") or "refused in review")
    if result.seal_status == "CHECKING":
        result.status = AWAITING_REVIEW
        return result
    return grant_missing(hook, agent, seal, spec, result)


def grant_missing(hook: EssHook, agent: dict, seal: dict, spec: Tenant, result: TenantResult) -> TenantResult:
    """Grant only the users who do not hold the seal yet: a re-run grants nothing twice."""
    held = _holders(seal)
    missing = [user for user in spec.user_ids if user not in held]
    result.skipped = [user for user in spec.user_ids if user in held]
    if missing:
        newly, already = grant_seal(hook, agent, seal["SealId"], missing)
        result.granted, result.skipped = newly, result.skipped + already
    result.status = DONE
    return result


def _failure(tenant: dict, err: Exception) -> TenantResult:
    transient = isinstance(err, EssApiError) and err.transient
    return TenantResult(
        tenant["index"], tenant.get("proxy_organization_open_id", ""), tenant.get("seal_name", ""),
        RETRY if transient else FAILED, error=str(err),
    )


class Progress:
    """Logs done/total, rate and ETA at most every `interval` seconds."""

    def __init__(self, label: str, total: int, log: Any, interval: float = 5.0) -> None:
        self.label, self.total, self.log, self.interval = label, total, log, interval
        self.started = self.last = time.monotonic()

    def report(self, done: int, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        self.last = now
        elapsed = max(now - self.started, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        self.log.info("%s: %d/%d tenants, %.1f tenants/s, ETA %.0fs", self.label, done, self.total, rate, eta)


def run_concurrently(
    items: list[dict], work: Callable[[dict], TenantResult], concurrency: int, progress: Progress
) -> list[TenantResult]:
    """`work` on every item with a bounded thread pool; failures become result rows, never lost."""
    results: list[TenantResult] = []
    with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(items))), thread_name_prefix="ess") as pool:
        pending = {pool.submit(work, item): item for item in items}
        while pending:
            done, _ = wait(pending, timeout=progress.interval, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                try:
                    results.append(future.result())
                except Exception as err:  # noqa: BLE001 - every tenant gets a row, whatever went wrong
                    results.append(_failure(item, err))
            progress.report(len(results))
    progress.report(len(results), force=True)
    return sorted(results, key=lambda r: r.index)


def onboard_chunk(
    hook: EssHook, tenants: list[dict], *, concurrency: int = 16, base_dir: str | Path | None = None,
    log: Any, label: str = "chunk", progress_interval: float = 5.0,
) -> list[TenantResult]:
    """Onboard one chunk; returns a result per tenant (done, awaiting_review, failed or retry)."""
    seals = _EnterpriseSeals(hook)
    progress = Progress(label, len(tenants), log, progress_interval)
    return run_concurrently(tenants, lambda t: onboard_tenant(hook, seals, t, base_dir, log), concurrency, progress)


def finish_reviewed(
    hook: EssHook, awaiting: list[dict], *, concurrency: int = 16, base_dir: str | Path | None = None, log: Any,
) -> list[TenantResult]:
    """For tenants whose image seal was under review: grant the approved, fail the refused, keep the rest waiting."""
    seals = _EnterpriseSeals(hook)

    def work(tenant: dict) -> TenantResult:
        spec = _spec(tenant, base_dir)
        agent = hook.agent(spec.proxy_organization_open_id, spec.operator_open_id)
        seal = seals.get(agent).get(spec.seal.seal_name)
        if seal is None:
            raise EssApiError("ChannelDescribeOrganizationSeals", "ResourceNotFound", "seal is no longer listed")
        result = TenantResult(tenant["index"], spec.proxy_organization_open_id, spec.seal.seal_name, AWAITING_REVIEW,
                              seal["SealId"], seal.get("SealStatus", ""), tenant.get("created", False))
        if result.seal_status == "FAIL":
            raise EssApiError("CreateSealByImage", "FailedOperation.ReviewFailed", seal.get("FailReason") or "refused")
        if result.seal_status != "SUCCESS":
            return result
        return grant_missing(hook, agent, seal, spec, result)

    return run_concurrently(awaiting, work, concurrency, Progress("reviews", len(awaiting), log))


def attempt_record(hook: EssHook, results: list[TenantResult], task: str, try_number: int) -> dict[str, Any]:
    """What one task attempt did: its API call counts, every call it retried or left to a task retry, and the
    tenants it finished (done, or waiting for review), which a later attempt need not touch again."""
    retried = [{**event, "task": task, "try": try_number} for event in hook.retried]
    retried += [{"retried_by": "task retry", "task": task, "try": try_number, "tenant": r.index, "error": r.error}
                for r in results if r.status == RETRY]
    finished = [r.to_dict() for r in results if r.status in (DONE, AWAITING_REVIEW)]
    return {"task": task, "try": try_number, "stats": dict(hook.stats), "retried": retried, "finished": finished}


def finished_before(records: Iterable[dict[str, Any]], task: str | None = None) -> dict[int, TenantResult]:
    """Tenants that earlier attempts (of `task`, or of any task) finished, by manifest index."""
    return {row["index"]: TenantResult(**row) for record in records if task in (None, record.get("task"))
            for row in record.get("finished") or []}


def journal_attempt(folder: str | Path, name: str, record: dict[str, Any]) -> None:
    """Keep a failed attempt's record beside the reports: Airflow clears a task's XComs when it retries."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")


def read_journal(folder: str | Path) -> list[dict[str, Any]]:
    """Every failed attempt's record, oldest first."""
    files = sorted(Path(folder).glob("*.json"), key=lambda f: f.stat().st_mtime) if Path(folder).is_dir() else []
    return [json.loads(f.read_text(encoding="utf-8")) for f in files]


def write_report(rows: list[dict], out_dir: str | Path, name: str, attempts: Iterable[dict[str, Any]] = ()) -> dict:
    """Write `<name>.json` and `<name>.csv` from the tenant rows and every attempt's record (see
    `attempt_record`); returns the summary: counts by status, API calls, retried calls by code, paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = sorted(rows, key=lambda r: r["index"])
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
        "tenants": len(rows),
        "by_status": counts,
        "seals_created": sum(1 for r in rows if r.get("created")),
        "users_granted": sum(len(r.get("granted") or []) for r in rows),
        "retried_calls": {k.split(".", 1)[1]: v for k, v in stats.items() if k.startswith("retries.")},
        "tenants_retried_by_task_retry": sum(1 for e in retried if e.get("retried_by") == "task retry"),
        "api_calls": {k.split(".", 1)[1]: v for k, v in stats.items() if k.startswith("calls.")},
    }
    json_path, csv_path = out / f"{name}.json", out / f"{name}.csv"
    document = {"summary": summary, "tenants": rows, "retried_calls": retried}
    json_path.write_text(json.dumps(document, ensure_ascii=False, indent=2), "utf-8")
    columns = list(TenantResult.__dataclass_fields__)
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (" ".join(v) if isinstance(v, list) else v) for k, v in row.items() if k in columns})
    summary["json"], summary["csv"] = str(json_path), str(csv_path)
    return summary
