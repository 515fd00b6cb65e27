"""Onboarding many tenants: manifest → chunks → (describe, create, grant) per tenant → run report.

- `manifest`: read and check the day's manifest, chunk it;
- `engine`: onboard a chunk (threads, paced), finish image seals after review; Airflow-free;
- `journal`: what failed task attempts finished, so a retry redoes only the rest;
- `report`: the run report (JSON + spreadsheet-safe CSV);
- `handoff`: lists of rows passed between tasks through XCom, each as one JSON text;
- `locations`, `wait`: where files live, and the deferrable wait for a late manifest;
- `tasks`: the bodies of the DAG's tasks (the DAG file only declares them).

- `assets`: the report's Airflow Asset, and what its events carry;
- `approval`: a person's approval of revocations over the budget (a human-in-the-loop task).

Nothing is imported here, so that the DAG file's parse-time imports stay small.
"""

#: The XCom key under which each chunk leaves its image seals still in review: finish_reviews reads this, never the
#: chunks' rows. (Here, not in `tasks`, because the DAG file wires it at parse time.)
AWAITING = "awaiting"

#: The onboarding DAG's task ids, in one place: the task bodies (`tasks`) pull each other's XComs by them and count
#: the tasks that share the quota by them, and the DAG file names its tasks with them.
PLAN_TASK, GUARD_TASK, ONBOARD_TASK, FINISH_TASK, REPORT_TASK = "plan", "guard", "onboard", "finish_reviews", "report"
#: The human-in-the-loop task between the guard and the writing tasks (`approval`).
APPROVE_TASK = "approve_revocations"
