"""EssSealReviewSensor in dag.test() runs: defers to the trigger, resumes, fails on FAIL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.airflow_run import run_dag
from tests.conftest import conn_json, emulator_state
from tests.dag_factories import build

IMAGE = str(Path(__file__).resolve().parents[2] / "data/seals/sample_seal.png")
IMAGE_SEAL = {
    "seal_type": "PERSONNEL",
    "generate_source": "",
    "seal_image_path": IMAGE,
    "allow_absolute_image_path": True,
}


@pytest.fixture
def reviewing(make_emulator, monkeypatch):
    def start(**options):
        emulator = make_emulator(**options)
        monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
        return emulator

    return start


def test_sensor_defers_resumes_and_grant_follows(airflow_db, reviewing, monkeypatch):
    from tencent_ess.triggers import EssSealReviewTrigger

    events = []
    original = EssSealReviewTrigger.run

    async def spy(self):
        async for event in original(self):
            events.append(event.payload)
            yield event

    monkeypatch.setattr(EssSealReviewTrigger, "run", spy)
    emulator = reviewing(review_seconds=6)  # outlasts the run's set-up, so the first poke sees CHECKING
    dag = build(
        "seal_dag",
        dag_id="sensor_defer",
        create=IMAGE_SEAL,
        users=["n9528"],
        sensor={"poke_interval": 1, "deferrable": True},
    )
    result = run_dag(dag)
    assert result.state == "success", result.states
    assert [(e["status"], e["seal_status"]) for e in events] == [("success", "SUCCESS")], (
        "the sensor should have deferred to the trigger once"
    )
    assert result.xcom("review") == result.xcom("create")
    assert emulator_state(emulator)["seals"][0]["authorized_user_ids"] == ["n9528"]


def test_sensor_fails_with_the_fail_reason_and_no_retry(airflow_db, reviewing, capfd):
    emulator = reviewing(review_seconds=1)
    dag = build(
        "seal_dag",
        dag_id="sensor_fail",
        create=IMAGE_SEAL,
        users=["f0001"],
        sensor={"poke_interval": 1, "deferrable": True},
        agent={"proxy_organization_open_id": "org_review_fail", "operator_open_id": "f0001"},
    )
    result = run_dag(dag)
    assert result.states["review"] == "failed" and result.tries["review"] == 1
    assert result.states["grant"] == "upstream_failed"
    captured = capfd.readouterr()
    assert "refused in review" in captured.out + captured.err
    assert emulator_state(emulator)["request_counts"].get("ChannelCreateSealPolicy", 0) == 0


def test_sensor_in_poke_mode(airflow_db, reviewing):
    reviewing(review_seconds=1)
    dag = build(
        "seal_dag",
        dag_id="sensor_poke",
        create=IMAGE_SEAL,
        users=["n9528"],
        sensor={"poke_interval": 0.5, "deferrable": False, "mode": "poke"},
    )
    assert run_dag(dag).state == "success"
