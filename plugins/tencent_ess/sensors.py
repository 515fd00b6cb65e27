"""EssSealReviewSensor: waits for an image seal's manual review (CHECKING [→ CHECKING-SADM] → SUCCESS | FAIL)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.configuration import conf

from .errors import EssError, SealUnusableError, failure_policy
from .mixins import EssMixin

__all__ = ["EssSealReviewSensor"]
from .seals import USABLE, check_usable, in_review
from .validation import require_text

if TYPE_CHECKING:
    from airflow.sdk import Context


class EssSealReviewSensor(EssMixin, BaseSensorOperator):
    """Succeeds when the seal is ``SUCCESS``; fails (no retry) with the ``FailReason`` when it is ``FAIL``.

    Returns the ``SealId``, so it can sit between create and grant in a chain.

    :param seal_id: the seal to wait for (``create.output`` works).
    :param proxy_organization_open_id: the sub-enterprise's OpenId.
    :param operator_open_id: the acting employee's OpenId.
    :param app_id: channel AppId; default: the connection's extra ``app_id``.
    :param ess_conn_id: Airflow connection id; default ``tencentcloud_ess_default``.
    :param deferrable: wait in the triggerer, holding no worker slot; default ``[operators] default_deferrable``.
        Otherwise it pokes (``mode="poke"`` or ``"reschedule"``).
    :param poke_interval: seconds between checks (default 30).
    :param timeout: seconds to wait for the review before failing (default 3 days).
    """

    template_fields: Sequence[str] = ("seal_id", "proxy_organization_open_id", "operator_open_id", "app_id")
    ui_color = "#fdf1c7"

    def __init__(
        self,
        *,
        seal_id: str,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        poke_interval: float = 30.0,
        timeout: float = timedelta(days=3).total_seconds(),
        **kwargs: Any,
    ) -> None:
        # The enterprise, operator, AppId and connection id: `EssMixin`'s, as for the operators.
        super().__init__(poke_interval=poke_interval, timeout=timeout, **kwargs)
        self.seal_id = seal_id
        self.deferrable = deferrable

    def _finish(self, seal_status: str, reason: str) -> bool:
        """True once approved, False while in review (CHECKING, or CHECKING-SADM: the enterprise's super-admin);
        a refused, unusable or unknown status fails naming it (`seals.check_usable`)."""
        if seal_status in USABLE:
            self.log.info("Seal %s passed review", self.seal_id)
            return True
        if in_review(seal_status):
            self.log.info("Seal %s is %s: waiting", self.seal_id, seal_status)
            return False
        check_usable({"SealId": self.seal_id, "SealStatus": seal_status, "FailReason": reason})
        raise SealUnusableError(f"seal {self.seal_id} is {seal_status!r}, not waiting for review")

    def poke(self, context: Context) -> bool:
        with failure_policy():
            seal_id = require_text("seal_id", self.seal_id, max_len=64)
            return self._finish(*self.seals.review_status(self.agent(), seal_id))

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            super().execute(context)
            return self.seal_id
        if self.poke(context):  # already decided: no need to hand over to the triggerer
            return self.seal_id
        from .triggers import EssSealReviewTrigger  # here, not at the top: DAG files import this module

        self.defer(
            trigger=EssSealReviewTrigger(
                seal_id=self.seal_id,
                proxy_organization_open_id=self.proxy_organization_open_id,
                operator_open_id=self.operator_open_id,
                app_id=self.app_id,
                ess_conn_id=self.ess_conn_id,
                poll_interval=self.poke_interval,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> str:
        """Resumed from the trigger's event."""
        with failure_policy():
            if event.get("status") == "error":
                raise EssError(f"seal {self.seal_id}: {event.get('fail_reason')}")
            self._finish(event.get("seal_status", ""), event.get("fail_reason", ""))
        return self.seal_id
