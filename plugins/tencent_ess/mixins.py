"""EssMixin: what every essbasic task shares (operators and the review sensor alike), constructor included, as the
amazon provider's `AwsBaseHookMixin` does for its operators and sensors."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from . import DEFAULT_CONN_ID
from .hooks import EssHook
from .seals import SealOperations
from .validation import require_open_id, require_text


class EssMixin:
    """What every essbasic task shares: the connection id, the Agent (enterprise, operator, AppId) and a hook
    built once per task instance (never in ``__init__``: no connection lookup at DAG parse time).

    :param proxy_organization_open_id: the sub-enterprise's OpenId (Agent.ProxyOrganizationOpenId).
    :param operator_open_id: the acting employee's OpenId (Agent.ProxyOperator.OpenId).
    :param app_id: channel AppId; default: the connection's extra ``app_id``.
    :param ess_conn_id: Airflow connection id; default ``tencentcloud_ess_default``.
    """

    def __init__(
        self,
        *,
        proxy_organization_open_id: str,
        operator_open_id: str,
        app_id: str | None = None,
        ess_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)  # the Airflow base class (BaseOperator, BaseSensorOperator) takes the rest
        self.proxy_organization_open_id = proxy_organization_open_id
        self.operator_open_id = operator_open_id
        self.app_id = app_id
        self.ess_conn_id = ess_conn_id

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
