"""ess_seal_setup, the DAG users trigger, under dag.test() against the emulator."""

from __future__ import annotations

import json

import pytest

from tests.airflow_run import run_dag
from tests.conftest import ROOT, SECRET_KEY, emulator_state


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags" / "ess_seal_setup.py")).dags["ess_seal_setup"]


def test_image_seal_waits_for_review_then_grants(airflow_db, dag, make_emulator, monkeypatch, capfd):
    from tests.conftest import conn_json

    emulator = make_emulator(review_seconds=2)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    conf = {"seal_name": "人事专用章", "seal_type": "PERSONNEL", "seal_image_path": "sample_seal.png",
            "user_ids": ["n9528"]}
    result = run_dag(dag, conf=conf)
    assert result.state == "success", result.states
    [seal] = emulator_state(emulator)["seals"]
    assert seal["seal_id"] == result.xcom("create_seal") and seal["authorized_user_ids"] == ["n9528"]
    everything = capfd.readouterr().out + json.dumps(result.rendered, ensure_ascii=False) + json.dumps(
        {f"{t}/{k}": v for (t, k), v in result.xcoms.items()}, default=str)
    assert SECRET_KEY not in everything


def test_defaults_twice_converge_to_one_seal(airflow_db, dag, ess_conn):
    first, second = run_dag(dag), run_dag(dag)
    assert first.state == second.state == "success"
    assert first.xcom("create_seal") == second.xcom("create_seal")
    assert second.xcom("grant_seal", "newly_granted") == []
    assert len(emulator_state(ess_conn)["seals"]) == 1
