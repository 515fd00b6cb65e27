"""The sandbox self-check: run once with sandbox credentials against the vendor's test host
(`essbasic.test.ess.tencent.cn`) to settle the API readings no source settles (`docs/api-readings.md`).

Trigger it from the UI form with a test enterprise, its operator and two of its employees. It makes two seals
of its own (`{name_prefix}-{token}-sys` and `-img`), checks each reading (SealId format, describe permission,
CreateOn's unit, RealWidth/RealHeight, the image review's stages, describe leniency, grant and revoke, disable),
disables what it made where the API allows, and touches no other seal.

- The connection: Airflow Variable `ess_sandbox_conn_id` (required: the check never falls back to the deployment's
  `ess_conn_id`), whose endpoint is `https://essbasic.test.ess.tencent.cn` (region "") or this machine; another
  host only with Param `allow_other_endpoint`.
- Report: `{ess_report_dir}/sandbox-check/{run_id}.json` (Variable `ess_report_dir`, default `output/`), a table
  in the task log, and the report's path and summary as the task's XCom. Attach the JSON to an issue.
- The run is red when an answer contradicts what the product assumes with no emulator profile to explain it, or
  a check got no answer (each finding says why); the report is written first.
The task body lives in `tencent_ess.sandbox`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Param, dag, task

REPO = Path(__file__).resolve().parents[1]

PARAMS = {
    "proxy_organization_open_id": Param(
        type="string",
        minLength=1,
        maxLength=64,
        title="Test enterprise OpenId",
        section="Sandbox enterprise",
        description="Agent.ProxyOrganizationOpenId of a TEST enterprise: the check makes and disables two seals in it.",
    ),
    "operator_open_id": Param(
        type="string",
        minLength=1,
        maxLength=64,
        title="Operator OpenId",
        section="Sandbox enterprise",
        description="Agent.ProxyOperator.OpenId: a verified employee holding the seal-query permission (印章查询).",
    ),
    "user_ids": Param(
        type="array",
        minItems=2,
        maxItems=2,
        uniqueItems=True,
        items={"type": "string", "minLength": 1, "maxLength": 64},
        title="Two employees",
        section="Sandbox enterprise",
        description="Exactly two employees' OpenIds (or UserIds), one per line: granted the check's own system "
        "seal, then the second one is revoked twice.",
    ),
    "name_prefix": Param(
        "ESSCHECK",
        type="string",
        minLength=1,
        maxLength=30,
        title="Seal name prefix",
        section="Check",
        description="The check's seals are named {prefix}-{random token}-sys and -img.",
    ),
    "review_wait_seconds": Param(
        600,
        type="integer",
        minimum=0,
        maximum=3600,
        title="Watch the image seal's review (seconds)",
        section="Check",
        description="How long to watch the image seal's review before reporting its stages.",
    ),
    "allow_other_endpoint": Param(
        False,
        type="boolean",
        title="Allow an endpoint other than the sandbox",
        section="Check",
        description="Off: the check runs only against essbasic.test.ess.tencent.cn or this machine. It makes "
        "seals and sends an image to manual review: never turn this on for production.",
    ),
    "poll_seconds": Param(
        10,
        type="number",
        minimum=0.1,
        maximum=600,
        title="Seconds between looks",
        section="Check",
        description="Between looks at the review (stretched so that there are at most 60 looks).",
    ),
}


@dag(
    dag_id="ess_sandbox_check",
    description="Check the e-signature API's open readings against the sandbox, once, before production",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params=PARAMS,
    tags=["tencent-ess", "sandbox"],
    default_args={"owner": "platform"},
    doc_md=__doc__,
)
def ess_sandbox_check():
    # No retries: a retry would make another pair of seals, and the endpoint's answers do not change by asking again.
    @task(retries=0, multiple_outputs=False)
    def check(params: dict | None = None, run_id: str | None = None, dag_run: Any = None) -> dict[str, Any]:
        """Every check in turn; the report, the log table; red on an unexplained or unanswered finding."""
        from airflow.sdk import Variable

        from tencent_ess import sandbox
        from tencent_ess.errors import EssConfigError, failure_policy
        from tencent_ess.validation import check_conf

        with failure_policy():
            check_conf(dag_run.conf if dag_run is not None else None, PARAMS)
            # The deployment's choice (never the trigger's conf), and never the onboarding's connection by default:
            # pointed at production, this check would make seals there.
            conn_id = Variable.get("ess_sandbox_conn_id", default=None)
            if not conn_id:
                raise EssConfigError(
                    "Variable ess_sandbox_conn_id is not set: set it to the id of a connection to the "
                    "sandbox (essbasic.test.ess.tencent.cn); the check does not use ess_conn_id"
                )
            return sandbox.run(
                params or {},
                run_id=str(run_id),
                conn_id=conn_id,
                report_dir=Variable.get("ess_report_dir", default=str(REPO / "output")),
                image_dir=REPO / "data" / "seals",
            )

    check()


ess_sandbox_check()
