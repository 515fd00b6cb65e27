"""The onboarding engine without Airflow: one chunk against the emulator, re-runs, failures keep progress."""

from __future__ import annotations

import logging

from tencent_ess.hooks import EssHook
from tencent_ess.onboarding.engine import Progress, TenantResult, onboard_chunk
from tencent_ess.onboarding.manifest import plan_tenants
from tencent_ess.ratelimit import ActionRateLimiter
from tencent_ess.seals import Grants
from tests.conftest import conn_json, emulator_state

LOG = logging.getLogger("test-onboarding")


def tenant(org: str, name: str, users: list[str] | None = None, **extra) -> dict:
    return {
        "proxy_organization_open_id": org,
        "operator_open_id": "n9527",
        "seal_name": name,
        "seal_type": "CONTRACT",
        "generate_source": "SealGenerateSourceSystem",
        "user_ids": users or ["n9528"],
        **extra,
    }


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
    # Paced at 99% of the emulator's own limit, the window guard's margin starting at 10 ms: on a loaded machine a
    # send delayed in flight can land a 21st request in one second, and each such stray refusal widens the margin a
    # step (retried in the call; every tenant is done). A few strays, then none; unpaced, dozens would be refused.
    assert sum(state.get("rate_limited", {}).values()) <= 3

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


def test_derived_concurrency_follows_rate_and_latency_within_bounds():
    from tencent_ess.onboarding.engine import MAX_CONCURRENCY, MIN_CONCURRENCY, derived_concurrency

    assert derived_concurrency(20, 0.1) == 11  # 20 × 3 × 0.1 × 1.5 + 2
    assert derived_concurrency(100, 0.1) == 47
    assert derived_concurrency(200, 0.1) > derived_concurrency(100, 0.1) > derived_concurrency(20, 0.1)
    assert derived_concurrency(100, 0.3) > derived_concurrency(100, 0.1)
    assert derived_concurrency(1, 0.01) == MIN_CONCURRENCY and derived_concurrency(10000, 1.0) == MAX_CONCURRENCY
    assert derived_concurrency(20, 0.0) == derived_concurrency(20, 0.2)  # nothing observed yet: assume 0.2 s


def test_in_flight_work_never_exceeds_the_bound_as_it_changes():
    import threading
    import time

    from tencent_ess.onboarding.engine import Progress, TenantResult, run_concurrently

    lock, state = threading.Lock(), {"now": 0, "peak": 0, "bound": 3, "done": 0}

    def work(item: dict) -> TenantResult:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
            state["done"] += 1
            if state["done"] == 20:
                state["bound"] = 9  # as if the observed latency had grown
        return TenantResult(item["index"], "o", "s", "done")

    results = run_concurrently(
        [{"index": i} for i in range(60)], work, lambda: state["bound"], Progress("t", 60, LOG, interval=0.05)
    )
    assert [r.index for r in results] == list(range(60))
    assert 3 < state["peak"] <= 9


def test_the_heap_alive_before_the_work_is_left_out_of_collections_while_it_runs_and_after():
    """A full collection of a task process's heap stalls every sending thread for most of a second: the objects
    alive before the work are frozen before the first tenant starts, and stay frozen to the end of the task (the
    autouse fixture in tests/conftest.py hands them back after each test)."""
    import gc

    from tencent_ess.onboarding.engine import TenantResult, run_concurrently

    seen: list[int] = []

    def work(item: dict) -> TenantResult:
        seen.append(gc.get_freeze_count())
        if item["index"] == 1:
            raise RuntimeError("boom")
        return TenantResult(item["index"], "o", "s", "done")

    assert gc.get_freeze_count() == 0
    results = run_concurrently([{"index": 0}, {"index": 1}], work, 2, Progress("t", 2, LOG, interval=0.05))
    assert [r.status for r in results] == ["done", "failed"]
    assert len(seen) == 2 and all(count > 1000 for count in seen)  # this test process's heap, frozen
    assert gc.get_freeze_count() > 1000  # not handed back at the end of the loop


def test_a_row_as_a_dict_is_what_asdict_gives_and_shares_no_list_with_the_row():
    import dataclasses

    row = TenantResult(
        1, "org", "章", "done", "S1", "SUCCESS", True, ["u1"], ["u2"], "e", ["u3"], True, ["u4"], ["u5"], "f"
    )
    assert {f.name for f in dataclasses.fields(row)} == set(row.to_dict())  # every field set above
    plain = row.to_dict()
    assert plain == dataclasses.asdict(row)
    for value in plain.values():
        if isinstance(value, list):
            value.append("changed")
    assert row == TenantResult(
        1, "org", "章", "done", "S1", "SUCCESS", True, ["u1"], ["u2"], "e", ["u3"], True, ["u4"], ["u5"], "f"
    )


def test_a_row_on_the_wire_leaves_out_its_defaults_and_comes_back_whole():
    done = TenantResult(3, "org_a", "章", "done", seal_id="S1", created=True, granted=["u1"], fingerprint="f")
    failed = TenantResult(4, "org_b", "章", "failed", error="InvalidParameter: x", fingerprint="g")
    for row in (done, failed):
        wire = row.to_wire()
        assert TenantResult.from_dict(wire) == row
        assert not {"would_grant", "would_revoke", "revoked", "would_create"} & set(wire)
    assert done.to_wire()["created"] is True and "error" not in done.to_wire()
    assert failed.to_wire()["error"] == "InvalidParameter: x" and "seal_id" not in failed.to_wire()


# ---------------------------------------------------------------------------------------------------- fail closed
def _seal_held_by(emulator, users: list[str], name: str = "合同专用章", org: str = "org_dianziqian") -> str:
    """A system seal of `org` granted to `users` out of band; its SealId."""
    from tencent_ess.seals import SealOperations
    from tencent_ess.validation import check_seal_spec

    ops = SealOperations(EssHook())
    agent = ops.hook.agent(org, "n9527")
    seal_id = ops.create_or_reuse(agent, check_seal_spec(seal_name=name)).seal_id
    ops.grant(agent, seal_id, users)
    return seal_id


def test_a_count_that_failed_blocks_the_revocations_it_covers(ess_conn, monkeypatch):
    """Regression (issue 25.1): a describe that failed transiently counted 0; the apply then described again and
    revoked two users past max_revocations=1, and the row said done."""
    import pytest

    from tencent_ess.errors import EssApiError
    from tencent_ess.onboarding.engine import Policy
    from tencent_ess.seals import SealOperations

    _seal_held_by(ess_conn, ["n9528", "n9529", "n9527"])
    planned, _ = plan_tenants([tenant("org_dianziqian", "合同专用章", ["n9528"])])
    real, calls = SealOperations.describe, []

    def first_fails(self, agent, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise EssApiError("ChannelDescribeOrganizationSeals", "InternalError.System", "busy", "req-1")
        return real(self, agent, **kwargs)

    monkeypatch.setattr(SealOperations, "describe", first_fails)
    [row] = onboard_chunk(EssHook(), planned, log=LOG, policy=Policy("apply", True, 1))
    assert row.status == "retry" and "its revocation count failed" in row.error and row.revoked == []
    [seal] = emulator_state(ess_conn)["seals"]
    assert sorted(seal["authorized_user_ids"]) == ["n9527", "n9528", "n9529"]
    assert emulator_state(ess_conn)["request_counts"].get("ChannelDeleteSealPolicies", 0) == 0
    with pytest.raises(Exception, match="would revoke 2 users, over max_revocations=1"):  # counted: refused
        onboard_chunk(EssHook(), planned, log=LOG, policy=Policy("apply", True, 1))


def test_finishing_a_review_revokes_only_within_the_budget_and_what_was_counted(ess_conn):
    """Regression (issue 25.2): finish_reviews revoked with no budget check at all."""
    import pytest

    from tencent_ess.errors import RevocationBudgetError
    from tencent_ess.onboarding.engine import Policy, finish_reviewed

    seal_id = _seal_held_by(ess_conn, ["n9528", "n9529", "n9527"])  # approved, then granted out of band
    [awaiting] = plan_tenants([tenant("org_dianziqian", "合同专用章", ["n9528"])])[0]
    awaiting = {**awaiting, "seal_id": seal_id, "created": True}
    with pytest.raises(RevocationBudgetError, match="would revoke 2 users, over max_revocations=0"):
        finish_reviewed(EssHook(), [awaiting], log=LOG, policy=Policy("apply", True, 0))
    [row] = finish_reviewed(EssHook(), [awaiting], log=LOG, policy=Policy("apply", True, 5, allowed={}))
    assert row.status == "failed" and "not counted by this run's revocation guard" in row.error
    assert emulator_state(ess_conn)["request_counts"].get("ChannelDeleteSealPolicies", 0) == 0
    allowed = {awaiting["fingerprint"]: frozenset({"n9529", "n9527"})}
    [row] = finish_reviewed(EssHook(), [awaiting], log=LOG, policy=Policy("apply", True, 5, allowed=allowed))
    assert row.status == "done" and row.revoked == ["n9529", "n9527"]


def test_the_runs_ledger_refuses_revocations_past_the_budget_across_tasks(ess_conn, tmp_path):
    """Regression (issue 25.3): each chunk was held to the whole max_revocations, so N chunks revoked N× the budget."""
    from tencent_ess.onboarding.engine import Policy
    from tencent_ess.onboarding.revocations import Ledger

    _seal_held_by(ess_conn, ["n9528", "n9529"], name="甲")
    _seal_held_by(ess_conn, ["n9528", "n9527"], name="乙")
    planned, _ = plan_tenants([tenant("org_dianziqian", "甲", ["n9528"]), tenant("org_dianziqian", "乙", ["n9528"])])
    allowed = {t["fingerprint"]: frozenset({"n9529", "n9527"}) for t in planned}
    for number, task in enumerate(planned):  # two tasks of one run, each well within max_revocations=1 alone
        ledger = Ledger(tmp_path / "ledger", 1, task=f"onboard[{number}]")
        policy = Policy("apply", True, 1, allowed=allowed, before_revoke=ledger.record)
        [row] = onboard_chunk(EssHook(), [task], log=LOG, policy=policy)
        if number == 0:
            assert row.status == "done" and row.revoked == ["n9529"]
        else:
            assert row.status == "failed" and "this run revoked 1 already" in row.error and row.revoked == []
    assert Ledger(tmp_path / "ledger", 1).spent() == 1
    assert emulator_state(ess_conn)["request_counts"]["ChannelDeleteSealPolicies"] == 1


def test_a_holder_listed_without_an_id_is_drift_never_in_sync():
    """Regression (issue 25.9): a holder the API lists as {"OpenId": ""} was silently kept: plan said in_sync."""
    from types import SimpleNamespace

    import pytest

    from tencent_ess.onboarding.engine import Policy, grant_when_ready, new_result, plan_tenant, tenant_spec

    [planned], _ = plan_tenants([tenant("org_dianziqian", "章", ["n9528"])])
    seal = {
        "SealId": "S1",
        "SealName": "章",
        "SealType": "CONTRACT",
        "SealStatus": "SUCCESS",
        "AuthorizedUsers": [{"OpenId": "n9528"}, {"OpenId": ""}],
    }
    spec = tenant_spec(planned)
    row = plan_tenant(spec, seal, new_result(planned), Policy("plan", True), planned)
    assert row.status == "drift" and "without an OpenId or UserId" in row.error
    assert plan_tenant(spec, seal, new_result(planned), Policy("plan", False), planned).status == "in_sync"
    revoked = []
    ops = SimpleNamespace(
        grant_missing=lambda *a: Grants(newly=[], already=["n9528"], unmatched=[]),
        revoke=lambda agent, seal_id, users: revoked.extend(users) or users,
    )
    with pytest.raises(Exception, match="cannot be revoked by id"):
        grant_when_ready(ops, {}, seal, spec, new_result(planned), Policy("apply", True), planned)
    assert revoked == []


def test_a_wrong_key_stops_the_chunk_at_the_first_tenant(make_emulator, monkeypatch):
    """Regression (issue 25.17): each tenant made its own failing call and the chunk looked like progress."""
    import pytest

    from tencent_ess.errors import AccountStop

    emulator = make_emulator()
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator, password="wrong-key"))
    planned, _ = plan_tenants([tenant("org_dianziqian", f"章{i:02d}") for i in range(30)])
    with pytest.raises(AccountStop, match="password \\(SecretKey\\)") as info:
        onboard_chunk(EssHook(), planned, concurrency=2, log=LOG)
    assert "wrong-key" not in str(info.value)
    assert emulator_state(emulator)["request_counts"]["ChannelDescribeOrganizationSeals"] <= 2


def test_an_operator_verification_link_the_api_answers_reaches_the_report_row(ess_conn, monkeypatch):
    """Where the API asks the operator to verify (SealOperatorVerify* in a create's or grant's answer), the row
    carries the links and is not done (the action takes effect only once verified): the report says what is left."""
    hook = EssHook()
    real = hook._call_once

    def answered_with_links(action, params):
        response = real(action, params)
        if action in ("CreateSealByImage", "ChannelCreateSealPolicy"):
            response["SealOperatorVerifyQrcodeUrl"] = f"https://verify.example/{action}.png"
        return response

    monkeypatch.setattr(hook, "_call_once", answered_with_links)
    tasks, _ = plan_tenants([tenant("org_dianziqian", "核验章", ["n9528"])])
    [row] = onboard_chunk(hook, tasks, log=LOG)
    links = "https://verify.example/CreateSealByImage.png; https://verify.example/ChannelCreateSealPolicy.png"
    assert row.operator_verify == links, "both links kept"
    assert row.status == "failed" and "asks operator 'n9527' to verify" in row.error, "waiting is not done"
    assert row.seal_id and row.granted == ["n9528"], "what was answered is kept"
    assert TenantResult.from_dict(row.to_wire()).operator_verify == row.operator_verify
