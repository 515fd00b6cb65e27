"""Fail closed, where users meet it (issue 25): whatever a run cannot be sure of stops it, red, the reason named,
and nothing destructive done. Each test here failed on the code before the fix it names."""

from __future__ import annotations

import json

import pendulum
import pytest
from airflow.sdk.exceptions import ParamValidationError

from tests.conftest import conn_json, emulator_state
from tests.dag_factories import failures, record_failure  # noqa: F401 - record_failure: a callback for the DAG
from tests.dags.test_sync import holders, write, writes
from tests.dags.test_tenant_onboarding import DAY, latest_reports, onboarding, read_report, run_day, sample  # noqa: F401


def logged(capfd) -> str:
    """What the tasks of the runs so far printed (dag.test runs them in this process, logging to its output)."""
    out = capfd.readouterr()
    return out.out + out.err


def test_an_unreadable_manifest_folder_fails_the_run_naming_it_never_an_empty_green_day(
    onboarding, ess_conn, monkeypatch, tmp_path, capfd
):
    """25.6: fsspec-style `exists()` read any error as "no manifest": the run wrote an empty report and skipped,
    green, every day."""
    dag, _, reports = onboarding
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the manifest folder should be", encoding="utf-8")
    monkeypatch.setenv("AIRFLOW_VAR_ESS_TENANT_MANIFEST_DIR", str(blocked / "tenants"))
    result = run_day(dag)
    assert result.state == "failed" and result.states["wait_for_manifest"] == "failed", result.states
    assert result.tries["wait_for_manifest"] == 1, "a folder that is a file waits for a person, not a retry"
    log = logged(capfd)
    assert f"cannot read {blocked / 'tenants' / (DAY + '.json')}: NotADirectoryError" in log, log[-2000:]
    assert not (reports / DAY).exists() or not latest_reports(reports / DAY), "no 'nothing to do' report"
    assert emulator_state(ess_conn)["request_counts"] == {}


def test_a_run_without_a_logical_date_reads_its_trigger_day_and_conf_can_name_another(onboarding, ess_conn):
    """25.7: a run made by `airflow dags trigger` has no logical date: the sensor failed with KeyError 'ds' and
    retried, and plan read `None.json` and went green."""
    dag, manifests, reports = onboarding
    alpha, beta = sample(manifests)[:2]
    today = "2026-11-20"
    (manifests / f"{today}.json").write_text(json.dumps([beta], ensure_ascii=False), encoding="utf-8")
    result = run_day(dag, day=None, run_after=pendulum.parse(f"{today}T08:00:00Z"))
    assert result.state == "success", result.states
    assert [row["seal_name"] for row in read_report(reports, today)["tenants"]] == [beta["seal_name"]]

    named = run_day(dag, day=None, run_after=pendulum.parse(f"{today}T09:00:00Z"), manifest_date=DAY)
    assert named.state == "success", named.states
    assert {row["seal_name"] for row in read_report(reports, DAY, run_id=named.run_id)["tenants"]} >= {
        alpha["seal_name"]
    }
    assert not (reports / "None").exists() and not (manifests / "None.json").exists()

    with pytest.raises(ParamValidationError, match="manifest_date"):  # the form and the REST API refuse it too
        run_day(dag, day=None, run_after=pendulum.parse(f"{today}T10:00:00Z"), manifest_date="2026-13-01")


def test_a_number_too_long_to_read_fails_the_plan_once_naming_the_file(onboarding, ess_conn, capfd):
    """25.8: a 5,000-digit number escaped as a bare ValueError: plan retried 4 times and did not name the file."""
    dag, manifests, _ = onboarding
    alpha = sample(manifests)[0]
    text = json.dumps([alpha], ensure_ascii=False).replace('"user_ids"', '"seal_size": ' + "9" * 5000 + ', "user_ids"')
    (manifests / f"{DAY}.json").write_text(text, encoding="utf-8")
    result = run_day(dag)
    assert result.states["plan"] == "failed" and result.tries["plan"] == 1, result.states
    assert f"manifest {manifests / (DAY + '.json')}: a value cannot be read" in logged(capfd)
    assert emulator_state(ess_conn)["request_counts"] == {}


def test_a_rejected_entry_shields_its_seal_from_revocation(onboarding, ess_conn):
    """25.4: of two entries for one seal, the second (a duplicate) was rejected and the first applied: the users
    only the rejected entry listed were revoked."""
    dag, manifests, reports = onboarding
    alpha = sample(manifests)[0]  # alphastaff1 + alphastaff2 hold the seal after this run
    write(manifests, [alpha])
    assert run_day(dag).state == "success"
    org = alpha["proxy_organization_open_id"]
    write(manifests, [{**alpha, "user_ids": ["alphastaff1"]}, {**alpha, "user_ids": ["alphastaff2"]}])
    before = writes(ess_conn)["ChannelDeleteSealPolicies"]
    result = run_day(dag, revoke_unlisted=True)
    assert result.state == "failed"
    assert writes(ess_conn)["ChannelDeleteSealPolicies"] == before, "a shielded seal lost a holder"
    assert holders(ess_conn, org, alpha["seal_name"]) == ["alphastaff1", "alphastaff2"]
    rows = {r["index"]: r for r in read_report(reports, run_id=result.run_id)["tenants"]}
    assert rows[0]["status"] == "failed" and "withheld for this seal: rejected entry 1" in rows[0]["error"]
    assert rows[0]["revoked"] == [] and "duplicate" in rows[1]["error"]


def test_an_older_manifest_never_undoes_a_newer_one_and_a_backfill_ends_with_the_newest(onboarding, ess_conn):
    """25.5: applying 11-05 ([staff1, staff2]) then 11-04 ([staff1]) with revoke_unlisted took the seal from staff2,
    green. Seven dates applied out of order end with the holders of the newest date."""
    dag, manifests, reports = onboarding
    alpha = sample(manifests)[0]
    org, name = alpha["proxy_organization_open_id"], alpha["seal_name"]
    s1, s2, admin = "alphastaff1", "alphastaff2", "alphaadmin"
    days = [f"2026-11-{day:02d}" for day in range(3, 10)]
    lists = dict(zip(days, [[s1], [s1, s2], [s2], [s2, admin], [admin], [s1, admin], [s2, admin]], strict=True))
    for day in days:
        (manifests / f"{day}.json").write_text(json.dumps([{**alpha, "user_ids": lists[day]}]), encoding="utf-8")
    order = [days[2], days[6], days[0], days[4], days[1], days[5], days[3]]  # the newest in the middle
    results = {day: run_day(dag, day=day, revoke_unlisted=True) for day in order}
    assert holders(ess_conn, org, name) == sorted(lists[days[-1]]), "the holders are not the newest date's"
    for day in order[2:]:  # every date older than one already applied changed nothing, and says why
        assert results[day].state == "success" and results[day].states["report"] == "skipped", results[day].states
        [row] = read_report(reports, day, run_id=results[day].run_id)["tenants"]
        assert row["status"] == "superseded" and f"the manifest of {days[-1]} was applied" in row["error"]
    revoking = writes(ess_conn)["ChannelDeleteSealPolicies"]

    forced = run_day(dag, day=days[0], revoke_unlisted=True, allow_older_manifest=True)
    assert forced.state == "success" and holders(ess_conn, org, name) == sorted(lists[days[0]])
    assert writes(ess_conn)["ChannelDeleteSealPolicies"] > revoking, "an explicit allow_older_manifest applies"


def test_the_connection_is_the_deployments_not_the_triggers(onboarding, ess_conn, make_emulator, monkeypatch, capfd):
    """25.11: Param `ess_conn_id` let anyone allowed to trigger point the run at any connection of the deployment."""
    dag, manifests, _ = onboarding
    sample(manifests)
    other = make_emulator()
    monkeypatch.setenv("AIRFLOW_CONN_ESS_OTHER_TEAM", conn_json(other))
    result = run_day(dag, ess_conn_id="ess_other_team")
    assert result.state == "failed" and result.states["plan"] == "failed" and result.tries["plan"] == 1
    assert "unknown key 'ess_conn_id'" in logged(capfd)
    assert emulator_state(other)["request_counts"] == {} == emulator_state(ess_conn)["request_counts"]

    monkeypatch.setenv("AIRFLOW_VAR_ESS_CONN_ID", "ess_other_team")  # the deployment owner's choice
    assert run_day(dag).state == "success"
    assert emulator_state(other)["request_counts"] and emulator_state(ess_conn)["request_counts"] == {}


def test_a_wrong_key_stops_the_chunk_at_once_and_names_the_field(
    onboarding, make_emulator, monkeypatch, tmp_path, capfd
):
    """25.17: with a wrong SecretKey each tenant made its own failing call, `onboard` was green ("4/4 tenants") and
    only the report went red."""
    from bench.workload import write_fixture, write_manifest

    dag, manifests, _ = onboarding
    write_fixture(tmp_path / "fixture.json", 40)
    emulator = make_emulator(fixtures=tmp_path / "fixture.json")
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator, password="not-the-key"))
    write_manifest(manifests / f"{DAY}.json", 40, "合同专用章")
    result = run_day(dag, concurrency=2)
    assert result.states["onboard[0]"] == "failed" and result.tries["onboard[0]"] == 1, result.states
    log = logged(capfd)
    assert "AuthFailure.SignatureFailure" in log and "password (SecretKey)" in log and "not-the-key" not in log
    assert "the task stopped at the first" in log
    assert sum(emulator_state(emulator)["request_counts"].values()) <= 4, "each tenant made its own failing call"


def test_a_cleared_run_counts_what_it_revoked_before_and_keeps_every_report(onboarding, ess_conn):
    """25.3 and 25.10: the budget was per task, so a cleared run revoked its budget again; and a cleared run's
    report replaced the first one, losing who had been revoked."""
    from tencent_ess.hooks import EssHook
    from tencent_ess.seals import SealOperations

    dag, manifests, reports = onboarding
    alpha = sample(manifests)[0]
    write(manifests, [alpha])
    assert run_day(dag).state == "success"
    org, name = alpha["proxy_organization_open_id"], alpha["seal_name"]
    write(manifests, [{**alpha, "user_ids": ["alphastaff1"]}])
    again = pendulum.parse("2026-11-01T12:00:00Z")  # the same run_after: the same run, as a clear makes it
    first = run_day(dag, run_after=again, revoke_unlisted=True, max_revocations=1)
    assert first.state == "success" and holders(ess_conn, org, name) == ["alphastaff1"]

    ops = SealOperations(EssHook())
    agent = ops.hook.agent(org, alpha["operator_open_id"])
    ops.grant(agent, ops.find(agent, name)["SealId"], ["alphaadmin"])  # out of band, between the attempts
    cleared = run_day(dag, run_after=again, revoke_unlisted=True, max_revocations=1)
    assert cleared.run_id == first.run_id
    assert cleared.state == "failed" and cleared.states["guard"] == "failed", cleared.states
    assert holders(ess_conn, org, name) == ["alphaadmin", "alphastaff1"], "the run revoked past its budget"
    document = read_report(reports, run_id=cleared.run_id)
    assert "this run revoked 1 already" in document["summary"]["note"]
    assert [(c["change"], c.get("users")) for c in document["changes"]] == [("revoked", ["alphastaff2"])]
    assert [r["users"] for r in document["revocations"]] == [["alphastaff2"]]
    from tencent_ess.onboarding.locations import run_name

    attempts = sorted(p.name for p in (reports / DAY).glob(f"{run_name(first.run_id)}.try*.json"))
    assert len(attempts) == 2, attempts


def test_an_older_revoking_apply_never_revokes_a_newer_additive_grant(onboarding, ess_conn):
    """Review finding: only revoking applies claimed their date, so after a newer day's ordinary apply granted a new
    employee, a revoking apply of an older manifest revoked them, green."""
    dag, manifests, reports = onboarding
    alpha = sample(manifests)[0]
    org, name = alpha["proxy_organization_open_id"], alpha["seal_name"]
    newer, older = "2026-11-08", "2026-11-07"
    (manifests / f"{newer}.json").write_text(
        json.dumps([{**alpha, "user_ids": ["alphastaff1", "alphaadmin"]}]), encoding="utf-8"
    )
    (manifests / f"{older}.json").write_text(json.dumps([{**alpha, "user_ids": ["alphastaff1"]}]), encoding="utf-8")
    assert run_day(dag, day=newer).state == "success"  # the daily, additive apply
    result = run_day(dag, day=older, revoke_unlisted=True)
    assert result.state == "success" and result.states["report"] == "skipped", result.states
    assert holders(ess_conn, org, name) == ["alphaadmin", "alphastaff1"], "a newer grant was revoked"
    [row] = read_report(reports, older, run_id=result.run_id)["tenants"]
    assert row["status"] == "superseded" and f"the manifest of {newer} was applied for AppId" in row["error"]
