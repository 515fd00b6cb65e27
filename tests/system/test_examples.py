"""The example DAGs the operators guide shows (tests/system/tencent_ess/example_*.py) run against the emulator."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import TEST_DAGS, emulator_state

EXAMPLES = sorted((Path(__file__).parent / "tencent_ess").glob("example_*.py"))
#: What each example leaves in the emulator: {seal name: (status, the users who hold it)} (the tests' emulator
#: reviews an image at once).
EXPECTED = {
    "example_seals": {"财务专用章": ("DISABLE", []), "人事专用章": ("SUCCESS", [])},
    "example_policies": {"合同专用章": ("SUCCESS", ["n9528"])},
    "example_review": {"人事专用章": ("SUCCESS", ["n9528"])},
}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_dag_runs_against_the_emulator(airflow_db, ess_conn, monkeypatch, path):
    from airflow.dag_processing.dagbag import DagBag

    from tests.airflow_run import run_dag
    from tests.conftest import png_b64

    monkeypatch.setenv("AIRFLOW_VAR_SEAL_PNG", png_b64(size=(120, 120)))
    copy = TEST_DAGS / path.name
    shutil.copyfile(path, copy)
    bag = DagBag(dag_folder=str(copy))
    assert not bag.import_errors, bag.import_errors
    (dag,) = bag.dags.values()
    result = run_dag(dag)
    assert result.state == "success", result.states
    seals = {s["seal_name"]: (s["seal_status"], s["authorized_user_ids"]) for s in emulator_state(ess_conn)["seals"]}
    assert seals == EXPECTED[path.stem]
    assert {p.stem for p in EXAMPLES} == set(EXPECTED)
