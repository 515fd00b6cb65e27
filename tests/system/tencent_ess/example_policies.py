"""Example DAG: grant a seal to employees, then revoke one of them.

Included in docs/operators/policies.md between its [START]/[END] markers; tests/system/test_examples.py runs it
against the emulator. The OpenIds are the emulator's default fixture: use your own against the real API.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from tencent_ess import RETRY_DEFAULTS
from tencent_ess.operators import (
    ChannelCreateSealPolicyOperator,
    ChannelDeleteSealPoliciesOperator,
    CreateSealByImageOperator,
)

AGENT = {"proxy_organization_open_id": "org_dianziqian", "operator_open_id": "n9527"}

with DAG(
    "example_ess_policies",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    default_args=RETRY_DEFAULTS,
    tags=["example", "tencent_ess"],
):
    # [START howto_operator_grant_seal]
    create = CreateSealByImageOperator(task_id="create_seal", seal_name="合同专用章", **AGENT)
    grant = ChannelCreateSealPolicyOperator(
        task_id="grant_seal",
        seal_id=create.output,  # the SealId through XCom; also makes grant run after create
        user_ids=["n9528", "n9529"],
        **AGENT,
    )
    # [END howto_operator_grant_seal]

    # [START howto_operator_revoke_seal]
    revoke = ChannelDeleteSealPoliciesOperator(
        task_id="revoke_seal",
        seal_id=create.output,
        user_ids=["n9529"],
        **AGENT,
    )
    # [END howto_operator_revoke_seal]

    grant >> revoke
