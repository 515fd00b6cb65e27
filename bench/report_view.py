"""Stage 7 of `make bench`: how fast the report view opens a large report, through the api-server's own app.

A real run of `ess_tenant_onboarding` (dag.test(), a date without a manifest: it writes an empty report and
records its location in XCom, as every run does) gets its report replaced by one of `--rows` tenants written by
the DAG's own `write_report`; then the api-server's app (plugins loaded, the simple auth manager, a session
token) serves, in this order: the run's page cold (read, parse, first page), the next page, a status filter, a
search, the tenants as JSON, the CSV download, and the DAG's page (each report's summary read from its head).

Prints one JSON object: seconds per request, the report's size, and the target (the cold open under 2 s).
Run by bench/bench.py with its Airflow home; on its own: `python bench/report_view.py --rows 100000` (with
AIRFLOW_HOME, `ess_tenant_manifest_dir` and `ess_report_dir` set, the database migrated).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
DAY = "2026-11-30"  # on or after the DAG's start_date, and no manifest on this date
TARGET_SECONDS = 2.0


def rows(count: int) -> list[dict]:
    """Rows as the onboarding task writes them: most done, one in fifty failed with an error and its advice."""
    out = []
    for i in range(count):
        failed = i % 50 == 7
        out.append(
            {
                "index": i,
                "proxy_organization_open_id": f"benchorg{i:06d}",
                "seal_name": "合同专用章",
                "status": "failed" if failed else "done",
                "seal_id": "" if failed else f"yDSLbenchseal{i:010d}",
                "seal_status": "" if failed else "SUCCESS",
                "created": not failed,
                "granted": [] if failed else [f"b{i:06d}admin", f"b{i:06d}staff"],
                "error": "OperationDenied.NoIdentityVerify — check the operator's real-name verification"
                if failed
                else "",
                "fingerprint": f"{i:040x}",
            }
        )
    return out


def timed(client, path: str, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    answer = client.get(path, **kwargs)
    elapsed = time.perf_counter() - started
    if answer.status_code != 200:
        raise SystemExit(f"GET {path}: {answer.status_code} {answer.text[:300]}")
    return elapsed, answer


def main(argv: list[str] | None = None) -> int:
    opts = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    opts.add_argument("--rows", type=int, default=100_000)
    args = opts.parse_args(argv)
    sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]
    os.environ.setdefault("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", '{"conn_type": "tencentcloud_ess"}')

    import pendulum
    from airflow.dag_processing.dagbag import DagBag
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    from tencent_ess.onboarding.report import LOCATION_XCOM, write_report
    from tencent_ess.storage import storage_path

    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_tenant_onboarding.py")).dags["ess_tenant_onboarding"]
    run = dag.test(logical_date=pendulum.parse(DAY))
    with create_session() as session:
        [xcom] = session.query(XComModel).filter_by(dag_id=dag.dag_id, run_id=run.run_id, key=LOCATION_XCOM).all()
        location = XComModel.deserialize_value(xcom)
    report = storage_path(location["json"])
    write_report(rows(args.rows), report.parent, report.name.removesuffix(".json"))

    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    client.cookies.set("_token", get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin")))
    base = f"/ess-reports/runs/{dag.dag_id}/{quote(run.run_id, safe='')}/"
    seconds: dict[str, float] = {}
    seconds["open (cold)"], first = timed(client, base)
    if f"{args.rows:,}" not in first.text and str(args.rows) not in first.text:
        raise SystemExit(f"the run's page does not show the report's tenant count: {first.text[-1500:]}")
    seconds["next page"], _ = timed(client, base, params={"page": 2})
    seconds["filter failed"], _ = timed(client, base, params={"status": "failed"})
    seconds["search"], found = timed(client, base, params={"q": f"benchorg{args.rows - 1:06d}"})
    seconds["tenants JSON, 500 rows"], _ = timed(client, base + "tenants", params={"limit": 500, "offset": 500})
    seconds["CSV download"], csv = timed(client, base + "report.csv")
    seconds["DAG page"], _ = timed(client, f"/ess-reports/dags/{dag.dag_id}/")
    print(
        json.dumps(
            {
                "rows": args.rows,
                "report_bytes": report.stat().st_size,
                "csv_bytes": len(csv.content),
                "seconds": {key: round(value, 3) for key, value in seconds.items()},
                "target_seconds": TARGET_SECONDS,
                "found_one": "1 of" in found.text,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
