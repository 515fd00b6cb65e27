"""The operators in real dag.test() runs against the emulator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tencent_ess.errors import SERVER_ERROR_ATTEMPTS
from tests.airflow_run import run_dag
from tests.conftest import OPERATOR, ORG, SECRET_KEY, conn_json, emulator_state, png_b64
from tests.dag_factories import build


def seal_dag(
    dag_id: str,
    *,
    create_kwargs: dict | None = None,
    users=("n9528", "n9529"),
    retries: int = 2,
    sensor: dict | None = None,
):
    return build("seal_dag", dag_id=dag_id, create=create_kwargs, users=list(users), retries=retries, sensor=sensor)


@pytest.fixture
def conn_to(monkeypatch):
    def point(emulator, **extra):
        monkeypatch.setenv("AIRFLOW_CONN_TENCENTCLOUD_ESS_DEFAULT", conn_json(emulator, **extra))
        return emulator

    return point


def test_create_then_grant_passes_the_seal_id_through_xcom(airflow_db, ess_conn):
    result = run_dag(seal_dag("op_happy"))
    assert result.state == "success"
    seal_id = result.xcom("create")
    [seal] = emulator_state(ess_conn)["seals"]
    assert seal["seal_id"] == seal_id and seal["authorized_user_ids"] == ["n9528", "n9529"]
    assert result.xcom("create", "image_url").endswith(f"{seal_id}.png")
    assert result.xcom("grant") == ["n9528", "n9529"] and result.xcom("grant", "newly_granted") == ["n9528", "n9529"]


def test_rerun_reuses_the_seal_and_reports_the_same_users(airflow_db, ess_conn):
    first = run_dag(seal_dag("op_rerun"))
    second = run_dag(seal_dag("op_rerun"))
    assert second.state == "success" and second.xcom("create") == first.xcom("create")
    assert second.xcom("grant") == first.xcom("grant") == ["n9528", "n9529"]
    assert second.xcom("grant", "newly_granted") == [] and second.xcom("grant", "already_granted") == ["n9528", "n9529"]
    assert len(emulator_state(ess_conn)["seals"]) == 1


def test_if_exists_fail_fails_without_retry(airflow_db, ess_conn):
    run_dag(seal_dag("op_exists_first"))
    result = run_dag(seal_dag("op_exists_fail", create_kwargs={"if_exists": "fail"}))
    assert result.states["create"] == "failed" and result.tries["create"] == 1


def test_a_run_of_internal_errors_goes_to_a_task_retry_that_succeeds(airflow_db, make_emulator, conn_to):
    # seed 41: the first three requests draw `internal` (the hook's in-call budget), the next ones do not
    emulator = conn_to(make_emulator(faults={"internal": 0.5}, seed=41))
    result = run_dag(seal_dag("op_internal", retries=6))
    assert result.state == "success"
    observed = emulator_state(emulator)
    assert observed["faults_injected"]["internal"] >= SERVER_ERROR_ATTEMPTS
    assert len(observed["seals"]) == 1 and observed["seals"][0]["authorized_user_ids"] == ["n9528", "n9529"]
    assert result.tries["create"] == 2, "the hook's retries ran out, so Airflow's task retry took over"


def test_lost_create_response_then_rerun_gives_the_same_seal(airflow_db, make_emulator, conn_to, tmp_path):
    """The create is applied but its answer lost; the re-run finds the seal by name: one seal, same SealId."""
    from tencent_ess.hooks import EssHook
    from tencent_ess.seals import SealOperations
    from tencent_ess.validation import check_seal_spec
    from tests.conftest import agent

    db = tmp_path / "ess.db"
    lossy = conn_to(make_emulator(db=db, faults={"drop_after": 1.0}))
    with pytest.raises(Exception, match="ClientNetworkError"):
        SealOperations(EssHook(max_attempts=1)).create_or_reuse(agent(), check_seal_spec(seal_name="合同专用章"))
    created = emulator_state(lossy)["seals"]
    assert len(created) == 1
    lossy.close()
    healthy = conn_to(make_emulator(db=db))
    result = run_dag(seal_dag("op_drop_after", retries=0))
    assert result.state == "success" and result.xcom("create") == created[0]["seal_id"]
    assert len(emulator_state(healthy)["seals"]) == 1


def test_permanent_error_fails_on_first_try_with_one_call(airflow_db, ess_conn):
    result = run_dag(seal_dag("op_permanent", create_kwargs={"proxy_organization_open_id": "org_nobody"}))
    assert result.states["create"] == "failed" and result.tries["create"] == 1
    assert result.states["grant"] == "upstream_failed"
    assert emulator_state(ess_conn)["request_counts"] == {"CreateSealByImage": 1}


@pytest.mark.parametrize(
    "create_kwargs, users",
    [
        ({"seal_name": "章" * 51}, ("n9528",)),
        ({"seal_type": "OFFICIAL", "seal_style": "ellipse"}, ("n9528",)),
        ({}, ("bad id",)),
    ],
)
def test_bad_input_fails_before_any_call_without_retry(airflow_db, ess_conn, create_kwargs, users):
    dag_id = "op_bad_" + str(abs(hash(json.dumps(create_kwargs, ensure_ascii=False) + str(users))))
    result = run_dag(seal_dag(dag_id, create_kwargs=create_kwargs, users=users))
    failed = [task for task, state in result.states.items() if state == "failed"]
    assert len(failed) == 1 and result.tries[failed[0]] == 1
    calls = emulator_state(ess_conn)["request_counts"]
    assert calls.get("ChannelCreateSealPolicy", 0) == 0
    if failed[0] == "create":
        assert calls == {}


def test_image_seal_from_a_file_relative_to_the_dag(airflow_db, ess_conn):
    image = str(Path(__file__).resolve().parents[2] / "data/seals/sample_seal.png")
    dag = seal_dag(
        "op_image",
        create_kwargs={
            "seal_type": "PERSONNEL",
            "generate_source": "",
            "seal_image_path": image,
            "allow_absolute_image_path": True,
        },
        users=["n9528"],
    )
    result = run_dag(dag)
    assert result.state == "success"  # review_seconds=0: decided at once
    assert result.xcom("create", "image_url") == ""


def test_image_base64_is_masked_in_rendered_fields_and_secret_never_stored(airflow_db, ess_conn, capfd, monkeypatch):
    image = png_b64(size=(300, 300))
    monkeypatch.setenv("AIRFLOW_VAR_SEAL_PNG", image)  # the documented way: a template, not a literal in the DAG
    dag = seal_dag(
        "op_b64",
        create_kwargs={"seal_type": "OTHER", "generate_source": "", "seal_image_base64": "{{ var.value.seal_png }}"},
    )
    result = run_dag(dag)
    assert result.state == "success"
    rendered = json.dumps(result.rendered, ensure_ascii=False)
    assert "seal_image_base64" in rendered and image not in rendered
    xcoms = json.dumps({f"{task}/{key}": value for (task, key), value in result.xcoms.items()}, default=str)
    everything = capfd.readouterr().out + rendered + xcoms
    assert image[:64] not in everything and SECRET_KEY not in everything


def test_a_large_literal_image_is_refused_at_parse_time_not_stored_in_the_serialized_dag():
    """Regression (issue 12.12): a literal seal_image_base64 landed in the serialized DAG (the metadata DB)."""
    from tencent_ess.operators import CreateSealByImageOperator

    with pytest.raises(
        ValueError, match="seal_image_base64 is a literal of .* use seal_image_path|Use seal_image_path"
    ):
        CreateSealByImageOperator(
            task_id="t",
            seal_name="章",
            proxy_organization_open_id=ORG,
            operator_open_id=OPERATOR,
            seal_image_base64=png_b64(size=(300, 300)) * 4,
        )
    templated = CreateSealByImageOperator(
        task_id="u",
        seal_name="章",
        proxy_organization_open_id=ORG,
        operator_open_id=OPERATOR,
        seal_image_base64="{{ var.value.seal_png }}",
    )
    assert templated.seal_image_base64 == "{{ var.value.seal_png }}"


def test_the_dags_default_args_decide_retries_not_the_operator():
    """Regression (issue 13.2): `kwargs.setdefault("retries", 4)` ran before default_args and replaced them."""
    import pendulum
    from airflow.sdk import DAG

    from tencent_ess import RETRY_DEFAULTS
    from tencent_ess.operators import CreateSealByImageOperator
    from tencent_ess.sensors import EssSealReviewSensor

    agent_args = {"proxy_organization_open_id": ORG, "operator_open_id": OPERATOR}
    with DAG("retries_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1), default_args={"retries": 0}):
        create = CreateSealByImageOperator(task_id="create_seal", seal_name="章", **agent_args)
        sensor = EssSealReviewSensor(task_id="review", seal_id="S", **agent_args)
    assert create.retries == 0 and sensor.retries == 0
    with DAG("recommended_dag", schedule=None, start_date=pendulum.datetime(2026, 1, 1), default_args=RETRY_DEFAULTS):
        create = CreateSealByImageOperator(task_id="create_seal", seal_name="章", **agent_args)
    assert create.retries == 4 and create.retry_exponential_backoff == 2.0
