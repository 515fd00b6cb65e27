"""Onboarding many tenants: manifest → chunks → (describe, create, grant) per tenant → run report.

- `manifest`: read and check the day's manifest, chunk it;
- `engine`: onboard a chunk (threads, paced), finish image seals after review; Airflow-free;
- `journal`: what failed task attempts finished, so a retry redoes only the rest;
- `report`: the run report (JSON + spreadsheet-safe CSV);
- `handoff`: lists of rows passed between tasks through XCom, each as one JSON text;
- `locations`, `wait`: where files live, and the deferrable wait for a late manifest;
- `tasks`: the bodies of the DAG's tasks (the DAG file only declares them).

Only the Task SDK's `Asset` is imported here (the DAG file imports the SDK anyway), so that the DAG file's
parse-time imports stay small.
"""

from airflow.sdk import Asset

#: The XCom key under which each chunk leaves its image seals still in review: finish_reviews reads this, never the
#: chunks' rows. (Here, not in `tasks`, because the DAG file wires it at parse time.)
AWAITING = "awaiting"

#: The onboarding DAG's task ids, in one place: the task bodies (`tasks`) pull each other's XComs by them and count
#: the tasks that share the quota by them, and the DAG file names its tasks with them.
PLAN_TASK, GUARD_TASK, ONBOARD_TASK, FINISH_TASK, REPORT_TASK = "plan", "guard", "onboard", "finish_reviews", "report"

#: The onboarding report, as an Airflow Asset: the report task emits an event on it for every run whose report it
#: wrote and whose every tenant is done, or in plan mode in sync (a failed or skipped task emits none), with the
#: report's locations, mode and counts in the event's `extra` (`report_event_extra`). Schedule a DAG on it.
REPORT_ASSET = Asset(name="ess_tenant_onboarding_report", uri="ess-report://ess_tenant_onboarding", group="tencent_ess")

#: What an event on REPORT_ASSET carries in `extra`: where the report is and what it says, never a row or a secret.
REPORT_EVENT_KEYS = ("json", "csv", "day", "run_id", "mode", "tenants", "by_status", "changes_in_run")
