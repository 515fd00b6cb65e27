"""One tenant from the trigger form: create a seal → wait for review (image seals) → grant it to employees.

Trigger it from the UI ("Trigger DAG" shows the form below) or `airflow dags trigger ess_seal_setup -c '{...}'`.
The SealId travels from `create_seal` to the sensor and to `grant_seal` through XCom.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param
from tencent_ess.operators import ChannelCreateSealPolicyOperator, CreateSealByImageOperator
from tencent_ess.sensors import EssSealReviewSensor
from tencent_ess.validation import (
    GENERATE_SYSTEM,
    MAX_HORIZONTAL_TEXT,
    MAX_OPEN_ID,
    MAX_SEAL_NAME,
    SEAL_SIZES,
    SEAL_STYLES,
    SEAL_TYPES,
)

ID_PATTERN = f"^[A-Za-z0-9]{{1,{MAX_OPEN_ID}}}$"
#: Seal images come from this folder only (Variable `ess_seal_image_dir`); `seal_image_path` may not leave it.
IMAGE_DIR = "{{ var.value.get('ess_seal_image_dir', '%s') }}" % (Path(__file__).resolve().parents[1] / "data" / "seals")

PARAMS = {
    "proxy_organization_open_id": Param(
        "org_dianziqian", type="string", minLength=1, maxLength=MAX_OPEN_ID, title="Sub-enterprise OpenId",
        description="Agent.ProxyOrganizationOpenId: the tenant enterprise (must have passed real-name verification).",
    ),
    "operator_open_id": Param(
        "n9527", type="string", minLength=1, maxLength=MAX_OPEN_ID, title="Operator OpenId",
        description="Agent.ProxyOperator.OpenId: the verified employee acting for the enterprise.",
    ),
    "seal_name": Param(
        "合同专用章", type="string", minLength=1, maxLength=MAX_SEAL_NAME, title="Seal name",
        description="1-50 characters, unique within the enterprise. Re-running with the same name reuses the seal.",
    ),
    "seal_type": Param("CONTRACT", enum=list(SEAL_TYPES), title="Seal type",
                       description="One OFFICIAL seal per enterprise; OFFICIAL and CONTRACT must be circles."),
    "generate_source": Param(
        GENERATE_SYSTEM, enum=[GENERATE_SYSTEM, ""], title="Generate source",
        description="SealGenerateSourceSystem: the platform draws the seal. Ignored when an image path is given.",
    ),
    "seal_style": Param("circle", enum=list(SEAL_STYLES), title="Seal style",
                        description="circle (also spelled cycle) or ellipse."),
    "seal_size": Param("42_42", enum=list(SEAL_SIZES), title="Seal size (mm)",
                       description="Circles 38_38 … 58_58; ellipses 40_30, 45_30."),
    "seal_horizontal_text": Param("", type="string", maxLength=MAX_HORIZONTAL_TEXT, title="Horizontal text",
                                  description="Optional, at most 15 characters."),
    "seal_image_path": Param(
        "", type="string", title="Seal image path",
        description="Optional PNG/JPG (≤ 5 MB), relative to the seal image folder (Variable ess_seal_image_dir, "
        "default data/seals/), e.g. sample_seal.png. Image seals are reviewed "
        "manually: the run waits for the review before granting.",
    ),
    "user_ids": Param(
        ["n9528", "n9529"], type="array", minItems=1, items={"type": "string", "pattern": ID_PATTERN},
        title="Employees to grant", description="OpenIds or 32-character e-sign UserIds (letters and digits).",
    ),
}

AGENT = {
    "proxy_organization_open_id": "{{ params.proxy_organization_open_id }}",
    "operator_open_id": "{{ params.operator_open_id }}",
}

with DAG(
    dag_id="ess_seal_setup",
    description="Create one tenant's e-signature seal and grant it to employees",
    schedule=None,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    params=PARAMS,
    tags=["tencent-ess", "seals"],
    default_args={"owner": "platform", "retries": 3, "retry_delay": timedelta(seconds=20),
                  "retry_exponential_backoff": 2.0, "max_retry_delay": timedelta(minutes=10)},
    doc_md=__doc__,
) as dag:
    create = CreateSealByImageOperator(
        task_id="create_seal",
        seal_name="{{ params.seal_name }}",
        seal_type="{{ params.seal_type }}",
        # An image path means an image seal: the system-drawn default steps aside.
        generate_source="{{ '' if params.seal_image_path else params.generate_source }}",
        seal_style="{{ params.seal_style }}",
        seal_size="{{ params.seal_size }}",
        seal_horizontal_text="{{ params.seal_horizontal_text }}",
        seal_image_path="{{ params.seal_image_path }}",
        image_base_dir=IMAGE_DIR,
        **AGENT,
    )
    review = EssSealReviewSensor(task_id="wait_for_review", seal_id=create.output, poke_interval=10, deferrable=True,
                                 **AGENT)
    grant = ChannelCreateSealPolicyOperator(
        task_id="grant_seal", seal_id=create.output, user_ids="{{ params.user_ids | tojson }}", **AGENT
    )
    create >> review >> grant
