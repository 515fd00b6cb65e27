"""The manifest as the truth: plan before apply, revoke what was removed, the blast-radius guard (issue 15)."""

from __future__ import annotations

import csv
import json
from urllib.parse import quote

import pendulum

from bench.workload import write_fixture, write_manifest
from tests.conftest import conn_json, emulator_state
from tests.dags.test_faults import CHAOS
from tests.dags.test_tenant_onboarding import DAY, onboarding, read_report, run_day, sample  # noqa: F401

WRITES = ("CreateSealByImage", "ChannelCreateSealPolicy", "ChannelDeleteSealPolicies", "ChannelUpdateSealStatus")


def writes(emulator) -> dict[str, int]:
    counts = emulator_state(emulator)["request_counts"]
    return {action: counts.get(action, 0) for action in WRITES}


def holders(emulator, org: str, seal_name: str) -> list[str]:
    [seal] = [
        s for s in emulator_state(emulator)["seals"] if s["organization_open_id"] == org and s["seal_name"] == seal_name
    ]
    return sorted(seal["authorized_user_ids"])


def write(manifests, entries) -> None:
    (manifests / f"{DAY}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")


def test_plan_writes_nothing_and_apply_does_what_it_said(onboarding, ess_conn):
    dag, manifests, reports = onboarding
    alpha, beta = sample(manifests)[:2]  # alpha: alphastaff1 + alphastaff2
    write(manifests, [alpha])
    assert run_day(dag).state == "success"

    changed = [{**alpha, "user_ids": ["alphastaff1"]}, beta]  # alphastaff2 removed, beta new
    write(manifests, changed)
    before = writes(ess_conn)
    planned = run_day(dag, mode="plan", revoke_unlisted=True)
    assert writes(ess_conn) == before, "plan mode sent a write"
    assert planned.state == "failed" and planned.states["onboard[0]"] == "success", "drift makes a red plan"
    plan = read_report(reports, run_id=planned.run_id)
    rows = {r["index"]: r for r in plan["tenants"]}
    assert (rows[0]["status"], rows[0]["would_create"], rows[0]["would_grant"], rows[0]["would_revoke"]) == (
        "drift",
        False,
        [],
        ["alphastaff2"],
    )
    assert (rows[1]["status"], rows[1]["would_create"], rows[1]["would_grant"]) == ("drift", True, ["betastaff1"])
    assert plan["summary"]["mode"] == "plan"
    assert (plan["summary"]["would_create"], plan["summary"]["would_grant"], plan["summary"]["would_revoke"]) == (
        1,
        1,
        1,
    )

    applied = run_day(dag, revoke_unlisted=True)
    assert applied.state == "success", applied.states
    rows = {r["index"]: r for r in read_report(reports, run_id=applied.run_id)["tenants"]}
    assert rows[0]["revoked"] == ["alphastaff2"] and rows[0]["granted"] == [] and not rows[0]["created"]
    assert rows[1]["created"] and rows[1]["granted"] == ["betastaff1"] and rows[1]["revoked"] == []
    assert holders(ess_conn, alpha["proxy_organization_open_id"], alpha["seal_name"]) == ["alphastaff1"]

    settled = writes(ess_conn)
    assert run_day(dag, revoke_unlisted=True).state == "success"
    assert writes(ess_conn) == settled, "re-running apply changed something"
    assert run_day(dag, mode="plan", revoke_unlisted=True).state == "success", "a converged plan is all in sync"


def test_revoking_touches_only_seals_the_manifest_names(onboarding, ess_conn):
    from tencent_ess.hooks import EssHook
    from tencent_ess.seals import SealOperations
    from tencent_ess.validation import check_seal_spec

    dag, manifests, _ = onboarding
    alpha = sample(manifests)[0]
    ops = SealOperations(EssHook())
    agent = ops.hook.agent(alpha["proxy_organization_open_id"], alpha["operator_open_id"])
    other = ops.create_or_reuse(agent, check_seal_spec(seal_name="不在清单的章"))
    ops.grant(agent, other.seal_id, ["alphastaff1", "alphastaff2"])
    write(manifests, [{**alpha, "user_ids": ["alphastaff1"]}])
    assert run_day(dag, revoke_unlisted=True).state == "success"
    assert holders(ess_conn, alpha["proxy_organization_open_id"], "不在清单的章") == ["alphastaff1", "alphastaff2"]
    assert holders(ess_conn, alpha["proxy_organization_open_id"], alpha["seal_name"]) == ["alphastaff1"]


def test_the_guard_refuses_a_large_revocation_before_any_write(onboarding, ess_conn):
    dag, manifests, reports = onboarding
    alpha, beta = sample(manifests)[:2]
    write(manifests, [alpha, beta])
    assert run_day(dag).state == "success"
    truncated = [{**alpha, "user_ids": ["alphaadmin"]}, {**beta, "user_ids": ["betaadmin"]}]  # 3 would go
    write(manifests, truncated + [{**alpha, "seal_name": "新的合同章"}])  # and one create, never reached
    before = writes(ess_conn)
    result = run_day(dag, revoke_unlisted=True, max_revocations=2)
    assert result.state == "failed" and result.states["guard"] == "failed" and result.tries["guard"] == 1
    assert writes(ess_conn) == before, "the guard let a write through"
    report = read_report(reports, run_id=result.run_id)
    note = report["summary"]["note"]
    assert "would revoke 3 users, over max_revocations=2" in note and "org_tenant_alpha" in note
    # every row says why it was not done, in the CSV too (it said only "its task failed before reaching it")
    from tencent_ess.onboarding.locations import run_name

    with (reports / "2026-11-01" / f"{run_name(result.run_id)}.csv").open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3, rows
    assert all(
        row["error"].startswith("not done: the guard stopped the apply: this run would revoke 3") for row in rows
    ), rows
    assert {row["mode"] for row in rows} == {"apply"}
    assert holders(ess_conn, alpha["proxy_organization_open_id"], alpha["seal_name"]) == ["alphastaff1", "alphastaff2"]

    planned = run_day(dag, mode="plan", revoke_unlisted=True, max_revocations=2)
    assert planned.states["guard"] == "success" and writes(ess_conn) == before  # plan mode: a warning, no refusal
    assert "warning: apply would revoke 3 users" in read_report(reports, run_id=planned.run_id)["summary"]["note"]


def test_a_revoking_apply_converges_under_faults(onboarding, make_emulator, monkeypatch, tmp_path):
    dag, manifests, _ = onboarding
    write_fixture(tmp_path / "fixture.json", 30)
    calm = make_emulator(fixtures=tmp_path / "fixture.json", db=tmp_path / "ess.db")
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(calm))
    entries = write_manifest(manifests / f"{DAY}.json", 30, "合同专用章")
    assert run_day(dag, concurrency=8).state == "success"
    calm.close()

    stormy = make_emulator(
        fixtures=tmp_path / "fixture.json", db=tmp_path / "ess.db", faults=CHAOS, seed=5, slow_seconds=1.0
    )
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(stormy))
    kept = [{**e, "user_ids": e["user_ids"][:1]} for e in entries]  # every staff member loses the seal
    write(manifests, kept)
    result = run_day(dag, concurrency=8, chunk_size=10, revoke_unlisted=True)
    assert result.state == "success", result.states
    state = emulator_state(stormy)
    assert sum(state["faults_injected"].values()) >= 5
    for entry in kept:
        assert holders(stormy, entry["proxy_organization_open_id"], "合同专用章") == entry["user_ids"]
    assert len(state["seals"]) == 30


def test_users_listed_by_userid_are_never_revoked(onboarding, ess_conn):
    """Review finding: the API lists holders by OpenId only, so a user listed by UserId looked unlisted and was
    revoked on every other run. Now the tenant fails, naming the users to list by OpenId, and nothing is revoked."""
    dag, manifests, reports = onboarding
    alpha = sample(manifests)[0]
    by_user_id = {**alpha, "user_ids": ["yDalpha0staff1000000000000000000", "alphastaff2"]}
    write(manifests, [by_user_id])
    assert run_day(dag).state == "success"
    before = writes(ess_conn)["ChannelDeleteSealPolicies"]
    result = run_day(dag, revoke_unlisted=True)
    assert result.state == "failed"
    [row] = read_report(reports, run_id=result.run_id)["tenants"]
    assert row["status"] == "failed" and "list these users by OpenId" in row["error"] and row["revoked"] == []
    assert writes(ess_conn)["ChannelDeleteSealPolicies"] == before
    assert holders(ess_conn, alpha["proxy_organization_open_id"], alpha["seal_name"]) == [
        "alphastaff2",
        "yDalpha0staff1000000000000000000",
    ]


def test_every_writing_task_checks_the_revocation_budget_again(ess_conn):
    """Review finding: the guard counted once; users granted after it were revoked with no limit."""
    import logging

    import pytest

    from tencent_ess.errors import RevocationBudgetError
    from tencent_ess.hooks import EssHook
    from tencent_ess.onboarding.engine import Policy, onboard_chunk
    from tencent_ess.onboarding.manifest import plan_tenants
    from tencent_ess.seals import SealOperations
    from tencent_ess.validation import check_seal_spec

    ops = SealOperations(EssHook())
    agent = ops.hook.agent("org_tenant_alpha", "alphaadmin")
    seal = ops.create_or_reuse(agent, check_seal_spec(seal_name="合同专用章"))
    ops.grant(agent, seal.seal_id, ["alphastaff1", "alphastaff2", "alphaadmin"])  # out of band, after any guard
    planned, _ = plan_tenants(
        [
            {
                "proxy_organization_open_id": "org_tenant_alpha",
                "operator_open_id": "alphaadmin",
                "seal_name": "合同专用章",
                "user_ids": ["alphastaff1"],
            }
        ]
    )
    before = writes(ess_conn)
    with pytest.raises(RevocationBudgetError, match="would revoke 2 users, over max_revocations=1"):
        onboard_chunk(EssHook(), planned, log=logging.getLogger("t"), policy=Policy("apply", True, 1))
    assert writes(ess_conn) == before


def answer_approval(monkeypatch, option: str, by: str | None) -> list[tuple[str, str]]:
    """The person's answer to `approve_revocations`, given the moment it asks: dag.test() cannot wait for a person.
    The task runs as it does under the scheduler up to parking itself (its request written, TaskAwaitingInput); then
    it resumes with the answer, as Airflow resumes it. Returns what each request asked (subject, body)."""
    from airflow.sdk.exceptions import TaskAwaitingInput

    from tencent_ess.onboarding.approval import RevocationApprovalOperator

    asked: list[tuple[str, str]] = []
    execute = getattr(RevocationApprovalOperator, "unanswered", RevocationApprovalOperator.execute)
    monkeypatch.setattr(RevocationApprovalOperator, "unanswered", execute, raising=False)  # for a later answer

    def answered(self, context):
        try:
            return execute(self, context)
        except TaskAwaitingInput:
            asked.append((self.subject, self.body))
            user = {"id": by, "name": by} if by else None
            event = {
                "chosen_options": [option],
                "params_input": {},
                "responded_at": pendulum.now("UTC"),
                "responded_by_user": user,
            }
            return self.execute_complete(context, event)

    monkeypatch.setattr(RevocationApprovalOperator, "execute", answered)
    return asked


def over_budget(manifests, ess_conn, dag):
    """alpha and beta onboarded, then a manifest that keeps one user each (3 revocations) and adds a seal."""
    alpha, beta = sample(manifests)[:2]
    write(manifests, [alpha, beta])
    assert run_day(dag).state == "success"
    truncated = [{**alpha, "user_ids": ["alphaadmin"]}, {**beta, "user_ids": ["betaadmin"]}]
    write(manifests, truncated + [{**alpha, "seal_name": "新的合同章"}])
    return alpha, beta


def test_an_approved_revocation_over_the_budget_revokes_exactly_the_counted_set(onboarding, ess_conn, monkeypatch):
    dag, manifests, reports = onboarding
    alpha, beta = over_budget(manifests, ess_conn, dag)
    asked = answer_approval(monkeypatch, "Approve", "alice")
    result = run_day(dag, revoke_unlisted=True, max_revocations=2, approve_over_budget=True)
    assert result.state == "success", result.states
    [(subject, body)] = asked
    assert "3 users" in subject and "max_revocations=2" in body
    assert "org_tenant_alpha/合同专用章: alphastaff1, alphastaff2" in body and "betastaff1" in body
    assert f"/dags/ess_tenant_onboarding/runs/{quote(result.run_id, safe='')}/plugin/tenant-report)" in body
    # what the person approved, row by row: the guard's count, kept beside the run's report
    proposed = json.loads(next((reports / DAY).glob("*.proposed.json")).read_text(encoding="utf-8"))
    assert proposed["summary"]["mode"] == "plan" and proposed["summary"]["would_revoke"] == 3
    assert proposed["summary"]["note"].startswith("awaiting approval (task approve_revocations): this run would")
    assert holders(ess_conn, alpha["proxy_organization_open_id"], alpha["seal_name"]) == ["alphaadmin"]
    assert holders(ess_conn, beta["proxy_organization_open_id"], beta["seal_name"]) == ["betaadmin"]
    report = read_report(reports, run_id=result.run_id)
    assert report["summary"]["changes_in_run"]["users_revoked"] == 3
    assert "approved by alice" in report["summary"]["note"]
    assert result.xcom("approve_revocations")["approved"] is True


def test_a_rejected_or_unanswered_revocation_revokes_nothing_and_the_rest_is_applied(onboarding, ess_conn, monkeypatch):
    dag, manifests, reports = onboarding
    alpha, beta = over_budget(manifests, ess_conn, dag)
    before = writes(ess_conn)["ChannelDeleteSealPolicies"]
    answer_approval(monkeypatch, "Reject", "bob")
    result = run_day(dag, revoke_unlisted=True, max_revocations=2, approve_over_budget=True)
    assert result.state == "failed" and result.states["approve_revocations"] == "success", result.states
    assert writes(ess_conn)["ChannelDeleteSealPolicies"] == before, "a rejected revocation was sent"
    assert holders(ess_conn, alpha["proxy_organization_open_id"], alpha["seal_name"]) == [
        "alphaadmin",
        "alphastaff1",
        "alphastaff2",
    ]  # granted what the manifest asks, revoked no one
    report = read_report(reports, run_id=result.run_id)
    rows = {(row["proxy_organization_open_id"], row["seal_name"]): row for row in report["tenants"]}
    assert rows[("org_tenant_alpha", "新的合同章")]["status"] == "done"  # the rest of the apply went on
    for key in (("org_tenant_alpha", "合同专用章"), ("org_tenant_beta", "财务专用章")):
        assert rows[key]["status"] == "failed" and "rejected by bob" in rows[key]["error"], rows[key]
        assert "Nothing was revoked" in rows[key]["error"]
    assert "rejected by bob" in report["summary"]["note"]

    answer_approval(monkeypatch, "Reject", None)  # nobody answered in time: the default answer
    result = run_day(dag, revoke_unlisted=True, max_revocations=2, approve_over_budget=True)
    assert writes(ess_conn)["ChannelDeleteSealPolicies"] == before
    note = read_report(reports, run_id=result.run_id)["summary"]["note"]
    assert "not approved within 60 minutes" in note, note
