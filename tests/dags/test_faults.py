"""Faults: every fault kind at once, the emulator killed mid-run, a client timeout shorter than a slow answer.

Nothing lost, nothing doubled: each tenant ends with exactly one seal of its name and all its users on it.
"""

from __future__ import annotations

import json
import threading
import time

from bench.workload import check_converged, write_fixture, write_manifest
from ess_emulator import fetch_state
from tests.conftest import conn_json, emulator_state
from tests.dags.test_tenant_onboarding import DAY, latest_reports, onboarding, run_day, sample  # noqa: F401 - onboarding is a fixture

CHAOS = {"internal": 0.1, "http5xx": 0.05, "drop_before": 0.05, "drop_after": 0.05, "slow": 0.01}


def test_every_fault_kind_at_once_converges_and_the_report_lists_retried_calls(
    onboarding, make_emulator, monkeypatch, tmp_path
):
    dag, manifests, reports = onboarding
    write_fixture(tmp_path / "fixture.json", 50)
    emulator = make_emulator(fixtures=tmp_path / "fixture.json", faults=CHAOS, seed=11, slow_seconds=1.0)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    entries = write_manifest(manifests / f"{DAY}.json", 50, "合同专用章")

    result = run_day(dag, concurrency=8, chunk_size=25)
    assert result.state == "success", result.states
    state = emulator_state(emulator)
    assert check_converged(state["seals"], entries) == {"tenants": 50, "seals": 50, "duplicates": 0, "missing": 0}
    injected = state["faults_injected"]
    assert sum(injected.values()) >= 10 and {"internal", "http5xx", "drop_before", "drop_after"} <= set(injected)

    report = json.loads(latest_reports(reports / DAY)[0].read_text(encoding="utf-8"))
    assert report["summary"]["by_status"] == {"done": 50}
    retried = report["retried_calls"]
    hook_retries = [r for r in retried if r["retried_by"] == "hook"]
    assert len(hook_retries) == sum(report["summary"]["retried_calls"].values()) >= 10
    assert {"InternalError.System", "ClientNetworkError", "ServerNetworkError"} <= {r["code"] for r in hook_retries}
    assert all(r["action"] and r["task"].startswith("onboard[") for r in hook_retries)
    assert all(r["request_id"] for r in hook_retries if r["code"] == "InternalError.System")


def test_emulator_killed_and_restarted_mid_run_converges(onboarding, monkeypatch, tmp_path):
    import sys

    from tests.conftest import ROOT

    sys.path.insert(0, str(ROOT / "scripts"))
    from emulator_process import demo_connection, start_emulator

    dag, manifests, reports = onboarding
    write_fixture(tmp_path / "fixture.json", 60)
    db, options = tmp_path / "ess.db", ("--fixtures", str(tmp_path / "fixture.json"), "--latency-ms", "50-150")
    proc, url = start_emulator(db, *options, log=tmp_path / "emulator.log")
    port = int(url.rsplit(":", 1)[1])
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", demo_connection(url))
    entries = write_manifest(manifests / f"{DAY}.json", 60, "合同专用章")
    events: list[str] = []
    holder = {"proc": proc}

    def kill_then_restart() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            seals = fetch_state(url, timeout=5)["seals"]
            if len(seals) >= 15:
                break
            time.sleep(0.05)
        holder["proc"].kill()  # SIGKILL: requests in flight are cut, nothing is flushed politely
        holder["proc"].wait()
        events.append(f"killed at {len(seals)} seals")
        time.sleep(1.0)
        holder["proc"], _ = start_emulator(db, *options, port=port, log=tmp_path / "emulator.log")
        events.append("restarted")

    killer = threading.Thread(target=kill_then_restart)
    killer.start()
    try:
        result = run_day(dag, concurrency=8)
        killer.join()
        assert events[-1] == "restarted" and int(events[0].split()[2]) < 60, events
        assert result.state == "success", result.states
        seals = fetch_state(url, timeout=5)["seals"]
        assert check_converged(seals, entries) == {"tenants": 60, "seals": 60, "duplicates": 0, "missing": 0}
        report = json.loads(latest_reports(reports / DAY)[0].read_text(encoding="utf-8"))
        assert report["summary"]["by_status"] == {"done": 60}
        assert any(r["code"] == "ClientNetworkError" for r in report["retried_calls"])
    finally:
        killer.join()
        holder["proc"].kill()
        holder["proc"].wait()


def test_client_timeout_shorter_than_a_slow_answer_creates_one_seal(make_emulator, monkeypatch):
    from tencent_ess.hooks import EssHook
    from tencent_ess.seals import SealOperations
    from tencent_ess.validation import check_seal_spec
    from tests.conftest import agent

    # seed 13: the first request draws `slow`, the next ones do not (asserted below, so a change shows)
    emulator = make_emulator(faults={"slow": 0.5}, seed=13, slow_seconds=2.0)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator, extra={"timeout": 0.5}))
    hook = EssHook(backoff_base=0.1)
    seal_id = SealOperations(hook).create_or_reuse(agent(), check_seal_spec(seal_name="慢章")).seal_id
    time.sleep(2.5)  # the slow request is applied after its client gave up
    state = emulator_state(emulator)
    assert state["faults_injected"].get("slow", 0) >= 1
    assert hook.retried and hook.retried[0]["code"] == "ClientNetworkError"
    named = [s for s in state["seals"] if s["seal_name"] == "慢章"]
    assert [s["seal_id"] for s in named] == [seal_id]


def test_a_chunk_retry_redoes_only_what_the_failed_attempt_left(onboarding, ess_conn, monkeypatch):
    """The first attempt leaves one tenant to a task retry; the retry touches that tenant only."""
    from tencent_ess.onboarding import engine, tasks

    dag, manifests, reports = onboarding
    entries = sample(manifests)[:2]  # two system-seal tenants in two enterprises
    (manifests / f"{DAY}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    real = tasks.onboard_chunk
    calls: list[list[int]] = []

    def first_attempt_leaves_tenant_1(hook, tenants, **kwargs):
        calls.append([t["index"] for t in tenants])
        results = real(hook, tenants, **kwargs)
        if len(calls) == 1:  # as if tenant 1's last call had hit a run of internal errors
            results = [
                engine.TenantResult(
                    r.index,
                    r.proxy_organization_open_id,
                    r.seal_name,
                    engine.RETRY,
                    error="InternalError.System (transient)",
                    fingerprint=r.fingerprint,
                )
                if r.index == 1
                else r
                for r in results
            ]
        return results

    monkeypatch.setattr(tasks, "onboard_chunk", first_attempt_leaves_tenant_1)
    result = run_day(dag)
    assert result.state == "success" and result.tries["onboard[0]"] == 2, result.states
    assert calls == [[0, 1], [1]]
    report = json.loads(latest_reports(reports / DAY)[0].read_text(encoding="utf-8"))
    assert report["summary"]["by_status"] == {"done": 2}
    assert report["summary"]["tenants_retried_by_task_retry"] == 1
    assert [r["tenant"] for r in report["retried_calls"] if r["retried_by"] == "task retry"] == [1]
    counts = emulator_state(ess_conn)["request_counts"]
    assert counts["CreateSealByImage"] == 2  # tenant 0 was not touched again; tenant 1 was found, not re-created


def test_a_seal_created_by_a_failed_attempt_is_still_reported_as_created(onboarding, ess_conn, monkeypatch):
    """Review finding: a grant failing transiently after the create left the retry reporting created=false, and
    the summary counted no seal where the API held one."""
    from tencent_ess.errors import EssApiError
    from tencent_ess.seals import SealOperations

    dag, manifests, reports = onboarding
    entries = sample(manifests)[:1]
    (manifests / f"{DAY}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    real, failed = SealOperations.grant, []

    def grant_fails_once(self, agent, seal_id, users):
        if not failed:
            failed.append(seal_id)
            raise EssApiError("ChannelCreateSealPolicy", "InternalError.DependsDb", "db busy")
        return real(self, agent, seal_id, users)

    monkeypatch.setattr(SealOperations, "grant", grant_fails_once)
    result = run_day(dag)
    assert result.state == "success" and result.tries["onboard[0]"] == 2, result.states
    document = json.loads(latest_reports(reports / DAY)[0].read_text(encoding="utf-8"))
    [row] = document["tenants"]
    assert row["created"] and row["seal_id"] == failed[0] and document["summary"]["seals_created"] == 1
    assert len(emulator_state(ess_conn)["seals"]) == 1


def test_a_failed_chunk_does_not_stop_the_other_chunks_reviews(onboarding, make_emulator, monkeypatch):
    """Review finding: one failed chunk marked finish_reviews upstream_failed, and the other chunks' approved
    image seals were never granted."""
    from tencent_ess.errors import EssError
    from tencent_ess.onboarding import tasks

    dag, manifests, reports = onboarding
    emulator = make_emulator(review_seconds=1)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    system, _, image = sample(manifests)  # the third is an image seal (org_tenant_gamma)
    (manifests / f"{DAY}.json").write_text(json.dumps([system, image], ensure_ascii=False), encoding="utf-8")
    real = tasks.onboard_chunk

    def the_system_chunk_fails(hook, tenants, **kwargs):
        if tenants[0]["proxy_organization_open_id"] == system["proxy_organization_open_id"]:
            raise EssError("this chunk failed for good")  # permanent: no task retry
        return real(hook, tenants, **kwargs)

    monkeypatch.setattr(tasks, "onboard_chunk", the_system_chunk_fails)
    result = run_day(dag, chunk_size=1)
    assert result.states["finish_reviews"] == "success" and result.state == "failed", result.states
    [seal] = [s for s in emulator_state(emulator)["seals"] if s["organization_open_id"] == "org_tenant_gamma"]
    assert sorted(seal["authorized_user_ids"]) == sorted(image["user_ids"])
    rows = {r["index"]: r for r in json.loads(latest_reports(reports / DAY)[0].read_text("utf-8"))["tenants"]}
    assert rows[1]["status"] == "done" and rows[0]["status"] == "failed"


def test_a_seal_granted_before_finish_reviews_failed_is_reported_done(onboarding, make_emulator, monkeypatch):
    """Review finding: when finish_reviews failed for good after one look had granted an approved seal, the report
    called that tenant still in review (the in-review rows were laid before the journal's finished ones)."""
    from tencent_ess.errors import EssError
    from tencent_ess.onboarding import tasks
    from tencent_ess.onboarding.engine import AWAITING_REVIEW, new_result

    dag, manifests, reports = onboarding
    emulator = make_emulator(review_seconds=1)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    image = sample(manifests)[2]  # an image seal: in review after its create
    other = {**image, "seal_name": image["seal_name"] + "二"}
    (manifests / f"{DAY}.json").write_text(json.dumps([image, other], ensure_ascii=False), encoding="utf-8")
    real = tasks.finish_reviewed

    def one_seal_is_looked_at_then_the_task_fails(hook, todo, **kwargs):
        first = [t for t in todo if t["seal_name"] == image["seal_name"]]
        if not first:  # an earlier look finished it: this look fails for good
            raise EssError("finish_reviews failed for good")
        held = [new_result(t) for t in todo if t not in first]
        for row in held:
            row.status = AWAITING_REVIEW
        return real(hook, first, **kwargs) + held

    monkeypatch.setattr(tasks, "finish_reviewed", one_seal_is_looked_at_then_the_task_fails)
    result = run_day(dag)
    assert result.states["finish_reviews"] == "failed" and result.state == "failed", result.states
    rows = {r["seal_name"]: r for r in json.loads(latest_reports(reports / DAY)[0].read_text("utf-8"))["tenants"]}
    assert rows[image["seal_name"]]["status"] == "done" and rows[image["seal_name"]]["granted"] == image["user_ids"]
    assert rows[other["seal_name"]]["status"] == "awaiting_review"


def test_a_chunk_failing_on_its_last_try_still_hands_its_seals_in_review_on(onboarding, make_emulator, monkeypatch):
    """Review finding: a chunk that failed on its last try never pushed its image seals in review, so
    finish_reviews never granted them, approved or not."""
    import tencent_ess
    from tencent_ess.onboarding import engine, tasks

    dag, manifests, reports = onboarding
    emulator = make_emulator(review_seconds=1)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    system, _, image = sample(manifests)
    (manifests / f"{DAY}.json").write_text(json.dumps([system, image], ensure_ascii=False), encoding="utf-8")
    monkeypatch.setitem(tencent_ess.RETRY_DEFAULTS, "retries", 0)  # the first try is the last
    real = tasks.onboard_chunk

    def the_system_tenant_never_finishes(hook, tenants, **kwargs):
        return [
            engine.TenantResult(
                r.index,
                r.proxy_organization_open_id,
                r.seal_name,
                engine.RETRY,
                error="InternalError.System (transient)",
                fingerprint=r.fingerprint,
            )
            if r.proxy_organization_open_id == system["proxy_organization_open_id"]
            else r
            for r in real(hook, tenants, **kwargs)
        ]

    monkeypatch.setattr(tasks, "onboard_chunk", the_system_tenant_never_finishes)
    result = run_day(dag)
    assert result.states["onboard[0]"] == "failed" and result.states["finish_reviews"] == "success", result.states
    assert result.state == "failed"
    [seal] = [
        s for s in emulator_state(emulator)["seals"] if s["organization_open_id"] == image["proxy_organization_open_id"]
    ]
    assert sorted(seal["authorized_user_ids"]) == sorted(image["user_ids"])
    rows = {r["index"]: r for r in json.loads(latest_reports(reports / DAY)[0].read_text("utf-8"))["tenants"]}
    assert rows[1]["status"] == "done" and rows[0]["status"] == "failed", rows
