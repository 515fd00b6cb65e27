"""docker-compose.yaml and the Dockerfile, checked without a Docker engine: services, volumes, wiring."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import ROOT

AIRFLOW_SERVICES = {"airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer", "airflow-init"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))


def test_services(compose):
    assert set(compose["services"]) == AIRFLOW_SERVICES | {"postgres", "redis", "ess-emulator"}


@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_airflow_services_share_image_executor_and_connection(compose, name):
    service = compose["services"][name]
    env = service["environment"]
    assert service["build"] == "." and env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "postgres" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] and env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    default_conn = re.fullmatch(r"\$\{ESS_CONNECTION:-(.*)\}", env["AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT"]).group(1)
    conn = json.loads(default_conn)
    assert conn["conn_type"] == "tencentcloud_ess" and conn["extra"]["endpoint"] == "http://ess-emulator:8964"
    assert {"./dags:/opt/airflow/dags", "./data:/opt/airflow/data"} <= {v.replace("${AIRFLOW_PROJ_DIR:-.}", ".")
                                                                        for v in service["volumes"]}
    if name != "airflow-init":
        assert "ess-emulator" in service["depends_on"]


def test_emulator_service_is_durable_and_healthchecked(compose):
    emulator = compose["services"]["ess-emulator"]
    command = emulator["command"]
    assert command[:3] == ["python", "-m", "ess_emulator"] and command[command.index("--db") + 1].startswith("/data/")
    assert emulator["volumes"] == ["ess-emulator-volume:/data"] and "ess-emulator-volume" in compose["volumes"]
    assert "/_emulator/health" in " ".join(emulator["healthcheck"]["test"])


def test_the_default_connection_is_accepted_by_the_hook(compose):
    from tencent_ess.hooks import parse_endpoint

    raw = compose["services"]["airflow-worker"]["environment"]["AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT"]
    conn = json.loads(raw[len("${ESS_CONNECTION:-"):-1])
    assert parse_endpoint(conn["extra"]["endpoint"], conn["extra"]["allow_plain_http"]) == ("http", "ess-emulator:8964")


def test_dockerfile_installs_pinned_requirements_and_the_provider():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("# ") and "FROM apache/airflow:3.3.2-python3.11" in text
    assert "-r /opt/ess/requirements.txt -c /opt/ess/constraints.txt" in text and "--no-deps /opt/ess" in text


def test_requirements_are_pinned_exactly():
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in (ROOT / name).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line.strip()), line
