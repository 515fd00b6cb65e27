"""DAGs built by tests: the same factory builds the in-memory DAG and the bundle file dag.test() parses."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG

from tests.conftest import OPERATOR, ORG, TEST_DAGS

AGENT = {"proxy_organization_open_id": ORG, "operator_open_id": OPERATOR}


def seal_dag(
    dag_id: str,
    create: dict | None = None,
    users: list | None = None,
    retries: int = 2,
    retry_seconds: float = 0.5,
    sensor: dict | None = None,
    agent: dict | None = None,
    grant: dict | None = None,
) -> DAG:
    """create → [review sensor] → grant, with fast retries; `agent` overrides the enterprise for every task, `grant`
    adds the grant's arguments."""
    agent = {**AGENT, **(agent or {})}
    from tencent_ess.operators import ChannelCreateSealPolicyOperator, CreateSealByImageOperator
    from tencent_ess.sensors import EssSealReviewSensor

    retry = {"retries": retries, "retry_delay": timedelta(seconds=retry_seconds), "retry_exponential_backoff": 0}
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), default_args=retry) as dag:
        op = CreateSealByImageOperator(
            task_id="create",
            **{
                "seal_name": "合同专用章",
                "seal_type": "CONTRACT",
                "generate_source": "SealGenerateSourceSystem",
                **agent,
                **(create or {}),
            },
        )
        granting = ChannelCreateSealPolicyOperator(
            task_id="grant", seal_id=op.output, user_ids=users or ["n9528", "n9529"], **agent, **(grant or {})
        )
        if sensor is not None:
            op >> EssSealReviewSensor(task_id="review", seal_id=op.output, **agent, **sensor) >> granting
    return dag


def record_failure(context: dict) -> None:
    """on_failure_callback: one line per failed task with its exception text, for tests to read back."""
    ti = context["ti"]
    line = json.dumps(
        {"task_id": ti.task_id, "try_number": ti.try_number, "error": str(context.get("exception"))}, ensure_ascii=False
    )
    with (TEST_DAGS / f"{ti.dag_id}.failures.jsonl").open("a", encoding="utf-8") as out:
        out.write(line + "\n")


def failures(dag_id: str) -> dict[str, str]:
    """task_id → exception text of every task that failed in `dag_id` (see record_failure)."""
    file = TEST_DAGS / f"{dag_id}.failures.jsonl"
    lines = file.read_text(encoding="utf-8").splitlines() if file.exists() else []
    return {row["task_id"]: row["error"] for row in map(json.loads, lines)}


def cases_dag(dag_id: str, cases: list[dict]) -> DAG:
    """One independent task per case: {"task_id", "op": "create" | "grant", "kwargs"}; failures recorded."""
    from tencent_ess.operators import ChannelCreateSealPolicyOperator, CreateSealByImageOperator

    operators = {"create": CreateSealByImageOperator, "grant": ChannelCreateSealPolicyOperator}
    default_args = {
        "retries": 2,
        "retry_delay": timedelta(seconds=0.5),
        "retry_exponential_backoff": 0,
        "on_failure_callback": record_failure,
    }
    with DAG(
        dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), default_args=default_args
    ) as dag:
        for case in cases:
            operators[case["op"]](task_id=case["task_id"], **{**AGENT, **case["kwargs"]})
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


def lifecycle_dag(dag_id: str, users: list | None = None) -> DAG:
    """Every operator in turn on one system-drawn seal: create → grant → revoke one user → disable."""
    from tencent_ess.operators import (
        ChannelCreateSealPolicyOperator,
        ChannelDeleteSealPoliciesOperator,
        ChannelUpdateSealStatusOperator,
        CreateSealByImageOperator,
    )

    users = users or ["n9528", "n9529"]
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC")) as dag:
        create = CreateSealByImageOperator(task_id="create", seal_name="全流程章", seal_type="OTHER", **AGENT)
        grant = ChannelCreateSealPolicyOperator(task_id="grant", seal_id=create.output, user_ids=users, **AGENT)
        revoke = ChannelDeleteSealPoliciesOperator(task_id="revoke", seal_id=create.output, user_ids=users[1:], **AGENT)
        disable = ChannelUpdateSealStatusOperator(task_id="disable", seal_id=create.output, reason="生命周期", **AGENT)
        grant >> revoke >> disable
    return dag
