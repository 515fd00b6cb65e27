"""The provider's metrics as the hook and the report send them, through Airflow's stats functions (recorded here
in place of a backend; the stack test listens to real StatsD)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from tencent_ess import metrics
from tencent_ess.errors import EssApiError
from tencent_ess.hooks import EssHook
from tests.conftest import conn_json, emulator_state
from tests.tencent_ess.test_hooks import system_seal


@pytest.fixture
def sent(monkeypatch):
    """Every metric sent, as (kind, name, value)."""
    recorded: list[tuple[str, str, object]] = []
    fake = SimpleNamespace(
        incr=lambda name, count=1, **_: recorded.append(("incr", name, count)),
        timing=lambda name, dt, **_: recorded.append(("timing", name, dt)),
        gauge=lambda name, value, **_: recorded.append(("gauge", name, value)),
    )
    monkeypatch.setattr(metrics, "_stats", lambda: fake)
    return recorded


def test_each_call_counts_by_action_and_answer_and_each_retry_by_code(make_emulator, monkeypatch, sent):
    emulator = make_emulator(faults={"internal": 1.0})
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    with pytest.raises(EssApiError):
        EssHook(max_attempts=3, backoff_base=0.01, backoff_max=0.02).call("CreateSealByImage", system_seal())
    calls = [name for kind, name, _ in sent if kind == "incr" and ".api.calls." in name]
    # the code's dot would add a level to the name: it becomes an underscore
    assert calls == ["tencent_ess.api.calls.CreateSealByImage.InternalError_System"] * 3
    assert emulator_state(emulator)["request_counts"] == {"CreateSealByImage": 3}  # one count per request sent
    retries = [name for kind, name, _ in sent if ".api.retries." in name]
    assert retries == ["tencent_ess.api.retries.CreateSealByImage.InternalError_System"] * 2
    assert [name for kind, name, _ in sent if kind == "timing"] == ["tencent_ess.api.latency.CreateSealByImage"] * 3


def test_a_success_and_a_refusal_by_the_quota(make_emulator, monkeypatch, sent):
    emulator = make_emulator(rate_limit=1)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    hook = EssHook(backoff_base=0.3, backoff_max=1.0)
    for i in range(3):
        hook.call("CreateSealByImage", system_seal(f"章{i}"))
    names = [name for kind, name, _ in sent if kind == "incr"]
    assert names.count("tencent_ess.api.calls.CreateSealByImage.Ok") == 3
    refused = names.count("tencent_ess.api.calls.CreateSealByImage.RequestLimitExceeded")
    assert refused >= 1 and names.count("tencent_ess.api.rate_limited.CreateSealByImage") == refused


def test_a_report_counts_its_tenants_by_outcome_and_what_its_run_changed(sent):
    metrics.run_reported(
        {
            "mode": "apply",
            "by_status": {"done": 7, "failed": 2},
            "changes_in_run": {"seals_created": 3, "users_granted": 5, "users_revoked": 0},
        }
    )
    assert sorted((name, value) for _, name, value in sent) == [
        ("tencent_ess.seals_created", 3),
        ("tencent_ess.tenants.apply.done", 7),
        ("tencent_ess.tenants.apply.failed", 2),
        ("tencent_ess.users_granted", 5),
    ]
