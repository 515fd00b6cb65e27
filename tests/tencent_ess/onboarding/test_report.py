"""The run report: JSON and spreadsheet-safe CSV, totals that count what was done."""

from __future__ import annotations

import json

from tencent_ess.onboarding.report import write_report


def test_report_writes_json_and_csv_with_totals(tmp_path):
    rows = [
        {
            "index": 1,
            "proxy_organization_open_id": "o",
            "seal_name": "B",
            "status": "failed",
            "error": "x",
            "granted": [],
        },
        {
            "index": 0,
            "proxy_organization_open_id": "o",
            "seal_name": "A",
            "status": "done",
            "created": True,
            "granted": ["u1", "u2"],
        },
    ]
    summary = write_report(
        rows,
        tmp_path,
        "run",
        [
            {"stats": {"calls.Create": 2, "retries.InternalError": 2}},
            {"stats": {"calls.Create": 1}, "retried": [{"retried_by": "task retry"}]},
        ],
    )
    data = json.loads((tmp_path / "run.json").read_text("utf-8"))
    assert [r["index"] for r in data["tenants"]] == [0, 1]
    assert summary["by_status"] == {"done": 1, "failed": 1} and summary["users_granted"] == 2
    assert summary["retried_calls"] == {"InternalError": 2} and summary["api_calls"] == {"Create": 3}
    assert summary["tenants_retried_by_task_retry"] == 1 and data["retried_calls"] == [{"retried_by": "task retry"}]
    assert (tmp_path / "run.csv").read_text("utf-8-sig").splitlines()[1].startswith("apply,0,o,A,done")


def test_csv_cells_that_would_start_a_formula_are_escaped(tmp_path):
    """Regression (issue 12.10): a seal name `=HYPERLINK(...)` was written as a live formula."""
    import csv

    hostile = ['=HYPERLINK("http://x","click")', "+1+1", "-2", "@SUM(A1)", "\t=1"]
    rows = [
        {"index": i, "proxy_organization_open_id": "o", "seal_name": name, "status": "failed", "error": name}
        for i, name in enumerate(hostile)
    ]
    write_report(rows, tmp_path, "run")
    with (tmp_path / "run.csv").open(encoding="utf-8-sig", newline="") as handle:
        read = list(csv.DictReader(handle))
    assert [r["seal_name"] for r in read] == ["'" + name for name in hostile]
    assert all(not r["error"].startswith(("=", "+", "-", "@", "\t")) for r in read)
    data = json.loads((tmp_path / "run.json").read_text("utf-8"))
    assert [r["seal_name"] for r in data["tenants"]] == hostile  # the JSON keeps the value as it is


def test_failed_rows_count_what_was_done_before_the_failure(tmp_path):
    """Regression (issue 12.13): a tenant whose seal was created but whose grant failed counted no seal."""
    rows = [
        {
            "index": 0,
            "proxy_organization_open_id": "o",
            "seal_name": "A",
            "status": "failed",
            "seal_id": "S0",
            "created": True,
            "granted": [],
            "error": "grant refused",
        },
        {
            "index": 1,
            "proxy_organization_open_id": "o",
            "seal_name": "B",
            "status": "done",
            "seal_id": "S1",
            "created": True,
            "granted": ["u1"],
        },
    ]
    summary = write_report(rows, tmp_path, "run")
    assert summary["seals_created"] == 2 and summary["by_status"] == {"failed": 1, "done": 1}


def test_the_json_report_is_one_document_with_a_tenant_per_line(tmp_path):
    rows = [
        {
            "index": i,
            "proxy_organization_open_id": f"o{i}",
            "seal_name": '章\n"x"\u2028',
            "status": "done",
            "granted": ["u1"],
        }
        for i in range(3)
    ]
    retried = [{"retried_by": "task retry", "code": "InternalError"}]
    write_report(rows, tmp_path, "run", [{"stats": {"calls.Create": 3}, "retried": retried}])
    text = (tmp_path / "run.json").read_text("utf-8")
    data = json.loads(text)
    assert data["tenants"] == rows and data["retried_calls"] == retried and data["summary"]["tenants"] == 3
    tenant_lines = [line for line in text.split("\n") if line.startswith('    {"index"')]  # as grep reads it
    assert [json.loads(line.rstrip(",")) for line in tenant_lines] == rows  # each row whole on its own line
    assert "章" in text  # readable, not \\u-escaped


def test_an_empty_report_is_valid_json(tmp_path):
    write_report([], tmp_path, "run", note="no manifest")
    data = json.loads((tmp_path / "run.json").read_text("utf-8"))
    assert data["tenants"] == [] and data["retried_calls"] == [] and data["summary"]["note"] == "no manifest"


def test_every_attempt_keeps_its_report_and_the_latest_lists_every_change_of_the_run(tmp_path):
    """Regression (issue 25.10): clearing a run overwrote its report, losing who the first attempt had revoked."""
    first = [
        {
            "index": 0,
            "proxy_organization_open_id": "o",
            "seal_name": "A",
            "seal_id": "S",
            "status": "done",
            "created": True,
            "granted": ["u1"],
            "revoked": ["u9"],
        }
    ]
    again = [
        {
            "index": 0,
            "proxy_organization_open_id": "o",
            "seal_name": "A",
            "seal_id": "S",
            "status": "done",
            "granted": ["u2"],
        }
    ]
    write_report(first, tmp_path, "run", attempt=1)
    write_report(again, tmp_path, "run", attempt=2, revoked=[{"users": ["u9"], "seal_id": "S", "at": 1.0}])
    assert json.loads((tmp_path / "run.try1.json").read_text("utf-8"))["tenants"][0]["revoked"] == ["u9"]
    latest = json.loads((tmp_path / "run.json").read_text("utf-8"))
    assert latest == json.loads((tmp_path / "run.try2.json").read_text("utf-8"))
    assert [(c["change"], c.get("users")) for c in latest["changes"]] == [
        ("created", None),
        ("granted", ["u1"]),
        ("revoked", ["u9"]),
        ("granted", ["u2"]),
    ]
    assert latest["summary"]["changes_in_run"] == {"seals_created": 1, "users_granted": 2, "users_revoked": 1}
    write_report(again, tmp_path, "run", attempt=2)  # the same try again (a run made anew): both copies kept
    assert len(list(tmp_path.glob("run.try2*.json"))) == 2


def test_an_earlier_report_that_cannot_be_read_is_never_replaced(tmp_path):
    import pytest

    from tencent_ess.errors import ReportError

    (tmp_path / "run.json").write_text("{ damaged", encoding="utf-8")
    with pytest.raises(ReportError, match="cannot be read"):
        write_report([], tmp_path, "run", attempt=3)
    assert (tmp_path / "run.json").read_text(encoding="utf-8") == "{ damaged"
