"""ess_seal_setup, the DAG users trigger, under dag.test() against the emulator."""

from __future__ import annotations

import json

import pytest

from tests.airflow_run import run_dag
from tests.conftest import ROOT, SECRET_KEY, emulator_state

#: The enterprise, operator and employees: the DAG has no defaults for them, like a user's form.
IDENTITY = {"proxy_organization_open_id": "org_dianziqian", "operator_open_id": "n9527", "user_ids": ["n9528", "n9529"]}


@pytest.fixture(scope="module")
def dag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags" / "ess_seal_setup.py")).dags["ess_seal_setup"]


def test_image_seal_waits_for_review_then_grants(airflow_db, dag, make_emulator, monkeypatch, capfd):
    from tests.conftest import conn_json

    emulator = make_emulator(review_seconds=2)
    monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator))
    conf = {
        **IDENTITY,
        "seal_name": "人事专用章",
        "seal_type": "PERSONNEL",
        "seal_image_path": "sample_seal.png",
        "user_ids": ["n9528"],
    }
    result = run_dag(dag, conf=conf)
    assert result.state == "success", result.states
    [seal] = emulator_state(emulator)["seals"]
    assert seal["seal_id"] == result.xcom("create_seal") and seal["authorized_user_ids"] == ["n9528"]
    everything = (
        capfd.readouterr().out
        + json.dumps(result.rendered, ensure_ascii=False)
        + json.dumps({f"{t}/{k}": v for (t, k), v in result.xcoms.items()}, default=str)
    )
    assert SECRET_KEY not in everything


def test_defaults_twice_converge_to_one_seal(airflow_db, dag, ess_conn):
    first, second = run_dag(dag, conf=IDENTITY), run_dag(dag, conf=IDENTITY)
    assert first.state == second.state == "success"
    assert first.xcom("create_seal") == second.xcom("create_seal")
    assert second.xcom("grant_seal", "newly_granted") == []
    assert len(emulator_state(ess_conn)["seals"]) == 1


def test_optional_params_left_empty_render_empty_not_none(airflow_db, ess_conn):
    from airflow.dag_processing.dagbag import DagBag

    # a fresh DAG object: dag.test() leaves an earlier run's conf in the module-scoped one's params
    fresh = DagBag(dag_folder=str(ROOT / "dags" / "ess_seal_setup.py")).dags["ess_seal_setup"]
    result = run_dag(fresh, conf=IDENTITY)
    assert result.state == "success", result.states
    rendered = result.rendered["create_seal"]
    assert rendered["seal_horizontal_text"] == rendered["seal_image_path"] == ""
    assert rendered["generate_source"] == "SealGenerateSourceSystem"


def test_identity_fields_have_no_defaults(dag):
    for name in ("proxy_organization_open_id", "operator_open_id", "user_ids"):
        assert not dag.params.get_param(name).has_value, f"{name} must be asked for, not defaulted"


def test_unknown_conf_key_fails_the_run_before_any_call(airflow_db, dag, ess_conn):
    result = run_dag(dag, conf={**IDENTITY, "seal_nmae": "我的新章"})
    assert result.state == "failed"
    assert result.states["check_conf"] == "failed" and result.tries["check_conf"] == 1
    assert result.states["create_seal"] == "upstream_failed"
    assert emulator_state(ess_conn)["request_counts"] == {}


def test_check_conf_names_the_key_and_the_known_ones():
    from tencent_ess.errors import EssValidationError
    from tencent_ess.validation import check_conf

    known = ["seal_name", "seal_type", "user_ids"]
    check_conf({"seal_name": "x"}, known)
    check_conf(None, known)
    with pytest.raises(EssValidationError) as info:
        check_conf({"seal_nmae": "x", "colour": 1}, known)
    message = str(info.value)
    assert "'seal_nmae' (did you mean 'seal_name'?)" in message and "'colour'" in message
    assert message.endswith("known keys: seal_name, seal_type, user_ids")
