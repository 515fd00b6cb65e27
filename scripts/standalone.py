"""`make airflow`: `airflow standalone` (UI on http://localhost:8080) wired to a local emulator, until Ctrl-C."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from emulator_process import DEMO_SECRET_ID, ROOT, start_emulator

FIXTURE = json.loads((ROOT / "ess_emulator" / "default_fixture.json").read_text(encoding="utf-8"))


def main() -> int:
    home = os.environ.get("AIRFLOW_HOME", str(ROOT / ".airflow"))
    proc, url = start_emulator(ROOT / ".airflow" / "ess_emulator.db", "--review-seconds", "30")
    key = next(c["secret_key"] for c in FIXTURE["credentials"] if c["secret_id"] == DEMO_SECRET_ID)
    env = {**os.environ, "AIRFLOW_HOME": home, "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"), "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
           "AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT": json.dumps({
               "conn_type": "tencentcloud_ess", "login": DEMO_SECRET_ID, "password": key,
               "extra": {"app_id": FIXTURE["apps"][0]["app_id"], "endpoint": url}})}
    print(f"emulator on {url}; starting airflow standalone (Ctrl-C stops both)", flush=True)
    try:
        return subprocess.call([sys.executable, "-m", "airflow", "standalone"], env=env)
    except KeyboardInterrupt:
        return 0
    finally:
        proc.terminate()


if __name__ == "__main__":
    sys.exit(main())
