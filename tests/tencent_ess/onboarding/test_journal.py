"""The attempt journal: keyed by tenant fingerprint and plan, atomic, tolerant of a torn record."""

from __future__ import annotations

import json
import threading

from tencent_ess.onboarding.engine import TenantResult
from tencent_ess.onboarding.journal import attempt_record, finished_before, read_records, write_record


class Hook:
    stats = {"calls.CreateSealByImage": 2}
    retried = [
        {
            "action": "CreateSealByImage",
            "code": "ClientNetworkError",
            "request_id": "",
            "attempt": 1,
            "retried_by": "hook",
        }
    ]


def row(index: int, status: str, fingerprint: str) -> TenantResult:
    return TenantResult(index, "o", f"seal{index}", status, f"S{index}", fingerprint=fingerprint)


def test_attempt_records_carry_finished_tenants_to_the_next_attempt(tmp_path):
    results = [row(0, "done", "fa"), row(1, "retry", "fb"), row(2, "awaiting_review", "fc")]
    results[1].error = "InternalError"
    write_record(
        tmp_path, "onboard-0-try1", attempt_record(Hook(), results, task="onboard[0]", try_number=1, plan_id="P")
    )
    write_record(
        tmp_path,
        "onboard-1-try1",
        attempt_record(Hook(), [row(9, "done", "fz")], task="onboard[1]", try_number=1, plan_id="P"),
    )
    records, problems = read_records(tmp_path, "P")
    assert problems == []
    assert sorted(finished_before(records, "onboard[0]")) == ["fa", "fc"]
    assert sorted(finished_before(records)) == ["fa", "fc", "fz"]
    [first] = [r for r in records if r["task"] == "onboard[0]"]
    assert [e["retried_by"] for e in first["retried"]] == ["hook", "task retry"]
    assert first["retried"][1]["tenant"] == 1 and first["stats"] == Hook.stats
    assert read_records(tmp_path / "nothing-here", "P") == ([], [])


def test_records_of_another_plan_or_an_earlier_series_are_not_trusted(tmp_path):
    """Regression (issue 12.3): records keyed by manifest index survived a clear and marked a new entry done."""
    write_record(
        tmp_path,
        "onboard-0-try1",
        attempt_record(Hook(), [row(0, "done", "old")], task="onboard[0]", try_number=1, plan_id="before-the-clear"),
    )
    write_record(
        tmp_path,
        "onboard-0-try2",
        attempt_record(Hook(), [row(0, "done", "fa")], task="onboard[0]", try_number=2, plan_id="now"),
    )
    write_record(
        tmp_path,
        "onboard-0-try5",
        attempt_record(Hook(), [row(1, "done", "fb")], task="onboard[0]", try_number=5, plan_id="now"),
    )
    records, _ = read_records(tmp_path, "now")
    assert [r["try"] for r in records] == [2, 5]
    assert sorted(finished_before(records, "onboard[0]")) == ["fa", "fb"]
    assert sorted(finished_before(records, "onboard[0]", series=5)) == ["fb"]  # the task was cleared at try 5


def test_a_torn_record_is_reported_and_ignored(tmp_path):
    """Regression (issue 12.4): one half-written file blocked every later attempt and the report."""
    write_record(
        tmp_path,
        "onboard-0-try1",
        attempt_record(Hook(), [row(0, "done", "fa")], task="onboard[0]", try_number=1, plan_id="P"),
    )
    (tmp_path / "onboard-1-try1.json").write_text('{"task": "onboard[1]", "finished": [{"ind', encoding="utf-8")
    (tmp_path / "onboard-2-try1.json").write_text("[1, 2]", encoding="utf-8")
    records, problems = read_records(tmp_path, "P")
    assert [r["task"] for r in records] == ["onboard[0]"]
    assert len(problems) == 2 and all("unreadable, ignored" in p for p in problems)
    assert "onboard-1-try1.json" in problems[0]


def test_writes_are_atomic_under_a_concurrent_reader(tmp_path):
    """Regression (issue 12.4): a concurrent reader saw half-written JSON."""
    big = attempt_record(
        Hook(), [row(i, "done", f"f{i}") for i in range(3000)], task="onboard[0]", try_number=1, plan_id="P"
    )
    stop, torn, reads = threading.Event(), [], [0]

    def reader() -> None:
        target = tmp_path / "onboard-0-try1.json"
        while not stop.is_set():
            if target.exists():
                try:
                    json.loads(target.read_text(encoding="utf-8"))
                    reads[0] += 1
                except ValueError:
                    torn.append(1)

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for _ in range(30):
            write_record(tmp_path, "onboard-0-try1", big)
    finally:
        stop.set()
        thread.join()
    assert torn == [] and reads[0] > 0
    assert [f.name for f in tmp_path.iterdir()] == ["onboard-0-try1.json"]  # no temp file left behind
