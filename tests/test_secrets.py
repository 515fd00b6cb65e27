"""Secrets: both DAGs run with a distinctive SecretKey (and an image), then every place a secret could end up
is searched: task logs and output, XCom values, rendered template fields, exception texts, the run report,
Airflow's own database and log folder, and the emulator's log and state. Zero hits allowed.
"""

from __future__ import annotations

import base64
import json
import logging

import pendulum

from tests.airflow_run import run_dag
from tests.conftest import AIRFLOW_HOME, ROOT, SECRET_KEY, emulator_state
from tests.dags.test_seal_setup import IDENTITY
from tests.dags.test_tenant_onboarding import DAY, onboarding, sample  # noqa: F401 - onboarding is a fixture

IMAGE = ROOT / "data" / "seals" / "sample_seal.png"


def _files_text(folder) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


def test_no_secret_key_or_image_anywhere_after_both_dags(onboarding, ess_conn, capfd, caplog):
    from airflow.dag_processing.dagbag import DagBag

    caplog.set_level(logging.DEBUG)  # the emulator's and the SDK's loggers included, at their most talkative
    image_b64 = base64.b64encode(IMAGE.read_bytes()).decode()
    setup = DagBag(dag_folder=str(ROOT / "dags" / "ess_seal_setup.py")).dags["ess_seal_setup"]
    runs = [
        run_dag(
            setup,
            conf={
                **IDENTITY,
                "seal_name": "人事专用章",
                "seal_type": "PERSONNEL",
                "seal_image_path": IMAGE.name,
                "user_ids": ["n9528"],
            },
        ),
        run_dag(setup, conf={**IDENTITY, "proxy_organization_open_id": "org_nobody"}),  # fails: a RequestId
    ]
    dag, manifests, reports = onboarding
    entries = sample(manifests)
    bad = {**entries[0], "seal_name": "章" * 51}
    (manifests / f"{DAY}.json").write_text(json.dumps(entries + [bad], ensure_ascii=False), encoding="utf-8")
    runs.append(run_dag(dag, conf={"review_poll_seconds": 1}, logical_date=pendulum.parse(DAY)))

    assert runs[0].state == "success" and runs[1].state == "failed" and runs[2].states["report"] == "failed"
    assert len(emulator_state(ess_conn)["seals"]) == 4  # the secret was used: the calls were signed with it

    out, err = capfd.readouterr()
    places = {
        "task logs and output": out + err + caplog.text,
        "xcom values": json.dumps([list(r.xcoms.values()) for r in runs], default=str, ensure_ascii=False),
        "rendered fields": json.dumps([r.rendered for r in runs], default=str, ensure_ascii=False),
        "run report": _files_text(reports),
        "airflow database and logs": _files_text(AIRFLOW_HOME),
        "emulator state": json.dumps(emulator_state(ess_conn), ensure_ascii=False),
    }
    assert "ResourceNotFound" in places["task logs and output"]  # the failure's text was captured and searched
    for place, text in places.items():
        assert SECRET_KEY not in text, f"SecretKey found in {place}"
        assert image_b64[:64] not in text, f"the image's base64 found in {place}"
