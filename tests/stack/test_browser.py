"""The UI as a user drives it, in Debian's Chromium (Playwright): the trigger form of ess_seal_setup, and a
tencentcloud_ess connection made in the connection form and checked with its Test button.

Screenshots are saved under each test's tmp_path (`pytest --basetemp=DIR` keeps them somewhere known).
"""

from __future__ import annotations

import json
import re
from datetime import UTC

import pytest
from playwright.sync_api import expect

from tests.stack.conftest import emulator_state, report_of

pytestmark = pytest.mark.stack

SEAL_NAME = "合同专用章"  # the form's default


def open_trigger_form(page, stack, dag_id: str = "ess_seal_setup"):
    page.goto(f"{stack.url}/dags/{dag_id}")
    page.get_by_role("button", name="Trigger").first.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(f"Trigger Dag - {dag_id}")).to_be_visible()
    return dialog, dialog.get_by_test_id("trigger-dag-submit")


def wait_new_run(api, dag_id: str, before: set[str]) -> str:
    """The run a submitted trigger form created (one not among `before`)."""
    from stack import wait_for

    def new_run():
        fresh = [run["dag_run_id"] for run in api.runs(dag_id) if run["dag_run_id"] not in before]
        return fresh[0] if fresh else None

    return wait_for("the run the form triggered", new_run, 60, 1)


def fill_identity(dialog, org: str, operator: str, users: list[str]) -> None:
    dialog.get_by_role("button", name="Enterprise").click()
    dialog.locator("#element_proxy_organization_open_id").fill(org)
    dialog.locator("#element_operator_open_id").fill(operator)
    dialog.get_by_role("button", name="Employees").click()
    dialog.locator("#element_user_ids").fill("\n".join(users))


def test_trigger_form_with_only_the_identity_typed_runs_to_success(page, stack, api):
    dialog, submit = open_trigger_form(page, stack)
    expect(submit).to_be_disabled()  # the enterprise, operator and employees are asked for
    page.screenshot(path=page.shots / "1-empty-form.png", full_page=True)

    fill_identity(dialog, "org_tenant_alpha", "alphaadmin", ["alphastaff1", "alphastaff2"])
    dialog.get_by_role("button", name="Seal", exact=True).click()  # the defaults, as the user sees them
    expect(dialog.locator("#element_seal_name")).to_have_value(SEAL_NAME)
    page.screenshot(path=page.shots / "2-filled-form.png", full_page=True)
    expect(submit).to_be_enabled()
    before = {run["dag_run_id"] for run in api.runs("ess_seal_setup")}
    submit.click()

    run_id = wait_new_run(api, "ess_seal_setup", before)
    run = api.wait_run("ess_seal_setup", run_id, timeout=300)
    page.goto(f"{stack.url}/dags/ess_seal_setup/runs/{run_id}")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=page.shots / "3-run.png", full_page=True)
    assert run["state"] == "success", api.task_instances("ess_seal_setup", run_id)
    assert run["conf"]["seal_horizontal_text"] is None and run["conf"]["seal_image_path"] is None
    seals = [
        s
        for s in emulator_state(stack)["seals"]
        if s["organization_open_id"] == "org_tenant_alpha" and s["seal_name"] == SEAL_NAME
    ]
    assert len(seals) == 1 and sorted(seals[0]["authorized_user_ids"]) == ["alphastaff1", "alphastaff2"]


def test_onboarding_trigger_form_left_at_its_defaults_derives_the_chunk_size_and_runs_to_success(page, stack, api):
    """Where a user meets the derived chunk size: the onboarding form's Throughput section, `chunk_size` empty."""
    from datetime import datetime

    from workload import write_manifest

    ds = datetime.now(UTC).date().isoformat()  # the form's logical date: now
    entries = write_manifest(stack.manifests / f"{ds}.json", 12, "表单专用章", first=386)
    dialog, submit = open_trigger_form(page, stack, "ess_tenant_onboarding")
    dialog.get_by_role("button", name="Throughput", exact=True).click()
    # number fields carry no element_ id: found by their label, as the user reads them
    expect(dialog.get_by_role("spinbutton", name="Tenants per chunk task")).to_have_value("")
    expect(dialog.get_by_role("spinbutton", name="API rate limit (requests/s per action)")).to_have_value("20")
    page.screenshot(path=page.shots / "onboarding-form.png", full_page=True)
    before = {run["dag_run_id"] for run in api.runs("ess_tenant_onboarding")}
    submit.click()

    run_id = wait_new_run(api, "ess_tenant_onboarding", before)
    run = api.wait_run("ess_tenant_onboarding", run_id, timeout=300)
    tis = api.task_instances("ess_tenant_onboarding", run_id)
    assert run["state"] == "success", [(t["task_id"], t["map_index"], t["state"]) for t in tis]
    assert run["conf"]["chunk_size"] is None
    assert len([t for t in tis if t["task_id"] == "onboard"]) == 1  # 12 tenants: one chunk of up to 1,000
    # today's scheduled run may have written its own (empty) report beside this one
    assert [row["status"] for row in report_of(stack, ds, run_id)["tenants"]] == ["done"] * len(entries)


def test_trigger_form_refuses_what_the_params_forbid(page, stack):
    dialog, submit = open_trigger_form(page, stack)
    fill_identity(dialog, "org_tenant_beta", "betaadmin", ["betastaff1"])
    dialog.get_by_role("button", name="Seal", exact=True).click()
    name = dialog.locator("#element_seal_name")

    name.fill("章" * 51)  # maxLength 50: the form cannot hold a 51st character
    assert len(name.input_value()) == 50
    dialog.locator("#element_seal_horizontal_text").fill("横" * 16)  # maxLength 15
    assert len(dialog.locator("#element_seal_horizontal_text").input_value()) == 15

    name.fill("")  # minLength 1: Trigger disabled, and the field says why
    expect(submit).to_be_disabled()
    expect(dialog.get_by_text("This field is required")).to_be_visible()
    page.screenshot(path=page.shots / "refused.png", full_page=True)


def add_connection(page, stack, conn_id: str, secret_key: str) -> None:
    """The connection form, filled in as the README says: endpoint host and port, SecretId/SecretKey, AppId."""
    conn = json.loads(stack.connection())
    page.goto(f"{stack.url}/connections")
    page.get_by_role("button", name=re.compile("Add Connection")).click()
    dialog = page.get_by_role("dialog")
    dialog.locator('input[name="connection_id"]').fill(conn_id)
    dialog.get_by_role("combobox").fill("Tencent Cloud e-signature")
    page.keyboard.press("Enter")
    expect(dialog.get_by_text("Endpoint host")).to_be_visible()
    dialog.locator('input[name="host"]').fill(conn["host"])
    dialog.locator('input[name="port"]').fill(str(conn["port"]))
    dialog.locator('input[name="schema"]').fill("http")
    dialog.locator('input[name="login"]').fill(conn["login"])
    dialog.locator('input[name="password"]').fill(secret_key)
    dialog.get_by_role("button", name="Extra Fields", exact=True).click()
    dialog.locator("#element_app_id").fill(conn["extra"]["app_id"])
    page.screenshot(path=page.shots / f"{conn_id}-form.png", full_page=True)
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("row").filter(has_text=conn_id)).to_be_visible()


def press_test(page, conn_id: str) -> dict:
    row = page.get_by_role("row").filter(has_text=conn_id)
    with page.expect_response(lambda r: r.url.endswith("/api/v2/connections/test")) as answer:
        row.get_by_role("button", name="Test Connection").click()
    response = answer.value
    assert response.status == 200, f"Test answered {response.status}: {response.text()[:500]}"
    return response.json()


def test_connection_made_in_the_form_passes_test_with_the_key_and_names_auth_failure_without(page, stack):
    conn = json.loads(stack.connection())
    add_connection(page, stack, "ess_ui_good", conn["password"])
    result = press_test(page, "ess_ui_good")
    expect(page.get_by_text("Test Connection Successful")).to_be_visible()
    page.screenshot(path=page.shots / "test-ok.png")
    assert result["status"] is True and "Credentials and AppId accepted" in result["message"], result

    add_connection(page, stack, "ess_ui_wrong", "not-the-right-key-0000000000000000")
    result = press_test(page, "ess_ui_wrong")
    expect(page.get_by_text("AuthFailure.SignatureFailure")).to_be_visible()
    page.screenshot(path=page.shots / "test-wrong-key.png")
    assert result["status"] is False and "AuthFailure" in result["message"], result
    assert "not-the-right-key" not in result["message"] and conn["password"] not in result["message"]


def test_the_deployments_connection_is_on_the_connections_page_and_passes_its_test(page, stack):
    """make stack stores the connection in the DB: the page lists it (an env var would not show), and its Test
    button, which judges the stored copy, accepts it."""
    page.goto(f"{stack.url}/connections")
    expect(page.get_by_role("row").filter(has_text="tencentcloud_ess_default")).to_be_visible()
    result = press_test(page, "tencentcloud_ess_default")
    expect(page.get_by_text("Test Connection Successful")).to_be_visible()
    page.screenshot(path=page.shots / "seeded-connection.png", full_page=True)
    assert result["status"] is True and "Credentials and AppId accepted" in result["message"], result


def test_a_standing_manifest_named_in_the_form_is_onboarded(page, stack, api):
    """Param manifest_file where a user meets it: the form's Manifest section refuses a path, and a run given a
    file name reads that file."""
    from datetime import datetime

    from workload import write_manifest

    entries = write_manifest(stack.manifests / "standing.json", 3, "常设清单章", first=370)
    dialog, submit = open_trigger_form(page, stack, "ess_tenant_onboarding")
    dialog.get_by_role("button", name="Manifest", exact=True).click()
    expect(dialog.get_by_text("Standing manifest file")).to_be_visible()
    field = dialog.locator("#element_manifest_file")
    before = {run["dag_run_id"] for run in api.runs("ess_tenant_onboarding")}
    field.fill("../standing.json")  # the form sends it; the API refuses it by the Param's pattern, naming it
    submit.click()
    expect(dialog.get_by_text(re.compile("manifest_file"))).to_be_visible()
    page.screenshot(path=page.shots / "standing-refused.png", full_page=True)
    assert {run["dag_run_id"] for run in api.runs("ess_tenant_onboarding")} == before, "a refused form made a run"
    page.keyboard.press("Escape")  # the user closes the refused form and opens it again (its toast covers Trigger)
    dialog, submit = open_trigger_form(page, stack, "ess_tenant_onboarding")
    dialog.get_by_role("button", name="Manifest", exact=True).click()
    dialog.locator("#element_manifest_file").fill("standing.json")
    page.screenshot(path=page.shots / "standing-form.png", full_page=True)
    submit.click()

    run_id = wait_new_run(api, "ess_tenant_onboarding", before)
    run = api.wait_run("ess_tenant_onboarding", run_id, timeout=300)
    assert run["state"] == "success" and run["conf"]["manifest_file"] == "standing.json", run
    ds = datetime.fromisoformat(run["run_after"].replace("Z", "+00:00")).astimezone(UTC).date().isoformat()
    report = report_of(stack, ds, run_id)
    assert report["summary"]["by_status"] == {"done": len(entries)}, report["summary"]


def test_a_chunks_xcom_as_the_user_sees_it_is_one_compact_value_and_the_report_has_every_field(page, stack, api):
    """Where a user meets what a chunk returns: the task's XCom tab, and the report a spreadsheet opens. Airflow used
    to push each key of the chunk's dict again (multiple_outputs inferred from the annotation)."""
    from workload import write_manifest

    ds = "2026-11-22"
    entries = write_manifest(stack.manifests / f"{ds}.json", 10, "合同专用章", first=380)
    run_id = api.trigger("ess_tenant_onboarding", {"chunk_size": 5}, logical_date=f"{ds}T00:00:00Z")
    run = api.wait_run("ess_tenant_onboarding", run_id, timeout=600)
    assert run["state"] == "success", api.task_instances("ess_tenant_onboarding", run_id)

    xcoms = api.call(
        "GET",
        f"/dags/ess_tenant_onboarding/dagRuns/{run_id}/taskInstances/onboard/xcomEntries",
        params={"map_index": 0},
    )["xcom_entries"]
    assert sorted(x["key"] for x in xcoms) == ["awaiting", "return_value"], xcoms
    page.goto(f"{stack.url}/dags/ess_tenant_onboarding/runs/{run_id}/tasks/onboard/mapped/0/xcom")
    expect(page.get_by_role("cell", name="awaiting", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="return_value", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="results", exact=True)).to_have_count(0)
    # The value cells start folded (a JSON viewer showing `{}`); the user unfolds them with the page's toggle.
    page.get_by_role("button", name="Expand all extra JSON").click()
    expect(page.get_by_role("row").filter(has_text="return_value")).to_contain_text("attempt")  # the value shows
    page.screenshot(path=page.shots / "onboard-xcom.png", full_page=True)

    import csv

    [csv_file] = (stack.reports / ds).glob("*.csv")
    with csv_file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        header, rows = reader.fieldnames, list(reader)
    assert header[0] == "mode" and header[-4:] == ["would_create", "would_grant", "would_revoke", "operator_verify"]
    assert len(rows) == 10
    assert all(r["mode"] == "apply" and r["status"] == "done" and r["would_create"] == "False" for r in rows), rows
    assert {r["proxy_organization_open_id"] for r in rows} == {e["proxy_organization_open_id"] for e in entries}


def test_the_sandbox_check_from_its_form_names_every_difference_an_emulator_profile_plays(page, stack, api, tmp_path):
    """Where a user meets the sandbox self-check: its trigger form, against an endpoint that answers every open reading
    the other way (an emulator playing each profile but the one that forbids describing). The report must name each
    profile, contradict the matching finding, and the check must leave its own seals disabled and no other touched."""
    from emulator_process import DEMO_SECRET_ID, demo_connection, start_emulator
    from stack import terminate, wait_for

    from ess_emulator import PROFILES, fetch_state
    from tencent_ess.onboarding.locations import run_name

    profiles = sorted(set(PROFILES) - {"no-query-permission"})
    process, url = start_emulator(
        tmp_path / "sandbox.db",
        "--profile",
        ",".join(profiles),
        "--review-seconds",
        "4",
        log=tmp_path / "sandbox-emulator.log",
    )
    conn = json.loads(demo_connection(url))

    def deployment_seals() -> set:  # statuses aside: an earlier test's image seal may finish its review meanwhile
        return {(s["seal_id"], s["seal_name"], tuple(s["authorized_user_ids"])) for s in emulator_state(stack)["seals"]}

    seals_before = deployment_seals()
    api.call(
        "POST",
        "/connections",
        json={
            "connection_id": "ess_sandbox",
            "conn_type": conn["conn_type"],
            "login": DEMO_SECRET_ID,
            "password": conn["password"],
            "extra": json.dumps(conn["extra"]),
        },
    )
    api.call("POST", "/variables", json={"key": "ess_sandbox_conn_id", "value": "ess_sandbox"})
    try:
        api.ready("ess_sandbox_check")
        dialog, submit = open_trigger_form(page, stack, "ess_sandbox_check")
        dialog.get_by_role("button", name="Sandbox enterprise").click()
        dialog.locator("#element_proxy_organization_open_id").fill("org_dianziqian")
        dialog.locator("#element_operator_open_id").fill("n9527")
        dialog.locator("#element_user_ids").fill("n9528\nn9529")
        dialog.get_by_role("button", name="Check", exact=True).click()
        # number fields carry no element_ id: found by their label, as the user reads them
        dialog.get_by_role("spinbutton", name="Watch the image seal's review (seconds)").fill("60")
        dialog.get_by_role("spinbutton", name="Seconds between looks").fill("0.5")
        page.screenshot(path=page.shots / "sandbox-form.png", full_page=True)
        before = {run["dag_run_id"] for run in api.runs("ess_sandbox_check")}
        submit.click()
        run_id = wait_new_run(api, "ess_sandbox_check", before)
        run = api.wait_run("ess_sandbox_check", run_id, timeout=300)
        page.goto(f"{stack.url}/dags/ess_sandbox_check/runs/{run_id}")
        page.wait_for_load_state("networkidle")
        page.screenshot(path=page.shots / "sandbox-run.png", full_page=True)
        assert run["state"] == "success", api.task_instances("ess_sandbox_check", run_id)
        page.goto(f"{stack.url}/dags/ess_sandbox_check/runs/{run_id}/tasks/check")  # the log, where the table is
        expect(page.get_by_text("Sandbox self-check findings", exact=False)).to_be_visible(timeout=60_000)
        page.screenshot(path=page.shots / "sandbox-log.png", full_page=True)

        report_file = stack.reports / "sandbox-check" / f"{run_name(run_id)}.json"
        report = json.loads(wait_for("the sandbox report", report_file.exists, 30) and report_file.read_text("utf-8"))
        assert report["matching_profiles"] == profiles and report["unexplained"] == []
        by_profile = {f["profile"]: f for f in report["findings"] if f["profile"]}
        assert sorted(by_profile) == profiles
        assert all(f["verdict"] == "contradicted" and f["request_ids"] for f in by_profile.values())
        made = fetch_state(url, timeout=10)["seals"]
        assert len(made) == 2 and all(s["seal_status"] == "DISABLE" for s in made), made
        assert deployment_seals() == seals_before, "the deployment's own endpoint was not touched"
        assert conn["password"] not in report_file.read_text("utf-8")
    finally:
        api.call("DELETE", "/variables/ess_sandbox_conn_id")
        api.call("DELETE", "/connections/ess_sandbox")
        terminate(process, "sandbox emulator")


def test_the_tenant_report_tab_of_a_run_filters_searches_and_downloads_and_the_dags_tab_charts_its_runs(
    page, stack, api
):
    """Issue 28, part 1, where a user meets it: the run's "Tenant report" tab (the provider's plugin, an iframe the
    UI fills) shows the report of a failed run, its chip filters the failed row, its search finds one enterprise, its
    link downloads the CSV the DAG wrote; the DAG's "Tenant reports" tab lists the run. Without a session: 401."""
    from workload import org, write_manifest

    ds = "2026-11-27"
    entries = write_manifest(stack.manifests / f"{ds}.json", 8, "合同专用章", first=400)
    bad = {**entries[0], "proxy_organization_open_id": org(409), "seal_name": "章" * 51}  # refused by its length
    (stack.manifests / f"{ds}.json").write_text(json.dumps([*entries, bad], ensure_ascii=False), encoding="utf-8")
    run_id = api.trigger("ess_tenant_onboarding", {"chunk_size": 4}, logical_date=f"{ds}T00:00:00Z")
    run = api.wait_run("ess_tenant_onboarding", run_id, timeout=600)
    assert run["state"] == "failed", api.task_instances("ess_tenant_onboarding", run_id)

    page.goto(f"{stack.url}/dags/ess_tenant_onboarding/runs/{run_id}")
    page.get_by_role("link", name="Tenant report", exact=True).click()  # the run's tabs are links
    view = page.frame_locator('iframe[title="Tenant report"]')
    expect(view.get_by_role("heading", name="Tenant report")).to_be_visible()
    expect(view.get_by_label("Summary")).to_contain_text("Tenants9")
    expect(view.get_by_label("Tenants by status")).to_contain_text("done 8")
    page.screenshot(path=page.shots / "report-run.png", full_page=True)

    view.get_by_role("link", name="failed 1").click()
    expect(view.get_by_text("1 of 9 tenants")).to_be_visible()
    rows = view.get_by_label("Tenants").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(org(409))
    expect(rows.first).to_contain_text("seal_name")  # the error names the field and the rule
    page.screenshot(path=page.shots / "report-failed.png", full_page=True)

    view.get_by_role("link", name="all 9").click()
    expect(view.get_by_text("9 of 9 tenants")).to_be_visible()  # the page has come back before the search is typed
    view.get_by_role("searchbox").fill(org(403).upper())
    view.get_by_role("button", name="Filter").click()
    expect(view.get_by_text("1 of 9 tenants")).to_be_visible()
    expect(rows.first).to_contain_text(org(403))

    with page.expect_download() as download:
        view.get_by_role("link", name="Download CSV").click()
    on_disk = next(p for p in (stack.reports / ds).glob("*.csv"))
    with open(download.value.path(), "rb") as got:
        assert got.read() == on_disk.read_bytes()

    page.goto(f"{stack.url}/dags/ess_tenant_onboarding")
    page.get_by_role("link", name="Tenant reports", exact=True).click()
    runs = page.frame_locator('iframe[title="Tenant reports"]')
    expect(runs.get_by_role("img", name="Tenants done per manifest day")).to_be_visible()
    line = runs.get_by_label("Runs").locator("tr").filter(has_text=run_id)
    expect(line).to_contain_text("done 8, failed 1")
    expect(line).to_contain_text(ds)
    page.screenshot(path=page.shots / "report-dag.png", full_page=True)

    anonymous = page.context.browser.new_context()
    try:
        answer = anonymous.request.get(f"{stack.url}/ess-reports/runs/ess_tenant_onboarding/{run_id}/")
        assert answer.status == 401 and "done" not in answer.text()
    finally:
        anonymous.close()


def _over_budget_run(stack, api, name: str, first: int) -> tuple[str, list[dict]]:
    """Three tenants onboarded with two users each, then a manifest keeping one: three revocations, over a budget
    of two, with approve_over_budget on. Returns the revoking run (waiting for its approval) and the entries.

    Both runs read the manifest of 2026-11-01 (Param manifest_date), older than any other stack test's: a revoking
    apply's claim makes the applies of older dates change nothing from then on (docs/sync.md), and the tests after
    this one apply newer dates of their own."""
    from stack import wait_for
    from workload import write_manifest

    ds = "2026-11-01"
    entries = write_manifest(stack.manifests / f"{ds}.json", 3, "合同专用章", first=first)

    def start(run_id: str, conf: dict) -> str:
        body = {"dag_run_id": run_id, "logical_date": None, "conf": {**conf, "manifest_date": ds}}
        return api.call("POST", "/dags/ess_tenant_onboarding/dagRuns", json=body)["dag_run_id"]

    onboarded = start(f"onboard__{name}", {})
    assert api.wait_run("ess_tenant_onboarding", onboarded, timeout=300)["state"] == "success"
    kept = [{**entry, "user_ids": entry["user_ids"][:1]} for entry in entries]
    (stack.manifests / f"{ds}.json").write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
    # allow_older_manifest: earlier stack tests applied newer dates, which would make this older revoking apply
    # change nothing (superseded)
    revoking = {
        "revoke_unlisted": True,
        "max_revocations": 2,
        "approve_over_budget": True,
        "allow_older_manifest": True,
    }
    run_id = start(f"revoke__{name}", revoking)

    def asking():
        states = {ti["task_id"]: ti["state"] for ti in api.task_instances("ess_tenant_onboarding", run_id)}
        assert states.get("guard") != "failed", states
        return states.get("approve_revocations") == "awaiting_input"

    wait_for("the approval task to ask", asking, 300, 2)
    return run_id, entries


def _holders(stack, entry: dict) -> list[str]:
    [seal] = [
        s
        for s in emulator_state(stack)["seals"]
        if s["organization_open_id"] == entry["proxy_organization_open_id"] and s["seal_name"] == entry["seal_name"]
    ]
    return sorted(seal["authorized_user_ids"])


def _answer_in_the_ui(page, stack, run_id: str, option: str, shot: str) -> None:
    """The person opens the waiting task, its Required Action tab, reads the request and answers it."""
    page.goto(f"{stack.url}/dags/ess_tenant_onboarding/runs/{run_id}/tasks/approve_revocations")
    page.get_by_role("link", name=re.compile(r"^Required Action")).click()
    expect(page.get_by_text(re.compile(r"Approve revoking 3 users"))).to_be_visible()
    expect(page.get_by_text(re.compile(r"over max_revocations=2"))).to_be_visible()
    page.screenshot(path=page.shots / f"{shot}-asked.png", full_page=True)
    print("BUTTONS", page.get_by_role("button").all_inner_texts())
    page.get_by_role("button", name=option, exact=True).click()
    page.wait_for_timeout(2000)
    page.screenshot(path=page.shots / f"{shot}-answered.png", full_page=True)


def test_an_approval_asked_in_the_ui_revokes_the_counted_set_and_a_rejection_revokes_nothing(page, stack, api):
    """Issue 28, part 2, where a user meets it: the run waits in approve_revocations; the person answers in the
    task's page. Approve: the three counted revocations are made. Reject: none is, the rest is applied."""
    run_id, entries = _over_budget_run(stack, api, "approve", 410)
    # While it waits, the run's Tenant report tab shows what the guard counted, row by row
    page.goto(f"{stack.url}/dags/ess_tenant_onboarding/runs/{run_id}/plugin/tenant-report")
    view = page.frame_locator('iframe[title="Tenant report"]')
    expect(view.get_by_role("note")).to_contain_text("awaiting approval (task approve_revocations)")
    expect(view.get_by_label("Summary")).to_contain_text("Would revoke users3")
    page.screenshot(path=page.shots / "approval-proposed.png", full_page=True)
    _answer_in_the_ui(page, stack, run_id, "Approve", "approve")
    run = api.wait_run("ess_tenant_onboarding", run_id, timeout=300)
    assert run["state"] == "success", api.task_instances("ess_tenant_onboarding", run_id)
    assert [_holders(stack, entry) for entry in entries] == [entry["user_ids"][:1] for entry in entries]

    run_id, entries = _over_budget_run(stack, api, "reject", 414)
    _answer_in_the_ui(page, stack, run_id, "Reject", "reject")
    run = api.wait_run("ess_tenant_onboarding", run_id, timeout=300)
    assert run["state"] == "failed", api.task_instances("ess_tenant_onboarding", run_id)
    assert [_holders(stack, entry) for entry in entries] == [sorted(entry["user_ids"]) for entry in entries]
    report = report_of(stack, "2026-11-01", run_id)
    assert "rejected by" in report["summary"]["note"], report["summary"]
