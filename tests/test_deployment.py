"""docker-compose.yaml and the Dockerfile, checked without a Docker engine: services, volumes, wiring."""

from __future__ import annotations

import json
import re
import sys

import pytest
import yaml

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from stack import DEPLOYMENT_KEYS, Stack, read_env_file  # noqa: E402

AIRFLOW_SERVICES = {
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yaml").read_text(encoding="utf-8"))


def test_services(compose):
    assert set(compose["services"]) == AIRFLOW_SERVICES | {"postgres", "redis", "ess-emulator"}


@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_airflow_services_share_image_executor_and_settings(compose, name):
    service = compose["services"][name]
    env = service["environment"]
    assert service["build"] == "." and read_env_file()["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert "postgres" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] and env["AIRFLOW__CELERY__BROKER_URL"].startswith(
        "redis://"
    )
    # the connection is in the metadata DB (airflow-init stores it), never an env var the UI cannot override
    assert not [key for key in env if key.startswith("AIRFLOW_CONN_")]
    assert {"./dags:/opt/airflow/dags", "./data:/opt/airflow/data"} <= {
        v.replace("${AIRFLOW_PROJ_DIR:-.}", ".") for v in service["volumes"]
    }
    if name != "airflow-init":
        assert "ess-emulator" in service["depends_on"]


def test_emulator_service_is_durable_and_healthchecked(compose):
    emulator = compose["services"]["ess-emulator"]
    command = emulator["command"]
    assert command[:3] == ["python", "-m", "ess_emulator"] and command[command.index("--db") + 1].startswith("/data/")
    assert emulator["volumes"] == ["ess-emulator-volume:/data"] and "ess-emulator-volume" in compose["volumes"]
    assert "/_emulator/health" in " ".join(emulator["healthcheck"]["test"])


def test_the_default_connection_is_accepted_by_the_hook(compose):
    from airflow.sdk import Connection

    from tencent_ess.hooks import settings_from_connection

    init = compose["services"]["airflow-init"]
    assert "/opt/ess/deploy/seed_connection.py" in init["command"][-1]
    assert "COPY --chown=airflow:root deploy/seed_connection.py /opt/ess/deploy/" in (ROOT / "Dockerfile").read_text()
    default = re.fullmatch(r"\$\{ESS_CONNECTION:-(.*)\}", init["environment"]["ESS_CONNECTION"]).group(1)
    conn = Connection.from_json(default, conn_id="tencentcloud_ess_default")
    settings = settings_from_connection(conn)
    assert (settings.scheme, settings.netloc) == ("http", "ess-emulator:8964")


# ------------------------------------------------------------------ one source of truth with the native stack
@pytest.mark.parametrize("name", sorted(AIRFLOW_SERVICES))
def test_compose_and_the_native_stack_share_one_settings_file(compose, name):
    """Shared settings live only in deploy/airflow.env (compose's env_file, scripts/stack.py reads it); each
    deployment sets exactly the names in stack.DEPLOYMENT_KEYS, and none of the shared ones."""
    service = compose["services"][name]
    assert service["env_file"] == ["deploy/airflow.env"] and (ROOT / "deploy" / "airflow.env").is_file()
    own = {key for key in service["environment"] if key.startswith("AIRFLOW")}
    assert own == set(DEPLOYMENT_KEYS), own ^ set(DEPLOYMENT_KEYS)
    assert not own & set(read_env_file())


def test_the_native_stack_sets_every_deployment_key_and_reads_the_shared_file(tmp_path):
    stack = Stack(tmp_path, postgres_url="postgresql+psycopg2://u:p@127.0.0.1:1/db", redis_url="redis://127.0.0.1:2/0")
    stack.emulator_url = "http://127.0.0.1:3"
    assert set(stack.deployment_env()) == set(DEPLOYMENT_KEYS)
    env = stack._airflow_env()
    for key, value in read_env_file().items():
        assert env[key] == value, key
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert not [key for key in env if key.startswith("AIRFLOW_CONN_")]  # stored in the DB: the UI edits it
    assert json.loads(stack.connection())["port"] == 3


def test_the_connection_is_stored_once_and_the_uis_edits_win(airflow_db, monkeypatch):
    """deploy/seed_connection.py: stores the connection; keeps one someone edited; replaces one still as it left
    it (a local emulator's port moves with each start)."""
    sys.path.insert(0, str(ROOT / "deploy"))
    from airflow.models import Connection
    from airflow.utils.session import create_session
    from seed_connection import seed

    def stored() -> Connection:
        with create_session() as session:
            conn = session.query(Connection).filter_by(conn_id="ess_seeded").one()
            session.expunge(conn)
            return conn

    first = json.dumps({"conn_type": "tencentcloud_ess", "host": "127.0.0.1", "port": 1, "password": "k1"})
    moved = json.dumps({"conn_type": "tencentcloud_ess", "host": "127.0.0.1", "port": 2, "password": "k1"})
    assert "stored" in seed("ess_seeded", first) and stored().port == 1
    assert "kept" in seed("ess_seeded", moved) and stored().port == 1  # no record of what it stored: kept
    assert "updated" in seed("ess_seeded", moved, previous_json=first) and stored().port == 2
    with create_session() as session:  # an edit in the UI
        session.query(Connection).filter_by(conn_id="ess_seeded").one().password = "edited"
    message = seed("ess_seeded", first, previous_json=moved)
    assert "kept" in message and (stored().port, stored().password) == (2, "edited")
    assert "k1" not in message and "edited" not in message


def test_shared_settings_are_what_celery_needs():
    shared = read_env_file()
    assert shared["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert shared["AIRFLOW__CORE__TEST_CONNECTION"] == "Enabled"
    assert shared["AIRFLOW__CORE__AUTH_MANAGER"].endswith("SimpleAuthManager")


def test_keys_are_required_and_the_emulator_stays_on_loopback(compose):
    env = compose["x-airflow-common"]["environment"]
    # compose's ${VAR:?message}: `docker compose up` refuses to start without them
    assert re.fullmatch(r"\$\{AIRFLOW_FERNET_KEY:\?.+\}", env["AIRFLOW__CORE__FERNET_KEY"])
    assert re.fullmatch(r"\$\{AIRFLOW_JWT_SECRET:\?.+\}", env["AIRFLOW__API_AUTH__JWT_SECRET"])
    assert compose["services"]["ess-emulator"]["ports"] == ["127.0.0.1:8964:8964"]


def test_dockerfile_installs_pinned_requirements_and_the_provider():
    text = (ROOT / "Dockerfile").read_text()
    assert text.startswith("# ") and "FROM apache/airflow:3.3.2-python3.11" in text
    assert "-r /opt/ess/requirements.txt -c /opt/ess/constraints.txt" in text and "--no-deps /opt/ess" in text


def test_requirements_are_pinned_exactly():
    for name in ("requirements.txt", "requirements-test.txt"):
        for line in (ROOT / name).read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                assert re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", line.strip()), line
