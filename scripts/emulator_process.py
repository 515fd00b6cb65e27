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
