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


#: In one call, the hook gives up after this many internal errors or outages (rate limits and network errors
#: only count towards its `max_attempts`): one blip is retried at once, a run of them is left to Airflow's task
#: retries with their longer delays.
SERVER_ERROR_ATTEMPTS = 3


def is_server_error(code: str) -> bool:
    """Transient on the server's side: internal errors and outages (not rate limits, not the network)."""
    return is_transient(code) and code not in NETWORK_CODES and not is_rate_limited(code)


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
