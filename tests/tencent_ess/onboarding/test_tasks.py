"""Task bodies as plain functions: the quota shared across runs, the series of tries."""

from __future__ import annotations

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
    assert first_try_of_series(SimpleNamespace(max_tries=7, task=SimpleNamespace(retries=3))) == 5  # cleared after try 4: tries 5.. form the new series


class PlanTI:
    """What `plan` uses of a task instance: its XCom pushes."""

    def __init__(self) -> None:
        self.pushed: dict[str, object] = {}

    def xcom_push(self, key: str, value: object) -> None:
        self.pushed[key] = value


@pytest.mark.parametrize("params, sizes", [({"rate_limit": 20}, [1000, 1000, 500]),
                                           ({"rate_limit": 100}, [2500]),
                                           ({"rate_limit": 100, "chunk_size": 1000}, [1000, 1000, 500])])
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
    manifest.write_text('[{"proxy_organization_open_id": "o", "operator_open_id": "p", "seal_name": "章", '
                        '"user_ids": ["u1"]}]', encoding="utf-8")
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
    from datetime import datetime, timezone

    from tencent_ess.errors import EssValidationError
    from tencent_ess.onboarding.locations import run_day

    after = datetime(2026, 11, 5, 23, 30, tzinfo=timezone.utc)
    assert run_day({}, None, after) == "2026-11-05" and run_day({}, "2026-11-01", after) == "2026-11-01"
    assert run_day({"manifest_date": "2026-10-31"}, "2026-11-01", after) == "2026-10-31"
    for bad in ("2026-02-30", "yesterday", 20261101):
        with pytest.raises(EssValidationError, match="manifest_date"):
            run_day({"manifest_date": bad}, None, after)
    with pytest.raises(EssValidationError, match="manifest_date"):
        run_day({}, None, None)
