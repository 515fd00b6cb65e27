"""Operators: CreateSealByImage → SealId (XCom) → ChannelCreateSealPolicy."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

from . import DEFAULT_CONN_ID
from .errors import EssApiError, EssConfigError, EssValidationError
from .hooks import EssHook
from .validation import check_seal_spec, load_seal_image, parse_user_ids, require_open_id, require_text

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Task-retry defaults for transient API errors (rate limits past the in-call retries, InternalError, outages).
RETRY_DEFAULTS: dict[str, Any] = {
    "retries": 4,
    "retry_delay": timedelta(seconds=20),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
}


@contextmanager
def failure_policy() -> Iterator[None]:
    """One rule for every task: bad input, bad config and permanent API errors fail now (no retry);
    transient API errors propagate as they are, so Airflow retries the task."""
    try:
        yield
    except EssValidationError as err:
        raise AirflowFailException(f"invalid input: {err}") from None
    except EssConfigError as err:
        raise AirflowFailException(f"connection settings: {err}") from None
    except AirflowNotFoundException as err:
        raise AirflowFailException(f"connection not found: {err}") from None
    except EssApiError as err:
        if err.transient:
            raise
        raise AirflowFailException(str(err)) from None


class EssBaseOperator(BaseOperator):
    """What every essbasic operator shares: the Agent (enterprise, operator, AppId) and the connection.

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
        for key, value in RETRY_DEFAULTS.items():
            kwargs.setdefault(key, value)
        super().__init__(**kwargs)
        self.proxy_organization_open_id = proxy_organization_open_id
        self.operator_open_id = operator_open_id
        self.app_id = app_id
        self.ess_conn_id = ess_conn_id

    def make_hook(self) -> EssHook:
        return EssHook(ess_conn_id=self.ess_conn_id)

    def agent(self, hook: EssHook) -> dict[str, Any]:
        org = require_open_id("proxy_organization_open_id", self.proxy_organization_open_id)
        operator = require_open_id("operator_open_id", self.operator_open_id)
        app_id = require_text("app_id", self.app_id, max_len=64) if self.app_id else None
        return hook.agent(org, operator, app_id)


class CreateSealByImageOperator(EssBaseOperator):
    """Create a sub-enterprise's electronic seal (system-drawn or from a PNG/JPG); returns its ``SealId``.

    Idempotent: when a seal of that name exists already (a re-run, or a create whose answer was lost)
    it is found and its ``SealId`` returned, unless ``if_exists="fail"``. The preview URL is pushed to
    XCom as ``image_url``. Every argument is templated; the image comes from ``seal_image_path``
    (absolute, or relative to the DAG file) or ``seal_image_base64``, which is masked in logs and in
    rendered fields.
    """

    template_fields: Sequence[str] = (
        "proxy_organization_open_id", "operator_open_id", "app_id", "seal_name", "seal_type", "generate_source",
        "seal_style", "seal_size", "seal_horizontal_text", "seal_image_path", "seal_image_base64",
        "tax_identify_code", "seal_description", "if_exists",
    )
    ui_color = "#f7d7d9"

    def __init__(
        self,
        *,
        seal_name: str,
        seal_type: str = "OFFICIAL",
        generate_source: str = "",
        seal_style: str = "",
        seal_size: str = "",
        seal_horizontal_text: str = "",
        seal_image_path: str = "",
        seal_image_base64: str = "",
        tax_identify_code: str = "",
        seal_description: str = "",
        if_exists: str = "reuse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.seal_name = seal_name
        self.seal_type = seal_type
        self.generate_source = generate_source
        self.seal_style = seal_style
        self.seal_size = seal_size
        self.seal_horizontal_text = seal_horizontal_text
        self.seal_image_path = seal_image_path
        self.seal_image_base64 = seal_image_base64
        self.tax_identify_code = tax_identify_code
        self.seal_description = seal_description
        self.if_exists = if_exists

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        if self.seal_image_base64:
            from airflow.sdk.log import mask_secret

            # Masked before the rendered fields are stored or shown: an image is data, not something to display.
            mask_secret(self.seal_image_base64)

    def _base_dir(self) -> Path | None:
        fileloc = getattr(getattr(self, "dag", None), "fileloc", None)
        return Path(fileloc).parent if fileloc else None

    def execute(self, context: Context) -> str:
        with failure_policy():
            if self.if_exists not in ("reuse", "fail"):
                raise EssValidationError("if_exists", f"must be 'reuse' or 'fail' (got {self.if_exists!r})")
            has_image = bool(self.seal_image_path or self.seal_image_base64)
            spec = check_seal_spec(
                seal_name=self.seal_name, seal_type=self.seal_type, generate_source=self.generate_source,
                seal_style=self.seal_style, seal_size=self.seal_size, seal_horizontal_text=self.seal_horizontal_text,
                tax_identify_code=self.tax_identify_code, seal_description=self.seal_description, has_image=has_image,
            )
            image = load_seal_image(self.seal_image_path, self.seal_image_base64, self._base_dir())
            hook = self.make_hook()
            agent = self.agent(hook)
            seal_id, image_url, _ = create_or_find_seal(hook, agent, spec.to_params(image), self.if_exists, self.log)
        context["ti"].xcom_push(key="image_url", value=image_url)
        return seal_id


def create_or_find_seal(
    hook: EssHook, agent: dict[str, Any], params: dict[str, Any], if_exists: str, log: Any
) -> tuple[str, str, dict[str, Any] | None]:
    """Create the seal; if its name is taken, find the existing one (or fail if told to).

    Returns (SealId, preview URL, the existing seal as described, or None when this call created it).
    """
    name = params["SealName"]
    try:
        response = hook.call("CreateSealByImage", {"Agent": agent, **params})
    except EssApiError as err:
        if err.code != "FailedOperation.ExistSameSealName":
            raise
        if if_exists == "fail":
            raise AirflowFailException(f"seal_name: a seal named {name!r} exists already and if_exists='fail' ({err})")
        seal = hook.find_seal_by_name(agent, name)
        if seal is None:
            raise EssApiError("ChannelDescribeOrganizationSeals", "InternalError.NotListed",
                              f"seal {name!r} was reported as existing but is not listed yet") from None
        log.info("Seal %r exists already (%s, %s): reusing SealId %s", name, seal.get("SealType"),
                 seal.get("SealStatus"), seal["SealId"])
        return seal["SealId"], seal.get("Url") or "", seal
    log.info("Created seal %r: SealId %s (RequestId %s)", name, response["SealId"], response.get("RequestId"))
    return response["SealId"], response.get("ImageUrl") or "", None


class ChannelCreateSealPolicyOperator(EssBaseOperator):
    """Grant a seal to employees; returns every requested user, who all hold the seal afterwards.

    Users already authorized are skipped by the API; XCom keys ``newly_granted`` and
    ``already_granted`` tell them apart, so a re-run returns the same value.

    :param seal_id: the seal (``create.output`` works and wires the dependency).
    :param user_ids: e-sign UserIds or OpenIds (a list, a JSON list or a comma-separated string).
    """

    template_fields: Sequence[str] = ("proxy_organization_open_id", "operator_open_id", "app_id", "seal_id", "user_ids")
    ui_color = "#d9e7f7"

    def __init__(self, *, seal_id: str, user_ids: list[str] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seal_id = seal_id
        self.user_ids = user_ids

    def execute(self, context: Context) -> list[str]:
        with failure_policy():
            users = parse_user_ids(self.user_ids)
            seal_id = require_text("seal_id", self.seal_id, max_len=64)
            hook = self.make_hook()
            newly, already = grant_seal(hook, self.agent(hook), seal_id, users)
        self.log.info("Seal %s: granted to %s; already held by %s", seal_id, newly or "nobody new", already or "nobody")
        context["ti"].xcom_push(key="newly_granted", value=newly)
        context["ti"].xcom_push(key="already_granted", value=already)
        return users


def grant_seal(hook: EssHook, agent: dict[str, Any], seal_id: str, users: list[str]) -> tuple[list[str], list[str]]:
    """Grant `users`; returns (newly granted, already held) in request order."""
    response = hook.call("ChannelCreateSealPolicy", {"Agent": agent, "SealId": seal_id, "UserIds": users})
    newly_set = set(response.get("UserIds") or [])
    return [u for u in users if u in newly_set], [u for u in users if u not in newly_set]
