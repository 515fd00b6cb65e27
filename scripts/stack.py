"""`make stack`: the docker-compose deployment, natively (no Docker engine needed), until Ctrl-C.

PostgreSQL (a private cluster), Redis, the emulator, and Airflow's `api-server`, `scheduler`, `dag-processor`,
`triggerer` and two `celery worker`s, every Airflow process with the settings of `deploy/airflow.env` (the file
docker-compose.yaml reads too) plus this machine's addresses. Prints the UI address, user and password.

    python scripts/stack.py [--dir .stack] [--port 8080] [--postgres URL] [--redis URL] [--review-seconds 30]

`--postgres postgresql+psycopg2://user:pw@host:5432/db` and `--redis redis://host:6379/0` use servers of your
own instead of starting them. The stack tests (a session fixture) and `make bench` stage 6 drive the same class
(`Stack`) and REST client (`Api`).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator_process import ROOT, form_connection, start_emulator, write_private  # noqa: E402

ENV_FILE = ROOT / "deploy" / "airflow.env"
#: What each deployment sets for itself (docker-compose.yaml's `environment`, `deployment_env` here); the rest
#: comes from ENV_FILE. tests/test_deployment.py checks the compose file sets exactly these names.
DEPLOYMENT_KEYS = (
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
    "AIRFLOW__CELERY__RESULT_BACKEND",
    "AIRFLOW__CELERY__BROKER_URL",
    "AIRFLOW__CORE__FERNET_KEY",
    "AIRFLOW__API_AUTH__JWT_SECRET",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
    "AIRFLOW_VAR_ESS_TENANT_MANIFEST_DIR",
    "AIRFLOW_VAR_ESS_REPORT_DIR",
)
USER = "airflow"  # deploy/airflow.env: AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=airflow:admin
WORKERS = ("worker1", "worker2")


def read_env_file(path: Path = ENV_FILE) -> dict[str, str]:
    """KEY=VALUE lines (comments and blank lines skipped), as docker compose reads an env_file."""
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            if not sep:
                raise ValueError(f"{path}: not KEY=VALUE: {line!r}")
            env[key.strip()] = value.strip()
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(
    what: str,
    check: Callable[[], Any],
    timeout: float,
    interval: float = 0.5,
    alive: Callable[[], str | None] | None = None,
) -> Any:
    """Poll `check` until it returns a truthy value; raise naming `what` after `timeout` seconds,
    or at once when `alive` reports a dead process."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as err:  # noqa: BLE001 - not up yet
            last = err
        if alive is not None and (dead := alive()):
            raise RuntimeError(f"{what}: {dead}")
        time.sleep(interval)
    raise TimeoutError(f"{what}: not ready after {timeout:.0f}s (last error: {last!r})")


def _as_postgres() -> list[str]:
    """initdb and pg_ctl refuse to run as root: as root, run them as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def _pg_bin(name: str) -> str:
    found = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    if found:
        return str(found[-1])
    if which := shutil.which(name):
        return which
    raise FileNotFoundError(
        f"PostgreSQL's {name} not found: apt-get install postgresql (scripts/install-system-deps.sh)"
    )


class Stack:
    """Everything `make stack` runs, as child processes in their own process groups; `stop()` ends them all."""

    def __init__(
        self,
        workdir: Path,
        *,
        api_port: int = 0,
        postgres_url: str | None = None,
        redis_url: str | None = None,
        emulator_args: tuple[str, ...] = ("--review-seconds", "30"),
        manifest_dir: Path | None = None,
        report_dir: Path | None = None,
        settings: dict[str, str] | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.workdir = Path(workdir).resolve()
        self.api_port = api_port or free_port()
        self.url = f"http://127.0.0.1:{self.api_port}"
        self.postgres_url = postgres_url
        self.redis_url = redis_url
        self.emulator_args = emulator_args
        self.manifest_dir = manifest_dir or ROOT / "data" / "tenants"
        self.report_dir = report_dir or self.workdir / "output"
        self.settings = dict(settings or {})  # more Airflow settings for every process (e.g. [metrics])
        self.log = log
        self.home = self.workdir / "airflow-home"
        self.logs = self.workdir / "logs"
        self.pgdata = self.workdir / "pg"
        self.processes: dict[str, subprocess.Popen] = {}
        self.emulator: subprocess.Popen | None = None
        self.emulator_url = ""
        self.env: dict[str, str] = {}
        self.password = ""
        self._pg_started = False

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def start(self) -> None:
        for folder in (self.workdir, self.home, self.logs, self.report_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if self.postgres_url is None:
            self.postgres_url = self._start_postgres()
        if self.redis_url is None:
            self.redis_url = self._start_redis()
        self._start_emulator()
        self.env = self._airflow_env()
        self.log("airflow db migrate ...")
        self.airflow("db", "migrate", check=True, timeout=600)
        self.log(self.seed_connection())
        self._spawn("api-server", ["api-server", "--host", "127.0.0.1", "--port", str(self.api_port)])
        self._spawn("scheduler", ["scheduler"])
        self._spawn("dag-processor", ["dag-processor"])
        self._spawn("triggerer", ["triggerer"])
        for name in WORKERS:
            self._spawn(
                name,
                ["celery", "worker", "--celery-hostname", f"{name}@%h"],
                {"AIRFLOW_WORKER_NAME": name, "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
            )
        self.wait_ready()

    def wait_ready(self, timeout: float = 300) -> None:
        import requests

        def healthy() -> bool:
            health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
            return all(
                health.get(part, {}).get("status") == "healthy"
                for part in ("metadatabase", "scheduler", "triggerer", "dag_processor")
            )

        wait_for("api-server, scheduler, triggerer and dag-processor healthy", healthy, timeout, 1, self.dead)
        for name in WORKERS:
            wait_for(f"celery {name} ready", lambda n=name: " ready." in self.log_text(n), timeout, 1, self.dead)

    def dead(self) -> str | None:
        """A message naming a process that has exited (with its log's tail), or None."""
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                return f"{name} exited with {proc.returncode}:\n{self.log_text(name)[-3000:]}"
        return None

    def stop(self) -> None:
        """Every process group, last started first: SIGTERM, then SIGKILL after 30 s; then Redis, PostgreSQL."""
        for name, proc in reversed(list(self.processes.items())):
            terminate(proc, name, self.log)
        self.processes.clear()
        if self.emulator is not None:
            terminate(self.emulator, "emulator", self.log)
            self.emulator = None
        if self._pg_started:
            subprocess.run(
                [*_as_postgres(), _pg_bin("pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w"],
                capture_output=True,
                timeout=60,
            )
            self._pg_started = False

    # ------------------------------------------------------------------ pieces
    def _start_postgres(self) -> str:
        port = free_port()
        fresh = not (self.pgdata / "PG_VERSION").exists()
        self.pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.pgdata, "postgres", "postgres")
            self.pgdata.chmod(0o700)
        if fresh:
            pwfile = self.workdir / "pg-pwfile"  # initdb wants an empty data directory
            pwfile.write_text("airflow\n")
            if os.geteuid() == 0:
                shutil.chown(pwfile, "postgres", "postgres")
            _run(
                [
                    *_as_postgres(),
                    _pg_bin("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "airflow",
                    f"--pwfile={pwfile}",
                    "--auth-local=trust",
                    "--auth-host=scram-sha-256",
                    "-E",
                    "UTF8",
                ],
                timeout=120,
            )
            pwfile.unlink()
        if (self.pgdata / "postmaster.pid").exists():  # left running by a stack that was killed: stop it first
            subprocess.run(
                [*_as_postgres(), _pg_bin("pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w"],
                capture_output=True,
                timeout=60,
            )
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {self.pgdata} -c max_connections=200"
        self.log(f"PostgreSQL on 127.0.0.1:{port} (data in {self.pgdata})")
        _run(
            [
                *_as_postgres(),
                _pg_bin("pg_ctl"),
                "start",
                "-D",
                str(self.pgdata),
                "-w",
                "-t",
                "60",
                "-l",
                str(self.pgdata / "server.log"),
                "-o",
                options,
            ],
            timeout=90,
        )
        self._pg_started = True
        import psycopg2

        db = psycopg2.connect(host="127.0.0.1", port=port, user="airflow", password="airflow", dbname="postgres")
        try:
            db.autocommit = True
            with db.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
                if cur.fetchone() is None:
                    cur.execute("CREATE DATABASE airflow")
        finally:
            db.close()
        return f"postgresql+psycopg2://airflow:airflow@127.0.0.1:{port}/airflow"

    def _start_redis(self) -> str:
        import redis

        port = free_port()
        self.log(f"Redis on 127.0.0.1:{port}")
        self.processes["redis"] = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--daemonize",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=(self.logs / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        url = f"redis://127.0.0.1:{port}/0"
        wait_for("redis", lambda: redis.Redis.from_url(url, socket_timeout=2).ping(), 30, 0.2, self.dead)
        return url

    def _start_emulator(self) -> None:
        self.emulator, self.emulator_url = start_emulator(
            self.workdir / "ess_emulator.db", *self.emulator_args, log=self.logs / "emulator.log"
        )
        self.log(f"emulator on {self.emulator_url}")

    def connection(self) -> str:
        """The default connection as a user fills it in: endpoint in host/port/schema, the fixture's demo key."""
        return form_connection(self.emulator_url)

    def write_cli_env(self) -> Path:
        """`.stack/cli.env`: this stack's Airflow settings as `export` lines, so that `airflow ...` in a shell acts
        on its PostgreSQL database, not on `.airflow`'s SQLite (mode 0600: it holds the Fernet key)."""
        path = self.workdir / "cli.env"
        keys = sorted(k for k in self.env if k.startswith("AIRFLOW") or k in ("PYTHONPATH", "NO_PROXY"))
        write_private(path, "".join(f"export {k}={shlex.quote(self.env[k])}\n" for k in keys))
        return path

    def seed_connection(self) -> str:
        """Store the default connection in the metadata DB unless one is there (the UI's edits win): the
        Connections page shows it and edits what runs use, as compose's airflow-init does."""
        return seed_connection(self.env, self.connection(), self.workdir / "connection.json")

    def _keys(self) -> tuple[str, str]:
        """The Fernet key (kept with the database it encrypts) and this start's JWT secret."""
        from cryptography.fernet import Fernet

        fernet = self.workdir / "fernet.key"
        if not fernet.exists():
            write_private(fernet, Fernet.generate_key().decode())
        return fernet.read_text().strip(), secrets.token_urlsafe(32)

    def deployment_env(self) -> dict[str, str]:
        """This machine's values for DEPLOYMENT_KEYS."""
        fernet, jwt = self._keys()
        return {
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.postgres_url,
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.postgres_url,
            "AIRFLOW__CELERY__BROKER_URL": self.redis_url,
            "AIRFLOW__CORE__FERNET_KEY": fernet,
            "AIRFLOW__API_AUTH__JWT_SECRET": jwt,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW_VAR_ESS_TENANT_MANIFEST_DIR": str(self.manifest_dir),
            "AIRFLOW_VAR_ESS_REPORT_DIR": str(self.report_dir),
        }

    def _airflow_env(self) -> dict[str, str]:
        passwords = self.workdir / "passwords.json"
        if not passwords.exists():
            write_private(passwords, json.dumps({USER: secrets.token_urlsafe(12)}))
        self.password = json.loads(passwords.read_text())[USER]
        # Nothing of the caller's Airflow settings leaks in (a test session's, a developer's shell's).
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update(read_env_file())
        env.update(self.deployment_env())
        env.update(self.settings)
        env.update(
            {  # only because every process shares this one machine and checkout
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
                "AIRFLOW__CORE__HOSTNAME_CALLABLE": "worker_hostname.hostname",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "deploy"), os.environ.get("PYTHONPATH")])),
                "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
                "NO_PROXY": "127.0.0.1,localhost",
                "PYTHONUNBUFFERED": "1",
            }
        )
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
            env.pop(var, None)
        return env

    def _spawn(self, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> None:
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args],
            env={**self.env, **(extra_env or {})},
            cwd=self.workdir,
            stdout=(self.logs / f"{name}.log").open("ab"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # its own process group: stop() ends it and every child it forked

    # ------------------------------------------------------------------ use
    def airflow(self, *args: str, check: bool = False, timeout: float = 300) -> subprocess.CompletedProcess:
        """The `airflow` CLI with this stack's settings."""
        run = subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and run.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{(run.stdout + run.stderr)[-3000:]}")
        return run

    def log_text(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


class Api:
    """Airflow's REST API v2 with a token from `/auth/token` (SimpleAuthManager)."""

    def __init__(self, stack: Stack) -> None:
        import requests

        self.url = stack.url
        self.session = requests.Session()
        self.session.trust_env = False  # loopback: no proxy, the token's request included
        token = self.session.post(
            f"{self.url}/auth/token", json={"username": USER, "password": stack.password}, timeout=30
        )
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.session.request(method, f"{self.url}/api/v2{path}", timeout=60, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:1000]}")
        return response.json() if response.content else None

    def unpause(self, dag_id: str) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def ready(self, *dag_ids: str, timeout: float = 180) -> None:
        """Wait until the dag-processor has parsed each DAG, then unpause it (DAGs are paused at creation)."""
        for dag_id in dag_ids:
            wait_for(
                f"{dag_id} parsed",
                lambda d=dag_id: self.session.get(f"{self.url}/api/v2/dags/{d}", timeout=10).status_code == 200,
                timeout,
                1,
            )
            self.unpause(dag_id)

    def trigger(self, dag_id: str, conf: dict, logical_date: str | None = None) -> str:
        run = self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": logical_date, "conf": conf})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100})["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})[
            "task_instances"
        ]

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict:
        """Poll until the run ends; returns it (state `success` or `failed`)."""
        return wait_for(
            f"{dag_id} {run_id} finished",
            lambda: (r := self.run(dag_id, run_id))["state"] in ("success", "failed") and r,
            timeout,
            1,
        )


def _run(cmd: list[str], timeout: float) -> None:
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({run.returncode}):\n{(run.stdout + run.stderr)[-2000:]}")


def _shown(path: Path) -> str:
    """`path` relative to the checkout when it is inside it (what a user types from there)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def seed_connection(env: dict[str, str], conn_json: str, remembered: Path) -> str:
    """Run deploy/seed_connection.py with `env`: store `conn_json` unless a connection is stored that someone
    edited. `remembered` keeps what was stored last time (the emulator's port changes with each start)."""
    previous = remembered.read_text(encoding="utf-8") if remembered.exists() else ""
    run = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "seed_connection.py")],
        env={**env, "ESS_CONNECTION": conn_json, "ESS_CONNECTION_PREVIOUS": previous},
        capture_output=True,
        text=True,
        timeout=120,
    )
    if run.returncode != 0:
        raise RuntimeError(f"storing the connection failed:\n{(run.stdout + run.stderr)[-2000:]}")
    write_private(remembered, conn_json)
    return run.stdout.strip()


def terminate(proc: subprocess.Popen, name: str, log: Callable[[str], None] = print) -> None:
    """End `proc` and, if it leads its own process group, everything in that group (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    try:
        pgid = os.getpgid(proc.pid)
    except ProcessLookupError:
        return
    own_group = pgid != os.getpgid(0)
    try:
        if own_group:
            os.killpg(pgid, signal.SIGTERM)
        else:
            proc.terminate()
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop within 30 s: killed")
    except ProcessLookupError:
        pass
    finally:
        if own_group:
            try:
                os.killpg(pgid, signal.SIGKILL)  # anything the group left behind (task processes, uvicorn workers)
            except ProcessLookupError:
                pass
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=ROOT / ".stack", help="state: database, logs, keys (git-ignored)")
    parser.add_argument("--port", type=int, default=8080, help="the UI and API port (default 8080)")
    parser.add_argument("--postgres", help="SQLAlchemy URL of your own PostgreSQL database (none started)")
    parser.add_argument("--redis", help="URL of your own Redis (none started)")
    parser.add_argument("--review-seconds", default="30", help="the emulator's image-seal review time")
    args = parser.parse_args()
    stack = Stack(
        args.dir,
        api_port=args.port,
        postgres_url=args.postgres,
        redis_url=args.redis,
        emulator_args=("--review-seconds", args.review_seconds),
        report_dir=ROOT / "output",  # where `make demo` and the README say reports are
    )
    # Ctrl-C reaches this process only (the children have their own process groups); stop() ends them in order.
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops everything too
    try:
        stack.start()
        cli = stack.write_cli_env()
        print(
            f"\nAirflow UI:  {stack.url}\nuser:        {USER}\npassword:    {stack.password}\n"
            f"emulator:    {stack.emulator_url} (state: {stack.emulator_url}/_emulator/state)\n"
            f"reports:     {stack.report_dir}/\nlogs:        {stack.logs}/\n"
            f"CLI:         . {_shown(cli)} && .venv/bin/airflow dags list   (any shell: the CLI then acts on this stack)\n"
            "Ctrl-C stops everything.",
            flush=True,
        )
        while not (dead := stack.dead()):
            time.sleep(1)
        print(dead, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nstopping ...", flush=True)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
