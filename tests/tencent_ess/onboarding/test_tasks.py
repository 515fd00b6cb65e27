"""Task bodies as plain functions: the quota shared across runs, the series of tries."""

from __future__ import annotations

from datetime import UTC
from types import SimpleNamespace

import pytest

from tencent_ess.onboarding.tasks import QUOTA_SHARERS, first_try_of_series, make_hook
from tencent_ess.ratelimit import HEADROOM


class FakeTI:
    dag_id, task_id, run_id = "ess_tenant_onboarding", "onboard", "backfill__2026-11-03"

    def __init__(self, running: int) -> None:
        self.running, self.asked = running, []

    def get_ti_count(self, **query):
        self.asked.append(query)
        return self.running


def test_the_quota_is_shared_among_running_api_tasks_of_every_run(ess_conn):
    ti = FakeTI(running=4)  # e.g. two backfill dates, two chunks each
    hook = make_hook("tencentcloud_ess_default", {"rate_limit": 20}, ti)
    hook.limiter.acquire("CreateSealByImage")
    [query] = ti.asked
    assert query == {"dag_id": "ess_tenant_onboarding", "task_ids": QUOTA_SHARERS, "states": ["running"]}
    assert "run_ids" not in query, "every run of the DAG shares the account's quota, not only this one"
    assert hook.limiter.max_rate == pytest.approx(20 * HEADROOM / 4)


def test_the_series_of_tries_restarts_when_a_task_is_cleared():
    assert first_try_of_series(SimpleNamespace(max_tries=3, task=SimpleNamespace(retries=3))) == 1
    assert (
        first_try_of_series(SimpleNamespace(max_tries=7, task=SimpleNamespace(retries=3))) == 5
    )  # cleared after try 4: tries 5.. form the new series


class PlanTI:
    """What `plan` uses of a task instance: its XCom pushes."""

    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


@pytest.mark.parametrize(
    "params, sizes",
    [
        ({"rate_limit": 20}, [1000, 1000, 500]),
        ({"rate_limit": 100}, [2500]),
        ({"rate_limit": 100, "chunk_size": 1000}, [1000, 1000, 500]),
    ],
)
def test_plan_cuts_chunks_of_the_derived_size_unless_one_is_given(tmp_path, params, sizes):
    from bench.workload import write_manifest
    from tencent_ess.onboarding.locations import Locations
    from tencent_ess.onboarding.tasks import plan, pull_chunk

    where = Locations(str(tmp_path), str(tmp_path / "reports"), str(tmp_path / "seals"))
    write_manifest(tmp_path / "2026-12-02.json", 2500, "合同专用章")
    ti = PlanTI()
    numbers = plan(where, ds="2026-12-02", params={"chunk_size": None, **params}, ti=ti, max_chunks=1024)
    ti.xcom_pull = lambda task_ids, key: ti.pushed[key]
    chunks = [pull_chunk(ti, number) for number in numbers]
    assert [len(chunk) for chunk in chunks] == sizes
    assert sorted(t["index"] for chunk in chunks for t in chunk) == list(range(2500))


def test_a_chunk_missing_from_xcom_fails_rather_than_onboarding_no_one():
    """Its XComs cleaned away, a cleared chunk onboarded nobody and the run was green (an empty list read as a
    chunk of no tenants)."""
    from tencent_ess.onboarding.manifest import ManifestError
    from tencent_ess.onboarding.tasks import pull_chunk

    ti = SimpleNamespace(xcom_pull=lambda task_ids, key: None)
    with pytest.raises(ManifestError, match="chunk 2 of the plan is missing from XCom"):
        pull_chunk(ti, 2)


def test_a_task_refuses_a_plan_whose_manifest_changed_since(tmp_path):
    """Regression (issue 25.18): a cleared task applied the old plan of a manifest that had been edited since."""
    from tencent_ess.onboarding.locations import Locations
    from tencent_ess.onboarding.manifest import ManifestError
    from tencent_ess.onboarding.tasks import check_plan_current, plan, plan_info

    where = Locations(str(tmp_path), str(tmp_path / "reports"), str(tmp_path / "seals"))
    manifest = tmp_path / "2026-12-02.json"
    manifest.write_text(
        '[{"proxy_organization_open_id": "o", "operator_open_id": "p", "seal_name": "章", "user_ids": ["u1"]}]',
        encoding="utf-8",
    )
    ti = PlanTI()
    plan(where, ds="2026-12-02", params={"chunk_size": None, "rate_limit": 20}, ti=ti, max_chunks=1024)
    ti.xcom_pull = lambda task_ids, key: ti.pushed[key]
    check_plan_current(plan_info(ti))  # unchanged: fine
    manifest.write_text(manifest.read_text(encoding="utf-8").replace("u1", "u2"), encoding="utf-8")
    with pytest.raises(ManifestError, match="has changed since this run planned it.*Clear the whole run"):
        check_plan_current(plan_info(ti))
    manifest.unlink()
    with pytest.raises(ManifestError, match="has gone since"):
        check_plan_current(plan_info(ti))


def test_a_revoking_task_without_the_guards_count_revokes_nothing():
    from tencent_ess.errors import RevocationBudgetError
    from tencent_ess.onboarding.tasks import guard_verdict

    ti = SimpleNamespace(xcom_pull=lambda task_ids, key="return_value": None)
    assert guard_verdict(ti, {"mode": "apply", "revoke_unlisted": False}) == {}
    with pytest.raises(RevocationBudgetError, match="count is missing"):
        guard_verdict(ti, {"mode": "apply", "revoke_unlisted": True, "max_revocations": 5})


def test_the_manifest_date_of_a_run_without_a_logical_date():
    """Regression (issue 25.7): such a run read `None.json`."""
    from datetime import datetime

    from tencent_ess.errors import EssValidationError
    from tencent_ess.onboarding.locations import run_day

    after = datetime(2026, 11, 5, 23, 30, tzinfo=UTC)
    assert run_day({}, None, after) == "2026-11-05" and run_day({}, "2026-11-01", after) == "2026-11-01"
    assert run_day({"manifest_date": "2026-10-31"}, "2026-11-01", after) == "2026-10-31"
    for bad in ("2026-02-30", "yesterday", 20261101):
        with pytest.raises(EssValidationError, match="manifest_date"):
            run_day({"manifest_date": bad}, None, after)
    with pytest.raises(EssValidationError, match="manifest_date"):
        run_day({}, None, None)


def test_the_state_of_another_run_is_its_plain_value_and_a_run_airflow_lost_is_finished():
    """Review finding: str() of the SDK's DagRunState gave "DagRunState.RUNNING", never "running", so a revoking
    apply never waited for an older one; and a 404 reached a task process as AirflowRuntimeError, not as an HTTP
    error, so a cleaned-away run blocked every revoking apply."""
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse
    from airflow.utils.state import DagRunState

    from tencent_ess.onboarding.tasks import run_state

    ti = SimpleNamespace(dag_id="d", get_dagrun_state=lambda dag_id, run_id: DagRunState.RUNNING)
    assert run_state(ti, {"run_id": "r"}) == "running"

    def gone(dag_id, run_id):
        raise AirflowRuntimeError(
            ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": 404, "message": "Not Found"})
        )

    assert run_state(SimpleNamespace(dag_id="d", get_dagrun_state=gone), {"run_id": "r"}) == "gone"

    def down(dag_id, run_id):
        raise AirflowRuntimeError(ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": 503}))

    with pytest.raises(AirflowRuntimeError):  # a run that may still write is never assumed done
        run_state(SimpleNamespace(dag_id="d", get_dagrun_state=down), {"run_id": "r"})


def test_a_writing_task_of_an_older_run_yields_to_a_newer_apply_claimed_since(tmp_path, ess_conn):
    """Review finding: a cleared chunk of an older run trusted its guard's old verdict and wrote after a newer
    manifest had been applied."""
    from tencent_ess.hooks import EssHook
    from tencent_ess.onboarding.locations import Locations
    from tencent_ess.onboarding.revocations import claim, mark
    from tencent_ess.onboarding.tasks import still_superseded

    where = Locations(str(tmp_path), str(tmp_path / "reports"), str(tmp_path))
    hook = EssHook()
    ti = SimpleNamespace(dag_id="d", run_id="run-07", get_dagrun_state=lambda dag_id, run_id: "success")
    params = {"mode": "apply", "revoke_unlisted": True}
    mark(
        where.claims(hook.app_id), claim(where.claims(hook.app_id), "2026-11-07", "run-07", revoking=True), counted=True
    )
    assert still_superseded(where, "2026-11-07", params, ti, hook, {"checked": True}) == ""
    mark(
        where.claims(hook.app_id),
        claim(where.claims(hook.app_id), "2026-11-08", "run-08", revoking=False),
        counted=True,
    )
    reason = still_superseded(where, "2026-11-07", params, ti, hook, {"checked": True})
    assert "the manifest of 2026-11-08 was applied" in reason
    assert still_superseded(where, "2026-11-07", {**params, "allow_older_manifest": True}, ti, hook, {}) == ""


def test_a_missing_manifest_folder_is_not_a_day_without_a_manifest(tmp_path):
    """Review finding: a mistyped folder or an unmounted volume read as "no manifest today", green, every day."""
    from tencent_ess.onboarding.locations import Locations
    from tencent_ess.onboarding.manifest import ManifestError
    from tencent_ess.onboarding.tasks import plan
    from tencent_ess.onboarding.wait import manifest_wait

    where = Locations(str(tmp_path / "no-such-folder"), str(tmp_path / "reports"), str(tmp_path))
    with pytest.raises(ManifestError, match="manifest folder .*no-such-folder does not exist"):
        manifest_wait(where, "2026-12-02", {}, 0.0, 0.0)
    with pytest.raises(ManifestError, match="does not exist"):
        plan(where, ds="2026-12-02", params={"chunk_size": None, "rate_limit": 20}, ti=PlanTI(), max_chunks=10)
    (tmp_path / "no-such-folder").mkdir()
    assert manifest_wait(where, "2026-12-02", {}, 0.0, 0.0) == "missing"


def test_a_manifest_date_in_the_future_is_refused():
    """Review finding: a mistyped far-future date made a claim that superseded every run after it."""
    from tencent_ess.errors import EssValidationError
    from tencent_ess.onboarding.locations import run_day

    with pytest.raises(EssValidationError, match="manifest_date: must not be in the future"):
        run_day({"manifest_date": "2062-11-07"}, None, None)


def test_a_run_that_yielded_is_green_only_once_the_newer_run_applied(tmp_path):
    """Review finding: older runs yielded to a newer run that then failed its guard: no manifest was applied, and
    every older run was green."""
    from tencent_ess.onboarding.locations import Locations
    from tencent_ess.onboarding.revocations import claim, mark
    from tencent_ess.onboarding.tasks import CheckAgain, yielded_to

    where = Locations(str(tmp_path), str(tmp_path / "reports"), str(tmp_path))
    folder = where.claims("app")
    mine = mark(folder, claim(folder, "2026-11-07", "run-07", revoking=True), yielded=True)
    newer = claim(folder, "2026-11-08", "run-08", revoking=True)
    states = {"run-07": "running", "run-08": "running"}
    ti = SimpleNamespace(dag_id="d", get_dagrun_state=lambda dag_id, run_id: states[run_id])
    with pytest.raises(CheckAgain):  # still at its guard: wait
        yielded_to(where, ti, "app", newer, mine)
    states["run-08"] = "failed"  # ended without getting past its guard
    assert "no newer manifest got applied" in yielded_to(where, ti, "app", newer, mine)
    newest = claim(folder, "2026-11-09", "run-09", revoking=True)  # a chain: 08 had yielded to 09 in turn
    states["run-09"] = "running"
    with pytest.raises(CheckAgain):
        yielded_to(where, ti, "app", newer, mine)
    mark(folder, newest, counted=True)
    assert yielded_to(where, ti, "app", newer, mine) == ""


def test_a_plans_log_line_says_what_apply_would_change():
    """The plan log said only "drift"; each line now says what apply would do."""
    from tencent_ess.onboarding.tasks import would_change

    row = {"would_create": True, "would_grant": ["u1", "u2"], "would_revoke": []}
    assert would_change(row) == " (would create the seal; grant u1, u2)"
    assert would_change({"would_create": False, "would_grant": [], "would_revoke": ["u9"]}) == " (would revoke u9)"
    assert would_change({"status": "failed"}) == ""


def test_a_revocation_awaiting_approval_is_never_made_without_a_recorded_decision():
    from tencent_ess.errors import RevocationBudgetError
    from tencent_ess.onboarding.approval import proposal_digest
    from tencent_ess.onboarding.tasks import guard_verdict

    verdict = {
        "checked": True,
        "awaiting_approval": True,
        "would_revoke": 3,
        "revoked_before": 1,
        "allowed": {},
        "proposed": {"f1": ["u1", "u2"], "f2": ["u3"]},
    }
    params = {"mode": "apply", "revoke_unlisted": True, "max_revocations": 2}

    def ti(decision):
        answers = {"guard": verdict, "approve_revocations": decision}
        return SimpleNamespace(xcom_pull=lambda task_ids, key="return_value": answers[task_ids])

    for missing in (None, {}, {"needed": False}):  # cleared, never ran, or returned at once
        with pytest.raises(RevocationBudgetError, match="no decision is recorded.*nothing is revoked unapproved"):
            guard_verdict(ti(missing), params)
    digest = proposal_digest(verdict)
    approved = guard_verdict(
        ti({"needed": True, "approved": True, "reason": "approved by a", "digest": digest}), params
    )
    assert approved["allowed"] == verdict["proposed"] and approved["budget"] == 4  # 1 earlier + 3 approved
    # an answer about another count (the guard ran again since, and counted more) approves nothing
    stale = proposal_digest({**verdict, "proposed": {"f1": ["u1"]}})
    with pytest.raises(RevocationBudgetError, match="another count than the guard's latest"):
        guard_verdict(ti({"needed": True, "approved": True, "reason": "approved by a", "digest": stale}), params)
    rejected = guard_verdict(
        ti({"needed": True, "approved": False, "reason": "rejected by b", "digest": digest}), params
    )
    assert rejected["allowed"] == {} and rejected["withheld"] == "rejected by b" and "budget" not in rejected
