"""Example DAG: an image seal waits for the platform's review before it is granted.

Included in docs/operators/review.md between its [START]/[END] markers; tests/system/test_examples.py runs it
against the emulator. The OpenIds are the emulator's default fixture: use your own against the real API.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from tencent_ess.operators import ChannelCreateSealPolicyOperator, CreateSealByImageOperator
from tencent_ess.sensors import EssSealReviewSensor

AGENT = {"proxy_organization_open_id": "org_dianziqian", "operator_open_id": "n9527"}

with DAG(
    "example_ess_review",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    tags=["example", "tencent_ess"],
):
    create = CreateSealByImageOperator(
        task_id="create_seal",
        seal_name="人事专用章",
        seal_type="PERSONNEL",
        seal_image_base64="{{ var.value.seal_png }}",
        **AGENT,
    )
    # [START howto_sensor_seal_review]
    review = EssSealReviewSensor(
        task_id="wait_for_review",
        seal_id=create.output,
        deferrable=True,  # waits in the triggerer, holding no worker slot
        poke_interval=5,
        **AGENT,
    )
    # [END howto_sensor_seal_review]
    grant = ChannelCreateSealPolicyOperator(task_id="grant_seal", seal_id=create.output, user_ids=["n9528"], **AGENT)
    create >> review >> grant
