"""DAGs built by tests: the same factory builds the in-memory DAG and the bundle file dag.test() parses."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from tests.conftest import OPERATOR, ORG, TEST_DAGS

AGENT = {"proxy_organization_open_id": ORG, "operator_open_id": OPERATOR}


def seal_dag(dag_id: str, create: dict | None = None, users: list | None = None, retries: int = 2,
             retry_seconds: float = 0.5, sensor: dict | None = None, agent: dict | None = None) -> DAG:
    """create → [review sensor] → grant, with fast retries; `agent` overrides the enterprise for every task."""
    agent = {**AGENT, **(agent or {})}
    from tencent_ess.operators import ChannelCreateSealPolicyOperator, CreateSealByImageOperator
    from tencent_ess.sensors import EssSealReviewSensor

    retry = {"retries": retries, "retry_delay": timedelta(seconds=retry_seconds), "retry_exponential_backoff": 0}
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), default_args=retry) as dag:
        op = CreateSealByImageOperator(task_id="create", **{
            "seal_name": "合同专用章", "seal_type": "CONTRACT", "generate_source": "SealGenerateSourceSystem",
            **agent, **(create or {})})
        grant = ChannelCreateSealPolicyOperator(task_id="grant", seal_id=op.output,
                                                user_ids=users or ["n9528", "n9529"], **agent)
        if sensor is not None:
            op >> EssSealReviewSensor(task_id="review", seal_id=op.output, **agent, **sensor) >> grant
    return dag


def build(factory: str, **kwargs: Any) -> DAG:
    """Write `<dag_id>.py` into the test bundle and return the same DAG built here."""
    source = (
        "# airflow DAG written by tests/dag_factories.py (the DagBag reads only files naming airflow and dag)\n"
        "import json\n"
        f"from tests.dag_factories import {factory}\n"
        f"dag = {factory}(**json.loads({json.dumps(json.dumps(kwargs, ensure_ascii=False))}))\n"
    )
    (TEST_DAGS / f"{kwargs['dag_id']}.py").write_text(source, encoding="utf-8")
    return globals()[factory](**kwargs)
