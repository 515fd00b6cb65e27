"""Both DAGs under every reading of the API the sources leave open (the emulator's profiles, ESS_API.md "Other
readings"): a super-admin review stage, 33-character ids with '=', an empty SealId from an image create, CreateOn
in milliseconds, image seals that report their physical size. Each profile runs the paths it changes: an image seal
created, reviewed, granted, and re-run over. Where the reading leaves nothing to do (an operator without the
seal-query permission), the run fails closed, naming the operator and the permission, and grants no one."""

from __future__ import annotations

import json
import shutil

import pytest

from ess_emulator import PROFILES
from tests.airflow_run import run_dag
from tests.conftest import ROOT, conn_json, emulator_state
from tests.dags.test_seal_setup import IDENTITY
from tests.dags.test_tenant_onboarding import DAY, read_report, run_day

#: Readings under which no seal can be looked at: the runs must fail, naming why, and grant no one.
NO_DESCRIBE = "no-query-permission"
WORKING = sorted(set(PROFILES) - {NO_DESCRIBE})
PERMISSION_WORDS = "lacks the seal-query permission (印章查询)"


@pytest.mark.parametrize("profile", WORKING)
def test_seal_setup_creates_reviews_and_grants_an_image_seal_under_every_reading(
    airflow_db, make_emulator, monkeypatch, profile
):
    from airflow.dag_processing.dagbag import DagBag

    emulator = make_emulator(review_seconds=3, profiles=[profile])
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_seal_setup.py")).dags["ess_seal_setup"]
    conf = {
        **IDENTITY,
        "seal_name": "人事专用章",
        "seal_type": "PERSONNEL",
        "seal_image_path": "sample_seal.png",
        "seal_size": "45_45",
        "user_ids": ["n9528"],
    }
    result = run_dag(dag, conf=conf)
    assert result.state == "success", result.states
    [seal] = emulator_state(emulator)["seals"]
    assert result.xcom("create_seal") == seal["seal_id"] != "", "never an empty SealId in XCom"
    assert seal["seal_status"] == "SUCCESS" and seal["authorized_user_ids"] == ["n9528"]
    again = run_dag(dag, conf={**conf, "user_ids": ["n9528", "n9529"]})  # a re-run over the image seal reuses it
    assert again.state == "success", again.states
    [seal] = emulator_state(emulator)["seals"]
    assert again.xcom("create_seal") == seal["seal_id"] and seal["authorized_user_ids"] == ["n9528", "n9529"]


def test_seal_setup_without_the_seal_query_permission_fails_naming_operator_and_permission(
    airflow_db, make_emulator, monkeypatch, capfd
):
    from airflow.dag_processing.dagbag import DagBag

    emulator = make_emulator(review_seconds=1, profiles=[NO_DESCRIBE])
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_seal_setup.py")).dags["ess_seal_setup"]
    conf = {
        **IDENTITY,
        "seal_name": "人事专用章",
        "seal_type": "PERSONNEL",
        "seal_image_path": "sample_seal.png",
        "user_ids": ["n9528"],
    }
    result = run_dag(dag, conf=conf)
    assert result.state == "failed" and result.states["wait_for_review"] == "failed", result.states
    assert result.tries["wait_for_review"] == 1, "a missing permission is permanent: not retried"
    assert f"operator {IDENTITY['operator_open_id']!r} {PERMISSION_WORDS}" in "".join(capfd.readouterr())
    assert all(seal["authorized_user_ids"] == [] for seal in emulator_state(emulator)["seals"])


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_onboarding_converges_under_every_reading(airflow_db, make_emulator, monkeypatch, tmp_path, profile):
    from airflow.dag_processing.dagbag import DagBag

    manifests, reports = tmp_path / "tenants", tmp_path / "reports"
    manifests.mkdir()
    (tmp_path / "seals").mkdir()
    shutil.copy(ROOT / "data/seals/sample_seal.png", tmp_path / "seals/sample_seal.png")
    monkeypatch.setenv("AIRFLOW_VAR_ESS_TENANT_MANIFEST_DIR", str(manifests))
    monkeypatch.setenv("AIRFLOW_VAR_ESS_REPORT_DIR", str(reports))
    monkeypatch.setenv("AIRFLOW_VAR_ESS_SEAL_IMAGE_DIR", str(tmp_path / "seals"))
    emulator = make_emulator(review_seconds=3, profiles=[profile])
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    entries = json.loads((ROOT / "data/tenants/2026-11-01.json").read_text(encoding="utf-8"))
    (manifests / f"{DAY}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_tenant_onboarding.py")).dags["ess_tenant_onboarding"]

    first = run_day(dag)
    if profile == NO_DESCRIBE:  # fails closed: every tenant's row names the operator and the permission
        assert first.state == "failed" and first.states["report"] == "failed", first.states
        rows = read_report(reports, run_id=first.run_id)["tenants"]
        assert rows and all(r["status"] == "failed" and PERMISSION_WORDS in r["error"] for r in rows)
        assert emulator_state(emulator)["seals"] == []
        return
    assert first.state == "success", first.states
    seals = emulator_state(emulator)["seals"]
    rows = read_report(reports, run_id=first.run_id)["tenants"]
    assert sorted(r["seal_id"] for r in rows) == sorted(s["seal_id"] for s in seals) and all(r["seal_id"] for r in rows)
    assert all(s["seal_status"] == "SUCCESS" for s in seals)
    again = run_day(dag)  # a re-run over the existing seals changes nothing
    assert again.state == "success", again.states
    assert len(emulator_state(emulator)["seals"]) == len(entries)
    assert emulator_state(emulator)["request_counts"]["CreateSealByImage"] == len(entries)


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_every_operator_under_every_reading(airflow_db, make_emulator, monkeypatch, profile):
    """create → grant → revoke → disable, each operator once, under each reading; without the seal-query permission
    the disable (which looks at the seal first) fails naming it, and the seal stays enabled."""
    from tests.dag_factories import build

    emulator = make_emulator(profiles=[profile])
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    result = run_dag(build("lifecycle_dag", dag_id=f"lifecycle_{profile.replace('-', '_')}"))
    [seal] = emulator_state(emulator)["seals"]
    assert result.xcom("create") == seal["seal_id"] != ""
    assert seal["authorized_user_ids"] == ["n9528"]
    if profile == NO_DESCRIBE:
        assert result.states["disable"] == "failed" and seal["seal_status"] == "SUCCESS", result.states
    else:
        assert result.state == "success", result.states
        assert seal["seal_status"] == "DISABLE"
