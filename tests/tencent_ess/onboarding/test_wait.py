"""The manifest wait: `ManifestSensor` is an Airflow sensor whose one look (`poke`) never reads an unreadable or
missing folder as "not yet", and the wait policy."""

from __future__ import annotations

from types import SimpleNamespace

import pytest


def _sensor(tmp_path, manifests):
    from tencent_ess.onboarding.wait import ManifestSensor

    return ManifestSensor(
        task_id="wait_for_manifest",
        default_manifest_dir=str(manifests),
        default_report_dir=str(tmp_path / "reports"),
        default_image_dir=str(tmp_path),
    )


def _context(**params):
    return {"params": {"manifest_date": None, **params}, "ds": "2026-11-01", "dag_run": SimpleNamespace(run_after=None)}


def test_the_manifest_sensor_is_an_airflow_sensor():
    from airflow.sdk import BaseSensorOperator

    from tencent_ess.onboarding.wait import ManifestSensor

    assert issubclass(ManifestSensor, BaseSensorOperator)


def test_poke_is_true_only_once_the_days_manifest_is_there(tmp_path):
    manifests = tmp_path / "tenants"
    manifests.mkdir()
    sensor = _sensor(tmp_path, manifests)
    assert sensor.poke(_context()) is False
    (manifests / "2026-11-01.json").write_text("[]")
    assert sensor.poke(_context()) is True
    assert sensor.poke(_context(manifest_date="2026-11-02")) is False  # the Param chooses the day


def test_poke_raises_on_a_manifest_folder_that_does_not_exist(tmp_path):
    """A mistyped Variable or an unmounted volume is not "not yet": the sensor would wait, then go green."""
    from airflow.sdk.exceptions import AirflowFailException

    sensor = _sensor(tmp_path, tmp_path / "no-such-folder")
    with pytest.raises(AirflowFailException, match="no-such-folder does not exist"):
        sensor.poke(_context())


@pytest.mark.parametrize(
    ("minutes", "elapsed", "state"),
    [(0, 0.0, "missing"), (2, 60.0, "wait"), (2, 120.0, "missing")],
)
def test_the_wait_policy(tmp_path, minutes, elapsed, state):
    from tencent_ess.onboarding.locations import Locations
    from tencent_ess.onboarding.wait import manifest_wait

    (tmp_path / "tenants").mkdir()
    where = Locations(str(tmp_path / "tenants"), str(tmp_path / "reports"), str(tmp_path))
    assert manifest_wait(where, "2026-11-01", {"manifest_wait_minutes": minutes}, 0.0, elapsed) == state
    (tmp_path / "tenants" / "2026-11-01.json").write_text("[]")
    assert manifest_wait(where, "2026-11-01", {"manifest_wait_minutes": minutes}, 0.0, elapsed) == "present"


def test_a_standing_manifest_name_is_a_whole_file_name():
    from tencent_ess.errors import EssValidationError
    from tencent_ess.onboarding.locations import Locations

    where = Locations("m", "r", "i")
    assert where.for_run({"manifest_file": "standing.json"}).manifest("2026-11-01").name == "standing.json"
    assert where.for_run({"manifest_file": None}).manifest("2026-11-01").name == "2026-11-01.json"
    for bad in ("standing.json\n", "a/b.json", "..json", ".x.json", "x.csv", 7):
        with pytest.raises(EssValidationError, match="manifest_file"):
            where.for_run({"manifest_file": bad})
