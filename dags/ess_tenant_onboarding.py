"""Many tenants, daily: read `{manifest_dir}/{ds}.json`, create and grant each tenant's seal, write a run report.

- `manifest_dir`: Airflow Variable `ess_tenant_manifest_dir` (or `AIRFLOW_VAR_ESS_TENANT_MANIFEST_DIR`),
  default `data/tenants/` beside this repository's `dags/`. No manifest for the date: the run skips.
- Idempotent: re-runs and `airflow backfill create` converge; an existing seal is reused and only users
  not yet holding it are granted.
- Report: `{report_dir}/{ds}/{run_id}.json` and `.csv` (Variable `ess_report_dir`, default `output/`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, TriggerRule, Variable, dag, task

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MANIFEST_DIR = REPO / "data" / "tenants"
DEFAULT_REPORT_DIR = REPO / "output"

PARAMS = {
    "ess_conn_id": Param("tencentcloud_ess_default", type="string", title="Connection id", section="Connection",
                         description="The tencentcloud_ess connection the calls are signed with."),
    "rate_limit": Param(20, type="integer", minimum=1, title="API rate limit (requests/s per action)",
                        section="Throughput",
                        description="The account's limit; 20 unless Tencent Cloud raised it."),
    "chunk_size": Param(1000, type="integer", minimum=1, maximum=5000, title="Tenants per chunk task",
                        section="Throughput",
                        description="Tenants per mapped task; an enterprise's tenants stay in one chunk."),
    "concurrency": Param(16, type="integer", minimum=1, maximum=64, title="Concurrent tenants within a chunk",
                         section="Throughput", description="Threads inside one chunk task."),
    "review_poll_seconds": Param(10, type="integer", minimum=1, title="Seconds between review checks",
                                 section="Image seal reviews",
                                 description="How often finish_reviews asks for the state of image seals."),
    "review_wait_seconds": Param(300, type="integer", minimum=0,
                                 title="Wait this long for reviews before handing back to task retries",
                                 section="Image seal reviews",
                                 description="Seconds finish_reviews waits in one try."),
}


def _manifest_dir() -> Path:
    return Path(Variable.get("ess_tenant_manifest_dir", default=str(DEFAULT_MANIFEST_DIR)))


def _report_dir(ds: str) -> Path:
    return Path(Variable.get("ess_report_dir", default=str(DEFAULT_REPORT_DIR))) / ds


def _run_name(run_id: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def _journal_dir(ds: str, run_id: str) -> Path:
    return _report_dir(ds) / f"{_run_name(run_id)}.attempts"


def _journal(ti: Any, ds: str, record: dict[str, Any]) -> None:
    """A failed attempt's calls, retries and finished tenants, kept for the next attempt and the report
    (Airflow clears a task's XComs when it retries)."""
    from tencent_ess.onboarding import journal_attempt

    journal_attempt(_journal_dir(ds, ti.run_id), f"{ti.task_id}-{ti.map_index}-try{ti.try_number}", record)


def _chunk_key(number: int) -> str:
    return f"chunk_{number}"


def _plan_info(ti: Any) -> dict[str, Any] | None:
    return ti.xcom_pull(task_ids="plan", key="plan_info")


def _hook(params: dict[str, Any], ti: Any = None):
    """A hook paced at the run's share of the API limit: with `ti`, shared among the chunks running now."""
    from tencent_ess.hooks import EssHook
    from tencent_ess.ratelimit import ActionRateLimiter

    sharers = None
    if ti is not None:  # under a real executor several chunks run at once; each takes an equal share
        def sharers() -> int:
            return ti.get_ti_count(dag_id=ti.dag_id, task_ids=[ti.task_id], run_ids=[ti.run_id], states=["running"])

    return EssHook(ess_conn_id=params["ess_conn_id"], limiter=ActionRateLimiter(params["rate_limit"], sharers=sharers))


@dag(
    dag_id="ess_tenant_onboarding",
    description="Create and grant e-signature seals for every tenant in the day's manifest",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # runs share the API quota; backfills queue behind each other
    params=PARAMS,
    tags=["tencent-ess", "seals", "onboarding"],
    default_args={"owner": "platform", "retries": 3, "retry_delay": timedelta(seconds=20),
                  "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
)
def ess_tenant_onboarding():
    @task
    def plan(ds: str | None = None, params: dict | None = None, ti: Any = None) -> list[int]:
        """Read and check the manifest; push each chunk under its own XCom key and return their numbers to map
        over, so that a chunk task loads its own tenants only. Bad entries become report rows."""
        from airflow.sdk.configuration import conf
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from tencent_ess.onboarding import ManifestError, make_chunks, plan_tenants, read_manifest

        path = _manifest_dir() / f"{ds}.json"
        try:
            entries = read_manifest(path)
        except ManifestError as err:
            raise AirflowFailException(str(err)) from None
        if entries is None:
            raise AirflowSkipException(f"no manifest for {ds} at {path}: nothing to onboard")
        tenants, rejected = plan_tenants(entries, base_dir=path.parent)
        chunks = make_chunks(tenants, params["chunk_size"], conf.getint("core", "max_map_length"))
        print(f"manifest {path}: {len(entries)} entries, {len(tenants)} valid, {len(rejected)} rejected, "
              f"{len(chunks)} chunks")
        for row in rejected:
            print(f"rejected: {row['error']}")
        ti.xcom_push(key="plan_info", value={"rejected": rejected, "manifest": str(path), "base_dir": str(path.parent)})
        for number, chunk in enumerate(chunks):
            ti.xcom_push(key=_chunk_key(number), value=chunk)
        return list(range(len(chunks)))

    @task(max_active_tis_per_dagrun=4)
    def onboard(chunk: int, ds: str | None = None, params: dict | None = None, ti: Any = None) -> dict[str, Any]:
        """One chunk: describe each enterprise once, create missing seals, grant missing users."""
        from airflow.sdk.exceptions import AirflowException

        from tencent_ess.onboarding import (
            AWAITING_REVIEW,
            RETRY,
            attempt_record,
            finished_before,
            onboard_chunk,
            read_journal,
        )

        tenants = ti.xcom_pull(task_ids="plan", key=_chunk_key(chunk))
        hook = _hook(params, ti)
        base_dir = _plan_info(ti)["base_dir"]
        label, task = f"chunk {chunk}", f"onboard[{chunk}]"
        # A retry redoes only what earlier attempts left: a big chunk under steady faults still converges.
        carried = finished_before(read_journal(_journal_dir(str(ds), ti.run_id)), task)
        todo = [t for t in tenants if t["index"] not in carried]
        if carried:
            print(f"{label}: {len(carried)} tenants finished by earlier attempts; {len(todo)} left")
        results = onboard_chunk(hook, todo, concurrency=params["concurrency"], base_dir=base_dir,
                                log=hook.log, label=label)
        record = attempt_record(hook, results, task, ti.try_number)
        results = sorted([*results, *carried.values()], key=lambda r: r.index)
        retry = [r for r in results if r.status == RETRY]
        if retry:  # transient after the hook's own retries: let Airflow retry the chunk (idempotent)
            _journal(ti, str(ds), record)
            raise AirflowException(f"{label}: {len(retry)} tenants hit transient errors, e.g. {retry[0].error}")
        by_index = {t["index"]: t for t in tenants}
        awaiting = [{**by_index[r.index], "created": r.created} for r in results if r.status == AWAITING_REVIEW]
        record.pop("finished")  # only a later attempt of a failed one needs it; the results carry it here
        return {"results": [r.to_dict() for r in results if r.status != AWAITING_REVIEW],
                "awaiting": awaiting, "attempt": record}

    @task(retries=12, retry_delay=timedelta(seconds=30), retry_exponential_backoff=1.5,
          max_retry_delay=timedelta(minutes=15))
    def finish_reviews(chunk_outputs: list[dict], ds: str | None = None, params: dict | None = None,
                       ti: Any = None) -> dict[str, Any]:
        """Image seals under review: wait (bounded), then grant the approved; still waiting → task retry later."""
        import time

        from airflow.sdk.exceptions import AirflowException

        from tencent_ess.onboarding import AWAITING_REVIEW, RETRY, attempt_record, finish_reviewed

        awaiting = [t for out in chunk_outputs if out for t in out["awaiting"]]
        base_dir = _plan_info(ti)["base_dir"]
        hook = _hook(params)
        deadline = time.monotonic() + params["review_wait_seconds"]
        results: dict[int, dict] = {}
        while awaiting:
            batch = finish_reviewed(hook, awaiting, concurrency=params["concurrency"], base_dir=base_dir, log=hook.log)
            for r in batch:
                if r.status not in (AWAITING_REVIEW, RETRY):
                    results[r.index] = r.to_dict()
            awaiting = [t for t in awaiting if t["index"] not in results]
            if not awaiting:
                break
            if time.monotonic() >= deadline:
                _journal(ti, str(ds), attempt_record(hook, [], "finish_reviews", ti.try_number))
                raise AirflowException(f"{len(awaiting)} seals still under review; checking again on retry")
            time.sleep(params["review_poll_seconds"])
        return {"results": list(results.values()), "attempt": attempt_record(hook, [], "finish_reviews", ti.try_number)}

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def report(planned: list | None, chunk_outputs: list | None, reviewed: dict | None,
               ds: str | None = None, run_id: str | None = None, ti: Any = None) -> dict[str, Any]:
        """Per tenant: enterprise, seal, SealId, status, users granted and skipped, error. JSON + CSV + log summary."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from tencent_ess.onboarding import DONE, FAILED, TenantResult, finished_before, read_journal, write_report

        info = _plan_info(ti)
        if planned is None or info is None:
            raise AirflowSkipException("nothing was planned (no manifest)")
        outputs = [out for out in (chunk_outputs or []) if out] + ([reviewed] if reviewed else [])
        rows = {row["index"]: row for row in info["rejected"]}
        for out in outputs:
            rows.update((row["index"], row) for row in out["results"])
        journal = read_journal(_journal_dir(str(ds), run_id or "run"))
        for index, result in finished_before(journal).items():  # finished by an attempt whose task then failed
            if result.status == DONE:
                rows.setdefault(index, result.to_dict())
        for number in planned:  # a tenant no task finished is reported, never dropped
            for tenant in ti.xcom_pull(task_ids="plan", key=_chunk_key(number)):
                rows.setdefault(tenant["index"], TenantResult(
                    tenant["index"], tenant["proxy_organization_open_id"], tenant["seal_name"], FAILED,
                    error="not finished: its task failed").to_dict())
        out_dir, name = _report_dir(str(ds)), _run_name(run_id or "run")
        attempts = [out["attempt"] for out in outputs] + journal
        summary = write_report(list(rows.values()), out_dir, name, attempts)
        print(f"onboarding report {ds}: {summary}")
        bad = [row for row in rows.values() if row["status"] != "done"]
        for row in bad:
            print(f"not done: entry {row['index']} {row['proxy_organization_open_id']}/{row['seal_name']}: "
                  f"{row['status']} {row['error']}")
        if bad:
            raise AirflowFailException(f"{len(bad)} of {len(rows)} tenants not done; see {summary['json']}")
        return summary

    planned = plan()
    chunks = onboard.expand(chunk=planned)
    reviewed = finish_reviews(chunks)
    report(planned, chunks, reviewed)


ess_tenant_onboarding()
