"""The naive way, for `make bench` only: one mapped task instance per tenant per step (create, then grant).

It reads the same manifests as `ess_tenant_onboarding` and uses the same operators, so the only
difference measured is the shape of the DAG: Airflow's cost per task instance against one API call.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import Variable, dag, task

from tencent_ess.operators import ChannelCreateSealPolicyOperator, CreateSealByImageOperator

SEAL_KEYS = (
    "seal_name",
    "seal_type",
    "generate_source",
    "seal_style",
    "seal_size",
    "seal_horizontal_text",
    "seal_image_path",
)


def _create_kwargs(tenant: dict[str, Any]) -> dict[str, Any]:
    agent = {
        "proxy_organization_open_id": tenant["proxy_organization_open_id"],
        "operator_open_id": tenant["operator_open_id"],
    }
    return {**agent, **{key: tenant[key] for key in SEAL_KEYS if key in tenant}}


def _grant_kwargs(pair: tuple[dict[str, Any], str]) -> dict[str, Any]:
    tenant, seal_id = pair
    return {
        "proxy_organization_open_id": tenant["proxy_organization_open_id"],
        "operator_open_id": tenant["operator_open_id"],
        "seal_id": seal_id,
        "user_ids": tenant["user_ids"],
    }


@dag(
    dag_id="ess_naive_onboarding",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    tags=["bench"],
    default_args={"retries": 3},
)
def ess_naive_onboarding():
    @task
    def tenants(ds: str | None = None) -> list[dict[str, Any]]:
        from airflow.sdk.exceptions import AirflowSkipException

        path = Path(Variable.get("ess_tenant_manifest_dir")) / f"{ds}.json"
        if not path.exists():
            raise AirflowSkipException(f"no manifest at {path}")
        return json.loads(path.read_text(encoding="utf-8"))

    planned = tenants()
    create = CreateSealByImageOperator.partial(task_id="create_seal").expand_kwargs(planned.map(_create_kwargs))
    ChannelCreateSealPolicyOperator.partial(task_id="grant_seal").expand_kwargs(
        planned.zip(create.output).map(_grant_kwargs)
    )


ess_naive_onboarding()
