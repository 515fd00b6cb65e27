"""The sandbox self-check: one run against the vendor's test host settles the API readings no source settles
(`ESS_API.md`, "Other readings"; `docs/api-readings.md`).

Each check is a `Finding`: what the product assumes, what the endpoint answered (with its RequestIds), a verdict,
and the emulator profile (`ess_emulator.PROFILES`) whose reading the answer matches ("" for the documented
reading). The run is safe in a real test enterprise:

- it makes two seals of its own, named `{name_prefix}-{token}-sys` / `-img` (a random token per run), and grants,
  revokes or disables no other seal: every SealId it acts on came from its own create (or, when a create answers
  none, from the seal listed under that unique name);
- it stays at a few dozen sequential calls (the review polls are capped at `MAX_REVIEW_POLLS`);
- it disables what it made where the API allows; a seal still in review or refused cannot be disabled, and the
  report names it for the e-sign console;
- the connection is read by `EssHook` only; neither it nor any request is logged.

Nothing here knows the emulator: the check talks to whatever endpoint the connection names, as the product does.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import (
    EssApiError,
    EssValidationError,
    SandboxCheckFailed,
    is_account_error,
    may_have_applied,
)
from .hooks import EssHook, is_loopback
from .onboarding.locations import run_name
from .seals import (
    DESCRIBE_PAGE,
    DISABLE,
    EXISTS_CODE,
    FAIL,
    IN_REVIEW,
    SUCCESS,
    create_params,
    operator_verify,
    real_size,
)
from .storage import StoragePath, storage_path, write_atomic
from .validation import (
    GENERATE_SYSTEM,
    SealSpec,
    check_seal_spec,
    load_seal_image,
    parse_user_ids,
    require_name,
    require_open_id,
)

log = logging.getLogger(__name__)

VERIFIED, CONTRADICTED, NOT_CHECKED = "verified", "contradicted", "not checked"
DEFAULT_PREFIX = "ESSCHECK"
MAX_PREFIX = 30  # + "-" + 8-character token + "-sys": within the API's 50-character seal name
SAMPLE_IMAGE = "sample_seal.png"
SYSTEM_SIZE = (42, 42)
#: The image seal's printed size, asked for explicitly: its RealWidth/RealHeight must be 0x0 or exactly this.
IMAGE_SIZE = (30, 20)
#: Where a sandbox check may run without `allow_other_endpoint`: the vendor's test host, or this machine.
SANDBOX_HOST = "essbasic.test.ess.tencent.cn"
#: At most this many looks at the image seal's review, however long the wait: the poll interval stretches instead.
MAX_REVIEW_POLLS = 60
#: A seal just made may take a moment to be listed: this many looks before a listing check is "not checked".
LISTING_LOOKS = 3
#: Pages of 100 read when finding one of our seals by name (a sandbox enterprise is small).
FIND_PAGES = 5
DAY_SECONDS = 86400.0
DISABLE_REASON = "sandbox self-check cleanup"
PERMISSION_CODE = "OperationDenied.OperatorHasNoPermission"
_SEAL_ID_32 = re.compile(r"^[A-Za-z0-9]{32}$")
_SEAL_ID_33 = re.compile(r"^[A-Za-z0-9]*=[A-Za-z0-9]*$")

#: Every check, in the order it runs: its id and the reading the product is built on.
CHECKS: dict[str, str] = {
    "seal_id_format": "a created seal's SealId is 32 letters and digits (the docs: 32位字符串)",
    "describe_permission": "ChannelDescribeOrganizationSeals (InfoType 1, Limit 100, SealStatuses ALL) answers for "
    "the operator: every seal action of the product describes first",
    "create_on_unit": "OccupiedSeal.CreateOn is a time in seconds (电子印章授权时间戳，单位秒)",
    "system_seal_size": "a system-drawn 42_42 seal reports RealWidth/RealHeight 42/42",
    "image_seal_id": "CreateSealByImage answers a non-empty SealId for an image seal",
    "image_seal_size": "an image seal asked for at 30_20 mm reports RealWidth/RealHeight 0x0 (how the product "
    "tells it from a system-drawn seal), or else exactly 30x20",
    "grant_and_revoke": "ChannelCreateSealPolicy answers the UserIds it granted; ChannelDeleteSealPolicies succeeds, "
    "also for a user who no longer holds the seal",
    "info_type_0": "InfoType 0 answers AuthorizedUsers present and empty (the demo kit; the product sends InfoType 1)",
    "describe_limit_above_100": "Limit 101 is served as 100 (the demo kit; the product never sends more than 100)",
    "image_review_stages": "an image seal is CHECKING, then SUCCESS or FAIL",
    "disable": "ChannelUpdateSealStatus DISABLE disables a SUCCESS seal, which then lists as DISABLE; a seal in "
    "review or refused answers FailedOperation",
}
#: Checks of readings the product never relies on: a contradiction there is reported, and the run stays green.
NOT_RELIED_ON = frozenset({"info_type_0", "describe_limit_above_100"})


@dataclass
class Finding:
    """One check: the reading assumed, what the endpoint answered, and what that means for the product."""

    id: str
    assumption: str
    answered: str = ""
    request_ids: list[str] = field(default_factory=list)
    verdict: str = NOT_CHECKED
    profile: str = ""  # the emulator profile whose reading the answer matches; "" for the documented reading
    affects_product: bool = True

    def settle(self, verdict: str, answered: str, profile: str = "", affects_product: bool | None = None) -> None:
        """Record the answer and what it means (`affects_product` None: as declared for the check)."""
        self.verdict, self.answered, self.profile = verdict, answered, profile
        if affects_product is not None:
            self.affects_product = affects_product

    @property
    def unexplained(self) -> bool:
        """Contradicted, no profile explains it, and the product relies on the reading."""
        return self.verdict == CONTRADICTED and not self.profile and self.affects_product


@dataclass
class MadeSeal:
    """A seal this run made, and what became of it (the report's cleanup list)."""

    kind: str  # "system" or "image"
    name: str
    seal_id: str = ""
    status: str = ""  # as last listed; "" when never seen
    fail_reason: str = ""
    disabled: bool = False
    note: str = ""


@dataclass(frozen=True)
class SandboxConfig:
    """The trigger form's Params, checked."""

    proxy_organization_open_id: str
    operator_open_id: str
    user_ids: tuple[str, str]
    name_prefix: str = DEFAULT_PREFIX
    review_wait_seconds: float = 600.0
    poll_seconds: float = 10.0

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SandboxConfig:
        users = parse_user_ids(params.get("user_ids"))
        if len(users) != 2:
            raise EssValidationError("user_ids", f"must name exactly two different employees (got {len(users)})")
        return cls(
            require_open_id("proxy_organization_open_id", params.get("proxy_organization_open_id")),
            require_open_id("operator_open_id", params.get("operator_open_id")),
            (users[0], users[1]),
            require_name("name_prefix", params.get("name_prefix") or DEFAULT_PREFIX, max_len=MAX_PREFIX),
            _seconds(params, "review_wait_seconds", 600.0, 0.0, 3600.0),
            _seconds(params, "poll_seconds", 10.0, 0.1, 600.0),
        )


def _seconds(params: Mapping[str, Any], name: str, default: float, low: float, high: float) -> float:
    """A duration Param: a number from `low` to `high` seconds; absent means `default`."""
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise EssValidationError(name, f"must be a number of seconds from {low:g} to {high:g} (got {value!r})")
    return float(value)


@dataclass
class Answer:
    """An API call's outcome: the Response body, or the API's error."""

    response: dict[str, Any] = field(default_factory=dict)
    error: EssApiError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def request_id(self) -> str:
        return self.error.request_id if self.error else str(self.response.get("RequestId") or "")


def error_text(error: EssApiError) -> str:
    """An error as a finding's answer: code, RequestId, the API's message (shortened)."""
    return f"{error.code} (RequestId {error.request_id or 'none'}): {error.message[:120]}"


# --------------------------------------------------------------------------- readings
def read_seal_id(seal_id: str) -> tuple[str, str, str]:
    """(verdict, answered, profile) for a created system seal's SealId."""
    if _SEAL_ID_32.match(seal_id):
        return VERIFIED, f"SealId of 32 letters and digits ({seal_id})", ""
    if len(seal_id) == 33 and _SEAL_ID_33.match(seal_id):
        return CONTRADICTED, f"SealId of 33 characters with '=' ({seal_id})", "id33"
    if not seal_id:
        return CONTRADICTED, "SealId '' for a system-drawn seal", ""
    return CONTRADICTED, f"SealId of {len(seal_id)} characters, not 32 letters and digits ({seal_id!r})", ""


def read_create_on(value: Any, now: float) -> tuple[str, str, str]:
    """(verdict, answered, profile) for a seal's CreateOn, the seal made moments ago."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return CONTRADICTED, f"CreateOn {value!r} is not a number", ""
    if abs(number - now) <= DAY_SECONDS:
        return VERIFIED, f"CreateOn {value} (seconds, {round(number - now):+d} s from this worker's clock)", ""
    if abs(number / 1000.0 - now) <= DAY_SECONDS:
        return CONTRADICTED, f"CreateOn {value} (milliseconds)", "createon-ms"
    return CONTRADICTED, f"CreateOn {value}: neither seconds nor milliseconds within a day of now", ""


# --------------------------------------------------------------------------- the check
class SandboxCheck:
    """The checks, run in order against one enterprise through one hook (`run`)."""

    def __init__(
        self,
        hook: EssHook,
        config: SandboxConfig,
        image_b64: str,
        *,
        token: str = "",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.hook, self.config, self.image_b64 = hook, config, image_b64
        self.agent = hook.agent(config.proxy_organization_open_id, config.operator_open_id)
        self.token = token or secrets.token_hex(4)
        self.sleep, self.clock = sleep, clock
        self.findings = {
            cid: Finding(cid, text, affects_product=cid not in NOT_RELIED_ON) for cid, text in CHECKS.items()
        }
        self.seals: list[MadeSeal] = []
        self.system: MadeSeal | None = None
        self.image: MadeSeal | None = None
        self.image_made_at = 0.0
        self.stages: list[str] = []  # the image seal's distinct statuses, in order
        self.image_sizes: list[tuple[str, tuple[int, int] | None]] = []  # (status, size) as listed
        self.describe_refused = ""  # why describe-based checks are not checked, once the describe was refused
        self.cleanup_tried = False
        self.calls = 0

    def name(self, kind: str) -> str:
        return f"{self.config.name_prefix}-{self.token}-{kind}"

    def run(self) -> list[Finding]:
        """Every check in turn; the seals made are disabled at the end, and also when a step fails unexpectedly.
        A credential or AppId error is raised at once: every further call would be refused the same way."""
        steps = (
            self.create_system_seal,
            self.describe_system_seal,
            self.create_image_seal,
            self.grant_and_revoke,
            self.info_type_0,
            self.limit_above_100,
            self.watch_review,
            self.disable,
        )
        try:
            for step in steps:
                step()
        except EssApiError:
            raise  # credentials or AppId refused (`_call`): no cleanup call could succeed either
        except BaseException:  # a bug in a check, or the task stopped (marked failed, timed out, terminated)
            if not self.cleanup_tried:
                self.disable()  # never leave this run's seals enabled
            raise
        return list(self.findings.values())

    # ------------------------------------------------------------------ calls
    def _call(self, action: str, params: dict[str, Any], *findings: Finding) -> Answer:
        """One API call for `findings` (each keeps its RequestId). An API error is returned as the answer, except
        credential and AppId errors, which are raised."""
        self.calls += 1
        try:
            answer = Answer(self.hook.call(action, params))
        except EssApiError as err:
            if is_account_error(err.code):
                raise
            log.warning("%s answered %s", action, error_text(err))
            answer = Answer(error=err)
        for finding in findings:
            if answer.request_id:
                finding.request_ids.append(answer.request_id)
        return answer

    def _describe(self, *findings: Finding, seal_id: str = "", **overrides: Any) -> Answer:
        """ChannelDescribeOrganizationSeals as the product sends it (`seals.SealOperations.describe`), with
        `overrides` for the leniency checks."""
        params: dict[str, Any] = {
            "Agent": self.agent,
            "Limit": DESCRIBE_PAGE,
            "Offset": 0,
            "InfoType": 1,
            "SealStatuses": ["ALL"],
            **overrides,
        }
        if seal_id:
            params["SealId"] = seal_id
        return self._call("ChannelDescribeOrganizationSeals", params, *findings)

    def _row(self, seal: MadeSeal, *findings: Finding) -> tuple[dict[str, Any] | None, Answer]:
        """One of our seals as listed (found by its id; None when not listed or the describe failed), and the
        answer; the seal's status is updated from it."""
        answer = self._describe(*findings, seal_id=seal.seal_id)
        rows = (answer.response.get("Seals") or []) if answer.ok else []
        row = next((r for r in rows if r.get("SealId") == seal.seal_id), None)
        if row is not None:
            seal.status, seal.fail_reason = str(row.get("SealStatus") or ""), str(row.get("FailReason") or "")
        return row, answer

    def _find_by_name(self, finding: Finding, name: str) -> dict[str, Any] | None:
        """Our seal listed under its unique name (a few pages at most), or None."""
        if self.describe_refused:
            return None
        for page in range(FIND_PAGES):
            answer = self._describe(finding, Offset=page * DESCRIBE_PAGE)
            if not answer.ok:
                return None
            rows = answer.response.get("Seals") or []
            found = next((r for r in rows if r.get("SealName") == name), None)
            if found is not None or len(rows) < DESCRIBE_PAGE:
                return found
        return None

    def _create(self, finding: Finding, kind: str, spec: SealSpec, image: str = "") -> tuple[MadeSeal, Answer]:
        """CreateSealByImage for one of our seals. A seal this call may have made though it failed (its answer lost,
        or `ExistSameSealName` after such an attempt: our names are unique to this run) is looked up by name and
        kept for the cleanup; any other error leaves no seal of ours."""
        seal = MadeSeal(kind, spec.seal_name)
        answer = self._call("CreateSealByImage", {"Agent": self.agent, **create_params(spec, image)}, finding)
        if answer.ok:
            self.seals.append(seal)
            log.info(
                "Made the %s seal %r (SealId %r, RequestId %s)",
                kind,
                seal.name,
                answer.response.get("SealId"),
                answer.request_id,
            )
            return seal, answer
        err = answer.error
        earlier_sent = any(map(may_have_applied, err.earlier))
        if may_have_applied(err.code) or (err.code == EXISTS_CODE and earlier_sent):
            row = self._find_by_name(finding, seal.name)
            if row is not None:
                seal.seal_id, seal.status = str(row.get("SealId") or ""), str(row.get("SealStatus") or "")
                seal.note = f"its create answered {err.code}, yet it was made"
                self.seals.append(seal)
        return seal, answer

    # ------------------------------------------------------------------ the system-drawn seal
    def create_system_seal(self) -> None:
        finding = self.findings["seal_id_format"]
        spec = check_seal_spec(
            seal_name=self.name("sys"),
            seal_type="CONTRACT",
            generate_source=GENERATE_SYSTEM,
            seal_size="{}_{}".format(*SYSTEM_SIZE),
        )
        seal, answer = self._create(finding, "system", spec)
        if not answer.ok:
            finding.settle(CONTRADICTED, f"the create failed: {error_text(answer.error)}")
            self.system = seal if any(s is seal for s in self.seals) else None
            return
        self.system = seal
        seal.seal_id = str(answer.response.get("SealId") or "")
        verdict, answered, profile = read_seal_id(seal.seal_id)
        if not seal.seal_id:  # find it by its unique name to go on (and to disable it)
            row = self._find_by_name(finding, seal.name)
            seal.seal_id = str((row or {}).get("SealId") or "")
            answered += f"; listed under its name as {seal.seal_id or 'nothing'}"
        finding.settle(verdict, answered, profile)

    def describe_system_seal(self) -> None:
        """describe_permission, then the system seal's CreateOn and size."""
        permission, created, size = (
            self.findings[c] for c in ("describe_permission", "create_on_unit", "system_seal_size")
        )
        seal_id = self.system.seal_id if self.system else ""
        row = None
        for look in range(LISTING_LOOKS):
            if look:
                self.sleep(self.config.poll_seconds)
            answer = self._describe(permission, seal_id=seal_id)
            if not answer.ok:
                err = answer.error
                profile = "no-query-permission" if err.code == PERMISSION_CODE else ""
                permission.settle(CONTRADICTED, f"refused: {error_text(err)}", profile)
                self.describe_refused = f"ChannelDescribeOrganizationSeals was refused ({err.code})"
                created.answered = size.answered = f"not checked: {self.describe_refused}"
                return
            rows = answer.response.get("Seals") or []
            row = next((r for r in rows if seal_id and r.get("SealId") == seal_id), None)
            if row is not None or not seal_id:
                break
        permission.settle(VERIFIED, f"answered TotalCount {answer.response.get('TotalCount')}, {len(rows)} row(s)")
        if row is None:
            why = f"the system seal {seal_id} is not listed" if seal_id else "no system seal was made"
            created.answered = size.answered = f"not checked: {why}"
            return
        self.system.status = str(row.get("SealStatus") or "")
        for finding in (created, size):
            finding.request_ids.extend(filter(None, [answer.request_id]))
        created.settle(*read_create_on(row.get("CreateOn"), self.clock()))
        measured = real_size(row)
        if measured is None:
            size.settle(
                CONTRADICTED,
                "RealWidth/RealHeight not reported (the product then compares the type only)",
                affects_product=False,
            )
        elif measured == SYSTEM_SIZE:
            size.settle(VERIFIED, "RealWidth/RealHeight 42/42")
        else:
            size.settle(CONTRADICTED, f"RealWidth/RealHeight {measured[0]}/{measured[1]} for a 42_42 seal")

    # ------------------------------------------------------------------ the image seal
    def create_image_seal(self) -> None:
        finding = self.findings["image_seal_id"]
        spec = check_seal_spec(
            seal_name=self.name("img"), seal_type="OTHER", has_image=True, seal_size="{}_{}".format(*IMAGE_SIZE)
        )
        seal, answer = self._create(finding, "image", spec, self.image_b64)
        self.image_made_at = self.clock()
        if not answer.ok:
            finding.settle(CONTRADICTED, f"the create failed: {error_text(answer.error)}")
            self.image = seal if any(s is seal for s in self.seals) else None
        else:
            self.image = seal
            seal.seal_id = str(answer.response.get("SealId") or "")
            if seal.seal_id:
                finding.settle(VERIFIED, f"SealId {seal.seal_id} ({len(seal.seal_id)} characters)")
            else:  # find it by its unique name to go on
                row = self._find_by_name(finding, seal.name)
                seal.seal_id = str((row or {}).get("SealId") or "")
                listed = (
                    f"listed under its name as {seal.seal_id}"
                    if seal.seal_id
                    else (self.describe_refused or "not listed under its name")
                )
                finding.settle(CONTRADICTED, f"SealId ''; {listed}", "empty-image-id")
        self._look_at_image()  # the first status, right after the create

    def _look_at_image(self) -> None:
        """One look at the image seal's status and size (a describe error is the stages' answer)."""
        stages, size = self.findings["image_review_stages"], self.findings["image_seal_size"]
        seal = self.image
        if seal is None or not seal.seal_id or self.describe_refused or stages.verdict != NOT_CHECKED:
            return
        row, answer = self._row(seal, stages, size)
        if not answer.ok:
            stages.settle(CONTRADICTED, f"describing {seal.seal_id} failed: {error_text(answer.error)}")
        if row is None:
            return
        if not self.stages or self.stages[-1] != seal.status:
            self.stages.append(seal.status)
        seen = (seal.status, real_size(row))
        if not self.image_sizes or self.image_sizes[-1] != seen:
            self.image_sizes.append(seen)

    def watch_review(self) -> None:
        """Look at the image seal every poll_seconds (stretched to at most MAX_REVIEW_POLLS looks) until its review
        ends or review_wait_seconds have passed since its create; then judge the stages and the size."""
        stages, size = self.findings["image_review_stages"], self.findings["image_seal_size"]
        seal = self.image
        if seal is None or not seal.seal_id or self.describe_refused:
            why = self.describe_refused or ("no image seal was made" if seal is None else "its SealId is unknown")
            stages.answered = stages.answered or f"not checked: {why}"
            size.answered = f"not checked: {why}"
            return
        interval = max(self.config.poll_seconds, self.config.review_wait_seconds / MAX_REVIEW_POLLS)
        deadline = self.image_made_at + self.config.review_wait_seconds
        # Until the review ends (or, a seal not listed yet, until it is), a describe fails, or the wait is over.
        while (
            (not self.stages or seal.status in IN_REVIEW) and stages.verdict == NOT_CHECKED and self.clock() < deadline
        ):
            self.sleep(max(0.0, min(interval, deadline - self.clock())))
            self._look_at_image()
        self._judge_size(size)
        if stages.verdict != NOT_CHECKED:  # a describe failed: that error is the answer
            return
        waited = self.clock() - self.image_made_at
        if not self.stages:
            stages.answered = f"not checked: the image seal {seal.seal_id} was not listed within {waited:.0f} s"
            return
        sequence = " -> ".join(s or "''" for s in self.stages)
        unknown = [s for s in self.stages if s not in IN_REVIEW | {SUCCESS, FAIL}]
        reason = f" ({seal.fail_reason})" if seal.status == FAIL and seal.fail_reason else ""
        if unknown:  # first: a known stage beside it must not hide a status the product would fail on
            stages.settle(CONTRADICTED, f"{sequence}: status {unknown[0]!r} is not in the product's table")
        elif seal.status in IN_REVIEW:  # whatever was seen, the end was not: not checked under every reading
            stages.answered = (
                f"not checked: {sequence}, still in review after {waited:.0f} s (raise review_wait_seconds)"
            )
        elif "CHECKING-SADM" in self.stages:
            stages.settle(CONTRADICTED, f"{sequence}{reason}", "sadm")
        else:
            stages.settle(VERIFIED, f"{sequence}{reason}")

    def _judge_size(self, size: Finding) -> None:
        seen = "; ".join(f"{'x'.join(map(str, s)) if s else 'absent'} while {status}" for status, s in self.image_sizes)
        if not self.image_sizes:
            size.answered = "not checked: the image seal was never listed"
        elif any(s and s not in ((0, 0), IMAGE_SIZE) for _, s in self.image_sizes):
            size.settle(
                CONTRADICTED,
                f"RealWidth x RealHeight {seen}: neither 0x0 nor the size asked for "
                "({}x{}), so the product cannot compare image seals by size".format(*IMAGE_SIZE),
            )
        elif any(s == IMAGE_SIZE for _, s in self.image_sizes):
            size.settle(CONTRADICTED, f"RealWidth x RealHeight {seen} (the size asked for)", "image-size")
        elif any(s is None for _, s in self.image_sizes):
            size.settle(
                CONTRADICTED,
                f"RealWidth/RealHeight not reported ({seen}); the product then compares the type only",
                affects_product=False,
            )
        else:
            size.settle(VERIFIED, f"RealWidth x RealHeight {seen}")

    # ------------------------------------------------------------------ grants
    def grant_and_revoke(self) -> None:
        """Grant both employees the system seal, then revoke the second one twice (the second time they no longer
        hold it); then, where the describe answers, who holds the seal."""
        finding = self.findings["grant_and_revoke"]
        seal = self.system
        if seal is None or not seal.seal_id:
            finding.answered = "not checked: no system seal of this run has a SealId"
            return
        first, second = self.config.user_ids
        answer = self._call(
            "ChannelCreateSealPolicy",
            {"Agent": self.agent, "SealId": seal.seal_id, "UserIds": [first, second]},
            finding,
        )
        if not answer.ok:
            finding.settle(CONTRADICTED, f"the grant failed: {error_text(answer.error)}")
            return
        granted = list(answer.response.get("UserIds") or [])
        problems = (
            []
            if sorted(granted) == sorted([first, second])
            else [f"the grant answered UserIds {granted} for {[first, second]}"]
        )
        said = [f"granted {granted}"]
        for time_ in ("once", "again (no longer a holder)"):
            revoked = self._call(
                "ChannelDeleteSealPolicies", {"Agent": self.agent, "SealId": seal.seal_id, "UserIds": [second]}, finding
            )
            if not revoked.ok:
                problems.append(f"revoking {second} {time_} failed: {error_text(revoked.error)}")
                break
            said.append(f"revoked {second} {time_}: success")
        if not self.describe_refused and not problems:
            row, listed = self._row(seal, finding)
            if row is not None:
                held = sorted({u.get("OpenId") or u.get("UserId") or "?" for u in row.get("AuthorizedUsers") or []})
                said.append(f"holders now {held}")
                if second in held:
                    problems.append(f"{second} still holds the seal after the revoke")
            else:  # the grant and revokes answered; who holds the seal is only a cross-check
                said.append(f"holders not seen ({listed.error.code if listed.error else 'not listed'})")
        if problems:
            finding.settle(CONTRADICTED, "; ".join(said + problems))
        else:
            finding.settle(VERIFIED, "; ".join(said))

    # ------------------------------------------------------------------ describe leniency
    def info_type_0(self) -> None:
        finding = self.findings["info_type_0"]
        seal_id = self.system.seal_id if self.system else ""
        if self.describe_refused or not seal_id:
            finding.answered = f"not checked: {self.describe_refused or 'no system seal of this run has a SealId'}"
            return
        answer = self._describe(finding, seal_id=seal_id, InfoType=0)
        if not answer.ok:
            finding.settle(CONTRADICTED, f"refused: {error_text(answer.error)}")
            return
        row = next((r for r in answer.response.get("Seals") or [] if r.get("SealId") == seal_id), None)
        if row is None:
            finding.answered = f"not checked: the system seal {seal_id} is not listed with InfoType 0"
        elif "AuthorizedUsers" not in row:
            finding.settle(CONTRADICTED, "AuthorizedUsers absent")
        elif row["AuthorizedUsers"]:
            finding.settle(CONTRADICTED, f"AuthorizedUsers lists {len(row['AuthorizedUsers'])} holder(s)")
        else:
            finding.settle(VERIFIED, "AuthorizedUsers [] (the seal has a holder)")

    def limit_above_100(self) -> None:
        finding = self.findings["describe_limit_above_100"]
        if self.describe_refused:
            finding.answered = f"not checked: {self.describe_refused}"
            return
        answer = self._describe(finding, Limit=DESCRIBE_PAGE + 1)
        if not answer.ok:
            finding.settle(CONTRADICTED, f"refused: {error_text(answer.error)}")
            return
        rows, total = answer.response.get("Seals") or [], answer.response.get("TotalCount")
        if len(rows) > DESCRIBE_PAGE:
            finding.settle(CONTRADICTED, f"served {len(rows)} rows (TotalCount {total})")
        else:
            finding.settle(VERIFIED, f"served {len(rows)} row(s) of TotalCount {total}")

    # ------------------------------------------------------------------ cleanup
    def disable(self) -> None:
        """Disable every seal this run made (ChannelUpdateSealStatus DISABLE); a seal in review or refused is
        expected to answer FailedOperation, and is left for the console, named in the report."""
        finding = self.findings["disable"]
        self.cleanup_tried = True
        if not self.seals:
            finding.answered = "not checked: this run made no seal"
            return
        said: list[str] = []
        problems: list[tuple[str, bool]] = []  # (what, affects the product)
        for seal in self.seals:
            if not seal.seal_id:
                seal.note = "its SealId is unknown: disable it in the e-sign console, by its name"
                said.append(f"{seal.kind}: SealId unknown, not disabled")
                problems.append((f"the {seal.kind} seal could not be disabled: its SealId is unknown", True))
                continue
            was = seal.status or (SUCCESS if seal.kind == "system" else "")  # a system seal is SUCCESS at once
            answer = self._call(
                "ChannelUpdateSealStatus",
                {"Agent": self.agent, "SealId": seal.seal_id, "Status": DISABLE, "Reason": DISABLE_REASON},
                finding,
            )
            if answer.ok:
                seal.disabled = True
                said.append(f"{seal.kind} {seal.seal_id} ({was or 'status unknown'}): disabled")
                verify = operator_verify(answer.response)
                if verify:  # the disable waits for the operator's verification: not done until it is listed so
                    seal.note = f"its disable waits for the operator's verification: {verify}"
                    said.append(f"the disable answered a verification link ({verify})")
                if was in IN_REVIEW or was == FAIL:
                    problems.append((f"a {was} seal was disabled", False))
                continue
            err = answer.error
            said.append(
                f"{seal.kind} {seal.seal_id} ({was or 'status unknown'}): {err.code} "
                f"(RequestId {err.request_id or 'none'})"
            )
            seal.note = (
                f"not disabled ({err.code}): disable it in the e-sign console once its review ends"
                if was in IN_REVIEW or not was
                else f"not disabled ({err.code}): see the e-sign console"
            )
            if was == SUCCESS:
                problems.append((f"disabling a SUCCESS seal answered {err.code}", True))
            elif not err.code.startswith("FailedOperation"):
                problems.append((f"a {was or 'status unknown'} seal answered {err.code}, not FailedOperation", False))
        if not self.describe_refused:
            for seal in (s for s in self.seals if s.disabled):
                row, listed = self._row(seal, finding)
                if row is None:
                    why = listed.error.code if listed.error else "not listed"
                    said.append(f"{seal.seal_id} not seen afterwards ({why})")
                elif seal.status != DISABLE:
                    seal.disabled = False  # what the API lists decides: the seal is left, and named as such
                    seal.note = seal.note or f"it still lists as {seal.status!r}: disable it in the e-sign console"
                    problems.append((f"{seal.seal_id} lists as {seal.status!r} after it was disabled", True))
                else:
                    said.append(f"{seal.seal_id} lists as DISABLE")
        text = "; ".join(said + [p for p, _ in problems])
        if problems:
            finding.settle(CONTRADICTED, text, affects_product=any(a for _, a in problems))
        elif finding.verdict == NOT_CHECKED:
            finding.settle(VERIFIED, text)


# --------------------------------------------------------------------------- report
def build_report(
    check: SandboxCheck, *, endpoint: str, conn_id: str, run_id: str, started: datetime, stopped: str = ""
) -> dict[str, Any]:
    """The parity report: where and when, every finding, what it points to, and the seals made."""
    findings = list(check.findings.values())
    for finding in findings:
        if finding.verdict == NOT_CHECKED and not finding.answered:
            finding.answered = "not checked: the run stopped before it" if stopped else "not checked"
    matching = sorted({f.profile for f in findings if f.verdict == CONTRADICTED and f.profile})
    unexplained = [f.id for f in findings if f.unexplained]
    not_checked = [f.id for f in findings if f.verdict == NOT_CHECKED]
    left = [
        {"kind": s.kind, "name": s.name, "seal_id": s.seal_id, "status": s.status, "note": s.note}
        for s in check.seals
        if not s.disabled
    ]
    summary = {
        "status": "failed" if unexplained or not_checked or stopped else "green",
        "findings": len(findings),
        "verified": sum(f.verdict == VERIFIED for f in findings),
        "contradicted": sum(f.verdict == CONTRADICTED for f in findings),
        "not_checked": not_checked,
        "matching_profiles": matching,
        "unexplained": unexplained,
        "left_for_console": [s["seal_id"] or s["name"] for s in left],
        "api_calls": check.calls,
    }
    report = {
        "check": "ess_sandbox_check",
        "endpoint": endpoint,
        "conn_id": conn_id,
        "run_id": run_id,
        "started_at": started.isoformat(timespec="seconds"),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "enterprise": check.config.proxy_organization_open_id,
        "token": check.token,
        "matching_profiles": matching,
        "unexplained": unexplained,
        "summary": summary,
        "findings": [asdict(f) for f in findings],
        "seals": [asdict(s) for s in check.seals],
        "left_for_console": left,
    }
    if stopped:
        report["stopped"] = stopped
    return report


def report_path(report_dir: str, run_id: str) -> StoragePath:
    """`{report_dir}/sandbox-check/{run_id as a file name}.json`."""
    return storage_path(report_dir) / "sandbox-check" / f"{run_name(run_id)}.json"


def format_table(findings: list[Finding], width: int = 90) -> str:
    """The findings as a fixed-width table, one line each: id, verdict, profile, answered, the last RequestId."""
    lines = [f"{'id':<25} {'verdict':<13} {'profile':<20} {'answered':<{width}} RequestId"]
    for f in findings:
        answered = f.answered if len(f.answered) <= width else f.answered[: width - 3] + "..."
        request = f.request_ids[-1] if f.request_ids else "-"
        more = f" (+{len(f.request_ids) - 1})" if len(f.request_ids) > 1 else ""
        lines.append(f"{f.id:<25} {f.verdict:<13} {f.profile or '-':<20} {answered:<{width}} {request}{more}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the task
def check_sandbox_endpoint(conn_id: str, scheme: str, netloc: str, allow_other: bool) -> None:
    """The check makes seals, grants and disables them, and sends an image to the platform's manual review: it runs
    against the vendor's test host or this machine, and elsewhere (production) only when told to."""
    from urllib.parse import urlsplit

    host = urlsplit(f"{scheme}://{netloc}").hostname or ""
    if host == SANDBOX_HOST or is_loopback(host) or allow_other:
        return
    raise EssValidationError(
        "allow_other_endpoint",
        f"connection {conn_id!r} points at {host}, not the sandbox "
        f"({SANDBOX_HOST}): the check makes seals there and sends an image to manual review. "
        "Point Variable ess_sandbox_conn_id at a sandbox connection, or set this Param to run "
        "it there anyway",
    )


def run(
    params: Mapping[str, Any],
    *,
    run_id: str,
    conn_id: str,
    report_dir: str,
    image_dir: str | Path,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The task: check the Params, run every check, write the report, log the table. Returns the report's path and
    summary; raises `SandboxCheckFailed` after writing the report when a finding is unexplained or unanswered, and
    a credential or AppId error (naming the connection field) as soon as it is answered."""
    config = SandboxConfig.from_params(params)
    image = load_seal_image(SAMPLE_IMAGE, None, Path(image_dir))
    hook = EssHook(conn_id)
    endpoint = hook.settings.netloc  # a wrong connection fails here, before any call
    check_sandbox_endpoint(conn_id, hook.settings.scheme, endpoint, bool(params.get("allow_other_endpoint")))
    started = datetime.now(UTC)
    check = SandboxCheck(hook, config, image, sleep=sleep)
    log.info(
        "Sandbox self-check against %s, enterprise %s, seals named %s / %s",
        endpoint,
        config.proxy_organization_open_id,
        check.name("sys"),
        check.name("img"),
    )
    stopped: BaseException | None = None
    try:
        check.run()
    except BaseException as err:  # noqa: BLE001 - the report is written first (even for a task being stopped)
        stopped = err
    report = build_report(
        check,
        endpoint=endpoint,
        conn_id=conn_id,
        run_id=run_id,
        started=started,
        stopped=f"{type(stopped).__name__}: {stopped}" if stopped else "",
    )
    path = report_path(report_dir, run_id)
    write_atomic(path, (json.dumps(report, ensure_ascii=False, indent=2) + "\n").encode("utf-8"))
    summary = report["summary"]
    log.info(
        "Sandbox self-check findings (%d API calls; report %s):\n%s",
        check.calls,
        path,
        format_table(list(check.findings.values())),
    )
    for seal in report["left_for_console"]:
        log.warning(
            "Seal %r (SealId %s, %s) is left enabled: %s",
            seal["name"],
            seal["seal_id"] or "unknown",
            seal["status"] or "status unknown",
            seal["note"],
        )
    if stopped is not None:
        raise stopped
    if summary["unexplained"] or summary["not_checked"]:
        parts = []
        if summary["unexplained"]:
            parts.append(
                f"unexplained answers, the product not shown to work under them: {', '.join(summary['unexplained'])}"
            )
        if summary["not_checked"]:
            parts.append(f"not answered: {', '.join(summary['not_checked'])}")
        raise SandboxCheckFailed(f"sandbox self-check against {endpoint}: {'; '.join(parts)}. Report: {path}")
    return {"report": str(path), "summary": summary}
