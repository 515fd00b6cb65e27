"""EssSealReviewTrigger: polls a seal's review status in the triggerer, off the worker."""

from __future__ import annotations

import asyncio
from typing import Any, AsyncIterator

from airflow.triggers.base import BaseTrigger, TriggerEvent

from .errors import EssError


class EssSealReviewTrigger(BaseTrigger):
    """Fires once the seal has left ``CHECKING``: event ``{"status", "seal_id", "fail_reason"}``.

    A transient API error is polled through; a permanent one ends the wait with ``status="error"``.
    Only the connection id travels through the trigger's serialized kwargs, never a key.
    """

    def __init__(
        self, *, seal_id: str, proxy_organization_open_id: str, operator_open_id: str, app_id: str | None,
        ess_conn_id: str, poll_interval: float = 30.0,
    ) -> None:
        super().__init__()
        self.seal_id = seal_id
        self.proxy_organization_open_id = proxy_organization_open_id
        self.operator_open_id = operator_open_id
        self.app_id = app_id
        self.ess_conn_id = ess_conn_id
        self.poll_interval = poll_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "seal_id": self.seal_id,
                "proxy_organization_open_id": self.proxy_organization_open_id,
                "operator_open_id": self.operator_open_id,
                "app_id": self.app_id,
                "ess_conn_id": self.ess_conn_id,
                "poll_interval": self.poll_interval,
            },
        )

    def _check(self) -> tuple[str, str]:
        from .sensors import seal_review_status

        return seal_review_status(
            self.ess_conn_id, self.proxy_organization_open_id, self.operator_open_id, self.app_id, self.seal_id
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                status, reason = await asyncio.to_thread(self._check)  # the SDK is synchronous
            except EssError as err:
                if getattr(err, "transient", False):
                    self.log.warning("Seal %s: %s; polling again", self.seal_id, err)
                    await asyncio.sleep(self.poll_interval)
                    continue
                yield TriggerEvent({"status": "error", "seal_id": self.seal_id, "fail_reason": str(err)})
                return
            if status != "CHECKING":
                yield TriggerEvent({"status": status, "seal_id": self.seal_id, "fail_reason": reason})
                return
            await asyncio.sleep(self.poll_interval)
