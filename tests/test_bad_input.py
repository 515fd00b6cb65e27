"""Bad input, table-driven: trigger Params, operator arguments, manifest entries, connections and image files.

For each case: the run fails (or the entry is reported) with a message naming the field and the rule (or the
API's code and RequestId), no retry is spent, and no API call is made where the input can be checked locally
(asserted through the emulator's request counts).
"""

from __future__ import annotations

import base64
import json

import pendulum
import pytest

from tests.airflow_run import run_dag
from tests.conftest import ROOT, SECRET_ID, SECRET_KEY, conn_json, emulator_state, png_bytes
from tests.dags.test_seal_setup import IDENTITY
from tests.dags.test_tenant_onboarding import DAY, latest_reports, onboarding  # noqa: F401 - onboarding is a fixture

LONG_NAME = "章" * 51


# ------------------------------------------------------------------------------------------ image files
@pytest.fixture
def images(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "text.png").write_text("this is not an image", encoding="utf-8")
    (folder / "truncated.png").write_bytes(png_bytes((400, 400))[:300])
    big = png_bytes((64, 64))
    (folder / "big.png").write_bytes(big + b"\0" * (6 * 1024 * 1024))  # 6 MB: over the 5 MB limit
    (folder / "good.png").write_bytes(png_bytes())
    from PIL import Image

    Image.new("1", (13000, 13000)).save(folder / "bomb.png", optimize=True)  # ~30 KB declaring 169 MP
    (tmp_path / "secret.png").write_bytes(png_bytes())  # a file outside the image folder
    return folder


# ------------------------------------------------------------------------------------------ 1. trigger Params
PARAM_CASES = [
    ("seal_name", {"seal_name": LONG_NAME}),
    ("seal_name", {"seal_name": ""}),
    ("seal_type", {"seal_type": "SECRET"}),
    ("seal_style", {"seal_style": "square"}),
    ("seal_size", {"seal_size": "99_99"}),
    ("user_ids", {"user_ids": []}),
    ("user_ids", {"user_ids": ["n95 28"]}),
    ("proxy_organization_open_id", {"proxy_organization_open_id": ""}),
    ("seal_horizontal_text", {"seal_horizontal_text": "横" * 16}),
    ("seal_image_path", {"seal_image_path": 42}),
]
MISSING_CASES = ["proxy_organization_open_id", "operator_open_id", "user_ids"]  # no defaults: must be given


@pytest.mark.parametrize(("field", "conf"), PARAM_CASES, ids=[f"{f}-{i}" for i, (f, _) in enumerate(PARAM_CASES)])
def test_trigger_form_refuses_bad_params_before_any_call(airflow_db, ess_conn, field, conf):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_seal_setup.py")).dags["ess_seal_setup"]
    with pytest.raises(Exception) as info:
        dag.test(run_conf={**IDENTITY, **conf})
    assert type(info.value).__name__ == "ParamValidationError"
    assert field in str(info.value)
    assert emulator_state(ess_conn)["request_counts"] == {}


@pytest.mark.parametrize("field", MISSING_CASES)
def test_identity_params_must_be_given(airflow_db, ess_conn, field):
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(ROOT / "dags" / "ess_seal_setup.py")).dags["ess_seal_setup"]
    with pytest.raises(Exception) as info:
        dag.test(run_conf={key: value for key, value in IDENTITY.items() if key != field})
    assert type(info.value).__name__ == "ParamValidationError"
    assert field in str(info.value)
    assert emulator_state(ess_conn)["request_counts"] == {}


# ------------------------------------------------------------------------------------------ 2. operators and connections
def at(images) -> dict:
    """Operator arguments that make `images` the folder seal_image_path is relative to."""
    return {"image_base_dir": str(images)}


def operator_cases(images) -> list[tuple[str, str, dict, str]]:
    """(task_id, op, kwargs, what the failure must say). Every one is checked before any call except the last two."""
    system = {"seal_name": "合同专用章", "seal_type": "CONTRACT", "generate_source": "SealGenerateSourceSystem"}
    return [
        (
            "ellipse_official",
            "create",
            {**system, "seal_type": "OFFICIAL", "seal_style": "ellipse"},
            "seal_style: OFFICIAL seals must be circles",
        ),
        ("ellipse_size_on_circle", "create", {**system, "seal_size": "45_30"}, "seal_size: 45_30 is not a circle size"),
        ("unknown_type", "create", {**system, "seal_type": "SECRET"}, "seal_type: must be one of"),
        ("long_name", "create", {**system, "seal_name": LONG_NAME}, "seal_name: must be at most 50 characters"),
        (
            "image_and_system",
            "create",
            {**system, "seal_image_path": "good.png", **at(images)},
            "generate_source: 'SealGenerateSourceSystem' draws the seal",
        ),
        ("no_source_no_image", "create", {"seal_name": "章", "generate_source": ""}, "generate_source: is empty"),
        (
            "text_named_png",
            "create",
            {"seal_name": "章", "seal_image_path": "text.png", **at(images)},
            "seal_image_path: image is not a readable PNG or JPG",
        ),
        (
            "truncated_png",
            "create",
            {"seal_name": "章", "seal_image_path": "truncated.png", **at(images)},
            "seal_image_path: image is not a readable PNG or JPG",
        ),
        (
            "six_mb_image",
            "create",
            {"seal_name": "章", "seal_image_path": "big.png", **at(images)},
            "seal_image_path: image must be at most 5 MB",
        ),
        (
            "missing_image",
            "create",
            {"seal_name": "章", "seal_image_path": "nope.png", **at(images)},
            "seal_image_path: file not found",
        ),
        (
            "bomb_image",
            "create",
            {"seal_name": "章", "seal_image_path": "bomb.png", **at(images)},
            "seal_image_path: image must have at most 16,000,000 pixels (got 13000×13000)",
        ),
        (
            "image_path_escapes",
            "create",
            {"seal_name": "章", "seal_image_path": "../secret.png", **at(images)},
            "seal_image_path: must stay inside",
        ),
        (
            "image_path_absolute",
            "create",
            {"seal_name": "章", "seal_image_path": str(images / "good.png"), **at(images)},
            "seal_image_path: must be relative to",
        ),
        ("name_with_newline", "create", {**system, "seal_name": "合同\n专用章"}, "seal_name: must not contain control"),
        ("name_with_rlo", "create", {**system, "seal_name": "合同\u202e章"}, "seal_name: must not contain control"),
        (
            "bad_base64",
            "create",
            {"seal_name": "章", "seal_image_base64": "%%% not base64 %%%"},
            "seal_image_base64: is not valid base64",
        ),
        (
            "operator_too_long",
            "create",
            {**system, "operator_open_id": "n" * 65},
            "operator_open_id: must be at most 64 characters",
        ),
        (
            "enterprise_empty",
            "create",
            {**system, "proxy_organization_open_id": ""},
            "proxy_organization_open_id: is required",
        ),
        ("if_exists_unknown", "create", {**system, "if_exists": "maybe"}, "if_exists: must be 'reuse' or 'fail'"),
        ("empty_users", "grant", {"seal_id": "abc", "user_ids": []}, "user_ids: must be a non-empty list"),
        (
            "user_space",
            "grant",
            {"seal_id": "abc", "user_ids": ["n9528", "n95 29"]},
            "user_ids[1]: must not contain white space or control characters",
        ),
        (
            "user_control",
            "grant",
            {"seal_id": "abc", "user_ids": ["n95\u200b29"]},
            "user_ids[0]: must not contain white space or control characters",
        ),
        (
            "image_size_out_of_range",
            "create",
            {"seal_name": "章", "seal_image_path": "good.png", "seal_size": "9_40", **at(images)},
            "seal_size: for a seal from an image: width and height",
        ),
        (
            "tax_code_not_invoice",
            "create",
            {**system, "tax_identify_code": "91440300MA5ABCDE1X"},
            "tax_identify_code: is only used with seal_type 'INVOICE'",
        ),
        (
            "preview_option",
            "create",
            {**system, "options": {"CreateSealPreview": True}},
            "options['CreateSealPreview']: previews a seal without making it",
        ),
        ("users_not_json", "grant", {"seal_id": "abc", "user_ids": "[n9528"}, "user_ids: is not a valid JSON list"),
        ("empty_seal_id", "grant", {"seal_id": "", "user_ids": ["n9528"]}, "seal_id: is required"),
        (
            "missing_connection",
            "create",
            {**system, "ess_conn_id": "no_such_connection"},
            "connection not found: The conn_id `no_such_connection` isn't defined",
        ),
        (
            "no_app_id",
            "create",
            {**system, "ess_conn_id": "ess_no_app_id"},
            "extra 'app_id' (the channel AppId) is missing",
        ),
        (
            "plain_http_remote",
            "create",
            {**system, "ess_conn_id": "ess_plain_http"},
            "plain http is refused for non-loopback host 'ess.example.com'; use https",
        ),
        (
            "endpoint_with_path",
            "create",
            {**system, "ess_conn_id": "ess_endpoint_path"},
            "must be scheme://host[:port] only",
        ),
        (
            "timeout_not_number",
            "create",
            {**system, "ess_conn_id": "ess_bad_timeout"},
            "extra 'timeout' must be a number of seconds",
        ),
        (
            "timeout_nan",
            "create",
            {**system, "ess_conn_id": "ess_nan_timeout"},
            "extra 'timeout' must be a finite number of seconds",
        ),
        (
            "timeout_inf",
            "create",
            {**system, "ess_conn_id": "ess_inf_timeout"},
            "extra 'timeout' must be a finite number of seconds",
        ),
        (
            "secret_key_newline",
            "create",
            {**system, "ess_conn_id": "ess_key_newline"},
            "password (SecretKey) has leading or trailing whitespace",
        ),
        (
            "secret_id_space",
            "create",
            {**system, "ess_conn_id": "ess_id_space"},
            "login (SecretId) has leading or trailing whitespace",
        ),
        ("endpoint_conflict", "create", {**system, "ess_conn_id": "ess_endpoint_conflict"}, "name different endpoints"),
        ("empty_secret_key", "create", {**system, "ess_conn_id": "ess_no_key"}, "password (SecretKey) is empty"),
        # Only the API can tell these: one call each, no retry, the code and the RequestId in the message.
        (
            "wrong_key",
            "create",
            {**system, "ess_conn_id": "ess_wrong_key"},
            "AuthFailure.SignatureFailure (permanent, RequestId ",
        ),
        ("unknown_enterprise", "create", {**system, "proxy_organization_open_id": "org_nobody"}, "ResourceNotFound"),
    ]


API_CASES = {"wrong_key", "unknown_enterprise"}


def test_operators_and_connections_fail_fast_naming_field_and_rule(airflow_db, ess_conn, images, monkeypatch):
    from tests.dag_factories import build, failures

    connections = {
        "ess_no_app_id": conn_json(ess_conn, extra={"app_id": ""}),
        "ess_plain_http": conn_json(extra={"endpoint": "http://ess.example.com"}),
        "ess_endpoint_path": conn_json(extra={"endpoint": ess_conn.url + "/v1"}),
        "ess_bad_timeout": conn_json(ess_conn, extra={"timeout": "abc"}),
        "ess_nan_timeout": conn_json(ess_conn, extra={"timeout": "nan"}),
        "ess_inf_timeout": conn_json(ess_conn, extra={"timeout": "inf"}),
        "ess_key_newline": conn_json(ess_conn, password=SECRET_KEY + "\n"),
        "ess_id_space": conn_json(ess_conn, login=" " + SECRET_ID),
        "ess_endpoint_conflict": json.dumps({**json.loads(conn_json(ess_conn)), "host": "127.0.0.2", "port": 1}),
        "ess_no_key": conn_json(ess_conn, password=""),
        "ess_wrong_key": conn_json(ess_conn, password="not-the-right-key"),
    }
    for conn_id, value in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", value)
    cases = operator_cases(images)
    dag = build(
        "cases_dag",
        dag_id="bad_operator_inputs",
        cases=[{"task_id": t, "op": op, "kwargs": kwargs} for t, op, kwargs, _ in cases],
    )
    result = run_dag(dag)

    errors = failures("bad_operator_inputs")
    for task_id, _, _, expected in cases:
        assert result.states[task_id] == "failed", task_id
        assert result.tries[task_id] == 1, f"{task_id}: a retry was spent on a permanent error"
        assert expected in errors[task_id], (task_id, errors[task_id])
    assert len(cases) >= 30
    counts = emulator_state(ess_conn)["request_counts"]
    assert counts == {"CreateSealByImage": len(API_CASES)}, "only the cases the API must judge reached it"


# ------------------------------------------------------------------------------------------ 3. manifest entries
def test_bad_manifest_entries_are_reported_and_the_rest_complete(onboarding, ess_conn, images, monkeypatch):
    dag, manifests, reports = onboarding
    monkeypatch.setenv("AIRFLOW_VAR_ESS_SEAL_IMAGE_DIR", str(images))
    good = {
        "proxy_organization_open_id": "org_tenant_alpha",
        "operator_open_id": "alphaadmin",
        "seal_name": "合同专用章",
        "seal_type": "CONTRACT",
        "generate_source": "SealGenerateSourceSystem",
        "user_ids": ["alphastaff1"],
    }
    other = {
        **good,
        "proxy_organization_open_id": "org_tenant_beta",
        "operator_open_id": "betaadmin",
        "user_ids": ["betastaff1"],
    }
    image = {key: good[key] for key in ("proxy_organization_open_id", "operator_open_id", "seal_type", "user_ids")}
    bad = [
        ({**good}, "seal_name: duplicate of entry 0"),
        ("not an object", "entry: must be a JSON object"),
        ({**good, "seal_name": LONG_NAME}, "seal_name: must be at most 50 characters"),
        ({**good, "seal_type": "SECRET"}, "seal_type: must be one of"),
        ({**good, "seal_type": "OFFICIAL", "seal_style": "ellipse"}, "seal_style: OFFICIAL seals must be circles"),
        ({**good, "user_ids": []}, "user_ids: must be a non-empty list"),
        ({**good, "user_ids": ["alpha staff"]}, "user_ids[0]: must not contain white space"),
        ({**good, "colour": "red"}, "colour: is not a known key"),
        ({k: v for k, v in good.items() if k != "seal_name"}, "seal_name: is required"),
        ({**image, "seal_name": "图章1", "seal_image_path": "text.png"}, "image is not a readable PNG"),
        ({**image, "seal_name": "图章2", "seal_image_path": "truncated.png"}, "image is not a readable PNG"),
        ({**image, "seal_name": "图章3", "seal_image_path": "big.png"}, "image must be at most 5 MB"),
        ({**image, "seal_name": "图章4", "seal_image_path": "missing.png"}, "seal_image_path: file not found"),
        ({**image, "seal_name": "图章5", "seal_image_path": "bomb.png"}, "image must have at most 16,000,000 pixels"),
        ({**image, "seal_name": "图章6", "seal_image_path": "../secret.png"}, "seal_image_path: must stay inside"),
        (
            {**image, "seal_name": "图章7", "seal_image_path": str(images / "good.png")},
            "seal_image_path: must be relative",
        ),
        ({**image, "seal_name": "图章8", "seal_image_path": 42}, "seal_image_path: must be a string"),
        (
            {**image, "seal_name": "图章9", "seal_image_path": "good.png", "seal_size": "200_40"},
            "seal_size: for a seal from an image: width and height must be 10-100 mm",
        ),
        ({**good, "seal_name": "合同\u3000专用章"}, "seal_name: duplicate of entry 0"),  # a look-alike name
        ({**good, "seal_name": "合同\u200b专用章"}, "seal_name: must not contain control"),
        ({**good, "seal_name": "合同\x00章"}, "seal_name: must not contain control"),
    ]
    entries = [good] + [entry for entry, _ in bad] + [other]
    (manifests / f"{DAY}.json").write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    result = run_dag(dag, logical_date=pendulum.parse(DAY))

    assert result.states["report"] == "failed" and result.tries["report"] == 1  # the run says something is wrong
    report = json.loads(latest_reports(reports / DAY)[0].read_text(encoding="utf-8"))
    rows = {row["index"]: row for row in report["tenants"]}
    assert rows[0]["status"] == rows[len(entries) - 1]["status"] == "done"  # the good ones complete
    for index, (_, expected) in enumerate(bad, start=1):
        assert rows[index]["status"] == "failed" and rows[index]["error"].startswith(f"entry {index}: ")
        assert expected in rows[index]["error"], rows[index]["error"]
    counts = emulator_state(ess_conn)["request_counts"]
    # two good tenants in two enterprises: one describe, one create and one grant each; nothing for bad entries
    assert counts == {"ChannelDescribeOrganizationSeals": 2, "CreateSealByImage": 2, "ChannelCreateSealPolicy": 2}


def test_base64_image_is_checked_like_a_file(images):
    from tencent_ess.errors import EssValidationError
    from tencent_ess.validation import load_seal_image

    encoded = base64.b64encode((images / "truncated.png").read_bytes()).decode()
    with pytest.raises(EssValidationError, match="seal_image_base64: image is not a readable PNG or JPG"):
        load_seal_image("", encoded)
