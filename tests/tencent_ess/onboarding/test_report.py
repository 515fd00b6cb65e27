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


def test_a_large_report_is_written_in_pieces_and_reads_as_one_document(tmp_path, monkeypatch):
    """A 100,000-tenant report was built whole in memory: 64 MB of UTF-8, several times that as text, and the
    report task's peak RSS grew with it (bench stage 9). It is now encoded and written a few rows at a time; the
    file is the same document, the attempt's copy and the latest byte for byte."""
    from tencent_ess.onboarding import report

    monkeypatch.setattr(report, "PIECE_ITEMS", 3)
    rows = [
        {
            "index": i,
            "proxy_organization_open_id": f"o{i}",
            "seal_name": "合同专用章",
            "status": "done",
            "created": True,
        }
        for i in range(10)
    ]
    summary = write_report(rows, tmp_path, "run", attempt=1)
    text = (tmp_path / "run.json").read_text("utf-8")
    data = json.loads(text)
    assert data["tenants"] == rows and len(data["changes"]) == 10 and data["summary"]["tenants"] == 10
    assert [json.loads(line.rstrip(",")) for line in text.split("\n") if line.startswith('    {"index"')] == rows
    assert (tmp_path / "run.try1.json").read_bytes() == (tmp_path / "run.json").read_bytes()
    assert summary["attempt_json"] == str(tmp_path / "run.try1.json")
    table = (tmp_path / "run.csv").read_bytes()
    assert table.startswith(b"\xef\xbb\xbfmode,") and table.count(b"\r\n") == 11 and table.count(b"\xef\xbb\xbf") == 1
    pieces = list(report.report_pieces(data["summary"], rows, [], data["changes"]))
    assert b"".join(pieces).decode() == text and max(map(len, pieces)) < len(text) / 3
    assert max(map(len, report.csv_pieces(rows, "apply"))) < len(table) / 3


def _rows(count: int) -> list[dict]:
    return [
        {
            "index": i,
            "proxy_organization_open_id": f"org{i:06d}",
            "seal_name": "合同专用章",
            "seal_id": f"{i:032d}",
            "status": "done",
            "created": True,
            "granted": [f"u{i}a", f"u{i}b"],
        }
        for i in range(count)
    ]


def test_a_cleared_report_reads_only_the_changes_of_the_one_before_it(tmp_path):
    """Parsed whole, a 100,000-tenant report took 500 MB and a cleared report task neared 1 GB: only its changes
    are parsed now, a line at a time: its peak is under half the whole parse's."""
    import tracemalloc

    from tencent_ess.onboarding.report import earlier_changes, whole_report_changes

    rows = _rows(5000)
    write_report(rows, tmp_path, "run", attempt=1)
    peaks = []
    for read in (earlier_changes, whole_report_changes):
        tracemalloc.start()
        try:
            changes = read(tmp_path / "run.json")
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        assert len(changes) == 10000 and changes[1] == {
            "proxy_organization_open_id": "org000000",
            "seal_name": "合同专用章",
            "seal_id": "0" * 32,
            "change": "granted",
            "users": ["u0a", "u0b"],
        }
    assert peaks[0] < peaks[1] / 2, f"{peaks[0] / 1e6:.1f} MB by lines, {peaks[1] / 1e6:.1f} MB whole"


def test_an_earlier_report_cut_short_or_in_an_older_layout(tmp_path):
    """Cut short after its changes (a copy that died half-way): refused, never taken as all it recorded. One
    rewritten by hand (indented, a newline more or less at its end) is parsed whole, as is an older report without
    `changes`, whose rows say what was done."""
    import pytest

    from tencent_ess.errors import ReportError
    from tencent_ess.onboarding.report import earlier_changes

    write_report(_rows(3), tmp_path, "run", attempt=1, revoked=[{"at": 1, "users": ["u9"], "seal_id": "s"}])
    whole = (tmp_path / "run.json").read_bytes()
    (tmp_path / "cut.json").write_bytes(whole[: whole.index(b'"revocations"') + 20])
    (tmp_path / "odd.json").write_bytes(whole.replace(b'{"proxy_organization_open_id": "org000001"', b'"x"', 1))
    for name in ("cut.json", "odd.json"):
        with pytest.raises(ReportError, match="cannot be read"):
            earlier_changes(tmp_path / name)
    document = json.loads(whole)
    for rewritten in (json.dumps(document, indent=2, ensure_ascii=False), whole.decode() + "\n", whole.decode()[:-1]):
        (tmp_path / "rewritten.json").write_text(rewritten, encoding="utf-8")  # by hand: still the same changes
        assert earlier_changes(tmp_path / "rewritten.json") == document["changes"]
    older = {"summary": {}, "tenants": _rows(2)}
    (tmp_path / "older.json").write_text(json.dumps(older), encoding="utf-8")
    assert [c["change"] for c in earlier_changes(tmp_path / "older.json")] == ["created", "granted"] * 2
    assert earlier_changes(tmp_path / "absent.json") == []


def test_changes_are_the_same_only_when_every_field_is():
    from tencent_ess.onboarding.report import merge_changes

    created = {"proxy_organization_open_id": "o", "seal_name": "章", "seal_id": "s", "change": "created"}
    granted = {**created, "change": "granted", "users": ["u1", "u2"]}
    odd = {**created, "note": {"by": "hand"}}  # a shape this writer never makes: compared as canonical JSON
    merged = merge_changes(
        [created, granted, odd],
        [
            dict(created),
            {**granted, "users": ["u1", "u2"]},
            {**granted, "users": ["u2", "u1"]},
            {**created, "users": []},
        ],
        [{"note": {"by": "hand"}, **created}, {**created, "seal_id": None}, {**created, "users": None}],
        [{k: v for k, v in created.items() if k != "seal_id"}],  # left out is not null
    )
    assert merged == [
        created,
        granted,
        odd,
        {**granted, "users": ["u2", "u1"]},
        {**created, "users": []},
        {**created, "seal_id": None},
        {**created, "users": None},
        {k: v for k, v in created.items() if k != "seal_id"},
    ]
