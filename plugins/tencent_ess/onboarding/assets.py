"""The onboarding report as an Airflow Asset: DAGs scheduled on `REPORT_ASSET` run once per finished report."""

from __future__ import annotations

from typing import Any

from airflow.sdk import Asset

#: The onboarding report, as an Airflow Asset: the report task emits an event on it for every run whose report it
#: wrote and whose every tenant is done, or in plan mode in sync (a failed or skipped task emits none), with the
#: report's locations, mode and counts in the event's `extra` (`report_event_extra`).
REPORT_ASSET = Asset(name="ess_tenant_onboarding_report", uri="ess-report://ess_tenant_onboarding", group="tencent_ess")

#: What an event on REPORT_ASSET carries in `extra`: where the report is and what it says, never a row or a secret.
REPORT_EVENT_KEYS = ("json", "csv", "day", "run_id", "mode", "tenants", "by_status", "changes_in_run")


def report_event_extra(summary: dict[str, Any], ds: str, run_id: str) -> dict[str, Any]:
    """The `extra` of the run's event on `REPORT_ASSET`: where its report is and its counts (`REPORT_EVENT_KEYS`)."""
    extra = {**summary, "day": ds, "run_id": run_id}
    return {key: extra[key] for key in REPORT_EVENT_KEYS if key in extra}
