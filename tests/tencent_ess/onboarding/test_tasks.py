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
    hook = make_hook({"ess_conn_id": "tencentcloud_ess_default", "rate_limit": 20}, ti)
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
