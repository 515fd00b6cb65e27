"""The manifest wait: its policy (Params `manifest_wait_minutes`, `manifest_required`) and `ManifestSensor`, which
waits for the day's manifest, deferring between checks (no worker slot held)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from ..errors import failure_policy, redact_location
from ..storage import StoragePath, is_present
from .locations import Locations, require_manifest_folder, run_day

STARTED = "wait_started"


def manifest_present(path: StoragePath) -> bool:
    """Whether the manifest at `path` is there. A location that cannot be read (`StorageError`), or a manifest
    folder that does not exist (`ManifestError`), raises: neither is ever "not yet"."""
    if is_present(path):
        return True
    require_manifest_folder(path)
    return False


def manifest_wait(where: Locations, ds: str, params: dict[str, Any], started: float, now: float) -> str:
    """'present', 'wait' (keep polling) or 'missing' (give up): the wait policy of Params
    `manifest_wait_minutes` (0: do not wait) and `manifest_required`."""
    if manifest_present(where.manifest(ds)):
        return "present"
    if now - started < 60 * float(params.get("manifest_wait_minutes") or 0):
        return "wait"
    return "missing"


def poll_interval(params: dict[str, Any]) -> float:
    """About 20 checks over the wait, between 1 s and a minute apart."""
    return min(60.0, max(1.0, 3.0 * float(params.get("manifest_wait_minutes") or 0)))


class ManifestSensor(BaseSensorOperator):
    """Waits for the day's manifest without holding a worker slot (it defers between checks), up to Param
    `manifest_wait_minutes`; then, if it never came, fails when Param `manifest_required` is true, and
    otherwise lets `plan` record "no manifest at <path>" in the run's report.

    A deferrable sensor: `execute` pokes once and defers between pokes (the deferral replaces the base class's
    poke loop, whose `timeout` a trigger-form Param could not set); `poke` is the one look.

    :param default_manifest_dir: the manifest folder when Variable `ess_tenant_manifest_dir` is unset.
    :param default_report_dir: the report folder when Variable `ess_report_dir` is unset.
    :param default_image_dir: the seal image folder when Variable `ess_seal_image_dir` is unset.
    :param poll_seconds: seconds between looks; default: about 20 looks over the wait (`poll_interval`).
    """

    ui_color = "#e8f0e0"

    def __init__(
        self,
        *,
        default_manifest_dir: str,
        default_report_dir: str,
        default_image_dir: str,
        poll_seconds: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.default_manifest_dir = default_manifest_dir
        self.default_report_dir = default_report_dir
        self.default_image_dir = default_image_dir
        self.poll_seconds = poll_seconds

    def target(self, context: Any) -> tuple[Locations, str]:
        """The run's locations (Variables or this sensor's defaults, as its Params choose) and its day."""
        where = Locations.from_variables(self.default_manifest_dir, self.default_report_dir, self.default_image_dir)
        day = run_day(context["params"], context.get("ds"), getattr(context.get("dag_run"), "run_after", None))
        return where.for_run(context["params"]), day

    def poke(self, context: Any) -> bool:
        """Whether the day's manifest is there (`manifest_present`)."""
        with failure_policy():
            where, ds = self.target(context)
            return manifest_present(where.manifest(ds))

    def execute(self, context: Any) -> str | None:
        started = time.time()
        # Kept in XCom (not cleared on resuming from a deferral): the trigger's event replaces next_kwargs in
        # `dag.test()`, so the start of the wait must not travel only there.
        context["ti"].xcom_push(key=STARTED, value=started)
        return self.check(context, started=started)

    def check(self, context: Any, event: Any = None, started: float | None = None) -> str | None:
        """One look for the manifest: found, defer again, or give up (fail when it is required)."""
        from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger

        if started is None:
            started = float(context["ti"].xcom_pull(task_ids=self.task_id, key=STARTED) or time.time())
        params = context["params"]
        # A location that cannot be read fails (permission: now; network: by task retry), never reads as "missing".
        with failure_policy():
            where, ds = self.target(context)
            state = manifest_wait(where, ds, params, started, time.time())
        if state == "present":
            return str(where.manifest(ds))
        if state == "wait":
            poll = self.poll_seconds or poll_interval(params)
            self.log.info("no manifest yet at %s; checking again in %.0fs", redact_location(where.manifest(ds)), poll)
            self.defer(
                trigger=TimeDeltaTrigger(timedelta(seconds=poll)), method_name="check", kwargs={"started": started}
            )
        reason = f"no manifest for {ds} at {redact_location(where.manifest(ds))}"
        if where.standing:  # a file named on purpose that is not there is bad input, never "no manifest today"
            raise AirflowFailException(f"{reason}: Param manifest_file names {where.standing!r}, which is not there")
        if params.get("manifest_required"):
            waited = float(params.get("manifest_wait_minutes") or 0)
            raise AirflowFailException(f"{reason} (waited {waited:g} minutes; Param manifest_required is true)")
        self.log.warning("%s: the run records that and onboards nothing", reason)
        return None
