"""Two distributions: the provider's wheel holds no emulator, the emulator's wheel holds its fixture."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


def build_wheel(source: Path, out: Path) -> list[str]:
    """`pip wheel --no-deps source` into `out`; returns the names inside the one wheel it made."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    [wheel] = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.mark.timeout(600)
def test_the_provider_wheel_holds_no_emulator_and_brings_its_report_view(tmp_path):
    names = build_wheel(ROOT, tmp_path)
    assert any(name.startswith("tencent_ess/") for name in names), names  # the wheel was really built
    assert not [name for name in names if "ess_emulator" in name or name.startswith("emulator/")]
    # the report view's pages, and the entry point through which Airflow loads its plugin
    assert {f"tencent_ess/views/templates/{page}.html" for page in ("base", "run", "dag")} <= set(names)
    [wheel] = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as archive:
        [points] = [name for name in names if name.endswith(".dist-info/entry_points.txt")]
        text = archive.read(points).decode()
    assert "[airflow.plugins]\ntencent_ess = tencent_ess.plugin:TencentEssPlugin" in text, text


@pytest.mark.timeout(600)
def test_the_emulator_wheel_holds_its_package_and_fixture(tmp_path):
    names = build_wheel(ROOT / "emulator", tmp_path)
    assert "ess_emulator/default_fixture.json" in names and "ess_emulator/server.py" in names
    assert not [name for name in names if name.startswith("tencent_ess")]


def test_the_version_has_one_source(tmp_path):
    """pyproject.toml reads it from tencent_ess.__version__, which get_provider_info reports: they cannot differ."""
    import tomllib

    import tencent_ess

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "version" not in project and "version" in project["dynamic"]
    names = build_wheel(ROOT, tmp_path)
    [dist_info] = {name.split("/")[0] for name in names if ".dist-info/" in name}
    assert dist_info == f"airflow_provider_tencent_ess-{tencent_ess.__version__}.dist-info"
    assert tencent_ess.get_provider_info()["versions"] == [tencent_ess.__version__]
