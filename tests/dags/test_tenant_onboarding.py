"""ess_tenant_onboarding under dag.test() against the emulator: reviews, re-runs, skips, bad entries."""

from __future__ import annotations

import json
import shutil

import pendulum
import pytest

from tencent_ess.onboarding.handoff import unpack
from tests.airflow_run import run_dag
from tests.conftest import ROOT, emulator_state

DAY = "2026-11-01"


@pytest.fixture
def onboarding(airflow_db, monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    manifests, reports = tmp_path / "tenants", tmp_path / "reports"
    (tmp_path / "seals").mkdir()
    shutil.copy(ROOT / "data/seals/sample_seal.png", tmp_path / "seals/sample_seal.png")
    manifests.mkdir()
    monkeypatch.setenv("AIRFLOW_VAR_ESS_TENANT_MANIFEST_DIR", str(manifests))
    monkeypatch.setenv("AIRFLOW_VAR_ESS_REPORT_DIR", str(reports))
    monkeypatch.setenv("AIRFLOW_VAR_ESS_SEAL_IMAGE_DIR", str(tmp_path / "seals"))
    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_tenant_onboarding.py")).dags["ess_tenant_onboarding"]
    return dag, manifests, reports


def run_day(dag, day=DAY, run_after=None, **params):
    """One run of the DAG, parsed afresh as a worker would: in one process, Airflow 3.3's `process_params` writes a
    run's conf into the DAG's own Param objects, and the next run would inherit it. `day=None`: a run without a
    logical date."""
    from airflow.dag_processing.dagbag import DagBag

    fresh = DagBag(dag_folder=dag.fileloc).dags[dag.dag_id]
    conf = {"review_poll_seconds": 1, **params}
    return run_dag(
        fresh,
        conf=conf,
        logical_date=pendulum.parse(day) if day else None,
        run_after=run_after,
        no_logical_date=day is None,
    )


def latest_reports(folder) -> list:
    """The latest report of each run in a day's folder (not the attempts' own copies, `<run>.try<N>.json`)."""
    return [path for path in folder.glob("*.json") if ".try" not in path.name]


def read_report(reports, day=DAY, run_id: str | None = None) -> dict:
    """The report of that run (or the day's only report)."""
    from tencent_ess.onboarding.locations import run_name

    [path] = [reports / day / f"{run_name(run_id)}.json"] if run_id else latest_reports(reports / day)
    return json.loads(path.read_text(encoding="utf-8"))


def rescheduled(run_id: str, task_id: str) -> int:
    """How many times the task was rescheduled (given up its worker slot to look again later) in that run."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.taskreschedule import TaskReschedule
    from airflow.utils.session import create_session

    with create_session() as session:
        return (
            session.query(TaskReschedule)
            .join(TaskInstance, TaskReschedule.ti_id == TaskInstance.id)
            .filter(TaskInstance.run_id == run_id, TaskInstance.task_id == task_id)
            .count()
        )


def sample(manifests, day=DAY):
    entries = json.loads((ROOT / "data/tenants/2026-11-01.json").read_text(encoding="utf-8"))
    (manifests / f"{day}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return entries


def test_image_tenant_waits_for_review_and_a_rerun_converges(onboarding, make_emulator, monkeypatch):
    from tests.conftest import conn_json

    dag, manifests, reports = onboarding
    emulator = make_emulator(review_seconds=2)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    entries = sample(manifests)
    first = run_day(dag)
    assert first.state == "success", first.states
    assert rescheduled(first.run_id, "finish_reviews") >= 1, "the review wait holds no worker slot: it reschedules"
    seals = emulator_state(emulator)["seals"]
    assert sorted(s["seal_name"] for s in seals) == sorted(e["seal_name"] for e in entries)
    for entry in entries:
        [seal] = [s for s in seals if s["organization_open_id"] == entry["proxy_organization_open_id"]]
        assert seal["seal_status"] == "SUCCESS" and seal["authorized_user_ids"] == entry["user_ids"]
    creates = emulator_state(emulator)["request_counts"]["CreateSealByImage"]
    grants = emulator_state(emulator)["request_counts"]["ChannelCreateSealPolicy"]

    second = run_day(dag)
    assert second.state == "success"
    after = emulator_state(emulator)
    assert len(after["seals"]) == len(entries)
    assert after["request_counts"]["CreateSealByImage"] == creates  # nothing created again
    assert after["request_counts"]["ChannelCreateSealPolicy"] == grants  # nothing granted twice
    report = json.loads(latest_reports(reports / DAY)[0].read_text(encoding="utf-8"))
    assert report["summary"]["by_status"] == {"done": len(entries)}
    assert (reports / DAY / (latest_reports(reports / DAY)[0].stem + ".csv")).exists()


def test_no_manifest_leaves_a_trace_and_skips(onboarding, ess_conn):
    """Regression (issue 12.16): a missing manifest left no report: a misnamed or late file went unnoticed."""
    dag, manifests, reports = onboarding
    result = run_day(dag, day="2026-11-02")
    assert result.state == "success" and result.states["report"] == "skipped", result.states
    assert result.states["plan"] == "success" and result.states["wait_for_manifest"] == "success"
    document = read_report(reports, "2026-11-02")
    assert document["tenants"] == [] and document["summary"]["tenants"] == 0
    assert document["summary"]["note"] == f"no manifest for 2026-11-02 at {manifests / '2026-11-02.json'}"
    assert emulator_state(ess_conn)["request_counts"] == {}


def test_a_required_manifest_that_never_comes_fails_the_run(onboarding, ess_conn):
    dag, _, _ = onboarding
    result = run_day(dag, day="2026-11-02", manifest_required=True)
    assert result.state == "failed" and result.states["wait_for_manifest"] == "failed", result.states
    assert result.states["report"] == "failed" and emulator_state(ess_conn)["request_counts"] == {}


def test_a_late_manifest_is_waited_for_without_a_worker_slot(onboarding, ess_conn, monkeypatch):
    """The wait defers between looks: the sensor hands its slot back (`defer`, a trigger), never sleeps in it.
    (Regression, issue 25.12: this test passed as well with a sensor that slept in the worker.)"""
    import threading
    import time

    from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

    from tencent_ess.onboarding.wait import ManifestSensor

    deferrals = []
    real_defer = ManifestSensor.defer

    def spy(self, *, trigger, method_name, **kwargs):
        deferrals.append((type(trigger), method_name))
        return real_defer(self, trigger=trigger, method_name=method_name, **kwargs)

    monkeypatch.setattr(ManifestSensor, "defer", spy)
    dag, manifests, reports = onboarding
    entries = json.loads((ROOT / "data/tenants/2026-11-01.json").read_text(encoding="utf-8"))[:1]

    def deliver_late():  # once the sensor has looked and handed its slot back (a sleeping sensor never gets it)
        deadline = time.monotonic() + 60
        while not deferrals and time.monotonic() < deadline:
            time.sleep(0.2)
        (manifests / f"{DAY}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")

    courier = threading.Thread(target=deliver_late)
    courier.start()
    result = run_day(dag, manifest_wait_minutes=0.5, manifest_required=True)
    courier.join()
    assert result.state == "success", result.states
    assert read_report(reports)["summary"]["by_status"] == {"done": 1}
    assert deferrals and set(deferrals) == {(TimeDeltaTrigger, "check")}, deferrals


def test_bad_entry_is_reported_and_the_rest_complete(onboarding, ess_conn):
    dag, manifests, reports = onboarding
    entries = sample(manifests)[:2]
    bad = {**entries[0], "seal_name": "章" * 51, "proxy_organization_open_id": "org_dianziqian"}
    (manifests / f"{DAY}.json").write_text(json.dumps(entries + [bad, entries[1]], ensure_ascii=False), "utf-8")
    result = run_day(dag)
    assert result.states["report"] == "failed" and result.tries["report"] == 1
    report = json.loads(latest_reports(reports / DAY)[0].read_text(encoding="utf-8"))
    rows = {row["index"]: row for row in report["tenants"]}
    assert rows[0]["status"] == rows[1]["status"] == "done"
    assert "entry 2: seal_name" in rows[2]["error"] and "entry 3: seal_name: duplicate" in rows[3]["error"]
    assert len(emulator_state(ess_conn)["seals"]) == 2


def test_malformed_manifest_fails_naming_the_file(onboarding, ess_conn):
    dag, manifests, _ = onboarding
    (manifests / f"{DAY}.json").write_text('{"not": "a list"}', encoding="utf-8")
    result = run_day(dag)
    assert result.states["plan"] == "failed" and result.tries["plan"] == 1
    assert result.state == "failed" and result.states["report"] == "failed", "a failed plan must fail the run"


@pytest.mark.parametrize("content", ['{"not": "a list"}', "[" * 50000, b"\xef\xbb\xbf[" + b"{" * 10 + b"]"])
def test_any_failed_plan_is_a_failed_run(onboarding, ess_conn, content):
    """Regression (issue 12.2): `report`, the only leaf, skipped when `plan` failed, and the run was green."""
    dag, manifests, _ = onboarding
    (manifests / f"{DAY}.json").write_bytes(content if isinstance(content, bytes) else content.encode())
    result = run_day(dag)
    assert result.state == "failed" and result.states["plan"] == "failed", result.states
    assert emulator_state(ess_conn)["request_counts"] == {}


def test_a_bom_manifest_is_onboarded(onboarding, ess_conn):
    dag, manifests, reports = onboarding
    entries = sample(manifests)[:2]
    (manifests / f"{DAY}.json").write_bytes(json.dumps(entries, ensure_ascii=False).encode("utf-8-sig"))
    assert run_day(dag).state == "success"
    assert read_report(reports)["summary"]["by_status"] == {"done": 2}


def test_a_cleared_run_does_not_trust_a_journal_of_an_older_manifest(onboarding, ess_conn, monkeypatch):
    """Regression (issue 12.3): an entry inserted at the top of the manifest, then the run cleared (same run_id):
    the journal, keyed by position, marked the new entry finished, and it was never onboarded."""
    from tencent_ess.onboarding import engine, tasks

    dag, manifests, reports = onboarding
    first, second, newcomer = sample(manifests)[:3]
    (manifests / f"{DAY}.json").write_text(json.dumps([first, second], ensure_ascii=False), encoding="utf-8")
    real, attempts = tasks.onboard_chunk, []

    def first_attempt_leaves_the_second(hook, tenants, **kwargs):
        results = real(hook, tenants, **kwargs)
        attempts.append([t["seal_name"] for t in tenants])
        if len(attempts) == 1:  # as if a run of internal errors had hit the second tenant: the attempt journals
            results[1] = engine.TenantResult(
                1, "x", "y", engine.RETRY, error="InternalError (transient)", fingerprint=results[1].fingerprint
            )
        return results

    monkeypatch.setattr(tasks, "onboard_chunk", first_attempt_leaves_the_second)
    run_after = pendulum.parse("2026-11-25T01:00:00Z")
    assert run_day(dag, run_after=run_after).state == "success"
    assert len(list((reports / DAY).glob("*.attempts/*.json"))) == 1, "the failed attempt left a journal record"

    (manifests / f"{DAY}.json").write_text(json.dumps([newcomer, first, second], ensure_ascii=False), "utf-8")
    again = run_day(dag, run_after=run_after)  # the same run_id: what a clear of the run does
    assert again.state == "success", again.states
    rows = read_report(reports)["tenants"]
    assert [(r["index"], r["proxy_organization_open_id"]) for r in rows] == [
        (0, newcomer["proxy_organization_open_id"]),
        (1, first["proxy_organization_open_id"]),
        (2, second["proxy_organization_open_id"]),
    ]
    seals = emulator_state(ess_conn)["seals"]
    assert newcomer["seal_name"] in {
        s["seal_name"] for s in seals if s["organization_open_id"] == newcomer["proxy_organization_open_id"]
    }
    assert attempts[-1] == [t["seal_name"] for t in (newcomer, first, second)], "everything re-checked against the API"


def test_rows_keep_what_was_done_before_a_failure(onboarding, make_emulator, monkeypatch):
    """Regression (issue 12.13): a seal created whose grant failed, or refused in review, was reported with an
    empty seal_id and created=false, and the summary under-counted the seals the API holds."""
    import shutil

    from tests.conftest import conn_json

    dag, manifests, reports = onboarding
    emulator = make_emulator(review_seconds=0)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    shutil.copy(ROOT / "data/seals/sample_seal.png", manifests.parent / "seals" / "seal.png")
    good, other = sample(manifests)[:2]
    bad_grant = {**other, "user_ids": ["nobody0000"]}  # the API refuses the user, after the seal is made
    refused = {
        "proxy_organization_open_id": "org_review_fail",
        "operator_open_id": "f0001",
        "seal_name": "图片章",
        "seal_type": "OTHER",
        "seal_image_path": "seal.png",
        "user_ids": ["f0001"],
    }
    (manifests / f"{DAY}.json").write_text(json.dumps([good, bad_grant, refused], ensure_ascii=False), "utf-8")
    result = run_day(dag)
    assert result.state == "failed" and result.states["report"] == "failed"
    document = read_report(reports)
    rows = {r["index"]: r for r in document["tenants"]}
    seals = {s["seal_name"] + "@" + s["organization_open_id"]: s for s in emulator_state(emulator)["seals"]}
    assert rows[0]["status"] == "done"
    assert rows[1]["status"] == "failed" and rows[1]["created"] and "InvalidParameter.ParamError" in rows[1]["error"]
    assert rows[1]["seal_id"] == seals[f"{other['seal_name']}@{other['proxy_organization_open_id']}"]["seal_id"]
    assert rows[2]["status"] == "failed" and rows[2]["created"] and rows[2]["seal_status"] == "FAIL"
    assert rows[2]["seal_id"] == seals["图片章@org_review_fail"]["seal_id"]
    assert "refused in review" in rows[2]["error"] and "ReviewFailed" not in rows[2]["error"]
    assert document["summary"]["seals_created"] == len(seals) == 3


def test_a_misspelt_conf_key_fails_the_run_naming_it(onboarding, ess_conn):
    dag, manifests, _ = onboarding
    sample(manifests)
    result = run_day(dag, revoke_unlistd=True)
    assert result.state == "failed" and result.states["plan"] == "failed" and result.tries["plan"] == 1
    assert emulator_state(ess_conn)["request_counts"] == {}


def test_tasks_returning_a_row_per_tenant_do_not_log_it(onboarding):
    """A chunk's rows go to XCom and the report: `airflow dags test` of a 1,000-tenant chunk logged them as one
    760 KB "Returned value was" line. The small summaries (plan's chunk numbers, guard's verdict, the report's
    totals) stay in the log."""
    dag, _, _ = onboarding

    def logs_return_value(task):  # a mapped task (onboard) keeps its operator arguments in partial_kwargs
        kwargs = getattr(task, "partial_kwargs", None)
        return kwargs.get("show_return_value_in_logs", True) if kwargs is not None else task.show_return_value_in_logs

    logs_return = {
        task.task_id: logs_return_value(task)
        for task in dag.tasks
        if task.task_id in ("plan", "guard", "onboard", "finish_reviews", "report")
    }
    assert logs_return == {"plan": True, "guard": True, "onboard": False, "finish_reviews": False, "report": True}


def test_a_chunk_puts_its_rows_in_xcom_once_and_compact(onboarding, ess_conn):
    """A chunk's XComs travel through the API server twice (push, then the report's pull): Airflow's implied
    multiple_outputs pushed each key of the dict again (a 1,000-tenant chunk put 1.7 MB in XCom), every row carried
    its empty fields, and finish_reviews pulled all rows to find the few seals in review. Now: one compact return
    value, the reviews' own small key, and the report still has every field of every row."""
    dag, manifests, reports = onboarding
    entries = sample(manifests)
    result = run_day(dag)
    assert result.state == "success", result.states
    keys = sorted(key for (task, key) in result.xcoms if task.startswith("onboard"))
    assert keys == ["awaiting", "return_value"], keys
    assert all(key == "return_value" for (task, key) in result.xcoms if task == "finish_reviews")
    out = result.xcom("onboard[0]")
    assert set(out) == {"results", "attempt"} and "rows" not in out["attempt"] and "finished" not in out["attempt"]
    assert isinstance(out["results"], str)  # one JSON text: Airflow does not walk it value by value
    assert all("would_grant" not in row and "error" not in row for row in unpack(out["results"]))  # empty: left out
    rows = read_report(reports)["tenants"]
    assert len(rows) == len(entries) and all(set(row) >= {"would_grant", "error", "revoked", "seal_id"} for row in rows)


def test_the_chunk_size_param_says_what_the_engine_derives(onboarding):
    """The DAG file cannot import `manifest` at parse time (its import cost counts against the parse target), so
    the trigger form's bound and description repeat the engine's chunk rule: they must agree with it."""
    from tencent_ess.onboarding.manifest import CHUNK_SECONDS, MAX_CHUNK, MIN_CHUNK, chunk_size_for

    dag, _, _ = onboarding
    param = dag.params.get_param("chunk_size")
    assert param.schema["maximum"] == MAX_CHUNK
    text = param.description
    assert f"{MIN_CHUNK:,} up to {MIN_CHUNK // CHUNK_SECONDS}/s" in text
    assert chunk_size_for(MIN_CHUNK / CHUNK_SECONDS) == MIN_CHUNK < chunk_size_for(MIN_CHUNK / CHUNK_SECONDS + 1)
    assert f"{chunk_size_for(100):,} at 100/s" in text
    assert f"at most {MAX_CHUNK:,}" in text and chunk_size_for(10**6) == MAX_CHUNK


def report_events() -> list[dict]:
    """The `extra` of every event on the report's Asset, oldest first."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    from tencent_ess.onboarding.assets import REPORT_ASSET

    with create_session() as session:
        query = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
        return [e.extra for e in query.filter(AssetModel.uri == REPORT_ASSET.uri).order_by(AssetEvent.id)]


def test_a_run_whose_tenants_are_all_done_announces_its_report_on_the_asset(onboarding, ess_conn):
    """Downstream DAGs scheduled on REPORT_ASSET learn where each finished report is; a failed or skipped report
    announces nothing."""
    dag, manifests, reports = onboarding
    entries = sample(manifests)[:2]
    before = len(report_events())
    (manifests / f"{DAY}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    done = run_day(dag)
    assert done.state == "success"
    events = report_events()[before:]
    assert len(events) == 1, events
    (extra,) = events
    assert set(extra) == {"json", "csv", "day", "run_id", "mode", "tenants", "by_status", "changes_in_run"}
    assert (extra["day"], extra["run_id"], extra["mode"], extra["by_status"]) == (
        DAY,
        done.run_id,
        "apply",
        {"done": 2},
    )
    assert json.loads(open(extra["json"], encoding="utf-8").read())["summary"]["tenants"] == 2
    assert extra["csv"].endswith(".csv") and extra["changes_in_run"]["seals_created"] == 2

    bad = {**entries[0], "seal_name": "章" * 51}
    (manifests / f"{DAY}.json").write_text(json.dumps([bad], ensure_ascii=False), encoding="utf-8")
    assert run_day(dag).states["report"] == "failed"
    assert run_day(dag, day="2026-11-02").states["report"] == "skipped"  # no manifest that day
    assert len(report_events()) == before + 1


def test_a_standing_manifest_is_read_every_day_with_the_same_fail_closed_rules(onboarding, ess_conn):
    """Param manifest_file: one file, the manifest as it stands, read by every day's run instead of {day}.json."""
    dag, manifests, reports = onboarding
    entries = sample(manifests)[:2]
    (manifests / "standing.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    for day in ("2026-11-05", "2026-11-06"):  # no dated file those days
        result = run_day(dag, day=day, manifest_file="standing.json")
        assert result.state == "success", result.states
        assert read_report(reports, day, run_id=result.run_id)["summary"]["by_status"] == {"done": 2}
    assert len(emulator_state(ess_conn)["seals"]) == 2  # the second day reused both seals

    (manifests / "standing.json").unlink()  # gone: a missing manifest, as for a dated one
    result = run_day(dag, day="2026-11-07", manifest_file="standing.json")  # named on purpose: not "no manifest"
    assert result.state == "failed" and result.states["wait_for_manifest"] == "failed", result.states
    from airflow.sdk.exceptions import ParamValidationError

    for bad in ("../standing.json", "standing.csv"):  # the form and the API refuse them
        with pytest.raises(ParamValidationError, match="manifest_file"):
            run_day(dag, day="2026-11-07", manifest_file=bad)
    calls = emulator_state(ess_conn)["request_counts"]
    result = run_day(dag, day="2026-11-07", manifest_file=".hidden.json")  # the Param allows it; the task does not
    assert result.state == "failed" and result.tries["wait_for_manifest"] == 1, result.states
    assert emulator_state(ess_conn)["request_counts"] == calls
    from tencent_ess.errors import EssValidationError
    from tencent_ess.onboarding.locations import Locations

    with pytest.raises(EssValidationError, match="manifest_file: must be the name of a .json file"):
        Locations(str(manifests), str(reports), str(manifests)).for_run({"manifest_file": "../standing.json"})


def test_airflow_db_clean_takes_an_old_runs_xcoms_and_leaves_its_report(onboarding, ess_conn):
    """What a deployment does about XCom growth (docs/performance.md): `airflow db clean` removes a finished run's
    XComs (its chunks' rows are most of them); the run's report, a file, stays whole."""
    import os
    import subprocess
    import sys

    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dag, manifests, reports = onboarding
    sample(manifests)
    result = run_day(dag)
    assert result.state == "success"
    [report] = latest_reports(reports / DAY)
    kept = report.read_bytes()

    def xcoms() -> int:
        with create_session() as session:
            return session.query(XComModel).filter_by(dag_id=dag.dag_id, run_id=result.run_id).count()

    assert xcoms() > 0
    cutoff = pendulum.now("UTC").add(minutes=1).isoformat()
    cleaned = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "clean", "--tables", "xcom", "--clean-before-timestamp", cutoff]
        + ["--yes", "--skip-archive"],
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert cleaned.returncode == 0, cleaned.stdout + cleaned.stderr
    assert xcoms() == 0
    assert report.read_bytes() == kept
