"""The report view as the api-server serves it (its real app, plugins loaded from the entry point, the simple auth
manager), over a run dag.test() made against the emulator: what a user who may read the runs sees, what one who may
not gets, and how it fails when the report is gone or damaged."""

from __future__ import annotations

import io
import json
from csv import DictReader
from urllib.parse import quote

import pytest

from tests.dags.test_tenant_onboarding import DAY, latest_reports, onboarding, run_day, sample  # noqa: F401 - a fixture

DAG_ID = "ess_tenant_onboarding"


@pytest.fixture(scope="module")
def server(airflow_db):
    """The api-server's app, and a session token of an admin (what the UI's login leaves in the `_token` cookie)."""
    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    client = TestClient(create_app())
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))
    return client, token


@pytest.fixture
def failed_run(onboarding, ess_conn):
    """A run whose third entry is refused: two tenants done, one failed, the report task failed."""
    dag, manifests, reports = onboarding
    entries = sample(manifests)[:2]
    bad = {**entries[0], "seal_name": "章" * 51}
    (manifests / f"{DAY}.json").write_text(json.dumps([*entries, bad], ensure_ascii=False), encoding="utf-8")
    result = run_day(dag)
    assert result.states["report"] == "failed"
    [report] = latest_reports(reports / DAY)
    return result.run_id, report


def test_a_reader_sees_the_failed_runs_report_filters_it_and_downloads_it(server, failed_run):
    client, token = server
    run_id, report = failed_run
    base = f"/ess-reports/runs/{DAG_ID}/{quote(run_id, safe='')}/"
    client.cookies.set("_token", token)
    try:
        page = client.get(base)
        assert page.status_code == 200, page.text
        html = page.text
        assert "Tenant report" in html and "done 2" in html and "failed 1" in html
        assert "seal_name" in html and "run state <b>failed</b>" in html

        failed = client.get(base + "tenants", params={"status": "failed"}).json()
        assert (failed["total"], failed["matched"]) == (3, 1)
        assert failed["rows"][0]["index"] == 2 and "seal_name" in failed["rows"][0]["error"]
        assert "fingerprint" not in failed["rows"][0]
        filtered = client.get(base, params={"status": "failed"}).text
        assert "1 of 3 tenants" in filtered

        csv = client.get(base + "report.csv")
        assert csv.status_code == 200 and csv.content == report.with_suffix(".csv").read_bytes()
        table = list(DictReader(io.StringIO(csv.content.decode("utf-8-sig"))))
        # what each entry asked for, beside what was done: the refused entry's users too
        asked = [
            " ".join(entry["user_ids"])
            for entry in json.loads((report.parents[2] / "tenants" / f"{DAY}.json").read_text("utf-8"))
        ]
        assert [row["requested"] for row in table] == asked and all(asked), table
        # saved under a name that tells an apply from a plan
        assert csv.headers["content-disposition"].endswith(f"{quote(report.stem)}.apply.csv"), csv.headers
        assert client.get(base + "report.json").content == report.read_bytes()
        assert client.get(base + "report.txt").status_code == 404

        dag_page = client.get(f"/ess-reports/dags/{DAG_ID}/")
        assert dag_page.status_code == 200 and run_id in dag_page.text and "done 2, failed 1" in dag_page.text
        [line] = [r for r in client.get(f"/ess-reports/dags/{DAG_ID}/runs").json() if r["run_id"] == run_id]
        assert line["day"] == DAY and line["summary"]["by_status"] == {"done": 2, "failed": 1}
    finally:
        client.cookies.clear()


def test_a_location_recorded_by_any_other_task_is_not_read(server, failed_run, tmp_path):
    """Only the report task's record (and the guard's proposal) is read: an XCom another task, or a user through
    the REST API, left under the same key cannot make the view serve some other file."""
    from airflow.models.xcom import XComModel

    client, token = server
    run_id, report = failed_run
    secret = tmp_path / "secret.json"
    secret.write_text('{"summary": {"tenants": 1, "mode": "apply"}, "tenants": []}', encoding="utf-8")
    forged = {"json": str(secret), "csv": str(secret.with_suffix(".csv")), "mode": "apply", "day": DAY}
    XComModel.set("ess_tenant_report", forged, dag_id=DAG_ID, task_id="plan", run_id=run_id)
    base = f"/ess-reports/runs/{DAG_ID}/{quote(run_id, safe='')}/"
    answer = client.get(base + "report.json", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200 and answer.content == report.read_bytes()


def test_who_may_not_read_the_dags_runs_gets_nothing(server, failed_run, monkeypatch):
    from airflow.api_fastapi.app import get_auth_manager

    client, token = server
    run_id, _ = failed_run
    base = f"/ess-reports/runs/{DAG_ID}/{quote(run_id, safe='')}/"
    for path in (base, base + "tenants", base + "report.csv", f"/ess-reports/dags/{DAG_ID}/"):
        assert client.get(path).status_code == 401, path  # no token
        assert client.get(path, headers={"Authorization": "Bearer forged"}).status_code == 403, path
    asked = []

    def deny(*, method, access_entity=None, details=None, user=None):
        asked.append((method, access_entity, details.id if details else None))
        return False

    monkeypatch.setattr(get_auth_manager(), "is_authorized_dag", deny)
    headers = {"Authorization": f"Bearer {token}"}
    for path in (base, base + "tenants", base + "report.csv", base + "report.json", f"/ess-reports/dags/{DAG_ID}/"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 403 and "done" not in answer.text, (path, answer.text)
    assert {(method, entity.name, dag) for method, entity, dag in asked} == {("GET", "RUN", DAG_ID)}


def test_a_report_gone_or_damaged_is_named_and_hostile_text_is_shown_as_text(server, failed_run):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    client, token = server
    run_id, report = failed_run
    base = f"/ess-reports/runs/{DAG_ID}/{quote(run_id, safe='')}/"
    headers = {"Authorization": f"Bearer {token}"}

    document = json.loads(report.read_text(encoding="utf-8"))
    document["tenants"][0]["seal_name"] = "<script>alert(1)</script>"
    report.write_text(json.dumps(document, ensure_ascii=False) + "\n", encoding="utf-8")
    html = client.get(base, headers=headers).text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html

    report.write_text('{"summary": {"tenants": 3}, "tenants": [', encoding="utf-8")
    damaged = client.get(base, headers=headers)
    assert damaged.status_code == 502 and "is not a report" in damaged.json()["detail"]

    report.rename(report.with_suffix(".moved"))
    gone = client.get(base + "tenants", headers=headers)
    assert gone.status_code == 404 and "is gone" in gone.json()["detail"]
    dag_lines = client.get(f"/ess-reports/dags/{DAG_ID}/runs", headers=headers).json()
    assert [line["problem"] for line in dag_lines if line["run_id"] == run_id][0].endswith("is gone")

    with create_session() as session:
        session.query(XComModel).filter_by(dag_id=DAG_ID, run_id=run_id, key="ess_tenant_report").delete()
    none_yet = client.get(base, headers=headers)
    assert none_yet.status_code == 200 and "has no tenant report yet" in none_yet.text
    assert client.get(f"/ess-reports/runs/{DAG_ID}/no-such-run/", headers=headers).status_code == 404
