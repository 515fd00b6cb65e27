"""Errors: the one table of transient vs permanent failures, the provider's domain errors, and the one
policy that turns them into Airflow task outcomes.

Source of the table: the API's documented common error codes (README, "Retries and idempotency").
Everything not listed as transient is permanent: retrying a bad parameter or a refused signature only
burns time and quota. Nothing below the operators
raises an Airflow exception; `failure_policy` is where domain errors become task outcomes.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from .wording import quantity

#: SDK-side codes: a requests exception (`ClientNetworkError`) or a non-200 HTTP status (`ServerNetworkError`).
NETWORK_CODES = frozenset({"ClientNetworkError", "ServerNetworkError"})
#: Prefixes of API codes worth retrying. `RequestLimitExceeded` covers `.UinLimitExceeded`, `.IPLimitExceeded`, ...
TRANSIENT_PREFIXES = ("RequestLimitExceeded", "InternalError", "ServiceUnavailable")
RATE_LIMIT_PREFIX = "RequestLimitExceeded"

#: In one call, the hook gives up after this many internal errors or outages (rate limits and network errors
#: only count towards its `max_attempts`): one blip is retried at once, a run of them is left to Airflow's task
#: retries with their longer delays.
SERVER_ERROR_ATTEMPTS = 3

#: What to check when the API refuses the credentials or the channel application (English, beside the API's
#: own message): code → the connection field at fault.
CREDENTIAL_HINTS = {
    "AuthFailure.SecretIdNotFound": "login (SecretId): no such key, or it is disabled",
    "AuthFailure.InvalidSecretId": "login (SecretId): not a valid SecretId",
    "AuthFailure.SignatureFailure": "password (SecretKey): it does not match the SecretId",
    "AuthFailure.SignatureExpire": "the worker's clock: it is more than 5 minutes off",
    "AuthFailure.InvalidAuthorization": "login (SecretId) and password (SecretKey): the request could not be signed",
    "AuthFailure.TokenFailure": "the temporary credentials' token",
    "ResourceNotFound.Organization": "extra app_id (the channel AppId) and the enterprise's OpenId",
    "ResourceNotFound.Application": "extra app_id (the channel AppId): the API knows no such application",
}

#: What to check for errors about one tenant's enterprise or operator (not the connection): code → the input at fault
#: and what to do. Codes from the Go SDK's client lists (ESS_API.md, "Other readings").
TENANT_HINTS = {
    "OperationDenied.OperatorHasNoPermission": "operator_open_id: operator {operator!r} lacks the seal-query "
    "permission (印章查询) of enterprise {enterprise!r}, which every seal "
    "action here needs to describe its seals first; grant it in the e-sign "
    "console, or name an operator who holds it",
    "OperationDenied.OrganizationClosing": "proxy_organization_open_id: enterprise {enterprise!r} is being closed "
    "(注销中); nothing can be done for it",
    "MissingParameter.UserId": "operator_open_id: the API found no user for operator {operator!r} of enterprise "
    "{enterprise!r} (a describe names no user but the operator)",
    "ResourceNotFound.VerifyUser": "operator_open_id: {operator!r} is not a verified employee of enterprise "
    "{enterprise!r}",
}


def tenant_hint(code: str, agent: Any) -> str:
    """The hint for a tenant's error code, naming the enterprise and operator the request's `Agent` gave."""
    hint = TENANT_HINTS.get(code, "")
    if not hint:
        return ""
    agent = agent if isinstance(agent, dict) else {}
    operator = agent.get("ProxyOperator") if isinstance(agent.get("ProxyOperator"), dict) else {}
    return hint.format(
        enterprise=str(agent.get("ProxyOrganizationOpenId") or "?"), operator=str(operator.get("OpenId") or "?")
    )


#: Codes that concern the connection or the account, not one tenant: with them every call of the task would fail
#: the same way, so a chunk stops at the first one instead of making each tenant's call fail in turn.
ACCOUNT_PREFIXES = ("AuthFailure", "ResourceNotFound.Application")


def _matches(code: str, prefix: str) -> bool:
    return code == prefix or code.startswith(prefix + ".")


def is_account_error(code: str) -> bool:
    """True for credential and account errors (`ACCOUNT_PREFIXES`): they concern every tenant of a task."""
    return any(_matches(code, prefix) for prefix in ACCOUNT_PREFIXES)


def is_rate_limited(code: str) -> bool:
    """`RequestLimitExceeded` and its sub-codes."""
    return _matches(code, RATE_LIMIT_PREFIX)


def is_transient(code: str) -> bool:
    """True when the same request may succeed later: rate limits, internal errors, outages, network errors."""
    return code in NETWORK_CODES or any(_matches(code, prefix) for prefix in TRANSIENT_PREFIXES)


def may_have_applied(code: str) -> bool:
    """A failure after which the request may still have been applied: the answer was lost (network), or the
    server failed part-way (internal errors, outages). A rate-limit refusal or a parameter error was not."""
    return code in NETWORK_CODES or is_server_error(code)


def is_server_error(code: str) -> bool:
    """Transient on the server's side: internal errors and outages (not rate limits, not the network)."""
    return is_transient(code) and code not in NETWORK_CODES and not is_rate_limited(code)


class EssError(Exception):
    """Base class of this provider's errors. `transient` says whether the same work may succeed later."""

    transient = False


class EssApiError(EssError):
    """A failed essbasic call: the API's code and message, its RequestId, the action, and whether it is transient.

    `earlier` holds the codes of the attempts the hook made before this one, in the same call: an attempt
    whose answer was lost (`may_have_applied`) may have been applied. `hint` names what to check, where known.
    """

    def __init__(self, action: str, code: str, message: str, request_id: str | None = None, hint: str = "") -> None:
        self.action = action
        self.code = code
        self.message = message
        self.request_id = request_id or ""
        self.hint = hint
        self.transient = is_transient(code)
        self.earlier: list[str] = []
        super().__init__(str(self))

    def __str__(self) -> str:
        kind = "transient" if self.transient else "permanent"
        text = f"{self.action} failed with {self.code} ({kind}, RequestId {self.request_id or 'none'}): {self.message}"
        return f"{text} — check {self.hint}" if self.hint else text

    def __reduce__(self):  # keeps the exception picklable across processes
        return (type(self), (self.action, self.code, self.message, self.request_id, self.hint))


class EssValidationError(EssError, ValueError):
    """Input refused before any API call: names the field and the rule it breaks."""

    def __init__(self, field: str, rule: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {rule}")

    def __reduce__(self):
        return (type(self), (self.field, self.rule))


class EssConfigError(EssError):
    """The Airflow connection is missing or one of its settings is wrong (names the setting)."""


class SealMismatchError(EssError):
    """A seal of the requested name exists but is not the seal asked for (type, source, shape or size):
    reusing it would grant the wrong seal."""

    def __init__(self, seal_name: str, seal_id: str, differences: list[str]) -> None:
        self.seal_name, self.seal_id, self.differences = seal_name, seal_id, differences
        super().__init__(
            f"seal_name: a seal named {seal_name!r} exists already (SealId {seal_id}) but is not the seal asked for: "
            f"{'; '.join(differences)}. Nothing was granted. Choose another seal_name, or ask for the existing seal."
        )

    def __reduce__(self):
        return (type(self), (self.seal_name, self.seal_id, self.differences))


class SealExistsError(EssError):
    """`if_exists="fail"` and a seal of that name was there before this call."""

    def __init__(self, seal_name: str, seal_id: str) -> None:
        self.seal_name, self.seal_id = seal_name, seal_id
        super().__init__(
            f"seal_name: a seal named {seal_name!r} exists already (SealId {seal_id}) and if_exists='fail'"
        )

    def __reduce__(self):
        return (type(self), (self.seal_name, self.seal_id))


class SealRefusedError(EssError):
    """The platform's review refused an image seal (status FAIL): waiting or retrying cannot change that."""

    def __init__(self, seal_name: str, seal_id: str, fail_reason: str, status: str = "FAIL") -> None:
        self.seal_name, self.seal_id, self.fail_reason, self.status = seal_name, seal_id, fail_reason, status
        named = f"seal {seal_name!r} (SealId {seal_id})" if seal_name else f"seal {seal_id}"
        super().__init__(
            f"{named} is {status}: refused in review: {fail_reason or 'no reason given'}. "
            "Fix the image and create it under a new seal_name: the refused seal keeps its name, and the API "
            "can neither re-review nor disable a refused seal."
        )

    def __reduce__(self):
        return (type(self), (self.seal_name, self.seal_id, self.fail_reason, self.status))


class SealUnusableError(EssError):
    """The seal is in a state that cannot be granted or waited for (e.g. DISABLE)."""


class RevocationBudgetError(EssError):
    """A revoking apply would pass its revocation budget (`max_revocations`), or would revoke users no count
    allowed: refused before the revocation is sent."""


class ManifestError(EssError):
    """The manifest file itself is unusable (not JSON, not a list, too large, its folder missing), or changed since
    the run planned it: the run fails, naming it."""


class LedgerError(EssError):
    """The run's revocation ledger (or a sync claim) cannot be read or written: nothing is revoked until it can.
    Transient when the store could not be reached (a retry may read it), permanent when a record is damaged."""

    def __init__(self, message: str, transient: bool = False) -> None:
        self.transient = transient
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (str(self), self.transient))


class ReportError(EssError):
    """The run's earlier report cannot be read: writing a new one over it would lose what it recorded."""


class AccountStop(EssError):
    """A credential or account error (`is_account_error`): it concerns every tenant of the task, which stops at the
    first one instead of making each tenant's call fail in turn. Permanent: the connection must be fixed."""

    def __init__(self, error: EssApiError) -> None:
        self.error = error
        super().__init__(f"{error}. Every tenant's call would fail the same way: the task stopped at the first")

    def __reduce__(self):
        return (type(self), (self.error,))


class SealNotListedError(EssError):
    """The API said a seal of that name exists, or made one without naming it, yet the describe does not list it
    (yet): worth a retry."""

    transient = True


class RetryLater(EssError):
    """Work left for a task retry: tenants that hit transient errors, seals still in review."""

    transient = True


class CheckAgain(Exception):
    """Seals are still in review (or an older run still applies) and the wait is not over: run this task again at
    `when`. The DAG turns this into a reschedule, so no worker slot is held meanwhile; not an `EssError`, as it is
    no failure."""

    def __init__(self, when: datetime, waiting: int) -> None:
        self.when, self.waiting = when, waiting
        super().__init__(f"{quantity(waiting, 'seal')} still in review; checking again at {when.isoformat()}")


class SandboxCheckFailed(EssError):
    """The sandbox self-check ran and wrote its report, but an answer contradicts what the product assumes with no
    emulator profile to explain it, or a check got no answer: the product has not been shown to work there."""


class StorageError(EssError):
    """A location (manifest, journal, report, seal image) could not be read or written for a reason other than
    "not found": permission, network, authentication. Only a definite "not found" ever counts as missing.
    Transient (network, outage) unless the store refused access or the path is wrong (a folder that is a file):
    those wait for a person, not a retry.
    The message names the location (without any credentials in its URL) and the error's kind."""

    def __init__(self, location: str, error: BaseException, doing: str = "read") -> None:
        self.location, self.kind, self.doing = redact_location(location), type(error).__name__, doing
        # Refused access or a path that names a file as a folder wait for a person, not a retry.
        self.transient = not isinstance(error, (PermissionError, NotADirectoryError, IsADirectoryError))
        detail = str(error).replace(str(location), self.location)[:200]
        super().__init__(f"cannot {doing} {self.location}: {self.kind}" + (f" ({detail})" if detail else ""))

    def __reduce__(self):
        return (_storage_error, (self.location, self.kind, self.doing, self.transient, str(self)))


def _storage_error(location: str, kind: str, doing: str, transient: bool, text: str) -> StorageError:
    err = StorageError.__new__(StorageError)
    Exception.__init__(err, text)
    err.location, err.kind, err.doing, err.transient = location, kind, doing, transient
    return err


def redact_location(location: object) -> str:
    """A location as it may be shown: a URL's user and password (`s3://key:secret@bucket`) replaced by `***`."""
    text = str(location)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rsplit("@", 1)[1]
    return f"{scheme}://{authority}{slash}{path}"


@contextmanager
def failure_policy() -> Iterator[None]:
    """One rule for every task: bad input, bad config, permanent API errors and seal conflicts fail now
    (no retry); transient errors propagate as they are, so Airflow retries the task."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowNotFoundException

    try:
        yield
    except EssValidationError as err:
        raise AirflowFailException(f"invalid input: {err}") from None
    except EssConfigError as err:
        raise AirflowFailException(f"connection settings: {err}") from None
    except AirflowNotFoundException as err:
        raise AirflowFailException(f"connection not found: {err}") from None
    except EssError as err:
        if err.transient:
            raise
        raise AirflowFailException(str(err)) from None
