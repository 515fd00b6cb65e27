"""Example DAG: make a sub-enterprise's seals (system-drawn, and from an image) and disable one.

Included in docs/operators/seals.md between its [START]/[END] markers; tests/system/test_examples.py runs it
against the emulator. The OpenIds are the emulator's default fixture: use your own against the real API.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

# [START howto_operator_imports]
from tencent_ess import RETRY_DEFAULTS
from tencent_ess.operators import ChannelUpdateSealStatusOperator, CreateSealByImageOperator

# [END howto_operator_imports]

# [START howto_operator_agent]
AGENT = {"proxy_organization_open_id": "org_dianziqian", "operator_open_id": "n9527"}
# [END howto_operator_agent]

with DAG(
    "example_ess_seals",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    default_args=RETRY_DEFAULTS,
    tags=["example", "tencent_ess"],
):
    # [START howto_operator_create_seal]
    create_drawn = CreateSealByImageOperator(
        task_id="create_drawn_seal",
        seal_name="财务专用章",
        seal_type="FINANCE",
        seal_style="ellipse",
        seal_size="45_30",
        **AGENT,
    )
    # [END howto_operator_create_seal]

    # [START howto_operator_create_seal_from_image]
    create_from_image = CreateSealByImageOperator(
        task_id="create_image_seal",
        seal_name="人事专用章",
        seal_type="PERSONNEL",
        seal_image_base64="{{ var.value.seal_png }}",  # the image never enters the DAG file
        seal_size="40_40",  # its printed size in mm
        **AGENT,
    )
    # [END howto_operator_create_seal_from_image]

    # [START howto_operator_disable_seal]
    disable = ChannelUpdateSealStatusOperator(
        task_id="disable_seal",
        seal_id=create_drawn.output,
        reason="replaced by the new finance seal",
        **AGENT,
    )
    # [END howto_operator_disable_seal]

    create_drawn >> create_from_image >> disable
