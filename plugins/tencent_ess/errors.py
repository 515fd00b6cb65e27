"""The one place that decides which failures are transient (retry) and which are permanent (fail now).

Source: ESS_API.md "Common error codes". Everything not listed as transient is permanent: retrying a
bad parameter or a refused signature only burns time and quota.
"""

from __future__ import annotations

#: SDK-side codes: a requests exception (`ClientNetworkError`) or a non-200 HTTP status (`ServerNetworkError`).
NETWORK_CODES = frozenset({"ClientNetworkError", "ServerNetworkError"})
#: Prefixes of API codes worth retrying. `RequestLimitExceeded` covers `.UinLimitExceeded`, `.IPLimitExceeded`, ...
TRANSIENT_PREFIXES = ("RequestLimitExceeded", "InternalError", "ServiceUnavailable")
RATE_LIMIT_PREFIX = "RequestLimitExceeded"


def _matches(code: str, prefix: str) -> bool:
    return code == prefix or code.startswith(prefix + ".")


def is_rate_limited(code: str) -> bool:
    """`RequestLimitExceeded` and its sub-codes."""
    return _matches(code, RATE_LIMIT_PREFIX)


def is_transient(code: str) -> bool:
    """True when the same request may succeed later: rate limits, internal errors, outages, network errors."""
    return code in NETWORK_CODES or any(_matches(code, prefix) for prefix in TRANSIENT_PREFIXES)


#: Attempts per call for an internal error or outage: one blip is retried at once, a run of them goes up
#: to Airflow's task retries with their longer delays.
SERVER_ERROR_ATTEMPTS = 3


def in_call_attempts(code: str, max_attempts: int) -> int:
    """How many attempts the hook makes, in one call, when the last attempt failed with `code`.

    Rate limits and network errors: up to `max_attempts` (short, paced retries ride them out).
    Internal errors and outages: up to SERVER_ERROR_ATTEMPTS. Permanent errors: one.
    """
    if code in NETWORK_CODES or is_rate_limited(code):
        return max_attempts
    if is_transient(code):
        return min(max_attempts, SERVER_ERROR_ATTEMPTS)
    return 1


class EssError(Exception):
    """Base class of this provider's errors."""


class EssApiError(EssError):
    """A failed essbasic call: the API's code and message, its RequestId, the action, and whether it is transient."""

    def __init__(self, action: str, code: str, message: str, request_id: str | None = None) -> None:
        self.action = action
        self.code = code
        self.message = message
        self.request_id = request_id or ""
        self.transient = is_transient(code)
        super().__init__(str(self))

    def __str__(self) -> str:
        kind = "transient" if self.transient else "permanent"
        return f"{self.action} failed with {self.code} ({kind}, RequestId {self.request_id or 'none'}): {self.message}"

    def __reduce__(self):  # keeps the exception picklable across processes
        return (type(self), (self.action, self.code, self.message, self.request_id))


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
