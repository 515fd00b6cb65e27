"""`make airflow`: `airflow standalone` (SQLite, one machine) wired to a local emulator, until Ctrl-C.

Prints the UI address, user and password. `make stack` is the same with PostgreSQL, Redis and Celery workers.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

from emulator_process import ROOT, form_connection, start_emulator, write_private
from stack import seed_connection, terminate

USER = "admin"
PORT = int(os.environ.get("AIRFLOW_PORT", "8080"))


def main() -> int:
    home = Path(os.environ.get("AIRFLOW_HOME", str(ROOT / ".airflow")))
    home.mkdir(parents=True, exist_ok=True)
    passwords = home / "standalone_passwords.json"
    if not passwords.exists():
        write_private(passwords, json.dumps({USER: secrets.token_urlsafe(12)}))
    password = json.loads(passwords.read_text())[USER]
    proc, url = start_emulator(home / "ess_emulator.db", "--review-seconds", "30")
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
        "AIRFLOW__API__PORT": str(PORT),
        # This machine only (Airflow's default is 0.0.0.0): a demo deployment with a printed password. Set
        # AIRFLOW__API__HOST to open it to the network on purpose.
        "AIRFLOW__API__HOST": os.environ.get("AIRFLOW__API__HOST", "127.0.0.1"),
        # standalone starts its components as `airflow ...` subprocesses: they must find this venv's airflow
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    }
    # The connection lives in the metadata DB (the UI shows it; its edits are what runs use): no variable may shadow it
    env.pop("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", None)
    print(
        f"emulator on {url}\nAirflow UI:  http://localhost:{PORT}\nuser:        {USER}\npassword:    {password}\n"
        "starting airflow standalone (Ctrl-C stops both) ...",
        flush=True,
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:  # the DB must exist to hold the connection; a failure stops the emulator too, and says why
        print("airflow db migrate ...", flush=True)
        migrate = subprocess.run(
            [sys.executable, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True
        )
        if migrate.returncode != 0:
            print((migrate.stdout + migrate.stderr)[-3000:], file=sys.stderr)
            terminate(proc, "emulator")
            return 1
        print(seed_connection(env, form_connection(url), home / "ess_connection.json"), flush=True)
    except BaseException:
        terminate(proc, "emulator")
        raise
    # its own process group, ended as a whole: standalone's scheduler, triggerer, ... never outlive it
    airflow = subprocess.Popen([sys.executable, "-m", "airflow", "standalone"], env=env, start_new_session=True)
    try:
        return airflow.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        terminate(airflow, "airflow standalone")
        terminate(proc, "emulator")


if __name__ == "__main__":
    sys.exit(main())
