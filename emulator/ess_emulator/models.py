"""The emulator's state (SQLite) and the business rules of each action, as ESS_API.md states them.

Wire format (HTTP, envelope, signing) lives in `server.py`; this module knows only parameters in,
response dict out, or `ApiError`. Where the docs are silent the strict reading is taken; every such
assumption is marked `ASSUMPTION` here and listed in the README.
"""

from __future__ import annotations

import base64
import binascii
import io
import re
import secrets
import sqlite3
import string
import threading
import time
from typing import Any

from PIL import Image, UnidentifiedImageError

from .fixtures import Fixture, Organization

SEAL_TYPES = ("OFFICIAL", "CONTRACT", "FINANCE", "PERSONNEL", "INVOICE", "OTHER")
CIRCLE_ONLY_TYPES = ("OFFICIAL", "CONTRACT")
SEAL_STYLES = ("circle", "cycle", "ellipse")
CIRCLE_SIZES = ("38_38", "40_40", "42_42", "45_45", "50_50", "58_58")
ELLIPSE_SIZES = ("40_30", "45_30")
GENERATE_SYSTEM = "SealGenerateSourceSystem"
SEAL_STATUSES = ("CHECKING", "SUCCESS", "FAIL", "DISABLE")
MAX_IMAGE_B64 = 10 * 1024 * 1024
MAX_IMAGE_RAW = 5 * 1024 * 1024
_ID_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
_AGENT_KEYS = {"AppId", "ProxyOrganizationOpenId", "ProxyOperator", "ProxyAppId", "ProxyOrganizationId"}
_OPERATOR_KEYS = {"OpenId", "Channel", "CustomUserId", "ClientIp", "ProxyIp"}
_ALLOWED_PARAMS = {
    "CreateSealByImage": {
        "Agent", "SealName", "SealImage", "GenerateSource", "SealType", "SealHorizontalText", "SealStyle",
        "SealSize", "TaxIdentifyCode", "SealDescription", "Options", "Operator",
    },
    "ChannelCreateSealPolicy": {"Agent", "SealId", "UserIds", "Operator", "Organization"},
    "ChannelDeleteSealPolicies": {"Agent", "SealId", "UserIds", "Operator", "Organization"},
    "ChannelDescribeOrganizationSeals": {"Agent", "Limit", "Offset", "InfoType", "SealId", "SealTypes", "SealStatuses"},
}
ACTIONS = tuple(_ALLOWED_PARAMS)


class ApiError(Exception):
    """A documented API error: answered as `{"Response": {"Error": {Code, Message}}}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


_SCHEMA = """
CREATE TABLE IF NOT EXISTS seals (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    seal_id TEXT NOT NULL UNIQUE,
    app_id TEXT NOT NULL,
    org_open_id TEXT NOT NULL,
    seal_name TEXT NOT NULL,
    seal_type TEXT NOT NULL,
    seal_style TEXT NOT NULL,
    seal_size TEXT NOT NULL,
    horizontal_text TEXT NOT NULL,
    from_image INTEGER NOT NULL,
    image_bytes INTEGER NOT NULL,
    created_at REAL NOT NULL,
    review_ready_at REAL NOT NULL,
    review_result TEXT NOT NULL,
    UNIQUE (app_id, org_open_id, seal_name)
);
CREATE TABLE IF NOT EXISTS grants (
    seal_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    named_as TEXT NOT NULL,
    granted_seq INTEGER NOT NULL,
    PRIMARY KEY (seal_id, user_id)
);
"""

_FAIL_REASON = "印章图片审核未通过:图片不清晰或与企业名称不符"


def _new_seal_id() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(32))


class EssBackend:
    """All seals and grants, durable in one SQLite file, with one lock so every rule holds under concurrency."""

    def __init__(self, db_path: str, fixture: Fixture, review_seconds: float = 0.0) -> None:
        self.fixture = fixture
        self.review_seconds = review_seconds
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # ----------------------------------------------------------------- dispatch
    def handle(self, action: str, params: dict[str, Any], host: str) -> dict[str, Any]:
        """Apply one action; returns the Response body without RequestId."""
        unknown = sorted(set(params) - _ALLOWED_PARAMS[action])
        if unknown:
            raise ApiError("UnknownParameter", f"参数 {unknown[0]} 未定义")
        handler = getattr(self, "_" + action)
        with self._lock:
            return handler(params, host)

    # ----------------------------------------------------------------- shared rules
    def _agent(self, params: dict[str, Any]) -> tuple[str, Organization, str]:
        agent = params.get("Agent")
        if not isinstance(agent, dict):
            raise ApiError("MissingParameter", "缺少参数 Agent")
        extra = sorted(set(agent) - _AGENT_KEYS)
        if extra:
            raise ApiError("UnknownParameter", f"参数 Agent.{extra[0]} 未定义")
        app_id = agent.get("AppId")
        if not isinstance(app_id, str) or not app_id:
            raise ApiError("MissingParameter", "缺少参数 Agent.AppId")
        org_id = _agent_id(agent, "ProxyOrganizationOpenId", "Agent.ProxyOrganizationOpenId",
                           "MissingParameter.OrganizationId")
        operator = agent.get("ProxyOperator")
        if not isinstance(operator, dict):
            raise ApiError("MissingParameter", "缺少参数 Agent.ProxyOperator")
        extra = sorted(set(operator) - _OPERATOR_KEYS)
        if extra:
            raise ApiError("UnknownParameter", f"参数 Agent.ProxyOperator.{extra[0]} 未定义")
        operator_id = _agent_id(operator, "OpenId", "Agent.ProxyOperator.OpenId", "MissingParameter")
        org = self.fixture.organizations.get((app_id, org_id))
        # ASSUMPTION: an unknown AppId, like an unknown or unverified enterprise, is ResourceNotFound.Organization.
        if org is None or not org.verified:
            raise ApiError("ResourceNotFound.Organization", "子客企业不存在或未完成实名认证")
        employee = org.find_employee(operator_id)
        if employee is None or employee.open_id != operator_id or not employee.verified:
            raise ApiError("ResourceNotFound.VerifyUser", "经办人不存在或未完成实名认证")
        return app_id, org, operator_id

    def _status(self, row: sqlite3.Row, now: float | None = None) -> str:
        if not row["from_image"]:
            return "SUCCESS"
        if (now or time.time()) < row["review_ready_at"]:
            return "CHECKING"
        return row["review_result"]

    @staticmethod
    def image_url(host: str, seal_id: str) -> str:
        return f"http://{host}/_emulator/seal-images/{seal_id}.png"

    def _seal_for(self, app_id: str, org: Organization, seal_id: str) -> sqlite3.Row:
        row = self._db.execute(
            "SELECT * FROM seals WHERE seal_id=? AND app_id=? AND org_open_id=?", (seal_id, app_id, org.open_id)
        ).fetchone()
        if row is None:
            raise ApiError("ResourceNotFound", "印章不存在")
        return row

    @staticmethod
    def _user_ids(params: dict[str, Any]) -> list[str]:
        if not isinstance(params.get("SealId"), str) or not params["SealId"]:
            raise ApiError("InvalidParameter.ParamError", "缺失印章ID")
        user_ids = params.get("UserIds")
        if not isinstance(user_ids, list) or not user_ids:
            raise ApiError("InvalidParameter.ParamError", "缺失授权用户Id")
        for user_id in user_ids:
            if not isinstance(user_id, str) or not _ID_RE.match(user_id):
                raise ApiError("InvalidParameter.ParamError", "无效的授权用户Id")
        return list(dict.fromkeys(user_ids))

    # ----------------------------------------------------------------- actions
    def _CreateSealByImage(self, params: dict[str, Any], host: str) -> dict[str, Any]:
        app_id, org, _ = self._agent(params)
        name = params.get("SealName")
        if name is None or name == "":
            raise ApiError("MissingParameter.SealName", "缺少参数 SealName")
        if not isinstance(name, str):
            raise ApiError("InvalidParameter.ParamError", "SealName 必须是字符串")
        if len(name) > 50:
            raise ApiError("InvalidParameter.LimitSealName", "印章名称长度超出50个字符")
        seal_type = params.get("SealType") or "OFFICIAL"
        if seal_type not in SEAL_TYPES:
            raise ApiError("InvalidParameter.ParamError", f"SealType 取值无效: {seal_type}")
        source = params.get("GenerateSource") or ""
        if source not in ("", GENERATE_SYSTEM):
            raise ApiError("InvalidParameter.ParamError", f"GenerateSource 取值无效: {source}")
        style = params.get("SealStyle") or "circle"
        if style not in SEAL_STYLES:
            raise ApiError("InvalidParameter.ParamError", f"SealStyle 取值无效: {style}")
        is_ellipse = style == "ellipse"
        if is_ellipse and seal_type in CIRCLE_ONLY_TYPES:
            raise ApiError("InvalidParameter.ParamError", f"{seal_type} 类型印章只支持圆形")
        # ASSUMPTION: the docs give 42_42 as the default size; for an ellipse (where 42_42 is no size) it is 40_30.
        size = params.get("SealSize") or ("40_30" if is_ellipse else "42_42")
        if size not in (ELLIPSE_SIZES if is_ellipse else CIRCLE_SIZES):
            raise ApiError("InvalidParameter.ParamError", f"SealSize {size} 与 SealStyle {style} 不匹配")
        text = params.get("SealHorizontalText") or ""
        if not isinstance(text, str) or len(text) > 15:
            raise ApiError("InvalidParameter.ParamError", "SealHorizontalText 最多15个字")
        # ASSUMPTION: TaxIdentifyCode is "only used with INVOICE"; the strict reading refuses it elsewhere.
        if params.get("TaxIdentifyCode") and seal_type != "INVOICE":
            raise ApiError("InvalidParameter.ParamError", "TaxIdentifyCode 仅适用于 INVOICE 类型印章")
        image = params.get("SealImage") or ""
        if not image and not source:
            raise ApiError("MissingParameter.SealImage", "缺少参数 SealImage")
        # ASSUMPTION: an image together with system generation is ambiguous; the strict reading refuses it.
        if image and source:
            raise ApiError("InvalidParameter.ParamError", "SealImage 与 GenerateSource 不能同时指定")
        image_bytes = _check_image(image) if image else 0

        if self._db.execute(
            "SELECT 1 FROM seals WHERE app_id=? AND org_open_id=? AND seal_name=?", (app_id, org.open_id, name)
        ).fetchone():
            raise ApiError("FailedOperation.ExistSameSealName", "存在同名印章")
        if seal_type == "OFFICIAL":
            now = time.time()
            for row in self._db.execute(
                "SELECT * FROM seals WHERE app_id=? AND org_open_id=? AND seal_type='OFFICIAL'", (app_id, org.open_id)
            ):
                if self._status(row, now) != "FAIL":
                    raise ApiError("OperationDenied.AlreadyHas", "企业已存在公章")
        seal_id = _new_seal_id()
        created = time.time()
        self._db.execute(
            "INSERT INTO seals (seal_id, app_id, org_open_id, seal_name, seal_type, seal_style, seal_size,"
            " horizontal_text, from_image, image_bytes, created_at, review_ready_at, review_result)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (seal_id, app_id, org.open_id, name, seal_type, style, size, text, int(bool(image)), image_bytes,
             created, created + self.review_seconds, org.review_result),
        )
        return {"SealId": seal_id, "ImageUrl": "" if image else self.image_url(host, seal_id)}

    def _ChannelCreateSealPolicy(self, params: dict[str, Any], host: str) -> dict[str, Any]:
        user_ids = self._user_ids(params)
        app_id, org, _ = self._agent(params)
        seal = self._seal_for(app_id, org, params["SealId"])
        resolved = []
        for some_id in user_ids:
            employee = org.find_employee(some_id)
            if employee is None or not employee.verified:
                raise ApiError("InvalidParameter.ParamError", "无效的授权用户Id")
            resolved.append((some_id, employee.user_id))
        # ASSUMPTION: only an approved seal can be granted; CHECKING and FAIL seals are refused.
        status = self._status(seal)
        if status != "SUCCESS":
            raise ApiError("InvalidParameter.ParamError", f"印章状态为 {status},不能授权")
        granted = []
        for named_as, user_id in resolved:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO grants (seal_id, user_id, named_as, granted_seq)"
                " VALUES (?,?,?,(SELECT COALESCE(MAX(granted_seq),0)+1 FROM grants))",
                (seal["seal_id"], user_id, named_as),
            )
            if cursor.rowcount:
                granted.append(named_as)
        return {"UserIds": granted}

    def _ChannelDeleteSealPolicies(self, params: dict[str, Any], host: str) -> dict[str, Any]:
        user_ids = self._user_ids(params)
        app_id, org, _ = self._agent(params)
        seal = self._seal_for(app_id, org, params["SealId"])
        for some_id in user_ids:
            employee = org.find_employee(some_id)
            if employee is None:
                raise ApiError("InvalidParameter.ParamError", "无效的授权用户Id")
            self._db.execute("DELETE FROM grants WHERE seal_id=? AND user_id=?", (seal["seal_id"], employee.user_id))
        return {}

    def _ChannelDescribeOrganizationSeals(self, params: dict[str, Any], host: str) -> dict[str, Any]:
        app_id, org, _ = self._agent(params)
        limit = _int_param(params, "Limit", 20, 1, 100)
        offset = _int_param(params, "Offset", 0, 0, 20000)
        info_type = _int_param(params, "InfoType", 0, 0, 1)
        statuses = _list_param(params, "SealStatuses", SEAL_STATUSES + ("ALL",))
        types = _list_param(params, "SealTypes", SEAL_TYPES)
        seal_id = params.get("SealId") or ""
        now = time.time()
        rows = []
        for row in self._db.execute(
            "SELECT * FROM seals WHERE app_id=? AND org_open_id=? ORDER BY seq", (app_id, org.open_id)
        ):
            status = self._status(row, now)
            if seal_id and row["seal_id"] != seal_id:
                continue
            if types and row["seal_type"] not in types:
                continue
            if "ALL" not in statuses and status not in (statuses or ["SUCCESS"]):
                continue
            rows.append((row, status))
        seals = []
        for row, status in rows[offset : offset + limit]:
            seal: dict[str, Any] = {
                "SealId": row["seal_id"],
                "SealName": row["seal_name"],
                "SealType": row["seal_type"],
                "SealStatus": status,
                "FailReason": _FAIL_REASON if status == "FAIL" else "",
                "CreateOn": int(row["created_at"]),
                "Url": "" if row["from_image"] else self.image_url(host, row["seal_id"]),
            }
            if info_type == 1:
                seal["AuthorizedUsers"] = [
                    _authorized_user(org, grant["user_id"])
                    for grant in self._db.execute(
                        "SELECT user_id FROM grants WHERE seal_id=? ORDER BY granted_seq", (row["seal_id"],)
                    )
                ]
            seals.append(seal)
        return {"TotalCount": len(rows), "Seals": seals}

    # ----------------------------------------------------------------- inspection
    def seal_row(self, seal_id: str) -> sqlite3.Row | None:
        with self._lock:
            return self._db.execute("SELECT * FROM seals WHERE seal_id=?", (seal_id,)).fetchone()

    def snapshot(self) -> list[dict[str, Any]]:
        """Every seal with its grants, for `GET /_emulator/state`."""
        with self._lock:
            now = time.time()
            grants: dict[str, list[str]] = {}
            for grant in self._db.execute("SELECT seal_id, named_as FROM grants ORDER BY granted_seq"):
                grants.setdefault(grant["seal_id"], []).append(grant["named_as"])
            return [
                {
                    "seal_id": row["seal_id"],
                    "app_id": row["app_id"],
                    "organization_open_id": row["org_open_id"],
                    "seal_name": row["seal_name"],
                    "seal_type": row["seal_type"],
                    "seal_status": self._status(row, now),
                    "authorized_user_ids": grants.get(row["seal_id"], []),
                }
                for row in self._db.execute("SELECT * FROM seals ORDER BY seq")
            ]


def _agent_id(container: dict[str, Any], key: str, label: str, missing_code: str) -> str:
    """A required Agent identifier: a non-empty string of at most 64 characters."""
    value = container.get(key)
    if not isinstance(value, str) or not value:
        raise ApiError(missing_code, f"缺少参数 {label}")
    if len(value) > 64:
        raise ApiError("InvalidParameter.ParamError", f"{label} 长度不能超过64")
    return value


def _authorized_user(org: Organization, user_id: str) -> dict[str, str]:
    employee = org.find_employee(user_id)
    return {"UserId": user_id, "OpenId": employee.open_id if employee else ""}


def _int_param(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ApiError("InvalidParameter.ParamError", f"{name} 取值范围为 {low}-{high}")
    return value


def _list_param(params: dict[str, Any], name: str, allowed: tuple[str, ...]) -> list[str]:
    value = params.get(name) or []
    if not isinstance(value, list) or any(item not in allowed for item in value):
        raise ApiError("InvalidParameter.ParamError", f"{name} 取值无效")
    return value


def _check_image(encoded: Any) -> int:
    """Decode and check a SealImage; returns its raw size. PNG or JPG, ≤ 10 MB encoded, ≤ 5 MB raw."""
    if not isinstance(encoded, str):
        raise ApiError("InvalidParameter.Image", "SealImage 必须是 base64 字符串")
    if len(encoded) > MAX_IMAGE_B64:
        raise ApiError("InvalidParameter.Image", "图片 base64 超过 10M")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError("InvalidParameter.Image", "SealImage 不是合法的 base64") from None
    if len(raw) > MAX_IMAGE_RAW:
        raise ApiError("InvalidParameter.Image", "原始图片超过 5M")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.format not in ("PNG", "JPEG"):
                raise ApiError("InvalidParameter.Image", "只支持 PNG 或 JPG 图片")
            img.load()  # a truncated file fails here, not at open()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise ApiError("InvalidParameter.Image", "图片不正确,无法解码") from None
    return len(raw)
