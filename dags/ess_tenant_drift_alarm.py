"""The drift alarm: every morning, a plan run of `ess_tenant_onboarding` over the day's manifest. Plan mode only
describes (zero writes) and fails when anything would change or cannot be checked, so this DAG goes red exactly
when the API no longer matches the manifest: a seal missing, a user not granted, and, with Param
`revoke_unlisted`, a holder the manifest does not list. The plan run's report says what would change.

Paused at creation, as every DAG: unpause it to enable the alarm. `ess_tenant_onboarding` must be unpaused too
(the alarm fails, naming it, when it is not), which also turns on its daily apply. A day without a manifest is
red. It reads the manifest of its own day (`manifest_date` = its logical date), as that day's apply run does,
and waits for the plan run without holding a worker slot (the wait is deferred).
"""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import DAG, Param

with DAG(
    "ess_tenant_drift_alarm",
    schedule="0 6 * * *",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    params={
        "revoke_unlisted": Param(
            False,
            type="boolean",
            title="Also alarm on holders not listed",
            description="Count users who hold a manifest's seal but are not in its user_ids as drift.",
        ),
    },
    # No retries: a retry would trigger another plan run and turn one red morning into three. Transient API
    # errors are retried inside the plan run, by its own tasks.
    default_args={"owner": "platform", "retries": 0},
    tags=["tencent-ess", "sync"],
    doc_md=__doc__,
):
    TriggerDagRunOperator(
        task_id="plan_against_the_manifest",
        trigger_dag_id="ess_tenant_onboarding",
        # Rendered as JSON text (the operator parses it), so that revoke_unlisted stays a boolean. A day without
        # a manifest is red: an alarm that checked nothing must not be green.
        conf="{{ {'mode': 'plan', 'manifest_date': ds | default(none), 'manifest_required': true,"
        " 'revoke_unlisted': params.revoke_unlisted} | tojson }}",
        # A paused onboarding DAG would leave the plan run queued and this wait deferred for ever: fail instead.
        fail_when_dag_is_paused=True,
        # The onboarding DAG refuses conf keys it does not declare, such as OpenLineage's.
        openlineage_inject_parent_info=False,
        wait_for_completion=True,
        deferrable=True,
        poke_interval=15,
        allowed_states=["success"],
        failed_states=["failed"],
    )
