"""Where users meet the API's other readings (ESS_API.md, "Other readings"; docs/api-readings.md): the trigger form's
tax code, an OpenId only the API can judge, the operator-verification link of a create and a grant, an image seal's
printed size, a manifest entry's tax code."""

from __future__ import annotations

import json

import pendulum
import pytest

from tests.airflow_run import run_dag
from tests.conftest import ROOT, conn_json, emulator_state
from tests.dag_factories import build
from tests.dags.test_tenant_onboarding import DAY, read_report

LETTER = {"proxy_organization_open_id": "org_letter_verified", "operator_open_id": "letteradmin"}
INVOICE = {
    **LETTER,
    "seal_name": "发票专用章",
    "seal_type": "INVOICE",
    "seal_style": "ellipse",
    "seal_size": "40_30",
    "user_ids": ["letterstaff1"],
}


@pytest.fixture
def seal_setup(airflow_db, ess_conn):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags" / "ess_seal_setup.py")).dags["ess_seal_setup"]


def test_the_form_passes_the_tax_code_an_enterprise_verified_by_letter_needs(seal_setup, ess_conn):
    without = run_dag(seal_setup, conf=INVOICE)
    assert without.states["create_seal"] == "failed" and without.tries["create_seal"] == 1, without.states
    assert emulator_state(ess_conn)["seals"] == []
    made = run_dag(seal_setup, conf={**INVOICE, "tax_identify_code": "91440300MA5ABCDE1X"})
    assert made.state == "success", made.states
    assert made.rendered["create_seal"]["tax_identify_code"] == "91440300MA5ABCDE1X"
    [seal] = emulator_state(ess_conn)["seals"]
    assert seal["seal_type"] == "INVOICE" and seal["authorized_user_ids"] == ["letterstaff1"]


@pytest.mark.parametrize("image_size, sent", [(None, ""), ("60_45", "60_45")])
def test_the_form_sends_an_image_its_own_printed_size_and_no_drawn_style(seal_setup, ess_conn, image_size, sent):
    """The form's seal size and style (defaults 42_42, circle) are a drawn seal's: an image seal gets Param
    image_size, or nothing (the image's own size), and no style."""
    conf = {
        **LETTER,
        "seal_name": "图片章",
        "seal_type": "OTHER",
        "seal_image_path": "sample_seal.png",
        "user_ids": ["letterstaff1"],
        **({"image_size": image_size} if image_size else {}),
    }
    result = run_dag(seal_setup, conf=conf)
    assert result.states["create_seal"] == "success", result.states
    rendered = result.rendered["create_seal"]
    assert (rendered["seal_size"], rendered["seal_style"]) == (sent, "")


def test_an_open_id_the_sources_disagree_on_reaches_the_api_whose_answer_is_reported(seal_setup, ess_conn, capfd):
    """The form and the provider let `letter_staff_01` through (the SDK's examples use `_`); the emulator keeps the
    seed page's letters-and-digits rule, so the API refuses it: one call, not retried, its code in the log."""
    result = run_dag(
        seal_setup, conf={**LETTER, "seal_name": "合同专用章", "user_ids": ["letterstaff1", "letter_staff_01"]}
    )
    assert result.states["grant_seal"] == "failed" and result.tries["grant_seal"] == 1, result.states
    assert emulator_state(ess_conn)["request_counts"]["ChannelCreateSealPolicy"] == 1
    assert "ChannelCreateSealPolicy failed with InvalidParameter.ParamError (permanent" in capfd.readouterr().out


def test_operators_push_the_operator_verification_links(airflow_db, ess_conn):
    """Options SealOperatorVerify=true: the API answers where the operator verifies; the task logs it and pushes it."""
    verify = build(
        "seal_dag",
        dag_id="readings_verify",
        create={"seal_name": "核验章", "options": {"SealOperatorVerify": True}},
        grant={"options": '{"SealOperatorVerify": true}'},
        users=["n9528"],
    )
    result = run_dag(verify)
    assert result.state == "success", result.states
    assert result.xcom("create", "operator_verify").startswith("http")
    assert result.xcom("grant", "operator_verify").startswith("http")
    plain = run_dag(build("seal_dag", dag_id="readings_plain", create={"seal_name": "普通章"}, users=["n9528"]))
    assert plain.state == "success" and plain.xcom("create", "operator_verify") is None


@pytest.mark.parametrize("profile", [[], ["image-size"]])
def test_onboarding_an_image_seal_of_a_printed_size_with_a_tax_code(
    airflow_db, make_emulator, monkeypatch, tmp_path, profile
):
    """A manifest's image seal with a custom printed size is made, and a re-run reuses it, whether the API reports
    image seals as 0×0 or at their physical size; an INVOICE entry passes its tax code."""
    import shutil

    from airflow.dag_processing.dagbag import DagBag

    manifests, reports, images = tmp_path / "tenants", tmp_path / "reports", tmp_path / "seals"
    manifests.mkdir()
    images.mkdir()
    shutil.copy(ROOT / "data/seals/sample_seal.png", images / "sample_seal.png")
    for name, value in (("TENANT_MANIFEST_DIR", manifests), ("REPORT_DIR", reports), ("SEAL_IMAGE_DIR", images)):
        monkeypatch.setenv(f"AIRFLOW_VAR_ESS_{name}", str(value))
    emulator = make_emulator(review_seconds=1, profiles=profile)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    entries = [
        {
            **LETTER,
            "seal_name": "图片合同章",
            "seal_type": "CONTRACT",
            "seal_image_path": "sample_seal.png",
            "seal_size": "60_45",
            "seal_style": "ellipse",
            "user_ids": ["letterstaff1"],
        },
        {
            **{k: v for k, v in INVOICE.items() if k != "seal_style"},
            "seal_style": "ellipse",
            "tax_identify_code": "91440300MA5ABCDE1X",
        },
    ]
    (manifests / f"{DAY}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_tenant_onboarding.py")).dags["ess_tenant_onboarding"]
    for attempt in range(2):
        run = run_dag(dag, logical_date=pendulum.parse(DAY), run_after=pendulum.now("UTC").add(seconds=attempt))
        assert run.state == "success", run.states
        rows = read_report(reports, run_id=run.run_id)["tenants"]
        assert [row["status"] for row in rows] == ["done", "done"], rows
    state = emulator_state(emulator)
    assert state["request_counts"]["CreateSealByImage"] == 2, "the re-run made nothing"
    assert sorted(s["authorized_user_ids"] for s in state["seals"]) == [["letterstaff1"], ["letterstaff1"]]
