"""The emulator's state (seals and grants, durable in SQLite) and the rules that hold over it, as typed methods.

No wire format here: `responses.py` reads each action's parameters and calls these methods; `server.py`
speaks HTTP. Errors are the classes of `exceptions.py`. Where the API docs are silent the strict reading is
taken; every such assumption is marked `ASSUMPTION` here and listed in the README.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from .exceptions import (
    ApplicationNotFound,
    FailedOperation,
    InvalidImage,
    MissingParameter,
    MissingSealImage,
    OfficialSealExists,
    OperatorHasNoPermission,
    OperatorNotFound,
    OrganizationClosing,
    OrganizationNotFound,
    ParamError,
    SealNameExists,
    SealNotFound,
)
from .fixtures import Employee, Fixture, Organization

SEAL_TYPES = ("OFFICIAL", "CONTRACT", "FINANCE", "PERSONNEL", "INVOICE", "OTHER")
CIRCLE_ONLY_TYPES = ("OFFICIAL", "CONTRACT")
SEAL_STYLES = ("circle", "cycle", "ellipse")
CIRCLE_SIZES = ("38_38", "40_40", "42_42", "45_45", "50_50", "58_58")
ELLIPSE_SIZES = ("40_30", "45_30")
GENERATE_SYSTEM = "SealGenerateSourceSystem"
#: What the SealStatuses filter accepts (the SDK's list: STOPPED, VOID, INVALID since Go v1.0.953); the emulator's
#: seals take the first five (CHECKING-SADM only under the `sadm` profile).
SEAL_STATUSES = ("CHECKING", "CHECKING-SADM", "SUCCESS", "FAIL", "DISABLE", "STOPPED", "VOID", "INVALID")
#: An image seal's custom `SealSize` (Go SDK v1.3.143): `W_H` in mm, each 10-100, aspect ratio 0.1-10.
IMAGE_SIZE_MM = (10, 100)
IMAGE_ASPECT = (0.1, 10.0)
#: What the SealTypes filter accepts besides SEAL_TYPES (the demo kit): two more types and any `OTHER_…`.
MORE_FILTER_TYPES = ("LEGAL_PERSON_SEAL", "EMPLOYEE_QUALIFICATION_SEAL")
MAX_IMAGE_RAW = 5 * 1024 * 1024
FAIL_REASON = "印章图片审核未通过:图片不清晰或与企业名称不符"

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
    description TEXT NOT NULL DEFAULT '',
    disabled_at REAL,
    disable_reason TEXT NOT NULL DEFAULT '',
    UNIQUE (app_id, org_open_id, seal_name)
);
CREATE TABLE IF NOT EXISTS grants (
    seal_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    named_as TEXT NOT NULL,
    granted_seq INTEGER NOT NULL,
    PRIMARY KEY (seal_id, user_id)
);
-- Each grant takes MAX(granted_seq) + 1: without this index every grant scanned the whole table, and a run of
-- 100,000 tenants slowed from 240 to 85 tenants/s as the table grew (bench stage 9).
CREATE INDEX IF NOT EXISTS grants_by_seq ON grants (granted_seq);
"""
# Columns added after the first release: a database file written by an older emulator gains them on open.
_ADDED_COLUMNS = {
    "sadm_at": "REAL",
    "description": "TEXT NOT NULL DEFAULT ''",
    "disabled_at": "REAL",
    "disable_reason": "TEXT NOT NULL DEFAULT ''",
}


@dataclass(frozen=True)
class Agent:
    """The caller a request's `Agent` names, resolved against the fixture: app, enterprise and operator."""

    app_id: str
    organization: Organization
    operator: Employee


@dataclass(frozen=True)
class SealSpec:
    """What CreateSealByImage asks for, as read off the wire (an empty style or size means the default)."""

    name: str
    seal_type: str = "OFFICIAL"
    generate_source: str = ""
    style: str = ""
    size: str = ""
    horizontal_text: str = ""
    description: str = ""
    tax_identify_code: str = ""
    sub_seal_type: str = ""
    image: bytes | None = None  # decoded; checked, measured, never stored


@dataclass(frozen=True)
class Seal:
    """A seal as stored, with its status at the moment it was read."""

    seal_id: str
    app_id: str
    org_open_id: str
    name: str
    seal_type: str
    style: str
    size: str
    horizontal_text: str
    description: str
    from_image: bool
    created_at: float
    status: str
    authorized_user_ids: tuple[str, ...] = ()

    @property
    def fail_reason(self) -> str:
        return FAIL_REASON if self.status == "FAIL" else ""

    def real_size_mm(self, physical: bool = False) -> tuple[int, int]:
        """(width, height) in mm, from `SealSize` `W_H`.

        ASSUMPTION (no source says): a seal made from an uploaded image reports (0, 0); under the `image-size`
        profile (`physical`) it reports its physical size instead: the custom size asked for, else 42×42.
        """
        if self.from_image and not physical:
            return 0, 0
        width, height = (self.size or "42_42").split("_")
        return int(width), int(height)


#: Readings of the API no source settles, each one the emulator can play (`--profile`); the product must work
#: under all of them (ESS_API.md, "Other readings"). Without a profile the emulator plays the documented reading.
PROFILES = {
    "sadm": "an image seal waits for the enterprise super-admin (CHECKING-SADM) for the second half of its review",
    "id33": "SealIds are 33 characters with an '=' (an SDK example) instead of 32 letters and digits",
    "empty-image-id": "CreateSealByImage answers SealId '' for an image seal (an old CLI example)",
    "createon-ms": "CreateOn is in milliseconds instead of seconds",
    "image-size": "image seals report their physical size in RealWidth/RealHeight (the size asked for, else 42x42) "
    "instead of 0x0",
    "no-query-permission": "no operator holds the seal-query permission: every ChannelDescribeOrganizationSeals "
    "answers OperationDenied.OperatorHasNoPermission",
}


def check_profiles(profiles: Iterable[str]) -> frozenset[str]:
    """The profiles asked for; an unknown one is refused, naming the known ones."""
    chosen = frozenset(p for p in profiles if p)
    unknown = sorted(chosen - set(PROFILES))
    if unknown:
        raise ValueError(f"unknown profile {', '.join(unknown)}; known: {', '.join(sorted(PROFILES))}")
    return chosen


def _new_seal_id(profiles: frozenset[str] = frozenset()) -> str:
    alphabet = string.ascii_letters + string.digits
    seal_id = "".join(secrets.choice(alphabet) for _ in range(32))
    return seal_id[:28] + "=" + seal_id[28:] if "id33" in profiles else seal_id


def _status(row: sqlite3.Row, now: float) -> str:
    if row["disabled_at"] is not None:
        return "DISABLE"
    if not row["from_image"]:
        return "SUCCESS"
    if now < row["review_ready_at"]:
        sadm_at = row["sadm_at"]
        return "CHECKING-SADM" if sadm_at is not None and now >= sadm_at else "CHECKING"
    return row["review_result"]


def _seal(row: sqlite3.Row, now: float, authorized: tuple[str, ...] = ()) -> Seal:
    return Seal(
        seal_id=row["seal_id"],
        app_id=row["app_id"],
        org_open_id=row["org_open_id"],
        name=row["seal_name"],
        seal_type=row["seal_type"],
        style=row["seal_style"],
        size=row["seal_size"],
        horizontal_text=row["horizontal_text"],
        description=row["description"],
        from_image=bool(row["from_image"]),
        created_at=row["created_at"],
        status=_status(row, now),
        authorized_user_ids=authorized,
    )


class EssBackend:
    """All seals and grants, durable in one SQLite file, behind one lock so every rule holds under concurrency."""

    def __init__(
        self, db_path: str, fixture: Fixture, review_seconds: float = 0.0, profiles: Iterable[str] = ()
    ) -> None:
        self.fixture = fixture
        self.review_seconds = review_seconds
        self.profiles = check_profiles(profiles)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(db_path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
        self._db.executescript(_SCHEMA)
        present = {column["name"] for column in self._db.execute("PRAGMA table_info(seals)")}
        for name, declaration in _ADDED_COLUMNS.items():
            if name not in present:
                self._db.execute(f"ALTER TABLE seals ADD COLUMN {name} {declaration}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """The lock and one SQLite transaction: a change is applied whole or not at all."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # ----------------------------------------------------------------- who is calling
    def agent(self, app_id: str, org_open_id: str, operator_open_id: str) -> Agent:
        """The enterprise and operator an `Agent` names; both must exist and be verified."""
        # An unknown AppId is ResourceNotFound.Application (the Go SDK's client lists it for every channel action);
        # checked before the enterprise, which can only be looked up within an application.
        if app_id not in self.fixture.app_ids:
            raise ApplicationNotFound
        org = self.fixture.organizations.get((app_id, org_open_id))
        if org is None or not org.verified:
            raise OrganizationNotFound
        if org.closing:
            raise OrganizationClosing
        employee = org.find_employee(operator_open_id)
        if employee is None or employee.open_id != operator_open_id or not employee.verified:
            raise OperatorNotFound
        return Agent(app_id, org, employee)

    def _seal_row(self, agent: Agent, seal_id: str) -> sqlite3.Row:
        row = self._db.execute(
            "SELECT * FROM seals WHERE seal_id=? AND app_id=? AND org_open_id=?",
            (seal_id, agent.app_id, agent.organization.open_id),
        ).fetchone()
        if row is None:
            raise SealNotFound
        return row

    # ----------------------------------------------------------------- CreateSealByImage
    def create_seal(self, agent: Agent, spec: SealSpec, *, preview: bool = False) -> Seal:
        """A new seal: system-drawn (SUCCESS at once) or from an image (CHECKING until reviewed).

        `preview` (Options CreateSealPreview=true): every rule is checked, nothing is stored."""
        if not spec.image and not spec.generate_source:
            raise MissingSealImage
        # ASSUMPTION: an image together with system generation is ambiguous; the strict reading refuses it.
        if spec.image and spec.generate_source:
            raise ParamError("SealImage 与 GenerateSource 不能同时指定")
        if spec.image:
            # An image seal (Go SDK v1.3.143): SealStyle is ignored, SealSize is a custom W_H in mm.
            style, size = "", check_image_size(spec.size)
        else:
            style = spec.style or "circle"
            is_ellipse = style == "ellipse"
            if is_ellipse and spec.seal_type in CIRCLE_ONLY_TYPES:
                raise ParamError(f"{spec.seal_type} 类型印章只支持圆形")
            # ASSUMPTION: the docs give 42_42 as the default size; for an ellipse (42_42 is no ellipse) it is 40_30.
            size = spec.size or ("40_30" if is_ellipse else "42_42")
            if size not in (ELLIPSE_SIZES if is_ellipse else CIRCLE_SIZES):
                raise ParamError(f"SealSize {size} 与 SealStyle {style} 不匹配")
        # ASSUMPTION: TaxIdentifyCode is "only used with INVOICE"; the strict reading refuses it elsewhere.
        if spec.tax_identify_code and spec.seal_type != "INVOICE":
            raise ParamError("TaxIdentifyCode 仅适用于 INVOICE 类型印章")
        # Required for INVOICE seals of an enterprise verified by an authorization letter (the SDK's docstring).
        if spec.seal_type == "INVOICE" and agent.organization.authorization_letter and not spec.tax_identify_code:
            raise MissingParameter("缺少参数 TaxIdentifyCode: 授权书认证的企业创建发票专用章时必填")
        # SubSealType: OTHER seals drawn by the system only (and, on the real service, whitelisted apps).
        if spec.sub_seal_type and (spec.seal_type != "OTHER" or spec.image):
            raise ParamError("SubSealType 仅适用于系统生成的 OTHER 类型印章")
        image_bytes = check_image(spec.image) if spec.image else 0
        if preview:
            return Seal(
                "",
                agent.app_id,
                agent.organization.open_id,
                spec.name,
                spec.seal_type,
                style,
                size,
                spec.horizontal_text,
                spec.description,
                bool(spec.image),
                time.time(),
                "",
            )

        org_open_id = agent.organization.open_id
        with self._transaction() as db:
            if db.execute(
                "SELECT 1 FROM seals WHERE app_id=? AND org_open_id=? AND seal_name=?",
                (agent.app_id, org_open_id, spec.name),
            ).fetchone():
                raise SealNameExists
            now = time.time()
            if spec.seal_type == "OFFICIAL":
                # A refused official seal does not count; a disabled one still does (it exists).
                for row in db.execute(
                    "SELECT * FROM seals WHERE app_id=? AND org_open_id=? AND seal_type='OFFICIAL'",
                    (agent.app_id, org_open_id),
                ):
                    if _status(row, now) != "FAIL":
                        raise OfficialSealExists
            seal_id = _new_seal_id(self.profiles)
            sadm_at = now + self.review_seconds / 2 if "sadm" in self.profiles and spec.image else None
            db.execute(
                "INSERT INTO seals (seal_id, app_id, org_open_id, seal_name, seal_type, seal_style, seal_size,"
                " horizontal_text, from_image, image_bytes, created_at, review_ready_at, review_result, description,"
                " sadm_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    seal_id,
                    agent.app_id,
                    org_open_id,
                    spec.name,
                    spec.seal_type,
                    style,
                    size,
                    spec.horizontal_text,
                    int(bool(spec.image)),
                    image_bytes,
                    now,
                    now + self.review_seconds,
                    agent.organization.review_result,
                    spec.description,
                    sadm_at,
                ),
            )
            return _seal(db.execute("SELECT * FROM seals WHERE seal_id=?", (seal_id,)).fetchone(), now)

    # ----------------------------------------------------------------- grants
    def grant(self, agent: Agent, seal_id: str, user_ids: list[str]) -> list[str]:
        """Authorize users (OpenIds or UserIds) to use a seal; returns those newly authorized, as they were named."""
        org = agent.organization
        with self._transaction() as db:
            seal = self._seal_row(agent, seal_id)
            resolved = []
            for some_id in user_ids:
                employee = org.find_employee(some_id)
                if employee is None or not employee.verified:
                    raise ParamError("无效的授权用户Id")
                resolved.append((some_id, employee.user_id))
            # ASSUMPTION: only an enabled seal can be granted; CHECKING, FAIL and DISABLE seals are refused.
            status = _status(seal, time.time())
            if status != "SUCCESS":
                raise ParamError(f"印章状态为 {status},不能授权")
            granted = []
            for named_as, user_id in resolved:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO grants (seal_id, user_id, named_as, granted_seq)"
                    " VALUES (?,?,?,(SELECT COALESCE(MAX(granted_seq),0)+1 FROM grants))",
                    (seal_id, user_id, named_as),
                )
                if cursor.rowcount:
                    granted.append(named_as)
            return granted

    def revoke(self, agent: Agent, seal_id: str, user_ids: list[str]) -> None:
        """Withdraw users' authorization to use a seal (OpenIds resolved through enterprise + app + OpenId).

        ASSUMPTION: an employee who does not hold the seal is revoked silently (success, nothing changes): the
        docs list no error for it and the request states the end result wanted. An id that names no employee
        of the enterprise is `InvalidParameter.ParamError`, as for ChannelCreateSealPolicy; nothing is revoked
        then (the request is applied whole or not at all).
        """
        org = agent.organization
        with self._transaction() as db:
            self._seal_row(agent, seal_id)
            employees = [org.find_employee(some_id) for some_id in user_ids]
            if None in employees:
                raise ParamError("无效的授权用户Id")
            db.executemany(
                "DELETE FROM grants WHERE seal_id=? AND user_id=?",
                [(seal_id, employee.user_id) for employee in employees if employee is not None],
            )

    # ----------------------------------------------------------------- ChannelUpdateSealStatus
    def disable_seal(self, agent: Agent, seal_id: str, reason: str) -> None:
        """Stop a seal (`DISABLE`): it lists as DISABLE, is no longer listed as enabled and cannot be granted.

        ASSUMPTION: disabling an already disabled seal succeeds and changes nothing (the first reason is kept):
        the request sets a state the seal is already in. Only an enabled (`SUCCESS`) seal can be disabled; a
        seal still `CHECKING`, or refused (`FAIL`), is `FailedOperation` ("印章状态为 FAIL,不能停用": the Go SDK's
        client lists only FailedOperation and UnauthorizedOperation.NoPermissionFeature for this action).
        """
        with self._transaction() as db:
            status = _status(self._seal_row(agent, seal_id), time.time())
            if status == "DISABLE":
                return
            if status != "SUCCESS":
                raise FailedOperation(f"印章状态为 {status},不能停用")
            db.execute(
                "UPDATE seals SET disabled_at=?, disable_reason=? WHERE seal_id=?", (time.time(), reason, seal_id)
            )

    # ----------------------------------------------------------------- ChannelDescribeOrganizationSeals
    def describe_seals(
        self,
        agent: Agent,
        *,
        seal_id: str = "",
        types: list[str] | None = None,
        statuses: list[str] | None = None,
        offset: int = 0,
        limit: int = 20,
        with_users: bool = False,
    ) -> tuple[int, list[Seal]]:
        """(TotalCount, one page of seals) of the enterprise, oldest first. The operator must hold the seal-query
        permission (the fixture's `can_query_seals`), else OperationDenied.OperatorHasNoPermission.

        `statuses` empty means enabled seals only (`SUCCESS`); `ALL` means every status.
        """
        if not agent.operator.can_query_seals or "no-query-permission" in self.profiles:
            raise OperatorHasNoPermission
        wanted = statuses or ["SUCCESS"]
        with self._lock:
            now = time.time()
            rows = [
                row
                for row in self._db.execute(
                    "SELECT * FROM seals WHERE app_id=? AND org_open_id=? ORDER BY seq",
                    (agent.app_id, agent.organization.open_id),
                )
                if (not seal_id or row["seal_id"] == seal_id)
                and (not types or row["seal_type"] in types)
                and ("ALL" in wanted or _status(row, now) in wanted)
            ]
            page = []
            for row in rows[offset : offset + limit]:
                users: tuple[str, ...] = ()
                if with_users:
                    users = tuple(
                        grant["user_id"]
                        for grant in self._db.execute(
                            "SELECT user_id FROM grants WHERE seal_id=? ORDER BY granted_seq", (row["seal_id"],)
                        )
                    )
                page.append(_seal(row, now, users))
            return len(rows), page

    # ----------------------------------------------------------------- inspection and reset
    def seal(self, seal_id: str) -> Seal | None:
        """Any seal by id (for the preview images), or None."""
        with self._lock:
            row = self._db.execute("SELECT * FROM seals WHERE seal_id=?", (seal_id,)).fetchone()
            return None if row is None else _seal(row, time.time())

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
                    "seal_status": _status(row, now),
                    "authorized_user_ids": grants.get(row["seal_id"], []),
                }
                for row in self._db.execute("SELECT * FROM seals ORDER BY seq")
            ]

    def reset(self) -> None:
        """Forget every seal and grant (the fixture's apps, enterprises and employees stay)."""
        with self._transaction() as db:
            db.execute("DELETE FROM grants")
            db.execute("DELETE FROM seals")


def check_image_size(size: str) -> str:
    """An image seal's custom `SealSize`: '' (the image's own size) or `W_H` in mm, 10-100 each, aspect 0.1-10."""
    if not size:
        return ""
    low, high = IMAGE_SIZE_MM
    try:
        width, height = (int(part) for part in size.split("_"))
    except ValueError:
        raise ParamError(f"SealSize {size} 格式应为 宽_高 (毫米)") from None
    if not (low <= width <= high and low <= height <= high) or not IMAGE_ASPECT[0] <= width / height <= IMAGE_ASPECT[1]:
        raise ParamError(f"SealSize {size}: 宽高须在 {low}-{high} 毫米之间, 宽高比 0.1-10")
    return f"{width}_{height}"


def check_image(raw: bytes) -> int:
    """Check a decoded SealImage; returns its size. A PNG or JPG of at most 5 MB that decodes whole."""
    if len(raw) > MAX_IMAGE_RAW:
        raise InvalidImage("原始图片超过 5M")
    try:
        with Image.open(io.BytesIO(raw)) as img:
            if img.format not in ("PNG", "JPEG"):
                raise InvalidImage("只支持 PNG 或 JPG 图片")
            img.load()  # a truncated file fails here, not at open()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise InvalidImage("图片不正确,无法解码") from None
    return len(raw)
