"""EssSealReviewTrigger: polls a seal's review status in the triggerer, off the worker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from .errors import EssError
from .hooks import EssHook
from .seals import USABLE, SealOperations, in_review


class EssSealReviewTrigger(BaseTrigger):
    """Fires once the seal has left review (``CHECKING``, ``CHECKING-SADM``), with one event:

    - ``{"status": "success", "seal_status": "SUCCESS", ...}``: approved;
    - ``{"status": "failed", "seal_status": "FAIL" | "DISABLE" | ..., "fail_reason": ...}``: refused or unusable;
    - ``{"status": "error", "fail_reason": ...}``: a permanent error, or any unexpected exception.

    Transient API errors are polled through. Only the connection id travels in the serialized kwargs, never a
    key; one hook is built per trigger and reused for every poll.
    """

    def __init__(
        self,
        *,
        seal_id: str,
        proxy_organization_open_id: str,
        operator_open_id: str,
        app_id: str | None,
        ess_conn_id: str,
        poll_interval: float = 30.0,
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

    @cached_property
    def hook(self) -> EssHook:
        return EssHook(ess_conn_id=self.ess_conn_id)

    def _check(self) -> tuple[str, str]:
        agent = self.hook.agent(self.proxy_organization_open_id, self.operator_open_id, self.app_id)
        return SealOperations(self.hook).review_status(agent, self.seal_id)

    def _event(self, status: str, seal_status: str = "", fail_reason: str = "") -> TriggerEvent:
        return TriggerEvent(
            {"status": status, "seal_id": self.seal_id, "seal_status": seal_status, "fail_reason": fail_reason}
        )

    async def run(self) -> AsyncIterator[TriggerEvent]:
        while True:
            try:
                seal_status, reason = await asyncio.to_thread(self._check)  # the SDK is synchronous
            except EssError as err:
                if err.transient:
                    self.log.warning("Seal %s: %s; polling again", self.seal_id, err)
                    await asyncio.sleep(self.poll_interval)
                    continue
                yield self._event("error", fail_reason=str(err))
                return
            except Exception as err:  # noqa: BLE001 - the task, not the triggerer, must see the failure
                yield self._event("error", fail_reason=f"{type(err).__name__}: {err}")
                return
            if not in_review(seal_status):
                yield self._event("success" if seal_status in USABLE else "failed", seal_status, reason)
                return
            await asyncio.sleep(self.poll_interval)
