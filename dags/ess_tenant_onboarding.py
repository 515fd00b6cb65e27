"""Many tenants, daily: read `{manifest_dir}/{day}.json`, create and grant each tenant's seal, write a run report.

- `day`: Param `manifest_date` when set; else the run's logical date; else (a run made without one, such as
  `airflow dags trigger`) the UTC day it was triggered.
- The connection: Airflow Variable `ess_conn_id` (default `tencentcloud_ess_default`), the deployment owner's
  choice; a trigger's conf cannot name another connection.

- Param `manifest_file`: a standing manifest (a file of that folder) read by every run instead of `{day}.json`.
- `manifest_dir`: Airflow Variable `ess_tenant_manifest_dir` (a folder or an object-storage URL), default
  `data/tenants/` beside this repository's `dags/`. No manifest for the date: the run records that in an empty
  report and skips; Params `manifest_wait_minutes` and `manifest_required` make it wait, and fail if it never comes.
- Idempotent: re-runs and `airflow backfill create` converge; an existing seal is reused when it is the seal
  asked for, and only users not yet holding it are granted.
- Seal images: `seal_image_path` is relative to the Variable `ess_seal_image_dir` (default `data/seals/`) and may
  not leave it.
- Report: `{report_dir}/{day}/{run_id}.json` and `.csv` (Variable `ess_report_dir`, default `output/`), the latest
  of each attempt's `{run_id}.try<N>.json`.
The task bodies live in `tencent_ess.onboarding.tasks`.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, TriggerRule, dag, task

from tencent_ess import RETRY_DEFAULTS
from tencent_ess.onboarding import (
    APPROVE_TASK,
    AWAITING,
    FINISH_TASK,
    GUARD_TASK,
    ONBOARD_TASK,
    PLAN_TASK,
    REPORT_TASK,
)
from tencent_ess.onboarding.approval import RevocationApprovalOperator
from tencent_ess.onboarding.assets import REPORT_ASSET, report_event_extra
from tencent_ess.onboarding.wait import ManifestSensor

REPO = Path(__file__).resolve().parents[1]
DEFAULTS = {
    "default_manifest_dir": str(REPO / "data" / "tenants"),
    "default_report_dir": str(REPO / "output"),
    "default_image_dir": str(REPO / "data" / "seals"),
}

PARAMS = {
    "mode": Param(
        "apply",
        enum=["apply", "plan"],
        title="Mode",
        section="Sync",
        description="plan: describe only and report what apply would change (zero writes); "
        "a plan with changes or errors is a failed run (a drift alarm).",
    ),
    "revoke_unlisted": Param(
        False,
        type="boolean",
        title="Revoke users not listed",
        section="Sync",
        description="For every seal named in the manifest, revoke users who hold it but are "
        "not in that entry's user_ids. Seals not named are never touched.",
    ),
    "max_revocations": Param(
        100,
        type="integer",
        minimum=0,
        title="Most revocations per run",
        section="Sync",
        description="An apply that would revoke more fails before any write. Counted over "
        "the whole run: all its tasks, their retries, and a cleared run.",
    ),
    "approve_over_budget": Param(
        False,
        type="boolean",
        title="Ask a person to approve revocations over the budget",
        section="Sync",
        description="Off: an apply that would revoke more than max_revocations fails before any write. On: it "
        "waits in task approve_revocations (Required actions); Approve revokes exactly the counted set, Reject "
        "or no answer revokes nothing and the rest of the apply goes on.",
    ),
    "approval_timeout_minutes": Param(
        60,
        type="integer",
        minimum=1,
        title="Minutes to wait for that approval",
        section="Sync",
        description="No answer by then counts as Reject: nothing is revoked. The run holds its writes meanwhile, "
        "and other revoking applies of the AppId wait for it (for an hour at most).",
    ),
    "allow_older_manifest": Param(
        False,
        type="boolean",
        title="Apply an older manifest with revocations",
        section="Sync",
        description="Off: once a newer manifest date was applied with revoke_unlisted for "
        "the same AppId, an older date's revoking apply changes nothing "
        "(it would undo newer grants). On: apply it anyway.",
    ),
    "manifest_date": Param(
        None,
        type=["null", "string"],
        format="date",
        title="Manifest date (YYYY-MM-DD)",
        section="Manifest",
        description="Empty: the run's logical date, or, for a run without one, the day it "
        "was triggered (UTC). Reports go under this date.",
    ),
    "manifest_file": Param(
        None,
        type=["null", "string"],
        pattern=r"^[^/\\]+\.json$",
        title="Standing manifest file",
        section="Manifest",
        description="Empty: the day's manifest, {manifest_date}.json. A file name in the manifest folder "
        "(e.g. standing.json): every run reads it instead, the manifest as it stands; reports still go under "
        "the run's day.",
    ),
    "rate_limit": Param(
        20,
        type="integer",
        minimum=1,
        title="API rate limit (requests/s per action)",
        description="The account's limit; 20 unless Tencent Cloud raised it.",
        section="Throughput",
    ),
    "chunk_size": Param(
        None,
        type=["null", "integer"],
        minimum=1,
        maximum=5000,
        title="Tenants per chunk task",
        description="Empty: about 40 s of work at rate_limit (1,000 up to 25/s, 4,000 at 100/s, "
        "at most 5,000), as each chunk task idles the quota for about a second as it "
        "starts and ends. Set it lower to spread a manifest over more workers.",
        section="Throughput",
    ),
    "concurrency": Param(
        None,
        type=["null", "integer"],
        minimum=1,
        maximum=256,
        section="Throughput",
        title="Concurrent tenants within a chunk",
        description="Empty: derived from rate_limit and the API's observed latency (Little's law), "
        "adjusting as the run goes.",
    ),
    "manifest_wait_minutes": Param(
        0,
        type="number",
        minimum=0,
        title="Wait this long for a late manifest (minutes)",
        description="0: do not wait. The wait defers (holds no worker slot).",
        section="Manifest",
    ),
    "manifest_required": Param(
        False,
        type="boolean",
        title="Fail when there is no manifest",
        description="Off: a day without a manifest is recorded in an empty report and skipped.",
        section="Manifest",
    ),
    "review_poll_seconds": Param(
        10, type="integer", minimum=1, title="Seconds between review checks", section="Image seal review"
    ),
    "review_wait_seconds": Param(
        300,
        type="integer",
        minimum=0,
        section="Image seal review",
        title="Wait this long for reviews before handing back to task retries",
    ),
}


def _where():
    from tencent_ess.onboarding.locations import Locations

    return Locations.from_variables(**DEFAULTS)


def _conn_id() -> str:
    """The deployment's connection (Variable `ess_conn_id`): never taken from a trigger's conf."""
    from airflow.sdk import Variable

    from tencent_ess import DEFAULT_CONN_ID

    return Variable.get("ess_conn_id", default=DEFAULT_CONN_ID)


def _day(ds: Any, params: dict, dag_run: Any) -> str:
    """The manifest date of this run (`locations.run_day`)."""
    from tencent_ess.onboarding.locations import run_day

    return run_day(params, ds, getattr(dag_run, "run_after", None))


def _outputs(outputs: Any) -> list:
    """A mapped task's XComs, all in one round trip (a slice; iterating the lazy sequence probes past its end, and
    reading by position asks once per item)."""
    return list(outputs[:]) if outputs is not None else []


@dag(
    dag_id="ess_tenant_onboarding",
    description="Create and grant e-signature seals for every tenant in the day's manifest",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    # Scheduled runs one at a time. A backfill runs up to its own max_active_runs (10) dates at once; their tasks
    # share the one quota (tencent_ess.onboarding.tasks.QUOTA_SHARERS).
    max_active_runs=1,
    params=PARAMS,
    tags=["tencent-ess", "seals", "onboarding"],
    default_args={"owner": "platform", **RETRY_DEFAULTS},
    doc_md=__doc__,
)
def ess_tenant_onboarding():
    wait = ManifestSensor(task_id="wait_for_manifest", **DEFAULTS)

    @task(task_id=PLAN_TASK)
    def plan(ds: str | None = None, params: dict | None = None, ti: Any = None, dag_run: Any = None) -> list[int]:
        """Refuse unknown conf keys; read and check the manifest; one XCom key per chunk; bad entries become rows."""
        from airflow.sdk.configuration import conf

        from tencent_ess.errors import failure_policy
        from tencent_ess.onboarding import tasks
        from tencent_ess.validation import check_conf

        with failure_policy():
            check_conf(dag_run.conf if dag_run is not None else None, PARAMS)
            return tasks.plan(
                _where(),
                ds=_day(ds, params, dag_run),
                params=params,
                ti=ti,
                max_chunks=conf.getint("core", "max_map_length"),
            )

    # A chunk's results (a row per tenant) go to XCom and the report, not into the task log as one huge line.
    # multiple_outputs=False: the dict is one XCom (Airflow would also push each key, doubling a chunk's rows).
    @task(task_id=ONBOARD_TASK, max_active_tis_per_dagrun=4, show_return_value_in_logs=False, multiple_outputs=False)
    def onboard(
        chunk: int, ds: str | None = None, params: dict | None = None, ti: Any = None, dag_run: Any = None
    ) -> dict[str, Any]:
        """One chunk: describe each enterprise once, create missing seals, grant missing users."""
        from tencent_ess.errors import failure_policy
        from tencent_ess.onboarding import tasks

        with failure_policy():
            return tasks.onboard(
                _where(), chunk, ds=_day(ds, params, dag_run), params=params, ti=ti, conn_id=_conn_id()
            )

    # ALL_DONE: a failed chunk must not leave the other chunks' approved image seals ungranted.
    @task(
        task_id=FINISH_TASK,
        retries=12,
        retry_delay=timedelta(seconds=30),
        retry_exponential_backoff=1.5,
        max_retry_delay=timedelta(minutes=15),
        trigger_rule=TriggerRule.ALL_DONE,
        show_return_value_in_logs=False,
        multiple_outputs=False,
    )
    def finish_reviews(
        awaiting: Any, ds: str | None = None, params: dict | None = None, ti: Any = None, dag_run: Any = None
    ) -> dict[str, Any]:
        """Image seals under review: grant the approved, fail the refused; between looks the task is rescheduled,
        holding no worker slot, for up to `review_wait_seconds`, then left to a task retry."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowRescheduleException

        from tencent_ess.errors import failure_policy
        from tencent_ess.onboarding import tasks

        with failure_policy():
            try:
                return tasks.finish_reviews(
                    _where(),
                    _outputs(awaiting),
                    ds=_day(ds, params, dag_run),
                    params=params,
                    ti=ti,
                    conn_id=_conn_id(),
                    first_seen=ti.get_first_reschedule_date(get_current_context()),
                )
            except tasks.CheckAgain as again:
                raise AirflowRescheduleException(again.when) from None

    # One XCom for the summary: Airflow would push each of its keys again, a round trip each. On success (every
    # tenant done) an event on REPORT_ASSET says where the report is, for DAGs scheduled on it.
    @task(task_id=REPORT_TASK, trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False, outlets=[REPORT_ASSET])
    def report(
        planned: list | None,
        chunk_outputs: Any,
        awaiting: Any,
        reviewed: dict | None,
        ds: str | None = None,
        run_id: str | None = None,
        params: dict | None = None,
        ti: Any = None,
        dag_run: Any = None,
    ) -> dict[str, Any]:
        """Per tenant: enterprise, seal, SealId, status, users granted and skipped, error. JSON + CSV + log."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowRescheduleException, AirflowSkipException

        from tencent_ess.errors import failure_policy
        from tencent_ess.onboarding import tasks

        day = _day(ds, params, dag_run)
        with failure_policy():
            try:  # a run that yielded to a newer one waits (rescheduled) until that one is past its guard
                summary = tasks.report(
                    _where(),
                    planned,
                    _outputs(chunk_outputs),
                    _outputs(awaiting),
                    reviewed,
                    ds=day,
                    run_id=str(run_id),
                    params=params,
                    ti=ti,
                    first_seen=ti.get_first_reschedule_date(get_current_context()),
                )
            except tasks.CheckAgain as again:
                raise AirflowRescheduleException(again.when) from None
        if summary.get("skipped"):
            raise AirflowSkipException(f"{summary['skipped']}; empty report at {summary['json']}")
        get_current_context()["outlet_events"][REPORT_ASSET].extra = report_event_extra(summary, day, str(run_id))
        return summary

    # Rescheduled (no worker slot held) while a revoking run of an older manifest still runs. Its verdict is small
    # (the revocations it allows are at most max_revocations users) and stays in the log.
    @task(task_id=GUARD_TASK)
    def guard(
        planned: list[int], ds: str | None = None, params: dict | None = None, ti: Any = None, dag_run: Any = None
    ) -> dict:
        """An apply that revokes: refuse it before any write when it would revoke more than max_revocations; hand
        the writing tasks the revocations it counted."""
        from airflow.sdk import get_current_context
        from airflow.sdk.exceptions import AirflowRescheduleException

        from tencent_ess.errors import failure_policy
        from tencent_ess.onboarding import tasks

        with failure_policy():
            try:
                return tasks.guard(
                    _where(),
                    planned,
                    ds=_day(ds, params, dag_run),
                    params=params,
                    ti=ti,
                    conn_id=_conn_id(),
                    first_seen=ti.get_first_reschedule_date(get_current_context()),
                )
            except tasks.CheckAgain as again:
                raise AirflowRescheduleException(again.when) from None

    # Asks a person only when the guard counted revocations over the budget and Param approve_over_budget is on;
    # otherwise it returns at once. Either answer is a success: the writing tasks act on the decision.
    approve = RevocationApprovalOperator(task_id=APPROVE_TASK)

    planned = plan()
    wait >> planned
    guarded = guard(planned)
    chunks = onboard.expand(chunk=planned)
    guarded >> approve >> chunks
    reviewed = finish_reviews(chunks[AWAITING])
    report(planned, chunks, chunks[AWAITING], reviewed)


ess_tenant_onboarding()
