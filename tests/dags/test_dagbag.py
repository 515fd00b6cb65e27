"""Both DAG files: import cleanly, carry tags, owner and retries, and touch no network or database at parse time."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors_and_both_dags(dagbag):
    assert dagbag.import_errors == {}
    assert {"ess_seal_setup", "ess_tenant_onboarding"} <= set(dagbag.dag_ids)


@pytest.mark.parametrize("dag_id", ["ess_seal_setup", "ess_tenant_onboarding"])
def test_tags_owner_retries(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags and "tencent-ess" in dag.tags
    for task in dag.tasks:
        assert task.owner == "platform", task.task_id
        assert task.retries >= 2, task.task_id


def test_trigger_form_params(dagbag):
    params = dagbag.dags["ess_seal_setup"].params
    assert set(params) >= {
        "proxy_organization_open_id",
        "operator_open_id",
        "seal_name",
        "seal_type",
        "generate_source",
        "seal_style",
        "seal_size",
        "seal_horizontal_text",
        "seal_image_path",
        "user_ids",
    }
    assert params.get_param("seal_type").schema["enum"][0] == "OFFICIAL"
    assert params.get_param("seal_name").schema["maxLength"] == 50
    assert params.get_param("user_ids").schema["type"] == "array"


@pytest.mark.parametrize(
    "name",
    [
        "ess_seal_setup.py",
        "ess_tenant_onboarding.py",
        "ess_sandbox_check.py",
        "ess_report_consumer.py",
        "ess_tenant_drift_alarm.py",
    ],
)
def test_dag_files_import_without_network_or_database(name, tmp_path):
    """Parse in a fresh interpreter where any socket connect or sqlite open raises."""
    probe = f"""
import socket, sqlite3, sys, runpy
def refuse(*a, **k): raise RuntimeError("network or database touched at parse time")
socket.socket.connect = refuse
sqlite3.connect = refuse
sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / "plugins")!r}]
runpy.run_path({str(ROOT / "dags" / name)!r})
print("parsed")
"""
    run = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env={"AIRFLOW_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert run.returncode == 0 and "parsed" in run.stdout, run.stderr[-2000:]


def test_bench_dags_parse():
    """The naive baseline and the parse-time yardstick `make bench` uses: a bench must not fail on an import."""
    from airflow.dag_processing.dagbag import DagBag

    bench = DagBag(dag_folder=str(ROOT / "bench" / "dags"))
    assert bench.import_errors == {}
    naive = bench.dags["ess_naive_onboarding"]
    assert {"tenants", "create_seal", "grant_seal"} == set(naive.task_ids)
    minimal = DagBag(dag_folder=str(ROOT / "bench" / "minimal_dag.py"))
    assert minimal.import_errors == {} and list(minimal.dag_ids) == ["minimal"]


def test_parsing_the_onboarding_dag_loads_no_api_client_code():
    """Review finding (this change): the manifest sensor imported the onboarding engine for one helper, so every
    parse of the DAG file loaded the hook, the seal operations and the vendor SDK's modules."""
    dag_file = str(ROOT / "dags" / "ess_tenant_onboarding.py")
    code = (
        f"import sys, runpy; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'plugins')!r}]; runpy.run_path({dag_file!r});"
        "print(sorted(m for m in sys.modules if m.startswith(('tencent_ess.hooks', 'tencent_ess.seals',"
        " 'tencent_ess.onboarding.engine', 'tencentcloud'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_parsing_the_sandbox_check_dag_loads_no_api_client_code():
    """The sandbox self-check's task code (`tencent_ess.sandbox`) and what it calls are imported by the task only."""
    loaded = "'tencent_ess.hooks', 'tencent_ess.seals', 'tencent_ess.sandbox', 'tencent_ess.validation', 'tencentcloud'"
    code = (
        f"import sys, runpy; sys.path[:0] = [{str(ROOT)!r}, {str(ROOT / 'plugins')!r}];"
        f"runpy.run_path({str(ROOT / 'dags' / 'ess_sandbox_check.py')!r});"
        f"print(sorted(m for m in sys.modules if m.startswith(({loaded}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_the_onboarding_dags_task_ids_are_the_ones_its_task_bodies_use():
    """The task bodies pull each other's XComs and count the quota's sharers by task id: the DAG must name its tasks
    with the same constants (`tencent_ess.onboarding`), or the bodies would find nothing."""
    from airflow.dag_processing.dagbag import DagBag

    from tencent_ess.onboarding import FINISH_TASK, GUARD_TASK, ONBOARD_TASK, PLAN_TASK, REPORT_TASK

    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_tenant_onboarding.py")).dags["ess_tenant_onboarding"]
    assert {PLAN_TASK, GUARD_TASK, ONBOARD_TASK, FINISH_TASK, REPORT_TASK} <= set(dag.task_ids)
