"""The onboarding engine without Airflow: planning, chunking, one chunk against the emulator, re-runs, reports."""

from __future__ import annotations

import json
import logging

import pytest

from tencent_ess.errors import EssValidationError
from tencent_ess.hooks import EssHook
from tencent_ess.onboarding import Progress, make_chunks, onboard_chunk, plan_tenants, write_report
from tencent_ess.ratelimit import ActionRateLimiter
from tests.conftest import conn_json, emulator_state

LOG = logging.getLogger("test-onboarding")


def tenant(org: str, name: str, users: list[str] | None = None, **extra) -> dict:
    return {"proxy_organization_open_id": org, "operator_open_id": "n9527", "seal_name": name,
            "seal_type": "CONTRACT", "generate_source": "SealGenerateSourceSystem",
            "user_ids": users or ["n9528"], **extra}


def test_chunks_keep_an_enterprise_together_and_lose_nothing():
    sizes = {"a": 3, "b": 3, "c": 2, "d": 1, "e": 1}
    tenants = [{"index": i, "proxy_organization_open_id": org}
               for i, org in enumerate(o for o, n in sizes.items() for _ in range(n))]
    chunks = make_chunks(tenants, 4)
    assert sorted(t["index"] for c in chunks for t in c) == list(range(10))
    for org in sizes:
        assert sum(1 for c in chunks if any(t["proxy_organization_open_id"] == org for t in c)) == 1
    assert all(len(c) <= 4 for c in chunks)


def test_chunks_grow_to_stay_within_max_map_length():
    tenants = [{"index": i, "proxy_organization_open_id": f"org{i}"} for i in range(100)]
    assert len(make_chunks(tenants, 1)) == 100
    chunks = make_chunks(tenants, 1, max_chunks=7)
    assert len(chunks) <= 7 and sum(len(c) for c in chunks) == 100


def test_chunk_size_must_be_positive():
    with pytest.raises(EssValidationError, match="chunk_size: must be at least 1"):
        make_chunks([], 0)


def test_plan_keeps_good_entries_and_names_bad_ones():
    entries = [tenant("org_dianziqian", "A"), "not an object", tenant("org_dianziqian", "A"),
               tenant("org_dianziqian", "B", seal_type="NOPE")]
    planned, rejected = plan_tenants(entries)
    assert [t["index"] for t in planned] == [0]
    errors = {row["index"]: row["error"] for row in rejected}
    assert set(errors) == {1, 2, 3}
    assert "entry 2: seal_name: duplicate of entry 0" in errors[2]
    assert errors[3].startswith("entry 3: seal_type")


def test_a_chunk_converges_and_a_rerun_changes_nothing(make_emulator, monkeypatch):
    emulator = make_emulator(rate_limit=20)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    entries = [tenant("org_dianziqian", f"章{i:02d}", ["n9528", "n9529"]) for i in range(24)]
    planned, rejected = plan_tenants(entries)
    assert rejected == []

    hook = EssHook(limiter=ActionRateLimiter(20))
    results = onboard_chunk(hook, planned, concurrency=8, log=LOG)
    assert [r.status for r in results] == ["done"] * 24 and all(r.created for r in results)
    state = emulator_state(emulator)
    assert sorted(s["seal_name"] for s in state["seals"]) == [e["seal_name"] for e in entries]
    assert all(s["authorized_user_ids"] == ["n9528", "n9529"] for s in state["seals"])
    assert state["request_counts"]["ChannelDescribeOrganizationSeals"] == 1  # one enterprise, described once
    assert state.get("rate_limited", {}) == {}

    again = onboard_chunk(EssHook(limiter=ActionRateLimiter(20)), planned, concurrency=8, log=LOG)
    after = emulator_state(emulator)["request_counts"]
    assert [r.status for r in again] == ["done"] * 24 and not any(r.created or r.granted for r in again)
    assert all(r.skipped == ["n9528", "n9529"] for r in again)
    assert after["CreateSealByImage"] == state["request_counts"]["CreateSealByImage"]
    assert after["ChannelCreateSealPolicy"] == state["request_counts"]["ChannelCreateSealPolicy"]
    assert after["ChannelDescribeOrganizationSeals"] == 2


def test_a_permanent_error_fails_its_tenant_only(ess_conn):
    planned, _ = plan_tenants([tenant("org_dianziqian", "好章"), tenant("org_nobody_knows", "坏章")])
    results = onboard_chunk(EssHook(), planned, concurrency=2, log=LOG)
    assert [r.status for r in results] == ["done", "failed"]
    assert "ResourceNotFound" in results[1].error and "RequestId" in results[1].error


def test_progress_logs_done_total_rate_and_eta(caplog):
    progress = Progress("chunk 3", 200, LOG, interval=0.0)
    with caplog.at_level(logging.INFO, logger="test-onboarding"):
        progress.report(50)
    [line] = caplog.messages
    assert line.startswith("chunk 3: 50/200 tenants,") and "tenants/s, ETA" in line


def test_report_writes_json_and_csv_with_totals(tmp_path):
    rows = [{"index": 1, "proxy_organization_open_id": "o", "seal_name": "B", "status": "failed", "error": "x",
             "granted": []},
            {"index": 0, "proxy_organization_open_id": "o", "seal_name": "A", "status": "done", "created": True,
             "granted": ["u1", "u2"]}]
    summary = write_report(rows, tmp_path, "run", [{"stats": {"calls.Create": 2, "retries.InternalError": 2}},
                                                   {"stats": {"calls.Create": 1}, "retried": [{"retried_by": "task retry"}]}])
    data = json.loads((tmp_path / "run.json").read_text("utf-8"))
    assert [r["index"] for r in data["tenants"]] == [0, 1]
    assert summary["by_status"] == {"done": 1, "failed": 1} and summary["users_granted"] == 2
    assert summary["retried_calls"] == {"InternalError": 2} and summary["api_calls"] == {"Create": 3}
    assert summary["tenants_retried_by_task_retry"] == 1 and data["retried_calls"] == [{"retried_by": "task retry"}]
    assert (tmp_path / "run.csv").read_text("utf-8").splitlines()[1].startswith("0,o,A,done")


def test_attempt_records_carry_finished_tenants_to_the_next_attempt(tmp_path):
    from tencent_ess.onboarding import TenantResult, attempt_record, finished_before, journal_attempt, read_journal

    class Hook:
        stats = {"calls.CreateSealByImage": 2}
        retried = [{"action": "CreateSealByImage", "code": "ClientNetworkError", "request_id": "", "attempt": 1,
                    "retried_by": "hook"}]

    results = [TenantResult(0, "o", "A", "done", "S0"), TenantResult(1, "o", "B", "retry", error="InternalError"),
               TenantResult(2, "o", "C", "awaiting_review", "S2")]
    journal_attempt(tmp_path, "onboard-0-try1", attempt_record(Hook(), results, "onboard[0]", 1))
    journal_attempt(tmp_path, "onboard-1-try1", attempt_record(Hook(), [TenantResult(9, "p", "Z", "done")],
                                                               "onboard[1]", 1))
    records = read_journal(tmp_path)
    assert sorted(finished_before(records, "onboard[0]")) == [0, 2]
    assert sorted(finished_before(records)) == [0, 2, 9]
    [first] = [r for r in records if r["task"] == "onboard[0]"]
    assert [e["retried_by"] for e in first["retried"]] == ["hook", "task retry"]
    assert first["retried"][1]["tenant"] == 1 and first["stats"] == Hook.stats
    assert read_journal(tmp_path / "nothing-here") == []
