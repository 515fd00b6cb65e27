"""The bodies of `ess_tenant_onboarding`'s tasks: plan → onboard (mapped over chunks) → finish_reviews → report.

The DAG file only declares the tasks and their wiring; everything they do is here, with plain-function tests.
Where files live: `Locations` (the Variables `ess_tenant_manifest_dir` and `ess_report_dir`, each a folder or
an object-storage URL such as `s3://bucket/tenants`).
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from .. import metrics
from ..errors import CheckAgain, EssError, LedgerError, RetryLater, RevocationBudgetError, redact_location
from ..storage import storage_path
from ..wording import quantity
from . import APPROVE_TASK, AWAITING, FINISH_TASK, GUARD_TASK, ONBOARD_TASK, PLAN_TASK
from .approval import decided_verdict
from .engine import (
    AWAITING_REVIEW,
    DONE,
    DRIFT,
    FAILED,
    IN_SYNC,
    PLAN,
    RETRY,
    SUPERSEDED,
    Policy,
    TenantResult,
    budget_refusal,
    count_revocations,
    finish_reviewed,
    onboard_chunk,
    requested_users,
)
from .handoff import pack, unpack
from .journal import (
    attempt_counts,
    attempt_record,
    carry_over,
    finished_before,
    last_rows,
    latest_series,
    read_records,
    write_record,
)
from .locations import Locations, run_name
from .manifest import (
    ManifestError,
    chunk_size_for,
    make_chunks,
    manifest_digest,
    parse_manifest,
    plan_tenants,
    read_manifest_bytes,
)
from .report import LOCATION_XCOM, report_location, write_report
from .revocations import Ledger, claim, mark, older_claimants, read_claims, superseded_by

log = logging.getLogger(__name__)
PLAN_INFO = "plan_info"


def chunk_key(number: int) -> str:
    return f"chunk_{number}"


def pull_chunk(ti: Any, number: int) -> list[dict]:
    """Chunk `number`'s planned tenants, as `plan` pushed them. A chunk `plan` pushed is never missing but by
    accident (its XComs cleaned away, a task cleared without `plan`): that fails, rather than onboard no one."""
    value = ti.xcom_pull(task_ids=PLAN_TASK, key=chunk_key(number))
    if value is None:
        raise ManifestError(f"chunk {number} of the plan is missing from XCom: clear the run from its plan task")
    return unpack(value)


def first_try_of_series(ti: Any) -> int:
    """The first try of the task's current series: a clear starts a new one (Airflow's own arithmetic)."""
    retries = getattr(getattr(ti, "task", None), "retries", 0) or 0
    max_tries = getattr(ti, "max_tries", 0) or 0
    return max(1, max_tries - retries + 1)


# ---------------------------------------------------------------------------------------------------- plan
def plan(where: Locations, *, ds: str, params: dict[str, Any], ti: Any, max_chunks: int | None) -> list[int]:
    """Read and check the manifest; push each chunk under its own XCom key and return the chunk numbers to map
    over (a chunk task loads its own tenants only). Bad entries become report rows; a missing manifest plans
    nothing and leaves the reason for the report; an unusable manifest fails the run."""
    where = where.for_run(params)
    path = where.manifest(ds)
    info: dict[str, Any] = {
        "manifest": str(path),
        "base_dir": str(where.images),
        "plan_id": uuid.uuid4().hex,
        "rejected": [],
        "missing": "",
        "day": ds,
    }
    raw = read_manifest_bytes(path)  # StorageError: unreadable is never "missing"
    entries = None if raw is None else parse_manifest(path, raw)  # ManifestError: the run fails, naming the file
    info["digest"] = "" if raw is None else manifest_digest(raw)
    if entries is None:
        info["missing"] = f"no manifest for {ds} at {redact_location(path)}"
        log.warning("%s: nothing to onboard", info["missing"])
        ti.xcom_push(key=PLAN_INFO, value=info)
        return []
    tenants, rejected = plan_tenants(entries, base_dir=where.images)
    size = params["chunk_size"] if params.get("chunk_size") is not None else chunk_size_for(params["rate_limit"])
    chunks = make_chunks(tenants, size, max_chunks)
    log.info(
        "manifest %s: %s, %d valid, %d rejected, %s of about %d",
        path,
        quantity(len(entries), "entry", "entries"),
        len(tenants),
        len(rejected),
        quantity(len(chunks), "chunk"),
        size,
    )
    for row in rejected:
        log.warning("rejected: %s", row["error"])
    info["rejected"] = rejected
    ti.xcom_push(key=PLAN_INFO, value=info)
    for number, chunk in enumerate(chunks):
        ti.xcom_push(key=chunk_key(number), value=pack(chunk))
    return list(range(len(chunks)))


def plan_info(ti: Any) -> dict[str, Any]:
    info = ti.xcom_pull(task_ids=PLAN_TASK, key=PLAN_INFO)
    if not info:
        raise ManifestError("the plan task left no plan (it failed or did not run): see its log")
    return info


def check_plan_current(info: dict[str, Any]) -> None:
    """Before a task acts on the plan: the manifest must still be the one planned (same bytes). A task cleared
    after the manifest was edited would otherwise apply the old plan of a file that no longer says so."""
    if not info.get("digest"):
        return  # nothing was planned (no manifest): nothing to apply
    path = storage_path(info["manifest"])
    raw = read_manifest_bytes(path)
    now = "gone" if raw is None else "changed" if manifest_digest(raw) != info["digest"] else ""
    if now:
        raise ManifestError(
            f"manifest {redact_location(path)} has {now} since this run planned it: this run will not apply a plan of "
            "a manifest that no longer says so. Clear the whole run (from its plan task), or trigger "
            "a new one, to plan the manifest as it is now"
        )


# ---------------------------------------------------------------------------------------------------- onboard
#: The tasks that call the API at volume; the quota is shared among those running, in every run of the DAG.
QUOTA_SHARERS = [ONBOARD_TASK, GUARD_TASK, FINISH_TASK]
#: The sharers a task assumes until Airflow has counted them once (a count that fails must not read as "alone"):
#: a backfill's ten runs of up to four chunks each.
UNCOUNTED_SHARERS = 40


def make_hook(conn_id: str, params: dict[str, Any], ti: Any = None):
    """A hook paced at this task's share of the API limit: the limit divided among the DAG's API-heavy tasks
    running now, in every run (a backfill runs several dates at once), counted through Airflow's own record of
    running task instances (asked again every half second by the limiter)."""
    from ..hooks import EssHook
    from ..ratelimit import ActionRateLimiter

    sharers = None
    if ti is not None:

        def sharers() -> int:
            return ti.get_ti_count(dag_id=ti.dag_id, task_ids=QUOTA_SHARERS, states=["running"])

    limiter = ActionRateLimiter(params["rate_limit"], sharers=sharers, uncounted=UNCOUNTED_SHARERS)
    return EssHook(ess_conn_id=conn_id, limiter=limiter)


def _journal(where: Locations, ds: str, ti: Any, record: dict[str, Any], suffix: str = "") -> None:
    name = f"{ti.task_id}-{ti.map_index}-try{ti.try_number}{suffix}"
    write_record(where.journal(ds, ti.run_id), name, record)


def onboard(where: Locations, chunk: int, *, ds: str, params: dict[str, Any], ti: Any, conn_id: str) -> dict[str, Any]:
    """One chunk: describe each enterprise once, create missing seals, grant missing users. A retry redoes only
    what earlier attempts of this series left (a big chunk under steady faults still converges)."""
    info = plan_info(ti)
    check_plan_current(info)
    tenants = pull_chunk(ti, chunk)
    label, task, series = f"chunk {chunk}", f"{ONBOARD_TASK}[{chunk}]", first_try_of_series(ti)
    verdict = guard_verdict(ti, params)
    if verdict.get("withheld"):  # revocations not approved: the tenants that had some revoke nothing, and say why
        for tenant in tenants:
            if tenant["fingerprint"] in verdict["proposed"]:
                tenant["withheld"] = verdict["withheld"]
    hook = make_hook(conn_id, params, ti)
    superseded = still_superseded(where, ds, params, ti, hook, verdict)
    if superseded:
        ti.xcom_push(key=AWAITING, value=pack([]))
        log.warning("%s: %s", label, superseded)
        return chunk_output(superseded_rows(tenants, superseded), {"task": task, "try": ti.try_number})
    records, _ = read_records(where.journal(ds, ti.run_id), info["plan_id"])
    carried = carry_over(records, task, series, tenants)
    todo = [t for t in tenants if t["fingerprint"] not in carried]
    if carried:
        log.info("%s: %s finished by earlier attempts; %d left", label, quantity(len(carried), "tenant"), len(todo))
    attempt = onboard_chunk(
        hook,
        todo,
        concurrency=params.get("concurrency"),
        base_dir=storage_path(info["base_dir"]),
        log=log,
        label=label,
        policy=run_policy(where, ds, ti, params, verdict, task),
    )
    earlier = last_rows(records, task)
    for result in attempt:  # a seal an earlier attempt created and this one found is still this run's creation
        prior = earlier.get(result.fingerprint) or {}
        if prior.get("created") and prior.get("seal_id") == result.seal_id:
            result.created = True
    results = sorted([*attempt, *carried.values()], key=lambda r: r.index)
    by_fingerprint = {t["fingerprint"]: t for t in tenants}
    awaiting = [
        {**by_fingerprint[r.fingerprint], "seal_id": r.seal_id, "created": r.created}
        for r in results
        if r.status == AWAITING_REVIEW
    ]
    # All finish_reviews needs (it never pulls the chunk's rows); pushed before a retry is asked for, so that a
    # chunk failing on its last try still hands its seals in review on (a retry starts with its XComs cleared).
    ti.xcom_push(key=AWAITING, value=pack(awaiting))
    retry = [r for r in results if r.status == RETRY]
    if retry:  # transient after the hook's own retries: let Airflow retry the chunk (idempotent)
        _journal(
            where,
            ds,
            ti,
            attempt_record(hook, attempt, task=task, try_number=ti.try_number, plan_id=info["plan_id"], series=series),
        )
        raise RetryLater(f"{label}: {quantity(len(retry), 'tenant')} hit transient errors, e.g. {retry[0].error}")
    counts = attempt_counts(hook, attempt, task=task, try_number=ti.try_number, plan_id=info["plan_id"], series=series)
    if hasattr(hook.limiter, "paced"):  # where this chunk's pacing settled
        metrics.pacing(hook.limiter.paced(), hook.limiter.max_rate)
    return chunk_output([r for r in results if r.status != AWAITING_REVIEW], counts)


def superseded_rows(tenants: list[dict], reason: str) -> list[TenantResult]:
    """A row per tenant of a superseded run: nothing was done, and why."""
    return [
        TenantResult(
            t["index"],
            t["proxy_organization_open_id"],
            t["seal_name"],
            SUPERSEDED,
            requested=requested_users(t),
            error=reason,
            fingerprint=t["fingerprint"],
        )
        for t in tenants
    ]


def run_policy(
    where: Locations, ds: str, ti: Any, params: dict[str, Any], verdict: dict[str, Any], task: str
) -> Policy:
    """The policy a writing task applies: a revoking apply may revoke only what the guard counted (`allowed`), and
    each revocation is first written to the run's ledger, which refuses any past the run's budget."""
    policy = Policy.from_params(params)
    if not policy.revokes:
        return policy
    allowed = {fingerprint: frozenset(users) for fingerprint, users in (verdict.get("allowed") or {}).items()}
    budget = max(int(params["max_revocations"]), int(verdict.get("budget") or 0))  # raised by an approval only
    ledger = Ledger(where.revocations(ds, ti.run_id), budget, task=task)
    return replace(policy, allowed=allowed, before_revoke=ledger.record)


def chunk_output(results: list[TenantResult], counts: dict[str, Any]) -> dict[str, Any]:
    """A finished task's XCom: its rows (compact) and its attempt's counts. Only an attempt that leaves work to a
    later one journals its rows (`attempt_record`): the later attempt reads them there."""
    return {"results": pack([r.to_wire() for r in results]), "attempt": counts}


# ---------------------------------------------------------------------------------------------------- guard
GUARD = "revocation_guard"
#: How long a revoking apply waits for a run of an older manifest (same AppId) to end before it gives up.
SYNC_WAIT_SECONDS = 3600
#: How often a revoking apply looks again whether the older runs it waits for have ended.
SYNC_POLL_SECONDS = 10


def guard(
    where: Locations,
    planned: list[int],
    *,
    ds: str,
    params: dict[str, Any],
    ti: Any,
    conn_id: str,
    first_seen: datetime | None = None,
) -> dict[str, Any]:
    """Before any write of an apply (plan mode writes nothing: nothing to check; its report warns):

    1. Claim the manifest date for the connection's AppId, then read every claim (`revocations`): when either
       revokes, a newer date's claim makes this run superseded (it changes nothing, unless Param
       `allow_older_manifest`), and an older claimant still running is waited for (`CheckAgain`), so that the
       newest manifest is written last.
    2. A revoking apply plans the whole manifest (describe only): a tenant that cannot be described is retried,
       never uncounted. It is refused when it would revoke more than what is left of `max_revocations` (the run's
       ledger counts what earlier attempts of the run revoked); otherwise the writing tasks get the exact
       revocations counted (`allowed`) and revoke nothing else.
    3. The claim is marked counted (it supersedes older runs for good) only then. A run with nothing to apply (no
       manifest, no valid entry) claims nothing.
    """
    policy = Policy.from_params(params)
    if policy.mode == PLAN:
        return {"checked": False}
    if not planned:  # no manifest, or no valid entry: nothing will be written, so nothing is claimed either
        return {"checked": policy.revokes, "would_revoke": 0, "allowed": {}}
    info = plan_info(ti)
    check_plan_current(info)
    hook = make_hook(conn_id, params, ti)
    folder = where.claims(hook.app_id)
    # Claimed before looking: of two runs, the later one always sees the earlier.
    mine = claim(folder, ds, ti.run_id, revoking=policy.revoke_unlisted, dag_id=ti.dag_id)
    claims = read_claims(folder)
    reason, by = superseded_reason(ti, claims, mine, params, hook.app_id)
    if reason:  # yielded: no one waits for this run, and its report waits for the newer one to be counted
        mark(folder, mine, yielded=True)
        log.warning("guard: %s", reason)
        return {"checked": policy.revokes, "superseded": reason, "by": by, "app_id": hook.app_id, "claim": mine}
    running = older_claimants(claims, mine, lambda c: run_state(ti, c))
    if running:
        waiting = ", ".join(f"{c['day']} (run {c['run_id']})" for c in running)
        if within_sync_wait(first_seen):
            log.info("guard: waiting for the apply of an older manifest to end first: %s", waiting)
            raise CheckAgain(datetime.now(UTC) + timedelta(seconds=SYNC_POLL_SECONDS), len(running))
        raise EssError(
            f"guard: runs of older manifests for AppId {hook.app_id} are still running after "
            f"{SYNC_WAIT_SECONDS}s ({waiting}): their writes could interleave with this run's. Let them "
            "end (or mark them failed), then clear this run"
        )
    verdict: dict[str, Any] = {"checked": False}
    if policy.revokes:
        verdict = count_revocations_of_run(where, planned, ds=ds, params=params, ti=ti, hook=hook, info=info)
    mark(folder, mine, counted=True)
    return verdict


def within_sync_wait(first_seen: datetime | None) -> bool:
    """True while a wait for another run (an older one to end, a newer one to apply) is within SYNC_WAIT_SECONDS
    of its first look."""
    now = datetime.now(UTC)
    return now - (first_seen or now) < timedelta(seconds=SYNC_WAIT_SECONDS)


def count_revocations_of_run(
    where: Locations, planned: list[int], *, ds: str, params: dict[str, Any], ti: Any, hook: Any, info: dict[str, Any]
) -> dict[str, Any]:
    """The guard's count of a revoking apply (see `guard`)."""
    tenants = [t for number in planned for t in pull_chunk(ti, number)]
    results = onboard_chunk(
        hook,
        tenants,
        concurrency=params.get("concurrency"),
        base_dir=storage_path(info["base_dir"]),
        log=log,
        label="revocation guard",
        policy=Policy(PLAN, True),
    )
    retry = [r for r in results if r.status == RETRY]
    if retry:
        raise RetryLater(
            f"revocation guard: {quantity(len(retry), 'tenant')} could not be described, e.g. {retry[0].error}"
        )
    withheld = {t["fingerprint"] for t in tenants if t.get("withheld")}
    counted = [r for r in results if r.fingerprint not in withheld and r.status in (IN_SYNC, DRIFT)]
    count, first = count_revocations(counted)
    spent = Ledger(where.revocations(ds, ti.run_id), int(params["max_revocations"])).spent()
    verdict: dict[str, Any] = {
        "checked": True,
        "would_revoke": count,
        "max_revocations": params["max_revocations"],
        "revoked_before": spent,
        "first_affected": first,
    }
    if count > params["max_revocations"] - spent:
        refusal = budget_refusal("this run", count, params["max_revocations"], first, spent)
        if params.get("approve_over_budget"):  # a person decides (approval.py); nothing is allowed until then
            log.warning("revocation guard: %s; asking for approval (Param approve_over_budget)", refusal)
            affected = [r for r in counted if r.would_revoke]
            # What the person approves, row by row, in the run's Tenant report tab until its report replaces it
            proposal = write_report(
                [r.to_dict() for r in counted],
                where.reports(ds),
                f"{run_name(ti.run_id)}.proposed",
                note=f"awaiting approval (task {APPROVE_TASK}): {refusal.replace('; nothing was changed', '')}",
                mode=PLAN,
            )
            ti.xcom_push(key=LOCATION_XCOM, value=report_location(proposal, ds))
            return {
                **verdict,
                "awaiting_approval": True,
                "allowed": {},
                "proposed": {r.fingerprint: r.would_revoke for r in affected},
                "proposed_rows": [
                    f"{r.proxy_organization_open_id}/{r.seal_name}: {', '.join(r.would_revoke)}" for r in affected
                ],
            }
        verdict["blocked"] = refusal
        ti.xcom_push(key=GUARD, value=verdict)
        raise RevocationBudgetError(verdict["blocked"])
    verdict["allowed"] = {r.fingerprint: r.would_revoke for r in counted if r.would_revoke}
    log.info(
        "revocation guard: %s would be revoked (max %d, %d revoked earlier in this run)",
        quantity(count, "user"),
        params["max_revocations"],
        spent,
    )
    return verdict


def superseded_reason(
    ti: Any,
    claims: list[dict[str, Any]],
    mine: dict[str, Any],
    params: dict[str, Any],
    app_id: str,
    counted_only: bool = False,
) -> tuple[str, dict[str, Any]]:
    """Why this apply must change nothing (a newer manifest's apply it must yield to), and that apply's claim; or
    ("", {})."""
    if params.get("allow_older_manifest"):
        return "", {}
    newer = superseded_by(claims, mine, lambda c: run_state(ti, c), counted_only=counted_only)
    if not newer:
        return "", {}
    kind = "with revoke_unlisted " if newer[0].get("revoking", True) else ""
    done = "was applied" if newer[0].get("counted") else "is being applied"
    return (
        f"superseded: the manifest of {newer[0]['day']} {done} {kind}for AppId {app_id} (run "
        f"{newer[0]['run_id']}); this older manifest ({mine['day']}) changes nothing, so that it cannot undo what "
        "the newer one did. Set Param allow_older_manifest to apply it anyway"
    ), newer[0]


def still_superseded(
    where: Locations, ds: str, params: dict[str, Any], ti: Any, hook: Any, verdict: dict[str, Any]
) -> str:
    """For a writing task: the guard's verdict, or a newer apply counted since (a cleared task of an older run must
    not write after a newer manifest was applied). A newer run still at its guard is not yielded to here: this run
    passed its own guard first, and the newer one waits for it."""
    if verdict.get("superseded") or Policy.from_params(params).mode == PLAN:
        return verdict.get("superseded") or ""
    claims = read_claims(where.claims(hook.app_id))
    mine = next((c for c in claims if c["run_id"] == ti.run_id and c["day"] == ds), None)
    if mine is None:
        mine = {"day": ds, "run_id": ti.run_id, "revoking": bool(params.get("revoke_unlisted"))}
    return superseded_reason(ti, claims, mine, params, hook.app_id, counted_only=True)[0]


def yielded_to(where: Locations, ti: Any, hook_app_id: str, by: dict[str, Any], mine: dict[str, Any]) -> str:
    """For the report of a run that yielded at its guard (to `by`): "" once a newer manifest's apply has got past
    its guard (`by`'s, or that of a run `by` yielded to in turn); `CheckAgain` while a newer run that could still
    do so is queued or running; otherwise an error (no newer manifest was applied: this run must not be green)."""
    claims = read_claims(where.claims(hook_app_id))
    if superseded_by(claims, mine, lambda c: run_state(ti, c), counted_only=True):
        return ""
    if superseded_by(claims, mine, lambda c: run_state(ti, c)):
        raise CheckAgain(datetime.now(UTC) + timedelta(seconds=SYNC_POLL_SECONDS), 1)
    return (
        f"this run yielded to the manifest of {by.get('day')} (run {by.get('run_id')}), but no newer manifest "
        "got applied after all: this date's was not either. Clear this run to apply its own manifest"
    )


def run_state(ti: Any, claim_record: dict[str, Any]) -> str:
    """The state of a claim's run, as its plain value ("running"); "gone" when Airflow no longer has it (deleted,
    or cleaned by `airflow db clean`). Any other failure to ask is raised: a run that may still write is never
    assumed done."""
    try:
        state = ti.get_dagrun_state(dag_id=claim_record.get("dag_id") or ti.dag_id, run_id=claim_record["run_id"])
    except Exception as err:
        if _not_found(err):
            return "gone"
        raise
    return str(getattr(state, "value", state))


def _not_found(err: BaseException) -> bool:
    """A 404 from the API server, as a task process (`AirflowRuntimeError`) or `dag.test` (an HTTP error) sees it."""
    if getattr(getattr(err, "response", None), "status_code", None) == 404:
        return True
    detail = getattr(getattr(err, "error", None), "detail", None)
    return isinstance(detail, dict) and detail.get("status_code") == 404


def guard_verdict(ti: Any, params: dict[str, Any]) -> dict[str, Any]:
    """What the guard decided, for a writing task (its `superseded` holds for every apply); a revoking apply
    without it fails (never revokes uncounted)."""
    policy = Policy.from_params(params)
    if policy.mode == PLAN:
        return {}
    verdict = ti.xcom_pull(task_ids=GUARD_TASK) or {}
    if policy.revokes and not verdict.get("checked"):
        raise RevocationBudgetError(
            "the revocation guard's count is missing (its XCom was cleared, or it did not "
            "run): nothing is revoked uncounted. Clear the run from its plan task"
        )
    return decided_verdict(ti, verdict)


# ---------------------------------------------------------------------------------------------------- reviews
def finish_reviews(
    where: Locations,
    awaiting_lists: list[list[dict] | None],
    *,
    ds: str,
    params: dict[str, Any],
    ti: Any,
    conn_id: str,
    first_seen: datetime | None = None,
) -> dict[str, Any]:
    """One look at the image seals under review: grant the approved, fail the refused with the API's FailReason.
    Those still in review: `CheckAgain` after `review_poll_seconds` while the wait (`review_wait_seconds` from
    `first_seen`, the first look) lasts, then a task retry (`RetryLater`). What earlier looks of this try
    finished is kept in the journal and not done again."""
    info = plan_info(ti)
    awaiting = [t for chunk in awaiting_lists for t in unpack(chunk)]
    if not awaiting:
        return chunk_output([], {"task": FINISH_TASK, "try": ti.try_number})
    check_plan_current(info)
    verdict = guard_verdict(ti, params)
    hook = make_hook(conn_id, params, ti)
    superseded = still_superseded(where, ds, params, ti, hook, verdict)
    if superseded:
        log.warning("reviews: %s", superseded)
        return chunk_output(superseded_rows(awaiting, superseded), {"task": FINISH_TASK, "try": ti.try_number})
    records, _ = read_records(where.journal(ds, ti.run_id), info["plan_id"])
    carried = carry_over(records, FINISH_TASK, first_try_of_series(ti), awaiting)
    todo = [t for t in awaiting if t["fingerprint"] not in carried]
    batch = finish_reviewed(
        hook,
        todo,
        concurrency=params.get("concurrency"),
        log=log,
        policy=run_policy(where, ds, ti, params, verdict, FINISH_TASK),
    )
    waiting = [r for r in batch if r.status in (AWAITING_REVIEW, RETRY)]
    results = [r for r in batch if r not in waiting] + list(carried.values())
    if waiting:
        record = attempt_record(
            hook,
            batch,
            task=FINISH_TASK,
            try_number=ti.try_number,
            plan_id=info["plan_id"],
            finished=(DONE, FAILED),
        )  # decided: approved and granted, or refused
        _journal(where, ds, ti, record, suffix=f"-look{time.time_ns()}")
        now = datetime.now(UTC)
        if now - (first_seen or now) < timedelta(seconds=params["review_wait_seconds"]):
            raise CheckAgain(now + timedelta(seconds=params["review_poll_seconds"]), len(waiting))
        raise RetryLater(
            f"{len(waiting)} seals still under review after {params['review_wait_seconds']}s; checking again on retry"
        )
    counts = attempt_counts(hook, batch, task=FINISH_TASK, try_number=ti.try_number, plan_id=info["plan_id"])
    return chunk_output(sorted(results, key=lambda r: r.index), counts)


# ---------------------------------------------------------------------------------------------------- report


def would_change(row: dict[str, Any]) -> str:
    """What apply would do for a plan's row, in words for the log (" (would create the seal; grant a, b)"), or ""."""
    parts = ["create the seal"] if row.get("would_create") else []
    for verb, key in (("grant", "would_grant"), ("revoke", "would_revoke")):
        if row.get(key):
            parts.append(f"{verb} {', '.join(row[key])}")
    return f" (would {'; '.join(parts)})" if parts else ""


def report(
    where: Locations,
    planned: list | None,
    chunk_outputs: list,
    awaiting_lists: list,
    reviewed: dict | None,
    *,
    ds: str,
    run_id: str,
    params: dict[str, Any],
    ti: Any,
    first_seen: datetime | None = None,
) -> dict[str, Any]:
    """Every tenant gets a row (enterprise, seal, SealId, status, what was done, error); JSON + CSV + a summary
    in the log. A missing manifest writes an empty report saying so; a failed plan fails the run; any tenant
    not done (in plan mode: not in sync) fails the run after the report is written."""
    info = plan_info(ti)
    out_dir, name = where.reports(ds), run_name(run_id)
    attempt = getattr(ti, "try_number", None)
    if info.get("missing"):
        summary = write_report([], out_dir, name, note=info["missing"], attempt=attempt)
        ti.xcom_push(key=LOCATION_XCOM, value=report_location(summary, ds))
        return {**summary, "skipped": info["missing"]}
    returned = [out for out in chunk_outputs if out]
    outputs = returned + ([reviewed] if reviewed else [])
    rows: dict[int, dict] = {row["index"]: row for row in info["rejected"]}
    for out in outputs:
        rows.update((row["index"], TenantResult.from_dict(row).to_dict()) for row in unpack(out["results"]))
    all_records, problems = read_records(where.journal(ds, run_id), info["plan_id"])
    records = latest_series(all_records)
    # Every chunk returned: each of its tenants has a row (its own, or its review's). Otherwise the plan's tenants
    # are read back, so that those of a failed chunk are reported, never dropped.
    complete = len(returned) >= len(planned or [])
    planned_tenants = [] if complete else [t for number in planned or [] for t in pull_chunk(ti, number)]
    in_review = [tenant for chunk in awaiting_lists for tenant in unpack(chunk)]
    by_fingerprint = {t["fingerprint"]: t for t in [*planned_tenants, *in_review]}
    for fingerprint, result in finished_before(records).items():  # finished by an attempt whose task then failed
        tenant = by_fingerprint.get(fingerprint)
        if tenant is not None and result.status == DONE:
            result.index = tenant["index"]
            rows.setdefault(tenant["index"], result.to_dict())
    for tenant in in_review:  # image seals still in review when finish_reviews failed or never ran
        rows.setdefault(
            tenant["index"],
            TenantResult(
                tenant["index"],
                tenant["proxy_organization_open_id"],
                tenant["seal_name"],
                AWAITING_REVIEW,
                tenant.get("seal_id", ""),
                "CHECKING",
                requested=requested_users(tenant),
                created=tenant.get("created", False),
                error="still in review when the run ended",
                fingerprint=tenant["fingerprint"],
            ).to_dict(),
        )
    last = last_rows(records)
    blocked = ti.xcom_pull(task_ids=GUARD_TASK, key=GUARD)
    for tenant in planned_tenants:  # a tenant no task finished is reported, never dropped, with what was done
        prior = last.get(tenant["fingerprint"])
        row = (
            TenantResult.from_dict(prior)
            if prior
            else TenantResult(
                tenant["index"],
                tenant["proxy_organization_open_id"],
                tenant["seal_name"],
                FAILED,
                requested=requested_users(tenant),
                fingerprint=tenant["fingerprint"],
            )
        )
        row.index, row.status = tenant["index"], FAILED
        if blocked and not prior:  # say why in every row (a CSV has no summary): nothing was written
            row.error = f"not done: the guard stopped the apply: {blocked['blocked']}"
        elif prior:
            row.error = f"not finished: its task failed; its last attempt left it {prior['status']}: " + (
                prior.get("error") or "no error"
            )
        else:
            row.error = "not finished: its task failed before reaching it (see the task's log)"
        rows.setdefault(tenant["index"], row.to_dict())
    attempts = [out["attempt"] for out in outputs] + all_records
    policy = Policy.from_params(params)
    notes = list(problems)
    if blocked:
        notes.insert(0, blocked["blocked"])
    verdict = (ti.xcom_pull(task_ids=GUARD_TASK) or {}) if policy.mode != PLAN else {}
    if verdict.get("awaiting_approval"):  # what the person decided, or that nobody did
        decision = ti.xcom_pull(task_ids=APPROVE_TASK) or {}
        notes.insert(0, decision.get("reason") or "revocations over max_revocations awaited an approval never given")
    superseded = verdict.get("superseded") or next(
        (row["error"] for row in rows.values() if row["status"] == SUPERSEDED), ""
    )
    if superseded:
        notes.insert(0, superseded)
    void = ""
    if verdict.get("by"):  # yielded at the guard: green only once the newer run applied its manifest
        try:
            void = yielded_to(where, ti, verdict["app_id"], verdict["by"], verdict["claim"])
        except CheckAgain:
            if within_sync_wait(first_seen):
                raise
            void = (
                f"this run yielded to the manifest of {verdict['by'].get('day')}, whose run was still not past "
                f"its guard after {SYNC_WAIT_SECONDS}s: clear this run once it has ended"
            )
        if void:
            notes.insert(0, void)
    revoked: list[dict[str, Any]] = []
    unreadable: LedgerError | None = None
    if policy.revokes:
        try:
            revoked = Ledger(where.revocations(ds, run_id), int(params.get("max_revocations") or 0)).records()
        except LedgerError as err:  # the report is still written, and the run fails after it
            notes.insert(0, str(err))
            unreadable = err
    would_revoke = sum(len(row.get("would_revoke") or []) for row in rows.values())
    if policy.mode == PLAN and policy.revoke_unlisted and would_revoke > params["max_revocations"]:
        notes.insert(
            0,
            f"warning: apply would revoke {would_revoke} users, over max_revocations="
            f"{params['max_revocations']}: an apply of this manifest would be refused",
        )
        log.warning("%s", notes[0])
    summary = write_report(
        list(rows.values()),
        out_dir,
        name,
        attempts,
        note="; ".join(notes),
        mode=policy.mode,
        attempt=attempt,
        revoked=revoked,
    )
    # Recorded before the task can fail: the report view finds a failed run's report by it.
    ti.xcom_push(key=LOCATION_XCOM, value=report_location(summary, ds))
    metrics.run_reported(summary)
    log.info("onboarding report %s (%s): %s", ds, policy.mode, summary)
    good = {IN_SYNC} if policy.mode == PLAN else {DONE, SUPERSEDED}
    bad = [row for row in rows.values() if row["status"] not in good]
    for row in sorted(bad, key=lambda r: r["index"]):
        log.warning(
            "%s: entry %s %s/%s: %s%s %s",
            "would change" if policy.mode == PLAN else "not done",
            row["index"],
            row["proxy_organization_open_id"],
            row["seal_name"],
            row["status"],
            would_change(row),
            row["error"],
        )
    if bad and policy.mode == PLAN:
        raise EssError(
            f"plan: {len(bad)} of {len(rows)} tenants are not in sync (nothing was changed); see {summary['json']}"
        )
    if bad:
        raise EssError(f"{len(bad)} of {quantity(len(rows), 'tenant')} not done; see {summary['json']}")
    if unreadable is not None:
        raise LedgerError(
            f"{unreadable}; the report ({summary['json']}) lists no revocations of this run",
            transient=unreadable.transient,
        )
    if void:
        raise EssError(f"{void}; see {summary['json']}")
    if superseded:
        return {**summary, "skipped": superseded}
    return summary
