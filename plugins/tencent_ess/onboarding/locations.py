"""Where the day's manifest is read, seal images are found, and the report and attempt journal are written
(Variables `ess_tenant_manifest_dir`, `ess_seal_image_dir`, `ess_report_dir`: each a folder or an object-storage
URL such as `s3://bucket/x`), and the manifest wait policy. Light on imports: the DAG file uses it at parse time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..storage import StoragePath, storage_path


@dataclass(frozen=True)
class Locations:
    """Where the day's manifest is read, its seal images found and its report written; `ds` is the run's date.
    A manifest's `seal_image_path` is relative to `image_dir` and may not leave it."""

    manifest_dir: str
    report_dir: str
    image_dir: str

    @classmethod
    def from_variables(cls, default_manifest_dir: str, default_report_dir: str, default_image_dir: str
                       ) -> "Locations":
        from airflow.sdk import Variable

        return cls(Variable.get("ess_tenant_manifest_dir", default=default_manifest_dir),
                   Variable.get("ess_report_dir", default=default_report_dir),
                   Variable.get("ess_seal_image_dir", default=default_image_dir))

    @property
    def images(self) -> StoragePath:
        return storage_path(self.image_dir)

    def manifest(self, ds: str) -> StoragePath:
        return storage_path(self.manifest_dir) / f"{ds}.json"

    def reports(self, ds: str) -> StoragePath:
        return storage_path(self.report_dir) / ds

    def journal(self, ds: str, run_id: str) -> StoragePath:
        return self.reports(ds) / f"{run_name(run_id)}.attempts"


def run_name(run_id: str) -> str:
    """A run id as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


def manifest_wait(where: Locations, ds: str, params: dict[str, Any], started: float, now: float) -> str:
    """'present', 'wait' (keep polling) or 'missing' (give up): the wait policy of Params
    `manifest_wait_minutes` (0: do not wait) and `manifest_required`."""
    if where.manifest(ds).exists():
        return "present"
    if now - started < 60 * float(params.get("manifest_wait_minutes") or 0):
        return "wait"
    return "missing"


