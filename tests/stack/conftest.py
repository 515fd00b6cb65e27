"""One multi-process Airflow for this package (stopped after its last test, before the rest of the suite runs) (`scripts/stack.py`: PostgreSQL, Redis, api-server, scheduler,
dag-processor, triggerer, two Celery workers, the emulator), a REST client for it, and a browser.

Everything here is marked `stack`. `make test` installs the Debian packages first
(`scripts/install-system-deps.sh`); when they are missing and cannot be installed, the tests skip naming them.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
from stack import USER, Stack, wait_for  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
BENCH_TENANTS = 200  # synthetic enterprises benchorg00000..00199 beside the default fixture's


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/stack/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.stack)


def _missing_servers() -> list[str]:
    missing = [name for name in ("redis-server",) if not shutil.which(name)]
    if not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        missing.append("postgresql")
    if os.geteuid() == 0 and not shutil.which("runuser"):
        missing.append("runuser")
    return missing


def _fixture_file(path: Path) -> Path:
    """The emulator's default fixture plus BENCH_TENANTS synthetic enterprises (for onboarding runs)."""
    from workload import DEFAULT_FIXTURE, write_fixture

    write_fixture(path, BENCH_TENANTS)
    bench = json.loads(path.read_text("utf-8"))
    default = json.loads(DEFAULT_FIXTURE.read_text("utf-8"))
    default["apps"][0]["organizations"] += bench["apps"][0]["organizations"]
    path.write_text(json.dumps(default), encoding="utf-8")
    return path


class Api:
    """Airflow's REST API v2 with a token from `/auth/token` (SimpleAuthManager)."""

    def __init__(self, stack: Stack) -> None:
        self.url = stack.url
        token = requests.post(f"{self.url}/auth/token", json={"username": USER, "password": stack.password},
                              timeout=30)
        token.raise_for_status()
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: no proxy
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=60, **kwargs)
        assert response.status_code < 400, f"{method} {path}: {response.status_code} {response.text[:1000]}"
        return response.json() if response.content else None

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict, logical_date: str | None = None) -> str:
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": logical_date, "conf": conf})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})[
            "task_instances"]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict:
        """Poll until the run ends; returns it (state `success` or `failed`)."""
        return wait_for(f"{dag_id} {run_id} finished",
                        lambda: (r := self.run(dag_id, run_id))["state"] in ("success", "failed") and r, timeout, 1)


@pytest.fixture(scope="package")
def stack():
    missing = _missing_servers()
    if missing:
        pytest.skip(f"missing {', '.join(missing)}: run scripts/install-system-deps.sh as root (make test does)")
    # Not under pytest's 0700 tmp dir: PostgreSQL runs as the `postgres` user and must reach its data directory.
    workdir = Path(tempfile.mkdtemp(prefix="ess-stack-"))
    workdir.chmod(0o755)
    manifests, reports = workdir / "manifests", workdir / "reports"
    manifests.mkdir()
    fixture = _fixture_file(workdir / "fixture.json")
    started = time.monotonic()
    stack = Stack(workdir / "stack", manifest_dir=manifests, report_dir=reports,
                  # long enough that, even on a loaded machine, wait_for_review starts before the review is over
                  emulator_args=("--fixtures", str(fixture), "--review-seconds", "20"),
                  log=lambda line: print(f"[stack] {line}", flush=True))
    try:
        stack.start()
        api = Api(stack)
        for dag_id in ("ess_seal_setup", "ess_tenant_onboarding"):
            wait_for(f"{dag_id} parsed", lambda d=dag_id: api.session.get(f"{stack.url}/api/v2/dags/{d}",
                                                                          timeout=10).status_code == 200, 180, 1)
            api.unpause(dag_id)
        print(f"[stack] up in {time.monotonic() - started:.0f}s", flush=True)
        stack.manifests, stack.reports = manifests, reports
        yield stack
    finally:
        stack.stop()
        if os.environ.get("ESS_KEEP_STACK_LOGS"):
            print(f"[stack] logs kept in {stack.logs}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="package")
def api(stack) -> Api:
    return Api(stack)


def emulator_state(stack: Stack) -> dict:
    return requests.get(f"{stack.emulator_url}/_emulator/state", timeout=10).json()


@pytest.fixture(scope="package")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: run scripts/install-system-deps.sh as root (make test does)")
    from playwright.sync_api import sync_playwright

    # Debian's Chromium, never a browser Playwright would download; no network beyond loopback.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, stack, tmp_path):
    """A signed-in page (the login form, as a user signs in); its screenshots go under the test's tmp_path."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(f"{stack.url}/")
        page.get_by_label("Username").fill(USER)
        page.get_by_label("Password").fill(stack.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{stack.url}/")
        page.shots = tmp_path
        yield page
    finally:
        context.close()
