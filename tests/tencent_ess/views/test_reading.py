"""What the report view reads: the recorded location, the report (cached while unchanged), its summary alone, and a
page of its tenants."""

from __future__ import annotations

import json
import os

import pytest

from tencent_ess.errors import ReportError
from tencent_ess.onboarding.report import write_report
from tencent_ess.views.reading import (
    ROW_KEYS,
    ReportCache,
    done_per_day,
    location_from_xcom,
    page_of,
    read_summary,
)


def rows(count: int, status: str = "done") -> list[dict]:
    return [
        {
            "index": i,
            "proxy_organization_open_id": f"org{i:05d}",
            "seal_name": f"合同专用章{i}",
            "status": status if i % 3 else "failed",
            "seal_id": f"seal{i}",
            "error": "" if i % 3 else "InvalidParameter — check the seal name",
            "granted": ["u1"],
            "fingerprint": "internal",
        }
        for i in range(count)
    ]


@pytest.fixture
def report(tmp_path) -> dict:
    return write_report(rows(120), tmp_path, "manual__2026-11-01", note="two notes; here")


def test_a_recorded_location_names_the_runs_own_report_files_or_is_refused():
    run = "manual__2026-11-01T00:00:00+00:00"
    folder = "s3://b/r/2026-11-01/manual__2026-11-01T00_00_00_00_00"  # run_name(run)
    good = {"json": f"{folder}.json", "csv": f"{folder}.csv", "mode": "plan", "day": "2026-11-01"}
    assert location_from_xcom(good, run) == good
    assert location_from_xcom(json.dumps(good), run) == good  # as some XCom backends hand it back
    proposed = {**good, "json": f"{folder}.proposed.json", "csv": f"{folder}.proposed.csv"}
    assert location_from_xcom(proposed, run) == proposed  # the guard's count awaiting approval
    assert location_from_xcom(None, run) is None
    for bad, named in (
        ({**good, "json": "/etc/passwd"}, ".json"),
        ({**good, "csv": "/root/.ssh/id_rsa"}, ".csv"),
        ({**good, "json": "/var/secrets/2026-11-01/key.json"}, "not its report"),  # any other file
        ({**good, "json": good["json"].replace("manual__", "scheduled__")}, "not its report"),  # another run's
        ({**good, "day": "2026-11-02"}, "not its report"),  # another day's folder
        ({**good, "day": "../.."}, "not its report"),
        ("not json", "JSON"),
        (["x.json"], "object"),
    ):
        with pytest.raises(ReportError, match=named):
            location_from_xcom(bad, run)


def test_the_cache_serves_the_served_keys_and_reads_a_changed_file_again(report):
    cache = ReportCache()
    first = cache.load(report["json"])
    assert len(first.rows) == 120 and set(first.rows[0]) == set(ROW_KEYS)
    assert "fingerprint" not in first.rows[0]
    assert cache.load(report["json"]) is first  # unchanged: not read again
    document = json.loads(open(report["json"], encoding="utf-8").read())
    document["tenants"] = document["tenants"][:5]
    with open(report["json"], "w", encoding="utf-8") as out:
        out.write(json.dumps(document) + " " * 50)  # another size, and another mtime
    os.utime(report["json"], (1, 1))
    assert len(cache.load(report["json"]).rows) == 5
    assert cache.load(report["json"] + ".missing.json") is None


def test_a_damaged_report_is_named_never_shown_empty(tmp_path):
    path = tmp_path / "r.json"
    path.write_text('{"summary": {}, "tenants": [', encoding="utf-8")
    with pytest.raises(ReportError, match="is not a report"):
        ReportCache().load(str(path))
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(ReportError, match="is not a report"):
        ReportCache().load(str(path))


def test_the_summary_is_read_from_the_head_of_the_file(report, tmp_path):
    summary = read_summary(report["json"])
    assert summary["tenants"] == 120 and summary["by_status"] == {"done": 80, "failed": 40}
    assert summary["note"] == "two notes; here"
    # The rows are never read: a file whose tail is cut still gives its summary.
    text = open(report["json"], encoding="utf-8").read()
    cut = tmp_path / "cut.json"
    cut.write_text(text[: text.index('\n  "tenants": [') + 200], encoding="utf-8")
    assert read_summary(str(cut))["tenants"] == 120
    assert read_summary(str(tmp_path / "absent.json")) is None
    (tmp_path / "bad.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ReportError, match="has no summary"):
        read_summary(str(tmp_path / "bad.json"))


def test_a_summary_longer_than_one_read_is_read_whole(tmp_path):
    long_note = "说明" * 60_000  # well over HEAD_BYTES
    summary = write_report(rows(3), tmp_path, "r", note=long_note)
    assert read_summary(summary["json"])["note"] == long_note


def test_a_page_filters_by_status_and_searches_enterprise_seal_name_and_seal_id():
    table = [{key: row.get(key, "") for key in ROW_KEYS} for row in rows(120)]
    page = page_of(table, status="failed", limit=10)
    assert (page["total"], page["matched"], len(page["rows"])) == (120, 40, 10)
    assert all(row["status"] == "failed" for row in page["rows"])
    assert [r["index"] for r in page_of(table, query="ORG00007")["rows"]] == [7]  # case-insensitive
    assert [r["index"] for r in page_of(table, query="专用章11")["rows"]] == [11, *range(110, 120)]
    assert [r["index"] for r in page_of(table, query=" seal42 ")["rows"]] == [42]
    last = page_of(table, offset=100, limit=50)
    assert [r["index"] for r in last["rows"]] == list(range(100, 120))
    assert len(page_of(table, limit=10_000)["rows"]) == 120 and page_of(table, limit=10_000)["limit"] == 500
    assert page_of(table, status="in_sync")["rows"] == []


def test_tenants_done_per_day_counts_each_days_latest_apply_run_once():
    def run(day, done, at, mode="apply"):
        return {"day": day, "run_after": at, "summary": {"mode": mode, "by_status": {"done": done, "failed": 1}}}

    runs = [
        run("2026-11-02", 7, "2026-11-02T01"),
        run("2026-11-01", 3, "2026-11-01T01"),
        run("2026-11-01", 5, "2026-11-01T09"),  # a re-run of the day: its count, not 3 + 5
        run("2026-11-03", 9, "2026-11-03T01", mode="plan"),  # a plan changes nothing
        {"day": "2026-11-04", "run_after": "2026-11-04", "summary": None},  # no report
    ]
    assert done_per_day(runs) == [("2026-11-01", 5), ("2026-11-02", 7)]
