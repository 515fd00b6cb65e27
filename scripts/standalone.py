"""`make airflow`: `airflow standalone` (UI on http://localhost:8080) wired to a local emulator, until Ctrl-C."""

from __future__ import annotations

import os
import subprocess
import sys

from emulator_process import ROOT, demo_connection, start_emulator


def main() -> int:
    home = os.environ.get("AIRFLOW_HOME", str(ROOT / ".airflow"))
    proc, url = start_emulator(ROOT / ".airflow" / "ess_emulator.db", "--review-seconds", "30")
    env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
           "AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT": demo_connection(url)}
    print(f"emulator on {url}; starting airflow standalone (Ctrl-C stops both)", flush=True)
    try:
        return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        proc.terminate()


if __name__ == "__main__":
    sys.exit(main())
