"""ess_tenant_onboarding under dag.test() against the emulator: reviews, re-runs, skips, bad entries."""

from __future__ import annotations

import json
import shutil

import pendulum
import pytest

from tests.airflow_run import run_dag
from tests.conftest import ROOT, emulator_state

DAY = "2026-11-01"


@pytest.fixture
def onboarding(airflow_db, monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    manifests, reports = tmp_path / "tenants", tmp_path / "reports"
    (tmp_path / "seals").mkdir()
    shutil.copy(ROOT / "data/seals/sample_seal.png", tmp_path / "seals/sample_seal.png")
    manifests.mkdir()
    monkeypatch.setenv("AIRFLOW_VAR_ESS_TENANT_MANIFEST_DIR", str(manifests))
    monkeypatch.setenv("AIRFLOW_VAR_ESS_REPORT_DIR", str(reports))
    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_tenant_onboarding.py")).dags["ess_tenant_onboarding"]
    return dag, manifests, reports


def run_day(dag, day=DAY, **params):
    conf = {"review_poll_seconds": 1, **params}
    return run_dag(dag, conf=conf, logical_date=pendulum.parse(day))


def sample(manifests, day=DAY):
    entries = json.loads((ROOT / "data/tenants/2026-11-01.json").read_text(encoding="utf-8"))
    (manifests / f"{day}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return entries


def test_image_tenant_waits_for_review_and_a_rerun_converges(onboarding, make_emulator, monkeypatch):
    from tests.conftest import conn_json

    dag, manifests, reports = onboarding
    emulator = make_emulator(review_seconds=2)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    entries = sample(manifests)
    first = run_day(dag)
    assert first.state == "success", first.states
    seals = emulator_state(emulator)["seals"]
    assert sorted(s["seal_name"] for s in seals) == sorted(e["seal_name"] for e in entries)
    for entry in entries:
        [seal] = [s for s in seals if s["organization_open_id"] == entry["proxy_organization_open_id"]]
        assert seal["seal_status"] == "SUCCESS" and seal["authorized_user_ids"] == entry["user_ids"]
    creates = emulator_state(emulator)["request_counts"]["CreateSealByImage"]
    grants = emulator_state(emulator)["request_counts"]["ChannelCreateSealPolicy"]

    second = run_day(dag)
    assert second.state == "success"
    after = emulator_state(emulator)
    assert len(after["seals"]) == len(entries)
    assert after["request_counts"]["CreateSealByImage"] == creates  # nothing created again
    assert after["request_counts"]["ChannelCreateSealPolicy"] == grants  # nothing granted twice
    report = json.loads(next((reports / DAY).glob("*.json")).read_text(encoding="utf-8"))
    assert report["summary"]["by_status"] == {"done": len(entries)}
    assert (reports / DAY / (next((reports / DAY).glob("*.json")).stem + ".csv")).exists()


def test_no_manifest_skips_cleanly(onboarding, ess_conn):
    dag, _, _ = onboarding
    result = run_day(dag, day="2026-11-02")
    assert result.state == "success" and result.states["plan"] == "skipped"
    assert emulator_state(ess_conn)["request_counts"] == {}


def test_bad_entry_is_reported_and_the_rest_complete(onboarding, ess_conn):
    dag, manifests, reports = onboarding
    entries = sample(manifests)[:2]
    bad = {**entries[0], "seal_name": "章" * 51, "proxy_organization_open_id": "org_dianziqian"}
    (manifests / f"{DAY}.json").write_text(json.dumps(entries + [bad, entries[1]], ensure_ascii=False), "utf-8")
    result = run_day(dag)
    assert result.states["report"] == "failed" and result.tries["report"] == 1
    report = json.loads(next((reports / DAY).glob("*.json")).read_text(encoding="utf-8"))
    rows = {row["index"]: row for row in report["tenants"]}
    assert rows[0]["status"] == rows[1]["status"] == "done"
    assert "entry 2: seal_name" in rows[2]["error"] and "entry 3: seal_name: duplicate" in rows[3]["error"]
    assert len(emulator_state(ess_conn)["seals"]) == 2


def test_malformed_manifest_fails_naming_the_file(onboarding, ess_conn):
    dag, manifests, _ = onboarding
    (manifests / f"{DAY}.json").write_text('{"not": "a list"}', encoding="utf-8")
    result = run_day(dag)
    assert result.states["plan"] == "failed" and result.tries["plan"] == 1
