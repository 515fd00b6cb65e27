"""Operators: CreateSealByImage → SealId (XCom) → ChannelCreateSealPolicy, thin over `seals.SealOperations`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from .errors import EssValidationError, failure_policy
from .mixins import EssMixin
from .storage import storage_path
from .validation import (
    DEFAULT_SEAL_TYPE,
    check_conf,
    check_options,
    check_seal_spec,
    load_seal_image,
    parse_user_ids,
    require_text,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "ChannelCreateSealPolicyOperator",
    "ChannelDeleteSealPoliciesOperator",
    "ChannelUpdateSealStatusOperator",
    "CheckConfOperator",
    "CreateSealByImageOperator",
    "EssBaseOperator",
]

#: A literal `seal_image_base64` longer than this would be stored in the serialized DAG (the metadata DB).
MAX_LITERAL_IMAGE = 1024


class EssBaseOperator(EssMixin, BaseOperator):
    """Base of the essbasic operators: `EssMixin`'s arguments (the enterprise, the operator, the AppId and the
    connection id) and Airflow's."""


class CreateSealByImageOperator(EssBaseOperator):
    """Create a sub-enterprise's electronic seal (system-drawn or from a PNG/JPG); returns its ``SealId``.

    Idempotent: when a seal of that name exists already (a re-run, or a create whose answer was lost) and
    it is the seal asked for (same type; image vs system-drawn, size), its ``SealId`` is returned, unless
    ``if_exists="fail"``. A seal of that name that differs fails the task, naming the difference. The preview
    URL is pushed to XCom as ``image_url``; where the API asks the operator to verify (face or SMS) before the seal
    takes effect, its link is logged and pushed as ``operator_verify``. Every argument is templated.

    :param seal_name: 1-50 characters, unique within the enterprise (NFC-normalised; no control characters).
    :param seal_type: ``CONTRACT`` (default), ``FINANCE``, ``PERSONNEL``, ``INVOICE``, ``OTHER``, or ``OFFICIAL``
        (the enterprise's one main seal: only when asked for).
    :param generate_source: ``SealGenerateSourceSystem`` (default without an image) or empty (with an image).
    :param seal_style: ``circle`` (default; ``cycle`` accepted) or ``ellipse``; ignored (not sent) for an image.
    :param seal_size: ``W_H`` in mm: a drawn seal's size (default ``42_42``, ellipse ``40_30``), or an image's
        printed size (10-100 mm each, aspect ratio 0.1-10; default: the image's own).
    :param seal_horizontal_text: at most 15 characters.
    :param seal_image_path: a PNG/JPG (≤ 5 MB, ≤ 16 MP), relative to ``image_base_dir``; it may not leave it.
    :param image_base_dir: folder relative image paths resolve against; default the DAG file's folder.
    :param allow_absolute_image_path: accept an absolute ``seal_image_path`` (off by default).
    :param seal_image_base64: the image as base64, masked in logs and rendered fields. Give it through a
        template (``{{ var.value.x }}``, an XCom); a literal over 1 KB is refused, as it would be stored in
        the serialized DAG.
    :param tax_identify_code: INVOICE seals only; the API requires it of enterprises verified by an
        authorization letter.
    :param seal_description: free text.
    :param sub_seal_type: ``SubSealType``, OTHER seals drawn by the system only (apps the vendor enabled).
    :param options: the API's ``Options`` as a mapping, e.g. ``{"SealOperatorVerify": True}`` (the operator then
        verifies by face or SMS; see ``operator_verify``). ``CreateSealPreview`` is refused: it makes no seal.
    :param if_exists: ``reuse`` (default) or ``fail``.
    """

    template_fields: Sequence[str] = (
        "proxy_organization_open_id",
        "operator_open_id",
        "app_id",
        "seal_name",
        "seal_type",
        "generate_source",
        "seal_style",
        "seal_size",
        "seal_horizontal_text",
        "seal_image_path",
        "seal_image_base64",
        "tax_identify_code",
        "seal_description",
        "sub_seal_type",
        "options",
        "if_exists",
        "image_base_dir",
    )
    ui_color = "#f7d7d9"

    def __init__(
        self,
        *,
        seal_name: str,
        seal_type: str | None = DEFAULT_SEAL_TYPE,
        generate_source: str | None = None,
        seal_style: str | None = None,
        seal_size: str | None = None,
        seal_horizontal_text: str | None = None,
        seal_image_path: str | None = None,
        seal_image_base64: str | None = None,
        tax_identify_code: str | None = None,
        seal_description: str | None = None,
        sub_seal_type: str | None = None,
        options: dict[str, Any] | str | None = None,
        if_exists: str = "reuse",
        image_base_dir: str | None = None,
        allow_absolute_image_path: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(seal_image_base64, str)
            and len(seal_image_base64) > MAX_LITERAL_IMAGE
            and "{{" not in seal_image_base64
        ):
            raise ValueError(
                f"{self.task_id}: seal_image_base64 is a literal of {len(seal_image_base64)} characters; it would be "
                "stored in the serialized DAG. Use seal_image_path, or pass the base64 through a template "
                "({{ var.value.my_seal }}, an XCom)."
            )
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
        self.sub_seal_type = sub_seal_type
        self.options = options
        self.if_exists = if_exists
        self.image_base_dir = image_base_dir
        self.allow_absolute_image_path = allow_absolute_image_path

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        super().render_template_fields(context, jinja_env)
        if self.seal_image_base64:
            from airflow.sdk.log import mask_secret

            # Masked before the rendered fields are stored or shown: an image is data, not something to display.
            mask_secret(self.seal_image_base64)

    def _base_dir(self) -> Any:
        if self.image_base_dir:
            return storage_path(self.image_base_dir)  # a folder, or an object-storage URL
        fileloc = getattr(getattr(self, "dag", None), "fileloc", None)
        return Path(fileloc).parent if fileloc else None

    def execute(self, context: Context) -> str:
        with failure_policy():
            if self.if_exists not in ("reuse", "fail"):
                raise EssValidationError("if_exists", f"must be 'reuse' or 'fail' (got {self.if_exists!r})")
            has_image = bool(self.seal_image_path or self.seal_image_base64)
            spec = check_seal_spec(
                seal_name=self.seal_name,
                seal_type=self.seal_type,
                generate_source=self.generate_source,
                seal_style=self.seal_style,
                seal_size=self.seal_size,
                seal_horizontal_text=self.seal_horizontal_text,
                tax_identify_code=self.tax_identify_code,
                seal_description=self.seal_description,
                sub_seal_type=self.sub_seal_type,
                has_image=has_image,
            )
            options = check_options(self.options)
            image = load_seal_image(
                self.seal_image_path,
                self.seal_image_base64,
                self._base_dir(),
                allow_absolute=self.allow_absolute_image_path,
            )
            outcome = self.seals.create_or_reuse(self.agent(), spec, image, if_exists=self.if_exists, options=options)
        context["ti"].xcom_push(key="image_url", value=outcome.image_url)
        if outcome.verify:
            context["ti"].xcom_push(key="operator_verify", value=outcome.verify)
        return outcome.seal_id


class EssSealUsersOperator(EssBaseOperator):
    """Base of the operators that act on a seal for a list of users (grant, revoke).

    :param seal_id: the seal (``create.output`` works and wires the dependency).
    :param user_ids: e-sign UserIds or OpenIds (a list, a JSON list or a comma-separated string).
    """

    template_fields: Sequence[str] = ("proxy_organization_open_id", "operator_open_id", "app_id", "seal_id", "user_ids")

    def __init__(self, *, seal_id: str, user_ids: list[str] | str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seal_id = seal_id
        self.user_ids = user_ids

    def checked(self) -> tuple[str, list[str]]:
        """(SealId, users), checked; `EssValidationError` names a bad field."""
        return require_text("seal_id", self.seal_id, max_len=64), parse_user_ids(self.user_ids)


class ChannelCreateSealPolicyOperator(EssSealUsersOperator):
    """Grant a seal to employees; returns every requested user, who all hold the seal afterwards.

    Users already authorized are skipped by the API; XCom keys ``newly_granted`` and
    ``already_granted`` tell them apart, so a re-run returns the same value.

    :param options: the API's ``Options`` as a mapping, e.g. ``{"SealOperatorVerify": True}``: the operator then
        verifies by face or SMS; the link is logged and pushed to XCom as ``operator_verify``.
    """

    template_fields: Sequence[str] = (*EssSealUsersOperator.template_fields, "options")
    ui_color = "#d9e7f7"

    def __init__(self, *, options: dict[str, Any] | str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.options = options

    def execute(self, context: Context) -> list[str]:
        with failure_policy():
            seal_id, users = self.checked()
            granted = self.seals.grant(self.agent(), seal_id, users, check_options(self.options))
        self.log.info(
            "Seal %s: granted to %s; already held by %s",
            seal_id,
            granted.newly or "nobody new",
            granted.already or "nobody",
        )
        context["ti"].xcom_push(key="newly_granted", value=granted.newly)
        context["ti"].xcom_push(key="already_granted", value=granted.already)
        if granted.verify:
            context["ti"].xcom_push(key="operator_verify", value=granted.verify)
        return users


class ChannelDeleteSealPoliciesOperator(EssSealUsersOperator):
    """Revoke employees' use of a seal (ChannelDeleteSealPolicies); returns the users asked for. Idempotent:
    revoking a user who does not hold the seal is a success.
    """

    ui_color = "#f3e3c3"

    def execute(self, context: Context) -> list[str]:
        with failure_policy():
            seal_id, users = self.checked()
            revoked = self.seals.revoke(self.agent(), seal_id, users)
        self.log.info("Seal %s: revoked from %s", seal_id, revoked)
        return revoked


class ChannelUpdateSealStatusOperator(EssBaseOperator):
    """Disable a seal (ChannelUpdateSealStatus; the API accepts only ``DISABLE``). Idempotent: a seal disabled
    already is a success and nothing is sent. Returns the ``SealId``.

    :param seal_id: the seal.
    :param status: ``DISABLE`` (the only status the API accepts).
    :param reason: why, kept by the platform.
    """

    template_fields: Sequence[str] = (
        "proxy_organization_open_id",
        "operator_open_id",
        "app_id",
        "seal_id",
        "status",
        "reason",
    )
    ui_color = "#e6e6e6"

    def __init__(self, *, seal_id: str, status: str = "DISABLE", reason: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.seal_id = seal_id
        self.status = status
        self.reason = reason

    def execute(self, context: Context) -> str:
        with failure_policy():
            seal_id = require_text("seal_id", self.seal_id, max_len=64)
            if self.status != "DISABLE":
                raise EssValidationError(
                    "status", f"must be 'DISABLE', the only status the API sets (got {self.status!r})"
                )
            reason = require_text("reason", self.reason, max_len=500, min_len=0)
            changed = self.seals.disable(self.agent(), seal_id, reason)
        self.log.info("Seal %s: %s", seal_id, "disabled" if changed else "was disabled already")
        return seal_id


class CheckConfOperator(BaseOperator):
    """First task of a DAG: fails the run, before any API call and without retry, when the run's conf holds a
    key no Param declares (`check_conf`). A plain operator, so that the DAG file needs no `@task` machinery.

    :param known: the Param names the DAG declares.
    """

    ui_color = "#eeeeee"

    def __init__(self, *, known: Iterable[str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.known = sorted(known)

    def execute(self, context: Any) -> None:
        with failure_policy():
            check_conf(context["dag_run"].conf, self.known)
