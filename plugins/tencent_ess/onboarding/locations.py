"""Where the day's manifest is read, seal images are found, and the report and attempt journal are written
(Variables `ess_tenant_manifest_dir`, `ess_seal_image_dir`, `ess_report_dir`: each a folder or an object-storage
URL such as `s3://bucket/x`). Light on imports: the DAG file uses it at parse time."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ..errors import EssValidationError, ManifestError, redact_location
from ..storage import StoragePath, is_present, storage_path


@dataclass(frozen=True)
class Locations:
    """Where the day's manifest is read, its seal images found and its report written; `ds` is the run's date.
    A manifest's `seal_image_path` is relative to `image_dir` and may not leave it."""

    manifest_dir: str
    report_dir: str
    image_dir: str
    #: A standing manifest: a file of `manifest_dir` every run reads instead of `{day}.json` (Param `manifest_file`).
    standing: str = ""

    @classmethod
    def from_variables(cls, default_manifest_dir: str, default_report_dir: str, default_image_dir: str) -> Locations:
        from airflow.sdk import Variable

        return cls(
            Variable.get("ess_tenant_manifest_dir", default=default_manifest_dir),
            Variable.get("ess_report_dir", default=default_report_dir),
            Variable.get("ess_seal_image_dir", default=default_image_dir),
        )

    @property
    def images(self) -> StoragePath:
        return storage_path(self.image_dir)

    def for_run(self, params: dict[str, Any]) -> Locations:
        """These locations as the run's Params choose: Param `manifest_file` names a standing manifest."""
        standing = params.get("manifest_file")
        if standing in (None, ""):
            return self
        if not isinstance(standing, str) or not _STANDING.fullmatch(standing) or standing.startswith("."):
            raise EssValidationError(
                "manifest_file",
                f"must be the name of a .json file in the manifest folder, without a path (got {standing!r})",
            )
        return replace(self, standing=standing)

    def manifest(self, ds: str) -> StoragePath:
        """The manifest the run of day `ds` reads: the standing one when set, else `{ds}.json`."""
        return storage_path(self.manifest_dir) / (self.standing or f"{ds}.json")

    def reports(self, ds: str) -> StoragePath:
        return storage_path(self.report_dir) / ds

    def journal(self, ds: str, run_id: str) -> StoragePath:
        return self.reports(ds) / f"{run_name(run_id)}.attempts"

    def revocations(self, ds: str, run_id: str) -> StoragePath:
        """The run's revocation ledger: every revocation any of its tasks made, across retries and clears."""
        return self.reports(ds) / f"{run_name(run_id)}.revocations"

    def claims(self, app_id: str) -> StoragePath:
        """The manifest dates revoking applies have claimed for one AppId (see `revocations.claim`)."""
        return storage_path(self.report_dir) / "_sync_claims" / run_name(app_id)


def run_name(run_id: str) -> str:
    """A run id as a file name."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)


_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STANDING = re.compile(r"^[\w.-]{1,128}\.json$")


def run_day(params: dict[str, Any], ds: str | None, run_after: Any = None) -> str:
    """The date whose manifest a run reads and under which it reports: Param `manifest_date` when set; else the
    run's logical date; else, for a run made without one (`airflow dags trigger` or the REST API without
    `logical_date`), the UTC day of its `run_after`. Never "None"."""
    chosen = params.get("manifest_date")
    if chosen not in (None, ""):
        if not isinstance(chosen, str) or not _DAY.match(chosen):
            raise EssValidationError("manifest_date", f"must be a date as YYYY-MM-DD (got {chosen!r})")
        try:
            day = date.fromisoformat(chosen)
        except ValueError:
            raise EssValidationError("manifest_date", f"is not a calendar date (got {chosen!r})") from None
        if day > datetime.now(UTC).date() + timedelta(days=1):  # a typo would claim the far future
            raise EssValidationError("manifest_date", f"must not be in the future (got {chosen})")
        return chosen
    if ds not in (None, "", "None"):
        return str(ds)
    if isinstance(run_after, datetime):
        return run_after.astimezone(UTC).date().isoformat()
    raise EssValidationError(
        "manifest_date",
        "this run has no logical date and no run_after: set conf "
        '{"manifest_date": "YYYY-MM-DD"} to say which day\'s manifest to read',
    )


def require_manifest_folder(manifest: StoragePath) -> None:
    """A day's manifest is missing: its folder must exist all the same (`ManifestError` otherwise), or a mistyped
    Variable or an unmounted volume would read as "no manifest today", green, every day."""
    if not is_present(manifest.parent):
        raise ManifestError(
            f"the manifest folder {redact_location(manifest.parent)} does not exist: check the "
            "Variable ess_tenant_manifest_dir (a day without a manifest needs the folder to exist)"
        )
