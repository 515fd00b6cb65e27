"""A person's approval of revocations over the budget (Param `approve_over_budget`).

When a revoking apply's guard counts more revocations than `max_revocations` allows and the Param is on, the
guard does not fail the run: it hands the exact set it counted (`proposed`, by tenant) to `approve_revocations`,
a human-in-the-loop task (Airflow 3.3's `HITLOperator`, standard provider) showing the count and the first
affected tenants and users. Either answer is a success of that task, and the apply goes on:

- **Approve**: the writing tasks may revoke exactly the approved set. Each revocation is checked against it when it
  is sent, from a fresh describe, and the run's ledger holds the total to that count. A holder beyond the set
  fails its tenant, and nothing is revoked from it.
- **Reject**, or no answer within `approval_timeout_minutes` (the task's default answer is Reject): nothing is
  revoked. Each tenant whose users were to be revoked fails, saying so, after its seal is created and granted;
  the rest of the apply goes on.

A writing task that finds the guard awaiting an approval but no decision revokes nothing and fails
(`decided_verdict`): nothing is ever revoked unapproved.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from airflow.providers.standard.operators.hitl import HITLOperator

from ..errors import RevocationBudgetError
from ..wording import quantity
from . import APPROVE_TASK, GUARD_TASK

APPROVE, REJECT = "Approve", "Reject"
#: How many affected tenants the request lists (the report has them all).
SHOWN = 50


def proposal_digest(verdict: dict[str, Any]) -> str:
    """What identifies the set a person is asked to approve: a decision applies to that set only, never to another
    count a re-run guard made since."""
    canonical = json.dumps(
        {"proposed": verdict.get("proposed") or {}, "revoked_before": verdict.get("revoked_before") or 0},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _shown(text: str) -> str:
    """A row as inert Markdown: seal names come from the manifest and holder ids from the API; in a code span
    neither can add a link, an image or emphasis to what the person reads."""
    return "`" + text.replace("`", "'").replace("\n", " ") + "`"


def report_tab(dag_id: str, run_id: str) -> str:
    """The path of the run's Tenant report tab in the UI (under `[api] base_url`'s path, where Airflow is served)."""
    from airflow.sdk.configuration import conf

    root = urlsplit(conf.get("api", "base_url", fallback="") or "").path.rstrip("/")
    return f"{root}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/plugin/tenant-report"


def approval_body(verdict: dict[str, Any], run_id: str, dag_id: str = "") -> str:
    """The request's text (Markdown): the count, the budget, and the first affected tenants and users."""
    proposed = verdict.get("proposed_rows") or []
    lines = [
        f"Run `{run_id}` would revoke **{quantity(verdict['would_revoke'], 'user')}**, over "
        f"`max_revocations={verdict['max_revocations']}`"
        + (f" ({verdict['revoked_before']} revoked earlier in this run)." if verdict.get("revoked_before") else "."),
        "",
        "**Approve**: exactly these revocations are made (each checked again when it is sent; anyone beyond them "
        "fails its tenant). **Reject**, or no answer in time: nothing is revoked; the rest of the apply goes on.",
        "",
        f"Affected ({quantity(len(proposed), 'tenant')}):",
        "",
    ]
    lines += [f"- {_shown(row)}" for row in proposed[:SHOWN]]
    if len(proposed) > SHOWN:
        lines.append(f"- … and {len(proposed) - SHOWN} more")
    if dag_id:
        lines += ["", f"Every row the guard counted: [the run's Tenant report tab]({report_tab(dag_id, run_id)})."]
    return "\n".join(lines)


class RevocationApprovalOperator(HITLOperator):
    """Asks a person to approve the revocations the guard counted over the budget (see the module). Returns the
    decision: `{"needed", "approved", "by", "at", "reason"}`; at once `{"needed": False}` when no approval is
    asked for (a plan, an apply within its budget, or Param `approve_over_budget` off, whose guard fails instead).

    :param timeout_param: the Param holding the minutes to wait for an answer (none or 0: wait until answered).
    """

    def __init__(self, *, timeout_param: str = "approval_timeout_minutes", **kwargs: Any) -> None:
        kwargs.setdefault("subject", "Approve revocations over max_revocations")
        super().__init__(options=[APPROVE, REJECT], defaults=[REJECT], **kwargs)
        self.timeout_param = timeout_param

    def execute(self, context: Any) -> Any:
        verdict = context["ti"].xcom_pull(task_ids=GUARD_TASK) or {}
        if not verdict.get("awaiting_approval"):
            self.log.info("no approval needed: the guard counted no revocation over the budget")
            return {"needed": False}
        self.subject = f"Approve revoking {quantity(verdict['would_revoke'], 'user')} (over max_revocations)"
        self.body = approval_body(verdict, context["run_id"], context["dag"].dag_id)
        minutes = (context.get("params") or {}).get(self.timeout_param)
        self.response_timeout = timedelta(minutes=minutes) if minutes else None
        self.log.info("%s", self.subject)
        return super().execute(context)

    def execute_complete(self, context: Any, event: dict[str, Any]) -> Any:
        answer = super().execute_complete(context, event)
        approved = list(answer["chosen_options"]) == [APPROVE]
        user = answer.get("responded_by_user") or {}
        by = user.get("name") or user.get("id") or ""
        at = answer["responded_at"]
        at = at.isoformat() if hasattr(at, "isoformat") else str(at)
        minutes = (context.get("params") or {}).get(self.timeout_param)
        if approved:
            reason = f"revocations over max_revocations approved by {by or 'an unnamed user'} at {at}"
        elif by:
            reason = f"revocations over max_revocations rejected by {by} at {at}"
        else:
            reason = f"revocations over max_revocations not approved within {minutes} minutes"
        self.log.info("%s", reason)
        verdict = context["ti"].xcom_pull(task_ids=GUARD_TASK) or {}
        return {
            "needed": True,
            "approved": approved,
            "by": by,
            "at": at,
            "reason": reason,
            "digest": proposal_digest(verdict),  # the set this answer is about
        }


def decided_verdict(ti: Any, verdict: dict[str, Any]) -> dict[str, Any]:
    """The guard's verdict as the writing tasks apply it, once a person has answered: approved, the proposed set is
    what may be revoked and the run's budget is raised to it; rejected, nothing may be, and `withheld` says why.
    Unanswered (the approval task's XCom is missing): `RevocationBudgetError`, nothing is revoked."""
    if not verdict.get("awaiting_approval"):
        return verdict
    decision = ti.xcom_pull(task_ids=APPROVE_TASK) or {}
    if not decision.get("needed"):
        raise RevocationBudgetError(
            f"the guard asked for approval of {quantity(verdict['would_revoke'], 'revocation')} over "
            "max_revocations, and no decision is recorded (task approve_revocations): nothing is revoked "
            "unapproved. Clear the run from its guard task"
        )
    if decision.get("digest") != proposal_digest(verdict):
        raise RevocationBudgetError(
            "the recorded approval was given for another count than the guard's latest (the guard ran again "
            "since): nothing is revoked unapproved. Clear the run from its guard task to ask again"
        )
    if decision.get("approved"):
        budget = int(verdict.get("revoked_before") or 0) + int(verdict["would_revoke"])
        return {**verdict, "allowed": verdict["proposed"], "budget": budget, "decision": decision["reason"]}
    return {**verdict, "allowed": {}, "withheld": decision["reason"], "decision": decision["reason"]}
