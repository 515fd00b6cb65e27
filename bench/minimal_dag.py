"""The yardstick for DAG parse time: a minimal `airflow.sdk` DAG file with one task."""

from __future__ import annotations

from airflow.sdk import dag, task


@dag(dag_id="minimal", schedule=None)
def minimal():
    @task
    def hello() -> str:
        return "hello"

    hello()


minimal()
