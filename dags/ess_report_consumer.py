"""Example: act on each onboarding report. Scheduled on the report's Asset, it runs once for every onboarding
run whose every tenant is done, and reads that report (notify a CRM, load a warehouse: replace `summarize`).

It acts on apply reports only: a green plan run (every tenant in sync, e.g. the drift alarm's) announces its
report too. Paused at creation, as every DAG: unpause it to use it. The event's `extra` holds the report's
locations (`json`, `csv`), `day`, `run_id`, `mode` and counts (`tenants`, `by_status`, `changes_in_run`); never a
row or a secret.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import dag, task

from tencent_ess.onboarding.assets import REPORT_ASSET


@dag(
    schedule=[REPORT_ASSET],
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    tags=["tencent-ess", "example"],
    doc_md=__doc__,
)
def ess_report_consumer():
    @task(inlets=[REPORT_ASSET])
    def summarize(triggering_asset_events: Any = None) -> list[dict[str, Any]]:
        """One line per report that triggered this run (several when events arrived together)."""
        import json
        import logging

        from tencent_ess.storage import read_if_present, storage_path

        log = logging.getLogger(__name__)
        seen = []
        for event in triggering_asset_events[REPORT_ASSET]:
            extra = event.extra
            if extra.get("mode") != "apply":  # a green plan (the drift alarm's) announces its report too
                log.info("%s: a %s report, nothing to act on", extra.get("run_id"), extra.get("mode"))
                continue
            raw = read_if_present(storage_path(extra["json"]))
            if raw is None:  # moved or deleted since: say so, never act on an empty report
                raise FileNotFoundError(f"the report of {extra['run_id']} is no longer at {extra['json']}")
            document = json.loads(raw)
            log.info("%s %s: %s -> %s", extra["day"], extra["mode"], extra["by_status"], extra["csv"])
            seen.append({"run_id": extra["run_id"], "tenants": len(document.get("tenants", []))})
        return seen

    summarize()


ess_report_consumer()
