"""Shared fixtures: an emulator on a free port, and official-SDK clients pointed at it."""

from __future__ import annotations

import base64
import gc
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
for extra in (ROOT, ROOT / "plugins"):
    if str(extra) not in sys.path:
        sys.path.insert(0, str(extra))

# Airflow reads its home at import: the suite gets a private one (SQLite), before any test imports airflow.
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="ess-tests-airflow-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ.pop("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", None)
# dag.test() runs only DAGs a bundle holds: tests write theirs into a second local bundle.
TEST_DAGS = AIRFLOW_HOME / "test_dags"
TEST_DAGS.mkdir()
_LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
os.environ["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
    [
        {"name": "dags-folder", "classpath": _LOCAL_BUNDLE, "kwargs": {}},
        {"name": "test-dags", "classpath": _LOCAL_BUNDLE, "kwargs": {"path": str(TEST_DAGS)}},
    ]
)

from ess_emulator import EmbeddedEmulator, fetch_state  # noqa: E402

APP_ID = "yDwhxUUckp3gl8j5UuFX33LSNozpRsbi"
ORG = "org_dianziqian"
OPERATOR = "n9527"
SECRET_ID = "AKIDtestsuite0000000000000000000001"
SECRET_KEY = "S3cr3t-Key-Never-Leaks-7f1c9a2b5e8d"  # distinctive, so leak searches are meaningful


def agent(org: str = ORG, operator: str = OPERATOR, app_id: str = APP_ID) -> dict[str, Any]:
    return {"AppId": app_id, "ProxyOrganizationOpenId": org, "ProxyOperator": {"OpenId": operator}}


def png_bytes(size: tuple[int, int] = (64, 64), fmt: str = "PNG") -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (200, 20, 30)).save(out, format=fmt)
    return out.getvalue()


def png_b64(**kwargs: Any) -> str:
    return base64.b64encode(png_bytes(**kwargs)).decode()


def sdk_client(endpoint: str, secret_id: str = SECRET_ID, secret_key: str = SECRET_KEY, timeout: int = 10):
    """The vendor's own EssbasicClient over http to the emulator: nobody here wrote its signing or transport."""
    from tencentcloud.common import credential
    from tencentcloud.common.profile.client_profile import ClientProfile
    from tencentcloud.common.profile.http_profile import HttpProfile
    from tencentcloud.essbasic.v20210526 import essbasic_client

    http = HttpProfile(protocol="http", endpoint=endpoint, reqTimeout=timeout)
    profile = ClientProfile(httpProfile=http)
    profile.disable_region_breaker = True
    return essbasic_client.EssbasicClient(credential.Credential(secret_id, secret_key), "", profile)


@pytest.fixture
def make_emulator() -> Callable[..., EmbeddedEmulator]:
    """Start emulators with options; all are stopped at teardown."""
    started: list[EmbeddedEmulator] = []

    def start(**options: Any) -> EmbeddedEmulator:
        options.setdefault("secret_id", SECRET_ID)
        options.setdefault("secret_key", SECRET_KEY)
        emulator = EmbeddedEmulator(**options).__enter__()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        emulator.close()


@pytest.fixture
def emulator(make_emulator) -> EmbeddedEmulator:
    return make_emulator()


@pytest.fixture
def client(emulator):
    return sdk_client(emulator.endpoint)


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch) -> None:
    # A developer's HTTP(S)_PROXY must not capture loopback traffic to the emulator.
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(autouse=True)
def _heap_handed_back() -> Iterator[None]:
    # The engine freezes the heap for the rest of a task's process (`freeze_heap`); this process runs many tests,
    # so each starts with the collector whole.
    yield
    gc.unfreeze()


def conn_json(emulator: EmbeddedEmulator | None = None, **extra: Any) -> str:
    """An AIRFLOW_CONN_* value for the emulator (or for `extra['endpoint']`)."""
    extras = {"app_id": APP_ID, "endpoint": emulator.url if emulator else "", "timeout": 5}
    extras.update(extra.pop("extra", {}))
    fields = {key: extra[key] for key in ("host", "port", "schema") if key in extra}
    return json.dumps(
        {
            "conn_type": "tencentcloud_ess",
            "login": extra.get("login", SECRET_ID),
            "password": extra.get("password", SECRET_KEY),
            "extra": extras,
            **fields,
        }
    )


@pytest.fixture
def ess_conn(monkeypatch, emulator):
    """The default connection pointed at the emulator, through the env var users would set."""
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    return emulator


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """`airflow db migrate` once for the session, into the suite's private AIRFLOW_HOME."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ)
    return AIRFLOW_HOME


def emulator_state(emulator: EmbeddedEmulator) -> dict[str, Any]:
    return fetch_state(emulator.url, timeout=5)
