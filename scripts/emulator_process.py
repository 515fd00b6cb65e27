"""Start `python -m ess_emulator` as a child process on a free port (for the demo, `make airflow` and benches)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ess_emulator import DEFAULT_FIXTURE

ROOT = Path(__file__).resolve().parents[1]
DEMO_SECRET_ID = "AKIDemulatorDEMO0000000000000000000"  # the default fixture's credential: emulator only


def demo_connection(url: str) -> str:
    """AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT for an emulator on `url`, from the default fixture's credential."""
    fixture = json.loads(DEFAULT_FIXTURE.read_text(encoding="utf-8"))
    key = next(c["secret_key"] for c in fixture["credentials"] if c["secret_id"] == DEMO_SECRET_ID)
    return json.dumps(
        {
            "conn_type": "tencentcloud_ess",
            "login": DEMO_SECRET_ID,
            "password": key,
            "extra": {"app_id": fixture["apps"][0]["app_id"], "endpoint": url},
        }
    )


def form_connection(url: str) -> str:
    """The connection for an emulator on `url` as a user fills in the form: the endpoint in host/port/schema."""
    conn = json.loads(demo_connection(url))
    host, port = conn["extra"].pop("endpoint").split("://", 1)[1].rsplit(":", 1)
    conn.update(host=host, port=int(port), schema="http")
    return json.dumps(conn)


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, from the first byte (it holds keys or passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_CREAT
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def start_emulator(db: Path, *extra: str, port: int = 0, log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Returns (process, base URL); `port` 0 picks a free one; its log lines go to `log` if given.
    The key never goes on the command line."""
    stderr = log.open("ab") if log is not None else None
    proc = subprocess.Popen(
        [sys.executable, "-m", "ess_emulator", "--port", str(port), "--db", str(db), *extra],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    if stderr is not None:
        stderr.close()  # the child holds its own descriptor
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()
