"""The onboarding engine: each tenant of a chunk described, created if missing, granted the missing users.

Airflow-free on purpose: the DAG's tasks are thin wrappers, and this module is tested and benchmarked
directly. Every step is idempotent: the enterprise's seals are read once (one describe per enterprise,
100 seals a page), a seal that exists is reused only when it is the seal asked for, and only users not
yet authorized are granted. A tenant's row keeps what was done before any failure.
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import MISSING, dataclass, field
from typing import Any

from ..errors import (
    AccountStop,
    EssApiError,
    EssError,
    RevocationBudgetError,
    SealMismatchError,
    is_account_error,
)
from ..hooks import EssHook
from ..seals import (
    SealOperations,
    anonymous_holders,
    check_usable,
    differences,
    holders,
    in_review,
    unlisted_holders,
)
from ..validation import TENANT_KEYS, Tenant, check_tenant, load_seal_image
from ..wording import quantity

#: Outcomes of a tenant in the report (apply mode). SUPERSEDED: a revoking apply of an older manifest than one
#: already applied for the same AppId changes nothing (see `tasks.guard`).
DONE, AWAITING_REVIEW, FAILED, RETRY, SUPERSEDED = "done", "awaiting_review", "failed", "retry", "superseded"
#: Outcomes in plan mode: nothing would change, or something would.
IN_SYNC, DRIFT = "in_sync", "drift"
APPLY, PLAN = "apply", "plan"


@dataclass(frozen=True)
class Policy:
    """How a run treats the manifest: `mode` apply (change the API) or plan (describe only, say what apply would
    do); `revoke_unlisted`: users who hold a manifest-named seal but are not listed for it lose it.

    Revocations are bounded three ways, each checked just before a revocation is sent:
    - `allowed`: the revocations the run's guard counted, by tenant fingerprint. With it, a tenant may lose only
      users the guard counted for it (the guard held their number to the run's budget); anyone else found
      holding the seal fails the tenant and nothing is revoked from it.
    - `max_revocations` without `allowed` (the engine used on its own): each task counts its tenants first
      and refuses the whole task over the budget; a tenant whose count failed is not applied at all.
    - `before_revoke(tenant, seal_id, users)`: records the revocation in the run's ledger before it is sent,
      and refuses it when the run's total would pass its budget (a failure to record it refuses it too).
    """

    mode: str = APPLY
    revoke_unlisted: bool = False
    max_revocations: int | None = None
    allowed: Mapping[str, frozenset[str]] | None = None
    before_revoke: Callable[[dict, str, list[str]], None] | None = None

    @classmethod
    def from_params(cls, params: dict[str, Any], **bounds: Any) -> Policy:
        mode = params.get("mode") or APPLY
        if mode not in (APPLY, PLAN):
            raise EssError(f"mode: must be 'apply' or 'plan' (got {mode!r})")
        limit = params.get("max_revocations")
        return cls(mode, bool(params.get("revoke_unlisted")), None if limit is None else int(limit), **bounds)

    @property
    def revokes(self) -> bool:
        """True for an apply that revokes the unlisted."""
        return self.mode == APPLY and self.revoke_unlisted


@dataclass
class TenantResult:
    """One row of the run report: the outcome, and everything done for the tenant before it."""

    index: int
    proxy_organization_open_id: str
    seal_name: str
    status: str
    seal_id: str = ""
    seal_status: str = ""
    #: The users the manifest asked to hold the seal (beside what was granted, skipped and revoked). Keyword-only, so
    #: that the positional order of the fields before and after it is what it was.
    requested: list[str] = field(default_factory=list, kw_only=True)
    created: bool = False
    granted: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    error: str = ""
    revoked: list[str] = field(default_factory=list)
    would_create: bool = False
    would_grant: list[str] = field(default_factory=list)
    would_revoke: list[str] = field(default_factory=list)
    #: Where the operator must verify (face or SMS) for the create or grant to take effect, when the API said so.
    operator_verify: str = ""
    fingerprint: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The row as plain data, its lists copied (what `dataclasses.asdict` gives for these fields, at a tenth
        of its cost: a chunk turns thousands of rows into dicts)."""
        return {name: list(value) if isinstance(value := getattr(self, name), list) else value for name in _FIELDS}

    def to_wire(self) -> dict[str, Any]:
        """The row without the fields left at their defaults, for XCom: a chunk's rows travel through the API
        server twice (pushed, then pulled by the report), so a 1,000-row chunk should not carry 14,000 empty
        values. `from_dict` fills them back in."""
        return {key: value for key, value in self.to_dict().items() if key not in _DEFAULTS or value != _DEFAULTS[key]}

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> TenantResult:
        return cls(**{key: row[key] for key in cls.__dataclass_fields__ if key in row})

    def fail(self, err: BaseException) -> TenantResult:
        """Mark the row failed (or to retry, when the error is transient), keeping what was done."""
        transient = isinstance(err, EssError) and err.transient
        self.status = RETRY if transient else FAILED
        self.error = str(err) if isinstance(err, EssError) else f"{type(err).__name__}: {err}"
        return self


_FIELDS = tuple(TenantResult.__dataclass_fields__)
#: Each TenantResult field that has a default, with it; `to_wire` leaves out a field at its default.
_DEFAULTS = {
    name: f.default_factory() if f.default_factory is not MISSING else f.default
    for name, f in TenantResult.__dataclass_fields__.items()
    if f.default is not MISSING or f.default_factory is not MISSING
}


class EnterpriseSeals:
    """Each enterprise's seals, described once per chunk and shared by its threads."""

    def __init__(self, seals: SealOperations) -> None:
        self.ops = seals
        self._seals: dict[str, dict[str, dict]] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, agent: dict[str, Any]) -> dict[str, dict]:
        org = agent["ProxyOrganizationOpenId"]
        with self._guard:
            lock = self._locks.setdefault(org, threading.Lock())
        with lock:
            if org not in self._seals:
                self._seals[org] = {seal["SealName"]: seal for seal in self.ops.describe(agent)}
            return self._seals[org]


def tenant_spec(tenant: dict) -> Tenant:
    """A planned tenant dict (which also carries bookkeeping such as `index`) as a checked Tenant.
    The image file was checked by `plan_tenants`; it is read again only where a create needs it."""
    return check_tenant({key: tenant[key] for key in TENANT_KEYS if key in tenant}, check_image=False)


def requested_users(entry: Any) -> list[str]:
    """The users a manifest entry or planned tenant asks for, as the report lists them (only the text ids of a
    list: a rejected entry's may be anything)."""
    users = entry.get("user_ids") if isinstance(entry, dict) else None
    return [user for user in users if isinstance(user, str)] if isinstance(users, list) else []


def new_result(tenant: dict, spec: Tenant | None = None) -> TenantResult:
    org = spec.proxy_organization_open_id if spec else tenant.get("proxy_organization_open_id", "")
    name = spec.seal.seal_name if spec else tenant.get("seal_name", "")
    result = TenantResult(tenant["index"], org, name, RETRY, fingerprint=tenant.get("fingerprint", ""))
    result.requested = requested_users(tenant)
    return result


def onboard_tenant(
    ops: SealOperations, seals: EnterpriseSeals, tenant: dict, base_dir: Any, policy: Policy = Policy()
) -> TenantResult:
    """Describe → create if missing (or reuse the same seal) → grant the users who lack it (→ revoke the unlisted).
    In plan mode, describe only and say what apply would do. Never raises for one tenant's failure (it is the
    row's status and error, beside what was done before it); an account error (`AccountStop`) is raised."""
    result = new_result(tenant)
    try:
        spec = tenant_spec(tenant)
        agent = ops.hook.agent(spec.proxy_organization_open_id, spec.operator_open_id)
        existing = seals.get(agent).get(spec.seal.seal_name)
        if policy.mode == PLAN:
            return plan_tenant(spec, existing, result, policy, tenant)
        image = ""
        if existing is None and spec.seal_image_path:
            image = load_seal_image(spec.seal_image_path, None, base_dir)
        outcome = ops.create_or_reuse(agent, spec.seal, image, existing=existing)
        result.seal_id, result.seal_status, result.created = outcome.seal_id, outcome.status, outcome.created
        result.operator_verify = outcome.verify
        return grant_when_ready(ops, agent, outcome.seal, spec, result, policy, tenant)
    except Exception as err:  # noqa: BLE001 - every tenant gets a row, whatever went wrong
        return failed(result, err)


def failed(result: TenantResult, err: BaseException) -> TenantResult:
    """The row failed (or to retry), keeping what was done; an account error stops the whole task instead."""
    if isinstance(err, EssApiError) and is_account_error(err.code):
        raise AccountStop(err) from None
    if isinstance(err, AccountStop):
        raise err
    return result.fail(err)


def anonymous_note(count: int) -> str:
    return (
        f"revoke_unlisted: the API lists {count} holder(s) of this seal without an OpenId or UserId (e.g. an "
        "employee who left): they cannot be revoked by id, so the seal's holders cannot be made equal to the "
        "manifest; remove them in the e-sign console"
    )


def plan_tenant(
    spec: Tenant, existing: dict | None, result: TenantResult, policy: Policy, tenant: dict | None = None
) -> TenantResult:
    """What apply would do for this tenant, from the enterprise's described seals alone (no write)."""
    notes: list[str] = []
    if existing is None:
        result.would_create, result.would_grant = True, list(spec.user_ids)
    else:
        found = differences(spec.seal, existing)
        if found:
            raise SealMismatchError(spec.seal.seal_name, existing.get("SealId", ""), found)
        check_usable(existing, spec.seal.seal_name)
        result.seal_id, result.seal_status = existing["SealId"], existing.get("SealStatus", "")
        held = holders(existing)
        result.would_grant = [user for user in spec.user_ids if user not in held]
        result.skipped = [user for user in spec.user_ids if user in held]
        if policy.revoke_unlisted:
            result.would_revoke = unlisted_holders(existing, spec.user_ids)
            anonymous = anonymous_holders(existing)
            if anonymous:
                notes.append(anonymous_note(anonymous))
            withheld = (tenant or {}).get("withheld")
            if withheld and result.would_revoke:
                notes.append(f"revoke_unlisted: withheld for this seal ({withheld}): apply would revoke no one")
    result.error = "; ".join(notes)
    changes = result.would_create or result.would_grant or result.would_revoke or notes
    result.status = DRIFT if changes else IN_SYNC
    return result


def grant_when_ready(
    ops: SealOperations,
    agent: dict,
    seal: dict,
    spec: Tenant,
    result: TenantResult,
    policy: Policy = Policy(),
    tenant: dict | None = None,
) -> TenantResult:
    """Grant the missing users of an approved seal (and revoke the unlisted, when the policy says so); an image
    seal still in review waits; a refused seal fails."""
    if in_review(seal.get("SealStatus") or ""):
        result.status = AWAITING_REVIEW
        return result
    grants = ops.grant_missing(agent, seal, spec.user_ids, spec.seal.seal_name)
    result.granted, result.skipped = grants.newly, grants.already
    result.operator_verify = "; ".join(dict.fromkeys(filter(None, (result.operator_verify, grants.verify))))
    if policy.revoke_unlisted:
        if grants.unmatched:
            raise EssError(
                f"revoke_unlisted: {', '.join(grants.unmatched)} hold the seal but are not among its holders as the "
                "API lists them (by OpenId): list these users by OpenId to revoke safely. Nothing was revoked."
            )
        result.revoked = revoke_unlisted(ops, agent, seal, spec, policy, tenant or {})
    if result.operator_verify:  # answered, but it takes effect only once the operator has verified: not done
        result.status = FAILED
        result.error = (
            f"operator_open_id: the API asks operator {spec.operator_open_id!r} to verify (face or SMS) "
            f"before this takes effect: {result.operator_verify}. Verify, then re-run this date"
        )
        return result
    result.status = DONE
    return result


def revoke_unlisted(
    ops: SealOperations, agent: dict, seal: dict, spec: Tenant, policy: Policy, tenant: dict
) -> list[str]:
    """Revoke the seal's holders the entry does not list, after every check that must pass first; any check that
    fails raises and nothing is revoked from this seal."""
    users = unlisted_holders(seal, spec.user_ids)
    anonymous = anonymous_holders(seal)
    if anonymous:
        raise EssError(
            anonymous_note(anonymous) + (f"; nothing was revoked ({', '.join(users)} still hold it)" if users else "")
        )
    if not users:
        return []
    if tenant.get("withheld"):
        raise EssError(
            f"revoke_unlisted: withheld for this seal: {tenant['withheld']}. Nothing was revoked "
            f"({', '.join(users)} still hold it)"
        )
    if policy.allowed is not None:
        counted = policy.allowed.get(tenant.get("fingerprint", ""), frozenset())
        extra = [user for user in users if user not in counted]
        if extra:
            raise RevocationBudgetError(
                f"revoke_unlisted: {', '.join(extra)} hold the seal but were not counted by this run's revocation "
                "guard (the seal's holders changed since): nothing was revoked from this seal; run the date again "
                "to count afresh"
            )
    if policy.before_revoke is not None:
        policy.before_revoke(tenant, seal["SealId"], users)  # raises when the run's budget would be passed
    return ops.revoke(agent, seal["SealId"], users)


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


#: Bounds of the derived concurrency (tenants in flight in one chunk task).
MIN_CONCURRENCY, MAX_CONCURRENCY = 4, 256
#: Calls a tenant makes one after the other (create, grant; the enterprise's describe is shared), plus one spare.
CALLS_PER_TENANT = 3
#: A call's duration assumed before the first answer is seen.
FIRST_LATENCY = 0.2


def derived_concurrency(rate: float, latency: float) -> int:
    """Little's law: to finish `rate` tenants a second when each spends CALLS_PER_TENANT calls of `latency`
    seconds, `rate × CALLS_PER_TENANT × latency` tenants must be in flight; half as many again absorbs the
    spread of latencies and the pacing's waits."""
    wanted = rate * CALLS_PER_TENANT * (latency or FIRST_LATENCY) * 1.5 + 2
    return max(MIN_CONCURRENCY, min(MAX_CONCURRENCY, math.ceil(wanted)))


def freeze_heap() -> None:
    """Keep the garbage collector's full passes over the heap as it is now out of the rest of this process.

    A task process holds Airflow's whole heap (hundreds of thousands of objects); a full collection of it holds
    the GIL, and so every sending thread, for a large part of a second (docs/performance.md). That loses the quota of that time, and a request
    stamped by the pacer just before the pause reaches the gateway after it, late enough to be refused. The
    objects alive now are frozen (Airflow's executors do the same before forking); what the work allocates from
    here on is collected as usual, and reference counting still frees the frozen objects that die. They are
    not handed back: the collector would then owe the whole heap a pass at once, half a second added to the end
    of the task, and a task process ends with its task anyway.
    """
    gc.freeze()


def run_concurrently(
    items: list[dict], work: Callable[[dict], TenantResult], concurrency: int | Callable[[], int], progress: Progress
) -> list[TenantResult]:
    """`work` on every item with at most `concurrency` in flight (a number, or a function asked again as items
    finish, so the bound can follow what is observed); failures become result rows, never lost. The heap alive
    before the work is frozen first (`freeze_heap`)."""
    results: list[TenantResult] = []
    if not items:
        return results
    bound = concurrency if callable(concurrency) else (lambda: concurrency)
    queue = list(reversed(items))
    ceiling = MAX_CONCURRENCY if callable(concurrency) else max(1, concurrency)
    freeze_heap()
    stop: AccountStop | None = None
    with ThreadPoolExecutor(max_workers=max(1, min(ceiling, len(items))), thread_name_prefix="ess") as pool:
        pending: dict[Any, dict] = {}
        while queue or pending:
            while queue and len(pending) < max(1, bound()):
                item = queue.pop()
                pending[pool.submit(work, item)] = item
            done, _ = wait(pending, timeout=progress.interval, return_when=FIRST_COMPLETED)
            for future in done:
                item = pending.pop(future)
                try:
                    results.append(future.result())
                except AccountStop as err:  # every later call would fail alike: send no more
                    stop = stop or err
                    queue.clear()
                except Exception as err:  # noqa: BLE001 - every tenant gets a row, whatever went wrong
                    results.append(new_result(item).fail(err))
            progress.report(len(results))
    if stop is not None:
        raise stop
    progress.report(len(results), force=True)
    return sorted(results, key=lambda r: r.index)


def concurrency_for(hook: EssHook, concurrency: int | None) -> int | Callable[[], int]:
    """A fixed concurrency, or (None) one derived from the hook's pacing rate and its observed call latency."""
    if concurrency:
        return concurrency
    limiter = getattr(hook, "limiter", None)

    def derived() -> int:
        rate = limiter.max_rate if limiter is not None else 20.0
        return derived_concurrency(rate, hook.latency)

    return derived


def onboard_chunk(
    hook: EssHook,
    tenants: list[dict],
    *,
    concurrency: int | None = None,
    base_dir: Any = None,
    log: Any,
    label: str = "chunk",
    progress_interval: float = 5.0,
    policy: Policy = Policy(),
) -> list[TenantResult]:
    """Onboard one chunk; returns a result per tenant (done, awaiting_review, failed or retry; in plan mode
    in_sync, drift, failed or retry). An account error stops the chunk (`AccountStop`)."""
    ops = SealOperations(hook)
    seals = EnterpriseSeals(ops)
    bound = concurrency_for(hook, concurrency)
    tenants, held = check_revocation_budget(ops, seals, tenants, base_dir, policy, bound, log, label)
    progress = Progress(label, len(tenants), log, progress_interval)
    done = run_concurrently(tenants, lambda t: onboard_tenant(ops, seals, t, base_dir, policy), bound, progress)
    return sorted([*done, *held], key=lambda r: r.index)


def count_revocations(rows: list[TenantResult]) -> tuple[int, list[str]]:
    """(users the rows would revoke, up to ten "enterprise/seal: users" of the first affected)."""
    affected = [r for r in rows if r.would_revoke]
    first = [f"{r.proxy_organization_open_id}/{r.seal_name}: {', '.join(r.would_revoke)}" for r in affected[:10]]
    return sum(len(r.would_revoke) for r in affected), first


def budget_refusal(label: str, count: int, max_revocations: int, first: list[str], spent: int = 0) -> str:
    """The one message for a revocation count over the budget (`spent`: revoked earlier in the same run)."""
    over = (
        f"over max_revocations={max_revocations}"
        if not spent
        else (
            f"over the {max(0, max_revocations - spent)} left of max_revocations={max_revocations} (this run "
            f"revoked {spent} already)"
        )
    )
    return (
        f"{label} would revoke {quantity(count, 'user')}, {over}; nothing was changed. First affected: "
        f"{'; '.join(first)}"
    )


def check_revocation_budget(
    ops: SealOperations,
    seals: EnterpriseSeals,
    tenants: list[dict],
    base_dir: Any,
    policy: Policy,
    bound: Any,
    log: Any,
    label: str,
) -> tuple[list[dict], list[TenantResult]]:
    """Just before a revoking apply writes, when no guard counted for it (`Policy.allowed` unset) and it has a
    budget: count the task's tenants from a fresh describe (kept for the apply) and refuse the whole task when
    they would revoke more than `max_revocations`. Returns (the tenants to apply, the rows of those whose count
    failed: they are not applied, as a revocation is never made uncounted, each row saying why)."""
    if not policy.revokes or policy.allowed is not None or policy.max_revocations is None:
        return tenants, []
    plan = run_concurrently(
        tenants,
        lambda t: onboard_tenant(ops, seals, t, base_dir, Policy(PLAN, True)),
        bound,
        Progress(f"{label} (revocation check)", len(tenants), log),
    )
    incomplete = [r for r in plan if r.status not in (IN_SYNC, DRIFT)]
    count, first = count_revocations([r for r in plan if r not in incomplete])
    if count > (policy.max_revocations or 0):
        raise RevocationBudgetError(budget_refusal(label, count, policy.max_revocations or 0, first))
    for row in incomplete:
        row.error = f"not applied: its revocation count failed ({row.error})"
    blocked = {row.fingerprint for row in incomplete}
    return [t for t in tenants if t.get("fingerprint") not in blocked], incomplete


def finish_reviewed(
    hook: EssHook, awaiting: list[dict], *, concurrency: int | None = None, log: Any, policy: Policy = Policy()
) -> list[TenantResult]:
    """Tenants whose image seal was under review (each dict carries what its chunk did: `seal_id`, `created`):
    grant the approved, fail the refused with the API's FailReason, keep the rest waiting. Revocations are held
    to the same bounds as a chunk's (`Policy`)."""
    ops = SealOperations(hook)
    seals = EnterpriseSeals(ops)
    bound = concurrency_for(hook, concurrency)
    awaiting, held = check_revocation_budget(ops, seals, awaiting, None, policy, bound, log, "reviews")

    def work(tenant: dict) -> TenantResult:
        result = new_result(tenant)
        result.seal_id, result.created = tenant.get("seal_id", ""), tenant.get("created", False)
        try:
            spec = tenant_spec(tenant)
            agent = hook.agent(spec.proxy_organization_open_id, spec.operator_open_id)
            seal = seals.get(agent).get(spec.seal.seal_name)
            if seal is None:
                raise EssError(f"seal {spec.seal.seal_name!r} is no longer listed for this enterprise")
            result.seal_id, result.seal_status = seal["SealId"], seal.get("SealStatus", "")
            return grant_when_ready(ops, agent, seal, spec, result, policy, tenant)
        except Exception as err:  # noqa: BLE001 - every tenant gets a row
            return failed(result, err)

    done = run_concurrently(awaiting, work, bound, Progress("reviews", len(awaiting), log))
    return sorted([*done, *held], key=lambda r: r.index)
