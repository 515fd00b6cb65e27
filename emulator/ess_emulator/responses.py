"""The actions' wire format: one method per action reads and checks its JSON parameters, calls the model
(`models.py`) and shapes the `Response` body (without RequestId, which `server.py` adds).

Parameter names follow the SDK's request classes (`tencentcloud/essbasic/v20210526/models.py`); a name an
action does not define is `UnknownParameter`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from .exceptions import (
    EssError,
    InvalidImage,
    MissingOrganizationId,
    MissingParameter,
    MissingSealName,
    ParamError,
    SealNameTooLong,
    UnknownParameter,
)
from .models import (
    GENERATE_SYSTEM,
    MORE_FILTER_TYPES,
    SEAL_STATUSES,
    SEAL_STYLES,
    SEAL_TYPES,
    Agent,
    EssBackend,
    Seal,
    SealSpec,
)

MAX_IMAGE_B64 = 10 * 1024 * 1024
_ID_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
_AGENT_KEYS = {"AppId", "ProxyOrganizationOpenId", "ProxyOperator", "ProxyAppId", "ProxyOrganizationId"}
_OPERATOR_KEYS = {"OpenId", "Channel", "CustomUserId", "ClientIp", "ProxyIp"}
# Each action's parameters (the SDK request class's fields); `Operator` and `Organization` are deprecated
# ("不用传"): accepted and ignored.
PARAMETERS = {
    "CreateSealByImage": {
        "Agent",
        "SealName",
        "SealImage",
        "GenerateSource",
        "SealType",
        "SealHorizontalText",
        "SealStyle",
        "SealSize",
        "TaxIdentifyCode",
        "SealDescription",
        "Options",
        "Operator",
        "SubSealType",
    },
    "ChannelCreateSealPolicy": {"Agent", "SealId", "UserIds", "Operator", "Organization", "Options"},
    "ChannelDeleteSealPolicies": {"Agent", "SealId", "UserIds", "Operator", "Organization"},
    "ChannelDescribeOrganizationSeals": {"Agent", "Limit", "Offset", "InfoType", "SealId", "SealTypes", "SealStatuses"},
    "ChannelUpdateSealStatus": {"Agent", "SealId", "Status", "Reason", "Operator", "Options"},
}
ACTIONS = tuple(PARAMETERS)


def preview_url(host: str, seal_id: str) -> str:
    """Where `GET` serves a system seal's drawing (the `ImageUrl` / `Url` the API answers)."""
    return f"http://{host}/_emulator/seal-images/{seal_id}.png"


def verify_links(host: str, options: dict[str, str], subject: str) -> dict[str, str]:
    """`SealOperatorVerifyPath` / `SealOperatorVerifyQrcodeUrl`: where the operator verifies (face or SMS) when
    Options `SealOperatorVerify=true`; empty otherwise. ASSUMPTION: the path is a mini-program page, the QR code
    an https image; the emulator answers stable fake ones that name the subject."""
    if options.get("SealOperatorVerify") != "true":
        return {"SealOperatorVerifyPath": "", "SealOperatorVerifyQrcodeUrl": ""}
    return {
        "SealOperatorVerifyPath": f"pages/guide/index?verify={subject}",
        "SealOperatorVerifyQrcodeUrl": f"http://{host}/_emulator/verify/{subject}.png",
    }


class EssResponses:
    """Parameters in, Response body out, for each action."""

    def __init__(self, backend: EssBackend) -> None:
        self.backend = backend
        self._methods: dict[str, Callable[[dict[str, Any], str], dict[str, Any]]] = {
            "CreateSealByImage": self.create_seal_by_image,
            "ChannelCreateSealPolicy": self.channel_create_seal_policy,
            "ChannelDeleteSealPolicies": self.channel_delete_seal_policies,
            "ChannelDescribeOrganizationSeals": self.channel_describe_organization_seals,
            "ChannelUpdateSealStatus": self.channel_update_seal_status,
        }

    def dispatch(self, action: str, params: dict[str, Any], host: str) -> dict[str, Any]:
        """Apply one action (one of ACTIONS); `host` is the request's Host, for preview URLs."""
        unknown = sorted(set(params) - PARAMETERS[action])
        if unknown:
            raise UnknownParameter(unknown[0])
        return self._methods[action](params, host)

    # ----------------------------------------------------------------- actions
    def create_seal_by_image(self, params: dict[str, Any], host: str) -> dict[str, Any]:
        agent = self._agent(params)
        name = params.get("SealName")
        if name is None or name == "":
            raise MissingSealName
        if not isinstance(name, str):
            raise ParamError("SealName 必须是字符串")
        if len(name) > 50:
            raise SealNameTooLong
        seal_type = _choice(params, "SealType", SEAL_TYPES, "OFFICIAL")
        source = _choice(params, "GenerateSource", ("", GENERATE_SYSTEM), "")
        style = _choice(params, "SealStyle", SEAL_STYLES, "circle")
        text = _text(params, "SealHorizontalText")
        if len(text) > 15:
            raise ParamError("SealHorizontalText 最多15个字")
        options = _options(params)
        preview = options.get("CreateSealPreview") == "true"
        seal = self.backend.create_seal(
            agent,
            SealSpec(
                name=name,
                seal_type=seal_type,
                generate_source=source,
                style=style,
                size=_text(params, "SealSize"),
                horizontal_text=text,
                description=_text(params, "SealDescription"),
                tax_identify_code=_text(params, "TaxIdentifyCode"),
                sub_seal_type=_text(params, "SubSealType"),
                image=_image(params),
            ),
            preview=preview,
        )
        # A preview makes no seal: SealId "" and the drawing's preview files (the SDK's CreateSealPreview).
        answered = "" if preview or (seal.from_image and "empty-image-id" in self.backend.profiles) else seal.seal_id
        drawn = "" if seal.from_image or preview else preview_url(host, seal.seal_id)
        preview_files = {
            "PreviewFileUrl": f"http://{host}/_emulator/preview/{name}.png" if preview else "",
            "PreviewPdfUrl": f"http://{host}/_emulator/preview/{name}.pdf" if preview else "",
        }
        return {
            "SealId": answered,
            "ImageUrl": drawn,
            **preview_files,
            **verify_links(host, options, seal.seal_id or "preview"),
        }

    def channel_create_seal_policy(self, params: dict[str, Any], host: str) -> dict[str, Any]:
        seal_id, user_ids = _seal_id(params), _user_ids(params)
        options = _options(params)
        granted = self.backend.grant(self._agent(params), seal_id, user_ids)
        return {"UserIds": granted, **verify_links(host, options, seal_id)}

    def channel_delete_seal_policies(self, params: dict[str, Any], host: str) -> dict[str, Any]:
        seal_id, user_ids = _seal_id(params), _user_ids(params)
        self.backend.revoke(self._agent(params), seal_id, user_ids)
        return {}

    def channel_update_seal_status(self, params: dict[str, Any], host: str) -> dict[str, Any]:
        seal_id = _seal_id(params)
        status = params.get("Status")
        if status is None or status == "":
            raise MissingParameter("缺少参数 Status")
        if status != "DISABLE":
            raise ParamError("Status 只支持 DISABLE")
        reason = _text(params, "Reason")
        options = _options(params)
        self.backend.disable_seal(self._agent(params), seal_id, reason)
        # ASSUMPTION (the docs are silent): with the default options no face verification is asked: both links empty.
        return verify_links(host, options, seal_id)

    def channel_describe_organization_seals(self, params: dict[str, Any], host: str) -> dict[str, Any]:
        agent = self._agent(params)
        # Leniency the demo kit shows: a Limit above 100 is served as 100; any InfoType but 1 answers no users.
        limit = min(_int(params, "Limit", 20, 1, 2**31 - 1), 100)
        offset = _int(params, "Offset", 0, 0, 20000)
        info_type = _int(params, "InfoType", 0, 0, 2**31 - 1)
        statuses = _list(params, "SealStatuses", SEAL_STATUSES + ("ALL",))
        types = _list(params, "SealTypes", SEAL_TYPES + MORE_FILTER_TYPES, prefix="OTHER_")
        total, seals = self.backend.describe_seals(
            agent,
            seal_id=params.get("SealId") or "",
            types=types,
            statuses=statuses,
            offset=offset,
            limit=limit,
            with_users=info_type == 1,
        )
        return {
            "TotalCount": total,
            "Seals": [_occupied_seal(agent, seal, host, info_type == 1, self.backend.profiles) for seal in seals],
        }

    # ----------------------------------------------------------------- the Agent structure
    def _agent(self, params: dict[str, Any]) -> Agent:
        agent = _struct(params, "Agent", "Agent", _AGENT_KEYS)
        app_id = agent.get("AppId")
        if not isinstance(app_id, str) or not app_id:
            raise MissingParameter("缺少参数 Agent.AppId")
        org_id = _agent_id(agent, "ProxyOrganizationOpenId", "Agent.ProxyOrganizationOpenId", MissingOrganizationId)
        operator = _struct(agent, "ProxyOperator", "Agent.ProxyOperator", _OPERATOR_KEYS)
        operator_id = _agent_id(operator, "OpenId", "Agent.ProxyOperator.OpenId", MissingParameter)
        return self.backend.agent(app_id, org_id, operator_id)


# --------------------------------------------------------------------- one parameter each
def _occupied_seal(
    agent: Agent, seal: Seal, host: str, with_users: bool, profiles: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """One row of `Seals`: the fields of the SDK's `OccupiedSeal` that the emulator knows."""
    width, height = seal.real_size_mm(physical="image-size" in profiles)
    row: dict[str, Any] = {
        "SealId": seal.seal_id,
        "SealName": seal.name,
        "SealType": seal.seal_type,
        "SealStatus": seal.status,
        "FailReason": seal.fail_reason,
        "CreateOn": int(seal.created_at * (1000 if "createon-ms" in profiles else 1)),
        "Url": "" if seal.from_image else preview_url(host, seal.seal_id),
        "RealWidth": width,
        "RealHeight": height,
        "SealDescription": seal.description,
    }
    row["AuthorizedUsers"] = []  # InfoType=0 (or any but 1): present and empty (the demo kit)
    if with_users:
        for user_id in seal.authorized_user_ids:
            employee = agent.organization.find_employee(user_id)
            # The SDK's AuthorizedUser has only OpenId: a client cannot map a holder back to a 32-character UserId.
            row["AuthorizedUsers"].append({"OpenId": employee.open_id if employee else ""})
    return row


def _struct(container: dict[str, Any], key: str, label: str, fields: set[str]) -> dict[str, Any]:
    """A required structure (`Agent`, `Agent.ProxyOperator`) holding none but its documented fields."""
    value = container.get(key)
    if not isinstance(value, dict):
        raise MissingParameter(f"缺少参数 {label}")
    extra = sorted(set(value) - fields)
    if extra:
        raise UnknownParameter(f"{label}.{extra[0]}")
    return value


def _agent_id(container: dict[str, Any], key: str, label: str, missing: type[EssError]) -> str:
    """A required Agent identifier: a non-empty string of at most 64 characters."""
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise missing(f"缺少参数 {label}")
    if len(value) > 64:
        raise ParamError(f"{label} 长度不能超过64")
    return value


def _seal_id(params: dict[str, Any]) -> str:
    seal_id = params.get("SealId")
    if not isinstance(seal_id, str) or not seal_id:
        raise ParamError("缺失印章ID")
    return seal_id


def _user_ids(params: dict[str, Any]) -> list[str]:
    """UserIds: a non-empty list of OpenIds or UserIds (letters and digits, ≤ 64); repeats dropped."""
    user_ids = params.get("UserIds")
    if not isinstance(user_ids, list) or not user_ids:
        raise ParamError("缺失授权用户Id")
    for user_id in user_ids:
        if not isinstance(user_id, str) or not _ID_RE.match(user_id):
            raise ParamError("无效的授权用户Id")
    return list(dict.fromkeys(user_ids))


def _text(params: dict[str, Any], name: str) -> str:
    """An optional string parameter; absent or null is ""."""
    value = params.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ParamError(f"{name} 必须是字符串")
    return value


def _choice(params: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(name) or default
    if value not in allowed:
        raise ParamError(f"{name} 取值无效: {value}")
    return value


def _int(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ParamError(f"{name} 取值范围为 {low}-{high}")
    return value


def _list(params: dict[str, Any], name: str, allowed: tuple[str, ...], prefix: str = "") -> list[str]:
    """A list of known values (or, with `prefix`, values that start with it)."""
    value = params.get(name) or []
    if not isinstance(value, list) or any(
        not isinstance(item, str) or (item not in allowed and not (prefix and item.startswith(prefix)))
        for item in value
    ):
        raise ParamError(f"{name} 取值无效")
    return value


def _options(params: dict[str, Any]) -> dict[str, str]:
    """`Options`: a list of `{Key, Value}` strings, as a dict.

    The keys the SDK's docstrings show are acted on: `SealOperatorVerify=true` (verification links answered) and,
    on CreateSealByImage, `CreateSealPreview=true` (nothing made). ASSUMPTION: other well-formed options are
    accepted and change nothing; a malformed list is `InvalidParameter.ParamError`.
    """
    options = params.get("Options")
    if options is None:
        return {}
    if not isinstance(options, list) or not all(
        isinstance(option, dict)
        and set(option) <= {"Key", "Value"}
        and all(isinstance(value, str) for value in option.values())
        for option in options
    ):
        raise ParamError("Options 必须是 {Key, Value} 的列表")
    return {option.get("Key", ""): option.get("Value", "") for option in options}


def _image(params: dict[str, Any]) -> bytes | None:
    """SealImage decoded from base64 (≤ 10 MB encoded); None when absent or empty."""
    encoded = params.get("SealImage")
    if encoded is None or encoded == "":
        return None
    if not isinstance(encoded, str):
        raise InvalidImage("SealImage 必须是 base64 字符串")
    if len(encoded) > MAX_IMAGE_B64:
        raise InvalidImage("图片 base64 超过 10M")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidImage("SealImage 不是合法的 base64") from None
