"""ess_sandbox_check end to end under dag.test() against the emulator: the report read back from disk, the task's
XCom and log, under the documented reading and under several readings at once; no SecretKey anywhere."""

from __future__ import annotations

import json
import logging

import pytest

from tests.airflow_run import run_dag
from tests.conftest import AIRFLOW_HOME, ROOT, SECRET_KEY, conn_json, emulator_state

CONF = {
    "proxy_organization_open_id": "org_dianziqian",
    "operator_open_id": "n9527",
    "user_ids": ["n9528", "n9529"],
    "review_wait_seconds": 15,
    "poll_seconds": 0.2,
}
#: Every reading at once that leaves each check answerable (no-query-permission would leave most unanswered).
COMBINED = ["createon-ms", "empty-image-id", "id33", "image-size", "sadm"]


@pytest.fixture
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags" / "ess_sandbox_check.py")).dags["ess_sandbox_check"]


def _files_text(folder) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("profiles", [[], COMBINED], ids=["documented", "combined"])
def test_the_dag_writes_the_parity_report_and_leaks_no_secret(
    airflow_db, dag, make_emulator, monkeypatch, tmp_path, capfd, caplog, profiles
):
    from tencent_ess.onboarding.locations import run_name

    caplog.set_level(logging.DEBUG)
    emulator = make_emulator(review_seconds=2, profiles=profiles)
    monkeypatch.setenv("AIRFLOW_CONN_ESS_SANDBOX", conn_json(emulator))
    monkeypatch.setenv("AIRFLOW_VAR_ESS_SANDBOX_CONN_ID", "ess_sandbox")
    monkeypatch.setenv("AIRFLOW_VAR_ESS_REPORT_DIR", str(tmp_path / "reports"))

    result = run_dag(dag, conf=CONF)

    assert result.state == "success", result.states
    path = tmp_path / "reports" / "sandbox-check" / f"{run_name(result.run_id)}.json"
    report = json.loads(path.read_text(encoding="utf-8"))
    xcom = result.xcom("check")
    assert xcom == {"report": str(path), "summary": report["summary"]}
    assert report["run_id"] == result.run_id and report["endpoint"] == emulator.endpoint
    assert report["matching_profiles"] == sorted(profiles) and report["unexplained"] == []
    contradicted = {f["id"]: f["profile"] for f in report["findings"] if f["verdict"] == "contradicted"}
    assert sorted(contradicted.values()) == sorted(profiles)
    assert all(f["verdict"] == "verified" for f in report["findings"] if f["id"] not in contradicted)
    made = [s for s in emulator_state(emulator)["seals"] if s["seal_name"].startswith("ESSCHECK-")]
    assert len(made) == 2 and {s["seal_status"] for s in made} == {"DISABLE"}

    out, err = capfd.readouterr()
    log = out + err + caplog.text
    assert "seal_id_format" in log and "describe_limit_above_100" in log  # the table reached the task log
    places = {
        "report": path.read_text(encoding="utf-8"),
        "xcom": json.dumps(xcom, default=str),
        "log": log,
        "airflow home (logs, database)": _files_text(AIRFLOW_HOME),
    }
    for place, text in places.items():
        assert SECRET_KEY not in text, f"SecretKey found in {place}"


def test_an_unknown_conf_key_fails_before_any_call(
    airflow_db, dag, make_emulator, monkeypatch, tmp_path, capfd, caplog
):
    emulator = make_emulator()
    monkeypatch.setenv("AIRFLOW_CONN_ESS_SANDBOX", conn_json(emulator))
    monkeypatch.setenv("AIRFLOW_VAR_ESS_SANDBOX_CONN_ID", "ess_sandbox")
    monkeypatch.setenv("AIRFLOW_VAR_ESS_REPORT_DIR", str(tmp_path / "reports"))
    result = run_dag(dag, conf={**CONF, "poll_second": 1})
    assert result.state == "failed" and result.tries["check"] == 1  # no retry: a retry would make new seals
    assert sum(emulator_state(emulator)["request_counts"].values()) == 0
    out, err = capfd.readouterr()
    assert "'poll_second' (did you mean 'poll_seconds'?)" in out + err + caplog.text


def test_without_its_own_connection_the_check_refuses_to_run(
    airflow_db, dag, make_emulator, monkeypatch, tmp_path, capfd
):
    """Never the deployment's connection by default: pointed at production, the check would make seals there."""
    production = make_emulator()
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(production))
    monkeypatch.delenv("AIRFLOW_VAR_ESS_SANDBOX_CONN_ID", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_ESS_REPORT_DIR", str(tmp_path / "reports"))
    result = run_dag(dag, conf=CONF)
    assert result.state == "failed" and result.tries["check"] == 1
    assert sum(emulator_state(production)["request_counts"].values()) == 0
    assert "Variable ess_sandbox_conn_id is not set" in "".join(capfd.readouterr())


def test_the_sandbox_connection_variable_leaves_the_deployments_connection_alone(
    airflow_db, dag, make_emulator, monkeypatch, tmp_path
):
    """Variable `ess_sandbox_conn_id` names the sandbox's connection: the onboarding's (`ess_conn_id`) is not used."""
    production, sandbox = make_emulator(), make_emulator(review_seconds=1)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(production))
    monkeypatch.setenv("AIRFLOW_CONN_ESS_SANDBOX", conn_json(sandbox))
    monkeypatch.setenv("AIRFLOW_VAR_ESS_SANDBOX_CONN_ID", "ess_sandbox")
    monkeypatch.setenv("AIRFLOW_VAR_ESS_REPORT_DIR", str(tmp_path / "reports"))
    result = run_dag(dag, conf={**CONF, "review_wait_seconds": 10})
    assert result.state == "success", result.states
    assert sum(emulator_state(production)["request_counts"].values()) == 0
    assert len(emulator_state(sandbox)["seals"]) == 2
