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

import pytest

from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "bench"))
from stack import USER, Api, Stack  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
BENCH_TENANTS = 420  # synthetic enterprises benchorg00000..00419 beside the default fixture's


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


class StatsdListener:
    """A StatsD server as small as a test needs: a UDP socket on a free port; every line of this provider's metrics
    (`<prefix>.tencent_ess.…:<value>|<type>`) is kept, the rest of Airflow's dropped."""

    def __init__(self) -> None:
        import socket
        import threading

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.lines: list[str] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._listen, name="statsd", daemon=True).start()

    def _listen(self) -> None:
        while True:
            try:
                packet, _ = self.socket.recvfrom(65535)
            except OSError:  # closed
                return
            kept = [line for line in packet.decode("utf-8", "replace").splitlines() if ".tencent_ess." in line]
            with self._lock:
                self.lines.extend(kept)

    def counters(self) -> dict[str, float]:
        """Each counter's total so far, by name without Airflow's prefix (a sampled count scaled back)."""
        totals: dict[str, float] = {}
        with self._lock:
            lines = list(self.lines)
        for line in lines:
            name, _, rest = line.partition(":")
            value, kind, *sample = rest.split("|")
            if kind != "c":
                continue
            rate = float(sample[0][1:]) if sample and sample[0].startswith("@") else 1.0
            name = name[name.index("tencent_ess.") :]
            totals[name] = totals.get(name, 0.0) + float(value) / rate
        return totals

    def names(self) -> set[str]:
        """Every name sent so far (counters, gauges, timers), without Airflow's prefix."""
        with self._lock:
            names = {line.partition(":")[0] for line in self.lines}
        return {name[name.index("tencent_ess.") :] for name in names}

    def close(self) -> None:
        self.socket.close()


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
    statsd = StatsdListener()  # Airflow's own metrics, as a deployment sends them: StatsD over UDP
    stack = Stack(
        workdir / "stack",
        manifest_dir=manifests,
        report_dir=reports,
        # long enough that, even on a loaded machine, wait_for_review starts before the review is over
        emulator_args=("--fixtures", str(fixture), "--review-seconds", "20"),
        settings={
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
        },
        log=lambda line: print(f"[stack] {line}", flush=True),
    )
    stack.statsd = statsd
    try:
        stack.start()
        api = Api(stack)
        api.ready("ess_seal_setup", "ess_tenant_onboarding", "ess_report_consumer")
        print(f"[stack] up in {time.monotonic() - started:.0f}s", flush=True)
        stack.manifests, stack.reports = manifests, reports
        yield stack
    finally:
        stack.stop()
        statsd.close()
        if os.environ.get("ESS_KEEP_STACK_LOGS"):
            print(f"[stack] logs kept in {stack.logs}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="package")
def api(stack) -> Api:
    return Api(stack)


def emulator_state(stack: Stack) -> dict:
    from ess_emulator import fetch_state

    return fetch_state(stack.emulator_url, timeout=10)


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


def report_of(stack, ds: str, run_id: str | None = None) -> dict:
    """The date's one report, or the report of run `run_id` among several (the latest of each run, not the copies each
    attempt keeps, `<run>.try<N>.json`)."""
    from tencent_ess.onboarding.locations import run_name

    [path] = [
        p for p in (stack.reports / ds).glob(f"{run_name(run_id)}.json" if run_id else "*.json") if ".try" not in p.name
    ]
    return json.loads(path.read_text(encoding="utf-8"))
