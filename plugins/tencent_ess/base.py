"""EssMixin: what every essbasic task shares (operators and the review sensor alike)."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from .hooks import EssHook
from .seals import SealOperations
from .validation import require_open_id, require_text


class EssMixin:
    """What every essbasic task shares: the connection id, the Agent (enterprise, operator, AppId) and a hook
    built once per task instance (never in ``__init__``: no connection lookup at DAG parse time)."""

    ess_conn_id: str
    proxy_organization_open_id: str
    operator_open_id: str
    app_id: str | None

    @cached_property
    def hook(self) -> EssHook:
        """The task's hook (one SDK client per thread, built on first call)."""
        return EssHook(ess_conn_id=self.ess_conn_id)

    @cached_property
    def seals(self) -> SealOperations:
        """The seal operations over `hook`."""
        return SealOperations(self.hook)

    def agent(self) -> dict[str, Any]:
        """The checked Agent structure; `EssValidationError` names a bad field."""
        org = require_open_id("proxy_organization_open_id", self.proxy_organization_open_id)
        operator = require_open_id("operator_open_id", self.operator_open_id)
        app_id = require_text("app_id", self.app_id, max_len=64) if self.app_id else None
        return self.hook.agent(org, operator, app_id)
