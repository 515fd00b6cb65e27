"""One tenant from the trigger form: create a seal → wait for review (image seals) → grant it to employees.

Trigger it from the UI ("Trigger DAG" shows the form below) or `airflow dags trigger ess_seal_setup -c '{...}'`;
the enterprise, its operator and the employees have no default and must be given. `check_conf` refuses conf
keys no Param declares, naming them, before any API call.
The SealId travels from `create_seal` to the sensor and to `grant_seal` through XCom.
"""

from __future__ import annotations

from pathlib import Path

import pendulum
from airflow.sdk import DAG, Param

from tencent_ess import RETRY_DEFAULTS
from tencent_ess.operators import ChannelCreateSealPolicyOperator, CheckConfOperator, CreateSealByImageOperator
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

#: 1-64 characters without white space: the API decides the rest (the seed page says letters and digits, the SDK's
#: examples use `_`; docs/api-readings.md).
ID_PATTERN = f"^\\S{{1,{MAX_OPEN_ID}}}$"
#: Seal images come from this folder only (Variable `ess_seal_image_dir`); `seal_image_path` may not leave it.
IMAGE_DIR = "{{ var.value.get('ess_seal_image_dir', '%s') }}" % (Path(__file__).resolve().parents[1] / "data" / "seals")

PARAMS = {
    # Who: no defaults, the form asks for them (they differ for every tenant).
    "proxy_organization_open_id": Param(
        type="string",
        minLength=1,
        maxLength=MAX_OPEN_ID,
        title="Sub-enterprise OpenId",
        section="Enterprise",
        description="Agent.ProxyOrganizationOpenId: the tenant enterprise (must have passed real-name verification).",
    ),
    "operator_open_id": Param(
        type="string",
        minLength=1,
        maxLength=MAX_OPEN_ID,
        title="Operator OpenId",
        section="Enterprise",
        description="Agent.ProxyOperator.OpenId: the verified employee acting for the enterprise.",
    ),
    # What: defaults that make a valid system-drawn contract seal.
    "seal_name": Param(
        "合同专用章",
        type="string",
        minLength=1,
        maxLength=MAX_SEAL_NAME,
        title="Seal name",
        section="Seal",
        description="1-50 characters, unique within the enterprise. Re-running with the same name reuses the seal.",
    ),
    "seal_type": Param(
        "CONTRACT",
        enum=list(SEAL_TYPES),
        title="Seal type",
        section="Seal",
        description="One OFFICIAL seal per enterprise; OFFICIAL and CONTRACT must be circles.",
    ),
    "seal_style": Param(
        "circle",
        enum=list(SEAL_STYLES),
        title="Seal style",
        section="Seal",
        description="circle (also spelled cycle) or ellipse.",
    ),
    "seal_size": Param(
        "42_42",
        enum=list(SEAL_SIZES),
        title="Seal size (mm)",
        section="Seal",
        description="Circles 38_38 … 58_58; ellipses 40_30, 45_30. For an image: its printed size.",
    ),
    "seal_horizontal_text": Param(
        None,
        type=["null", "string"],
        maxLength=MAX_HORIZONTAL_TEXT,
        title="Horizontal text",
        section="Seal",
        description="Optional, at most 15 characters.",
    ),
    "tax_identify_code": Param(
        None,
        type=["null", "string"],
        maxLength=64,
        title="Tax identification code",
        section="Seal",
        description="INVOICE seals only: required by the API when the "
        "enterprise was verified by an authorization letter.",
    ),
    "user_ids": Param(
        type="array",
        minItems=1,
        items={"type": "string", "pattern": ID_PATTERN},
        title="Employees to grant",
        section="Employees",
        description="OpenIds or 32-character e-sign UserIds, one per line.",
    ),
    # How it is drawn: the platform by default, or an image that is reviewed by hand.
    "generate_source": Param(
        GENERATE_SYSTEM,
        enum=[GENERATE_SYSTEM, ""],
        title="Generate source",
        section="Advanced",
        description="SealGenerateSourceSystem: the platform draws the seal. Ignored when an image path is given.",
    ),
    "image_size": Param(
        None,
        type=["null", "string"],
        pattern="^[0-9]{2,3}_[0-9]{2,3}$",
        title="Image's printed size (mm)",
        section="Advanced",
        description="For a seal from an image only: W_H in mm, 10-100 each (e.g. 40_40). Empty: "
        "the image's own size. Seal size and style above apply to drawn seals only.",
    ),
    "seal_image_path": Param(
        None,
        type=["null", "string"],
        title="Seal image path",
        section="Advanced",
        description="Optional PNG/JPG (≤ 5 MB), relative to the seal image folder (Variable ess_seal_image_dir, "
        "default data/seals/), e.g. sample_seal.png. Image seals are reviewed "
        "manually: the run waits for the review before granting.",
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
    default_args={"owner": "platform", **RETRY_DEFAULTS},
    doc_md=__doc__,
) as dag:
    # A misspelt key (`seal_nmae`) would otherwise be ignored and the default used.
    check_conf = CheckConfOperator(task_id="check_conf", known=PARAMS)

    create = CreateSealByImageOperator(
        task_id="create_seal",
        seal_name="{{ params.seal_name }}",
        seal_type="{{ params.seal_type }}",
        # An image path means an image seal: the system-drawn default steps aside.
        generate_source="{{ '' if params.seal_image_path else (params.generate_source or '') }}",
        # An image seal takes its own printed size (Param image_size) and no style: the drawn seal's do not apply.
        seal_style="{{ '' if params.seal_image_path else params.seal_style }}",
        seal_size="{{ (params.image_size or '') if params.seal_image_path else params.seal_size }}",
        # Optional Params are None when not given: `or ''` keeps None from rendering as the text "None".
        seal_horizontal_text="{{ params.seal_horizontal_text or '' }}",
        tax_identify_code="{{ params.tax_identify_code or '' }}",
        seal_image_path="{{ params.seal_image_path or '' }}",
        image_base_dir=IMAGE_DIR,
        **AGENT,
    )
    review = EssSealReviewSensor(
        task_id="wait_for_review", seal_id=create.output, poke_interval=10, deferrable=True, **AGENT
    )
    grant = ChannelCreateSealPolicyOperator(
        task_id="grant_seal", seal_id=create.output, user_ids="{{ params.user_ids | tojson }}", **AGENT
    )
    check_conf >> create >> review >> grant
