"""EssSealReviewSensor: waits for an image seal's manual review (CHECKING → SUCCESS | FAIL)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any, Sequence

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowFailException

from . import DEFAULT_CONN_ID
from .errors import EssApiError
from .hooks import EssHook
from .operators import failure_policy
from .triggers import EssSealReviewTrigger
from .validation import require_open_id, require_text

if TYPE_CHECKING:
    from airflow.sdk import Context


def seal_review_status(
    ess_conn_id: str, org: str, operator: str, app_id: str | None, seal_id: str, hook: EssHook | None = None
) -> tuple[str, str]:
    """(SealStatus, FailReason) of one seal, read with ChannelDescribeOrganizationSeals (all statuses)."""
    hook = hook or EssHook(ess_conn_id=ess_conn_id)
    seal = hook.describe_seal(hook.agent(org, operator, app_id), seal_id)
    if seal is None:
        raise EssApiError("ChannelDescribeOrganizationSeals", "ResourceNotFound", f"seal {seal_id} is not listed")
    return seal.get("SealStatus") or "", seal.get("FailReason") or ""


class EssSealReviewSensor(BaseSensorOperator):
    """Succeeds when the seal is ``SUCCESS``; fails (no retry) with the ``FailReason`` when it is ``FAIL``.

    Deferrable by default: the wait runs in the triggerer and holds no worker slot. ``deferrable=False``
    pokes instead (``mode="poke"`` or ``"reschedule"``). Returns the ``SealId``, so it can sit between
    create and grant in a chain.
    """

    template_fields: Sequence[str] = ("seal_id", "proxy_organization_open_id", "operator_open_id", "app_id")
    ui_color = "#fdf1c7"

    def __init__(
        self,
        *,
        seal_id: str,
        proxy_organization_open_id: str,
        operator_open_id: str,
        app_id: str | None = None,
        ess_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool = True,
        poke_interval: float = 30.0,
        timeout: float = timedelta(days=3).total_seconds(),
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retries", 2)
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.seal_id = seal_id
        self.proxy_organization_open_id = proxy_organization_open_id
        self.operator_open_id = operator_open_id
        self.app_id = app_id
        self.ess_conn_id = ess_conn_id
        self.deferrable = deferrable

    def _status(self) -> tuple[str, str]:
        seal_id = require_text("seal_id", self.seal_id, max_len=64)
        org = require_open_id("proxy_organization_open_id", self.proxy_organization_open_id)
        operator = require_open_id("operator_open_id", self.operator_open_id)
        return seal_review_status(self.ess_conn_id, org, operator, self.app_id, seal_id)

    def _finish(self, status: str, reason: str) -> bool:
        if status == "FAIL":
            raise AirflowFailException(f"seal {self.seal_id} was refused in review: {reason or 'no reason given'}")
        if status == "SUCCESS":
            self.log.info("Seal %s passed review", self.seal_id)
            return True
        if status == "CHECKING":
            return False
        raise AirflowFailException(f"seal {self.seal_id} is {status!r}, not waiting for review")

    def poke(self, context: Context) -> bool:
        with failure_policy():
            status, reason = self._status()
        return self._finish(status, reason)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            super().execute(context)
            return self.seal_id
        if self.poke(context):  # already decided: no need to hand over to the triggerer
            return self.seal_id
        self.defer(
            trigger=EssSealReviewTrigger(
                seal_id=self.seal_id, proxy_organization_open_id=self.proxy_organization_open_id,
                operator_open_id=self.operator_open_id, app_id=self.app_id, ess_conn_id=self.ess_conn_id,
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Resumed from the trigger's event."""
        if event.get("status") == "error":
            raise AirflowFailException(f"seal {self.seal_id}: {event.get('fail_reason')}")
        self._finish(event.get("status", ""), event.get("fail_reason", ""))
        return self.seal_id


