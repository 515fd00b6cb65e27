"""Start `python -m ess_emulator` as a child process on a free port (for the demo, `make airflow` and benches)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO_SECRET_ID = "AKIDemulatorDEMO0000000000000000000"  # the default fixture's credential: emulator only


def start_emulator(db: Path, *extra: str) -> tuple[subprocess.Popen, str]:
    """Returns (process, base URL). The key never goes on the command line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "ess_emulator", "--port", "0", "--db", str(db), *extra],
        cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    line = proc.stdout.readline()
    if "listening on " not in line:
        proc.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return proc, line.rsplit(" ", 1)[1].strip()
