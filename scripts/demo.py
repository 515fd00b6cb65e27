"""`make demo`: the seal setup DAG end to end against the local emulator, with Airflow on SQLite.

Starts the emulator (free port, temporary db, default fixture), migrates the git-ignored AIRFLOW_HOME,
points `tencentcloud_ess_default` at the emulator through AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT, runs
`airflow dags test ess_seal_setup` with a sample conf and prints the SealId, the users and where the seal's
preview was saved (the emulator stops at the end, so its URL would lead nowhere).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from emulator_process import ROOT, demo_connection, start_emulator

from ess_emulator import fetch_state

# The enterprise, its operator and the employees have no defaults: these are the emulator fixture's.
CONF = {
    "proxy_organization_open_id": "org_dianziqian",
    "operator_open_id": "n9527",
    "seal_name": "合同专用章",
    "seal_type": "CONTRACT",
    "generate_source": "SealGenerateSourceSystem",
    "seal_style": "circle",
    "seal_size": "42_42",
    "user_ids": ["n9528", "n9529"],
}


def main() -> int:
    airflow = [sys.executable, "-m", "airflow"]
    env = {
        **os.environ,
        "AIRFLOW_HOME": os.environ.get("AIRFLOW_HOME", str(ROOT / ".airflow")),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "NO_PROXY": "127.0.0.1,localhost",
    }
    with tempfile.TemporaryDirectory(prefix="ess-demo-") as tmp:
        proc, url = start_emulator(Path(tmp) / "ess.db")
        try:
            env["AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT"] = demo_connection(url)
            print(f"emulator: {url}\nairflow db migrate into {env['AIRFLOW_HOME']} ...", flush=True)
            subprocess.run([*airflow, "db", "migrate"], env=env, check=True, stdout=subprocess.DEVNULL)
            print("airflow dags test ess_seal_setup ...", flush=True)
            run = subprocess.run(
                [*airflow, "dags", "test", "ess_seal_setup", "-c", json.dumps(CONF)],
                env=env,
                capture_output=True,
                text=True,
            )
            (Path(env["AIRFLOW_HOME"]) / "demo-last-run.log").write_text(run.stdout + run.stderr, encoding="utf-8")
            seals = fetch_state(url, timeout=5)["seals"]
            seal = next((s for s in seals if s["seal_name"] == CONF["seal_name"]), None)
            if run.returncode != 0 or seal is None or sorted(seal["authorized_user_ids"]) != sorted(CONF["user_ids"]):
                print((run.stdout + run.stderr)[-4000:])
                print("demo FAILED: see the log above", file=sys.stderr)
                return 1
            preview = Path(env["AIRFLOW_HOME"]) / "demo-seal.png"
            with urllib.request.urlopen(f"{url}/_emulator/seal-images/{seal['seal_id']}.png", timeout=10) as answer:
                preview.write_bytes(answer.read())
            print(f"\nSealId:        {seal['seal_id']} ({seal['seal_type']}, {seal['seal_status']})")
            print(f"users granted: {', '.join(seal['authorized_user_ids'])}")
            print(f"preview:       {preview}")
            print("demo OK")
            return 0
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main())
