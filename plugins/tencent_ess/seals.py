"""Seal operations: every essbasic seal action the provider performs, over `EssHook`, in one place.

Describe (paged), find by name, create-or-reuse (what exists is compared with what was asked), grant,
grant only the missing users, revoke, disable, and review status. Operators, the sensor, the trigger and
the onboarding engine all call these; nothing here raises an Airflow exception (`errors.failure_policy`
translates).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .errors import (
    EssApiError,
    SealExistsError,
    SealMismatchError,
    SealNotListedError,
    SealRefusedError,
    SealUnusableError,
    may_have_applied,
)
from .hooks import EssHook
from .validation import SealSpec

DESCRIBE_PAGE = 100  # the API's maximum Limit
EXISTS_CODE = "FailedOperation.ExistSameSealName"
#: How far the server's clock may run behind this worker's and a seal still count as "made by this call".
CLOCK_MARGIN = 30.0
CHECKING, SUCCESS, FAIL, DISABLE = "CHECKING", "SUCCESS", "FAIL", "DISABLE"
#: Every `SealStatus` the vendor's SDKs document, by what it means here (ESS_API.md, "Other readings"):
#: in review (wait: CHECKING-SADM is the super-admin's review, Go SDK since v1.0.532), usable, refused in review,
#: and not usable (disabled, stopped, void, invalid: no API action makes such a seal usable again).
IN_REVIEW = frozenset({CHECKING, "CHECKING-SADM"})
USABLE = frozenset({SUCCESS})
REFUSED = frozenset({FAIL})
NOT_USABLE = frozenset({DISABLE, "STOPPED", "VOID", "INVALID"})

log = logging.getLogger(__name__)


def create_params(spec: SealSpec, seal_image: str = "") -> dict[str, Any]:
    """CreateSealByImage's parameters for `spec` (Agent and Options aside): the wire format, in one place. Empty
    optional fields are left out, as the API's defaults apply then."""
    params: dict[str, Any] = {"SealName": spec.seal_name, "SealType": spec.seal_type}
    optional = {
        "GenerateSource": spec.generate_source,
        "SealStyle": spec.seal_style,
        "SealSize": spec.seal_size,
        "SealHorizontalText": spec.seal_horizontal_text,
        "TaxIdentifyCode": spec.tax_identify_code,
        "SealDescription": spec.seal_description,
        "SubSealType": spec.sub_seal_type,
        "SealImage": seal_image,
    }
    params.update({key: value for key, value in optional.items() if value})
    return params


class Granted(NamedTuple):
    """What a grant did: users newly granted, users who held the seal already (request order), and the link where
    the operator must verify before it takes effect (`operator_verify`; empty when none was asked)."""

    newly: list[str]
    already: list[str]
    verify: str = ""


class Grants(NamedTuple):
    """What a grant-missing did: users newly granted, users who held the seal already, and among those the ones the
    describe did not show as holders (listed by an id the API does not report back, such as a UserId)."""

    newly: list[str]
    already: list[str]
    unmatched: list[str]
    verify: str = ""


def operator_verify(response: dict[str, Any]) -> str:
    """The link where the operator must verify (face or SMS) for a create or grant to take effect: the QR code URL,
    else the mini-program path (`SealOperatorVerify*`, answered with Options SealOperatorVerify=true); '' if none."""
    return str(response.get("SealOperatorVerifyQrcodeUrl") or response.get("SealOperatorVerifyPath") or "")


@dataclass
class SealOutcome:
    """A seal that create-or-reuse settled on: its id, preview URL, whether this call created it, and the
    seal as the API describes it (for a seal just created: what the create implies)."""

    seal_id: str
    image_url: str
    created: bool
    seal: dict[str, Any] = field(default_factory=dict)
    verify: str = ""  # where the operator must verify, when the API answered such a link

    @property
    def status(self) -> str:
        return self.seal.get("SealStatus") or ""


def holders(seal: dict[str, Any]) -> set[str]:
    """Everyone who holds the seal, by OpenId (all the API reports; a UserId too where given)."""
    held: set[str] = set()
    for user in seal.get("AuthorizedUsers") or []:
        held.update(filter(None, (user.get("OpenId"), user.get("UserId"))))
    return held


def unlisted_holders(seal: dict[str, Any], listed: list[str] | tuple[str, ...]) -> list[str]:
    """Holders of the seal named by neither their OpenId nor their UserId in `listed`, by the id to revoke them
    with (their OpenId where the API gives one)."""
    keep = set(listed)
    found: list[str] = []
    for user in seal.get("AuthorizedUsers") or []:
        ids = {user.get("OpenId"), user.get("UserId")} - {None, ""}
        if ids and not ids & keep:
            found.append(user.get("OpenId") or user.get("UserId"))
    return found


def create_time(seal: dict[str, Any]) -> float | None:
    """A seal's `CreateOn` in seconds, or None when it cannot be read as a time. Documented as seconds, yet an
    example has 12 digits: 13 digits and more are taken as milliseconds; 11-12 digits, zero or a negative value
    are neither, and None (callers then take the safe answer: the seal existed before)."""
    try:
        value = float(seal.get("CreateOn") or 0)
    except (TypeError, ValueError):
        return None
    if value >= 1e12:
        return value / 1000.0
    if 0 < value < 1e11:
        return value
    return None


def anonymous_holders(seal: dict[str, Any]) -> int:
    """How many holders the API lists with neither an OpenId nor a UserId (e.g. an employee who left): such a
    holder cannot be revoked by id, so a seal that has one never counts as in sync."""
    return sum(1 for user in seal.get("AuthorizedUsers") or [] if not (user.get("OpenId") or user.get("UserId")))


def real_size(seal: dict[str, Any]) -> tuple[int, int] | None:
    """A listed seal's (`RealWidth`, `RealHeight`) in mm, or None when it does not report them as numbers."""
    try:
        return int(seal["RealWidth"]), int(seal["RealHeight"])
    except (KeyError, TypeError, ValueError):
        return None


def differences(spec: SealSpec, seal: dict[str, Any]) -> list[str]:
    """How an existing seal differs from the one asked for, in words; empty when it is the same seal.

    Compared: the type always, and the size where the API reports `RealWidth`/`RealHeight`. No source says what
    an image seal reports there (docs/api-readings.md): 0×0, or its physical size. So 0×0 means "from an image"
    (a drawn seal always has a size), while a size means "drawn, or an image of that size": a seal from an image is
    compared by the size asked for only, and a drawn one by its drawn size, which holds under both readings.
    """
    found: list[str] = []
    if seal.get("SealType") and seal["SealType"] != spec.seal_type:
        found.append(f"its type is {seal['SealType']}, asked for {spec.seal_type}")
    size = real_size(seal)
    if size is None:
        return found
    width, height = size
    if width == 0 and height == 0:
        if not spec.from_image:
            found.append("it was made from an uploaded image, asked for a system-drawn seal")
    elif spec.from_image:
        if spec.size and f"{width}_{height}" != spec.size:
            found.append(f"it is {width}_{height} mm, asked for {spec.size} mm")
    elif f"{width}_{height}" != spec.size:
        shape = "ellipse" if width != height else "circle"
        found.append(f"it is a {width}_{height} mm {shape}, asked for a {spec.size} mm {spec.shape}")
    return found


def unconfirmed(spec: SealSpec, seal: dict[str, Any]) -> str:
    """What `differences` could not confirm about an existing seal taken for an image seal, in words ('' when
    nothing): under either reading of `RealWidth`/`RealHeight`, 0×0 hides an image seal's size, and a size does not
    tell an image seal from a drawn one."""
    if not spec.from_image:
        return ""
    size = real_size(seal)
    if size is None:
        return "the API reports no size, so neither its source nor its size could be compared"
    width, height = size
    if width == 0 and height == 0:
        return (
            f"its printed size is not reported (0x0), so a size of {spec.size} mm could not be compared"
            if spec.size
            else ""
        )
    return f"it reports {width}x{height} mm, which a drawn seal could report too: that it came from an image is assumed"


class SealOperations:
    """The seal actions for one connection (one `EssHook`, shared by every thread of a task)."""

    def __init__(self, hook: EssHook) -> None:
        self.hook = hook

    # ------------------------------------------------------------------ reading
    def describe(self, agent: dict[str, Any], *, seal_id: str = "") -> list[dict[str, Any]]:
        """Every seal of the enterprise, whatever its status, with AuthorizedUsers; pages by 100."""
        seals: list[dict[str, Any]] = []
        while True:
            params: dict[str, Any] = {
                "Agent": agent,
                "Limit": DESCRIBE_PAGE,
                "Offset": len(seals),
                "InfoType": 1,
                "SealStatuses": ["ALL"],
            }
            if seal_id:
                params["SealId"] = seal_id
            page = self.hook.call("ChannelDescribeOrganizationSeals", params)
            batch = page.get("Seals") or []
            seals.extend(batch)
            if not batch or len(seals) >= int(page.get("TotalCount") or 0):
                return seals

    def find(self, agent: dict[str, Any], seal_name: str) -> dict[str, Any] | None:
        """The enterprise's seal with this exact name (the API has no name filter), or None."""
        return next((seal for seal in self.describe(agent) if seal.get("SealName") == seal_name), None)

    def get(self, agent: dict[str, Any], seal_id: str) -> dict[str, Any]:
        """One seal by id (any status); `SealUnusableError` when the enterprise has no such seal."""
        seals = self.describe(agent, seal_id=seal_id)
        if not seals:
            raise SealUnusableError(
                f"seal_id: seal {seal_id} is not listed for enterprise {agent.get('ProxyOrganizationOpenId')!r}"
            )
        return seals[0]

    def review_status(self, agent: dict[str, Any], seal_id: str) -> tuple[str, str]:
        """(SealStatus, FailReason) of one seal."""
        seal = self.get(agent, seal_id)
        return seal.get("SealStatus") or "", seal.get("FailReason") or ""

    # ------------------------------------------------------------------ creating
    def create_or_reuse(
        self,
        agent: dict[str, Any],
        spec: SealSpec,
        image: str = "",
        *,
        if_exists: str = "reuse",
        existing: dict[str, Any] | None = None,
        options: list[dict[str, str]] | None = None,
    ) -> SealOutcome:
        """The seal `spec` asks for: created, or the existing seal of that name when it is the same seal.

        - A seal of that name that differs (type, image vs system-drawn, size): `SealMismatchError`.
        - `if_exists="fail"` and the seal was there before: `SealExistsError`. A create that this call sent
          more than once (its first answer lost) and that finds a matching seal made meanwhile is a success.
        - `existing`: the seal as already described by the caller (onboarding describes once per enterprise).
        - `options`: the API's `Options` (`validation.check_options`).
        """
        if existing is not None:
            return self._reuse(spec, existing, if_exists, own=False)
        started = time.time()
        try:
            params = {"Agent": agent, **create_params(spec, image), **({"Options": options} if options else {})}
            response = self.hook.call("CreateSealByImage", params)
        except EssApiError as err:
            if err.code != EXISTS_CODE:
                raise
            seal = self.find(agent, spec.seal_name)
            if seal is None:
                raise SealNotListedError(
                    f"seal {spec.seal_name!r} was reported as existing but is not listed yet"
                ) from None
            # Ours only if an earlier send of this call may have been applied (its answer lost, or the server
            # failed part-way) and the seal was made after the call began (a margin for clock skew only).
            maybe_ours, made_at = any(map(may_have_applied, err.earlier)), create_time(seal)
            if maybe_ours and made_at is None:
                log.warning(
                    "Seal %r: CreateOn %r cannot be read as a time; taking the seal as made before this call",
                    spec.seal_name,
                    seal.get("CreateOn"),
                )
            own = maybe_ours and made_at is not None and made_at >= started - CLOCK_MARGIN
            return self._reuse(spec, seal, if_exists, own=own)
        seal_id = response.get("SealId") or ""
        if not seal_id:  # an old CLI example answers "" for an image seal: find what the call made, by name and spec
            seal_id = self._created_id(agent, spec, response.get("RequestId"))
        seal = {
            "SealId": seal_id,
            "SealName": spec.seal_name,
            "SealType": spec.seal_type,
            "SealStatus": CHECKING if spec.from_image else SUCCESS,
            "AuthorizedUsers": [],
        }
        log.info("Created seal %r: SealId %s (RequestId %s)", spec.seal_name, seal_id, response.get("RequestId"))
        verify = operator_verify(response)
        if verify:
            log.warning(
                "Seal %r (%s): the operator must verify before it takes effect: %s", spec.seal_name, seal_id, verify
            )
        return SealOutcome(seal_id, response.get("ImageUrl") or "", True, seal, verify)

    def _created_id(self, agent: dict[str, Any], spec: SealSpec, request_id: str | None) -> str:
        """The SealId of the seal a create just made but did not name: the enterprise's seal of that name, when it
        is the seal asked for; otherwise an error naming the request (never a seal with an empty id)."""
        seal = self.find(agent, spec.seal_name)
        if seal is None or not seal.get("SealId"):
            raise SealNotListedError(
                f"CreateSealByImage answered an empty SealId (RequestId {request_id}) and no seal "
                f"named {spec.seal_name!r} is listed yet"
            )
        found = differences(spec, seal)
        if found:
            raise SealMismatchError(spec.seal_name, seal["SealId"], found)
        log.info(
            "Seal %r: the create answered an empty SealId; the seal of that name is %s", spec.seal_name, seal["SealId"]
        )
        return seal["SealId"]

    @staticmethod
    def _reuse(spec: SealSpec, seal: dict[str, Any], if_exists: str, *, own: bool) -> SealOutcome:
        found = differences(spec, seal)
        if found:
            raise SealMismatchError(spec.seal_name, seal.get("SealId", ""), found)
        if if_exists == "fail" and not own:
            raise SealExistsError(spec.seal_name, seal.get("SealId", ""))
        doubt = unconfirmed(spec, seal)
        if doubt:
            log.warning("Seal %r (%s) is reused, but %s", spec.seal_name, seal.get("SealId"), doubt)
        if own:
            log.info(
                "Seal %r: the create's first answer was lost; it had made SealId %s", spec.seal_name, seal["SealId"]
            )
        else:
            log.info(
                "Seal %r exists already (%s, %s): reusing SealId %s",
                spec.seal_name,
                seal.get("SealType"),
                seal.get("SealStatus"),
                seal["SealId"],
            )
        return SealOutcome(seal["SealId"], seal.get("Url") or "", own, seal)

    # ------------------------------------------------------------------ granting
    def grant(
        self, agent: dict[str, Any], seal_id: str, users: list[str], options: list[dict[str, str]] | None = None
    ) -> Granted:
        """Grant `users`; returns who was newly granted and who held the seal already, in request order."""
        params = {"Agent": agent, "SealId": seal_id, "UserIds": users, **({"Options": options} if options else {})}
        response = self.hook.call("ChannelCreateSealPolicy", params)
        newly = set(response.get("UserIds") or [])
        verify = operator_verify(response)
        if verify:
            log.warning("Seal %s: the operator must verify before the grant takes effect: %s", seal_id, verify)
        return Granted([u for u in users if u in newly], [u for u in users if u not in newly], verify)

    def revoke(self, agent: dict[str, Any], seal_id: str, users: list[str]) -> list[str]:
        """Revoke `users`' use of the seal (ChannelDeleteSealPolicies); revoking a user who does not hold it is
        a success. Returns the users asked for."""
        if users:
            self.hook.call("ChannelDeleteSealPolicies", {"Agent": agent, "SealId": seal_id, "UserIds": list(users)})
        return list(users)

    def disable(self, agent: dict[str, Any], seal_id: str, reason: str = "") -> bool:
        """Disable the seal (ChannelUpdateSealStatus, Status=DISABLE); returns False when it was disabled already
        (nothing sent: idempotent)."""
        if self.get(agent, seal_id).get("SealStatus") == DISABLE:
            return False
        params: dict[str, Any] = {"Agent": agent, "SealId": seal_id, "Status": DISABLE}
        if reason:
            params["Reason"] = reason
        self.hook.call("ChannelUpdateSealStatus", params)
        return True

    def grant_missing(
        self, agent: dict[str, Any], seal: dict[str, Any], users: list[str] | tuple[str, ...], seal_name: str = ""
    ) -> Grants:
        """Grant only the users who do not hold the seal yet (a re-run grants nothing twice). A refused or
        disabled seal is an error, never granted."""
        check_usable(seal, seal_name)
        held = holders(seal)
        missing = [user for user in users if user not in held]
        already = [user for user in users if user in held]
        if not missing:
            return Grants([], already, [])
        newly, also_held, verify = self.grant(agent, seal["SealId"], missing)
        return Grants(newly, already + also_held, also_held, verify)


def in_review(status: str) -> bool:
    """True while the seal waits for a review (the platform's or the enterprise super-admin's)."""
    return status in IN_REVIEW


def check_usable(seal: dict[str, Any], seal_name: str = "") -> None:
    """Raise when a seal can neither be granted nor waited for: refused in review (FAIL), not usable (DISABLE,
    STOPPED, VOID, INVALID), or a status this provider does not know (never taken as success or refusal)."""
    status = seal.get("SealStatus") or ""
    name = seal_name or seal.get("SealName") or ""
    if status in REFUSED:
        raise SealRefusedError(name, seal.get("SealId", ""), seal.get("FailReason") or "")
    if status not in USABLE and status not in IN_REVIEW and status not in NOT_USABLE:
        raise SealUnusableError(
            f"seal {name!r} (SealId {seal.get('SealId', '')}) has status {status!r}, which this "
            "provider does not know: it is neither granted nor taken as refused. Check the seal in "
            "the e-sign console, and report the status to the provider's maintainers"
        )
    if status in NOT_USABLE:
        raise SealUnusableError(
            f"seal {name!r} (SealId {seal.get('SealId', '')}) is {status or 'of unknown status'}"
            ": it cannot be granted, and the API has no action to enable a seal: give this "
            "entry another seal_name (a new seal is made under it)"
        )
