"""Run a DAG with dag.test() and read back what Airflow recorded: states, tries, XComs, rendered fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunResult:
    state: str
    run_id: str
    states: dict[str, str] = field(default_factory=dict)  # task_id[map_index] → state
    tries: dict[str, int] = field(default_factory=dict)
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)  # (task_id, key) → value
    rendered: dict[str, Any] = field(default_factory=dict)

    def xcom(self, task_id: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_id, key))


def _task_key(task_id: str, map_index: int) -> str:
    return task_id if map_index < 0 else f"{task_id}[{map_index}]"


def run_dag(
    dag: Any, conf: dict | None = None, logical_date: Any = None, run_after: Any = None, no_logical_date: bool = False
) -> RunResult:
    """`dag.test()`; the same `logical_date` and `run_after` give the same run_id again (a re-run, as a clear).
    `no_logical_date`: a run made without one, as `airflow dags trigger` makes it."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    kwargs: dict[str, Any] = {"run_conf": conf}
    if logical_date is not None or no_logical_date:
        kwargs["logical_date"] = logical_date
    if run_after is not None:
        kwargs["run_after"] = run_after
    dr = dag.test(**kwargs)
    result = RunResult(state=str(dr.state), run_id=dr.run_id)
    with create_session() as session:
        for ti in session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=dr.run_id):
            key = _task_key(ti.task_id, ti.map_index)
            result.states[key] = str(ti.state)
            result.tries[key] = ti.try_number
        for row in session.query(XComModel).filter_by(dag_id=dag.dag_id, run_id=dr.run_id):
            result.xcoms[(_task_key(row.task_id, row.map_index), row.key)] = XComModel.deserialize_value(row)
        for row in session.query(RenderedTaskInstanceFields).filter_by(dag_id=dag.dag_id, run_id=dr.run_id):
            result.rendered[_task_key(row.task_id, row.map_index)] = row.rendered_fields
    return result
