"""Errors: the one table of transient vs permanent failures, the provider's domain errors, and the one
policy that turns them into Airflow task outcomes.

Source of the table: ESS_API.md "Common error codes". Everything not listed as transient is permanent:
retrying a bad parameter or a refused signature only burns time and quota. Nothing below the operators
raises an Airflow exception; `failure_policy` is where domain errors become task outcomes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

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
}


def _matches(code: str, prefix: str) -> bool:
    return code == prefix or code.startswith(prefix + ".")


def is_rate_limited(code: str) -> bool:
    """`RequestLimitExceeded` and its sub-codes."""
    return _matches(code, RATE_LIMIT_PREFIX)


def is_transient(code: str) -> bool:
    """True when the same request may succeed later: rate limits, internal errors, outages, network errors."""
    return code in NETWORK_CODES or any(_matches(code, prefix) for prefix in TRANSIENT_PREFIXES)


def is_server_error(code: str) -> bool:
    """Transient on the server's side: internal errors and outages (not rate limits, not the network)."""
    return is_transient(code) and code not in NETWORK_CODES and not is_rate_limited(code)


class EssError(Exception):
    """Base class of this provider's errors. `transient` says whether the same work may succeed later."""

    transient = False


class EssApiError(EssError):
    """A failed essbasic call: the API's code and message, its RequestId, the action, and whether it is transient.

    `attempts` is how many times the hook sent the request before giving up (a create sent more than once
    may have been applied by an attempt whose answer was lost). `hint` names what to check, where known.
    """

    def __init__(self, action: str, code: str, message: str, request_id: str | None = None, hint: str = "") -> None:
        self.action = action
        self.code = code
        self.message = message
        self.request_id = request_id or ""
        self.hint = hint
        self.transient = is_transient(code)
        self.attempts = 1
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
            f"seal_name: a seal named {seal_name!r} exists already (SealId {seal_id}) and if_exists='fail'")

    def __reduce__(self):
        return (type(self), (self.seal_name, self.seal_id))


class SealRefusedError(EssError):
    """The platform's review refused an image seal (status FAIL): waiting or retrying cannot change that."""

    def __init__(self, seal_name: str, seal_id: str, fail_reason: str, status: str = "FAIL") -> None:
        self.seal_name, self.seal_id, self.fail_reason, self.status = seal_name, seal_id, fail_reason, status
        named = f"seal {seal_name!r} (SealId {seal_id})" if seal_name else f"seal {seal_id}"
        super().__init__(
            f"{named} is {status}: refused in review: {fail_reason or 'no reason given'}. "
            "Fix the image and create it under a new seal_name (the refused seal keeps its name), "
            "or disable the refused seal first."
        )

    def __reduce__(self):
        return (type(self), (self.seal_name, self.seal_id, self.fail_reason, self.status))


class SealUnusableError(EssError):
    """The seal is in a state that cannot be granted or waited for (e.g. DISABLE)."""


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
