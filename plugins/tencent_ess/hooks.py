"""EssHook: an Airflow connection turned into the vendor's official essbasic client.

Connection `tencentcloud_ess_default` (type `tencentcloud_ess`): login = SecretId, password = SecretKey,
host / port / schema = the endpoint (default `essbasic.tencentcloudapi.com`, 443, https; the legacy extra
`endpoint`, a URL, still works), extras `app_id` (required), `region`, `timeout` (seconds),
`allow_plain_http` (opt-in to http for a non-loopback host on a private network; off by default).
"""

from __future__ import annotations

import functools
import ipaddress
import json
import logging
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from airflow.sdk import BaseHook
from tenacity import Retrying, retry_if_exception, wait_exponential_jitter

from . import CONN_TYPE, DEFAULT_CONN_ID, metrics
from .errors import (
    CREDENTIAL_HINTS,
    SERVER_ERROR_ATTEMPTS,
    EssApiError,
    EssConfigError,
    is_rate_limited,
    is_server_error,
    tenant_hint,
)

DEFAULT_ENDPOINT = "https://essbasic.tencentcloudapi.com"
DEFAULT_TIMEOUT = 30
DEFAULT_PORTS = {"https": 443, "http": 80}

#: The SDK's logger: it logs whole requests (images included) at DEBUG.
SDK_LOGGER = "tencentcloud_sdk_common"


@dataclass(frozen=True)
class EssSettings:
    """Checked connection settings. The key is kept out of repr() so it cannot reach a log by accident."""

    secret_id: str
    secret_key: str = field(repr=False)
    app_id: str
    scheme: str
    netloc: str  # host[:port]: where requests go, and the signed Host header
    region: str = ""
    timeout: float = DEFAULT_TIMEOUT


def is_loopback(hostname: str) -> bool:
    """`localhost` or a loopback address (where plain http and the sandbox check's endpoint are allowed)."""
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def parse_endpoint(endpoint: str, allow_plain_http: bool = False, field: str = "extra 'endpoint'") -> tuple[str, str]:
    """`https://host[:port]` → ("https", "host[:port]"); plain http only to a loopback host,
    or anywhere when the connection explicitly opts in (`allow_plain_http`, e.g. a compose network).
    `field` names the connection setting the URL came from, for the error message."""
    parts = urlsplit(endpoint.strip())
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError:
        raise EssConfigError(f"connection {field}: {endpoint!r} has an invalid port") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EssConfigError(f"connection {field}: {endpoint!r} is not an http(s) URL like {DEFAULT_ENDPOINT}")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise EssConfigError(f"connection {field}: {endpoint!r} must be scheme://host[:port] only")
    if parts.scheme == "http" and not (allow_plain_http or is_loopback(parts.hostname)):
        raise EssConfigError(
            f"connection {field}: plain http is refused for non-loopback host {parts.hostname!r}; use https"
        )
    return parts.scheme, parts.netloc


def _destination(scheme: str, netloc: str) -> tuple[str, str, int]:
    """(scheme, hostname, port) with the scheme's default port filled in, to compare two spellings."""
    parts = urlsplit(f"{scheme}://{netloc}")
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS[scheme]


def _endpoint_from_fields(conn: Any, allow_http: bool) -> tuple[str, str] | None:
    """The destination from the connection's own host / port / schema fields (what the UI form shows as
    Endpoint host, Port and Scheme), or None when host is empty. `host` may also be a URL (`https://host`)."""
    host = (conn.host or "").strip()
    if not host:
        return None
    schema = (conn.schema or "").strip().lower()
    if "://" in host:
        url_scheme, _, host = host.partition("://")
        url_scheme = url_scheme.lower()
        if schema and schema != url_scheme:
            raise EssConfigError(f"connection {conn.conn_id!r}: host says {url_scheme!r} but schema says {schema!r}")
        schema = url_scheme
    scheme = schema or "https"
    if scheme not in DEFAULT_PORTS:
        raise EssConfigError(f"connection {conn.conn_id!r}: schema {scheme!r} must be 'https' (or 'http' to loopback)")
    netloc = host.rstrip("/")
    if conn.port:
        if urlsplit(f"{scheme}://{netloc}").port not in (None, int(conn.port)):
            raise EssConfigError(f"connection {conn.conn_id!r}: host {host!r} and port {conn.port} disagree")
        bare = urlsplit(f"{scheme}://{netloc}").hostname or netloc
        bare = f"[{bare}]" if ":" in bare else bare
        # The scheme's default port is left out: it is also the signed Host header, which the API expects bare.
        netloc = bare if int(conn.port) == DEFAULT_PORTS[scheme] else f"{bare}:{int(conn.port)}"
    return parse_endpoint(f"{scheme}://{netloc}", allow_http, field="host/port/schema")


def _checked_secret(conn: Any, value: str | None, field: str) -> str:
    if not value:
        raise EssConfigError(f"connection {conn.conn_id!r}: {field} is empty")
    if value != value.strip():
        # The value itself is never quoted: it may be (part of) the key.
        raise EssConfigError(f"connection {conn.conn_id!r}: {field} has leading or trailing whitespace")
    return value


def settings_from_connection(conn: Any) -> EssSettings:
    """Check an Airflow Connection; every missing or wrong setting is named.

    The destination is the connection's host (+ port, + schema, default https) — the fields Airflow's UI
    shows and guards when a connection is tested — or, for connections made before, the `endpoint` extra.
    Both may be set only if they name the same destination. Neither: the public endpoint.
    """
    extra = conn.extra_dejson or {}
    secret_id = _checked_secret(conn, conn.login, "login (SecretId)")
    secret_key = _checked_secret(conn, conn.password, "password (SecretKey)")
    app_id = str(extra.get("app_id") or "").strip()
    if not app_id:
        raise EssConfigError(f"connection {conn.conn_id!r}: extra 'app_id' (the channel AppId) is missing")
    allow_http = str(extra.get("allow_plain_http", "")).lower() in ("true", "1", "yes")
    from_fields = _endpoint_from_fields(conn, allow_http)
    legacy = str(extra.get("endpoint") or "").strip()
    from_extra = parse_endpoint(legacy, allow_http) if legacy else None
    if from_fields and from_extra and _destination(*from_fields) != _destination(*from_extra):
        raise EssConfigError(
            f"connection {conn.conn_id!r}: host/port/schema ({from_fields[0]}://{from_fields[1]}) and extra 'endpoint' "
            f"({legacy}) name different endpoints; keep one (host and port preferred)"
        )
    scheme, host = from_fields or from_extra or parse_endpoint(DEFAULT_ENDPOINT)
    try:
        timeout = float(extra.get("timeout") or DEFAULT_TIMEOUT)
    except (TypeError, ValueError):
        raise EssConfigError(f"connection {conn.conn_id!r}: extra 'timeout' must be a number of seconds") from None
    if not math.isfinite(timeout):
        raise EssConfigError(f"connection {conn.conn_id!r}: extra 'timeout' must be a finite number of seconds")
    if timeout <= 0:
        raise EssConfigError(f"connection {conn.conn_id!r}: extra 'timeout' must be positive")
    return EssSettings(secret_id, secret_key, app_id, scheme, host, str(extra.get("region") or ""), timeout)


@functools.cache  # one subclass, however many threads build clients
def _client_class(base: type) -> type:
    """The SDK's client, telling HTTP statuses apart: the SDK reports every non-200 answer as one
    `ServerNetworkError`, which would make a gateway's 400/403/413 look transient. Here 5xx, 408 and 429 stay
    `ServerNetworkError` (transient); any other status is `HTTPError.<status>` (permanent)."""
    from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

    class EssClient(base):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # The SDK resolves its proxy itself (HTTPS_PROXY/HTTP_PROXY unless the host is in NO_PROXY) and passes
            # it, and its CA bundle, with every request. Left to trust the environment, requests would also scan
            # os.environ for proxies and stat ~/.netrc on every call (a quarter of the client's CPU per call in a
            # worker's large environment), and a ~/.netrc entry for the host would replace the signed
            # Authorization header with Basic auth.
            self.request.conn._session.trust_env = False

        def _check_status(self, resp_inter: Any) -> None:
            status = resp_inter.status_code
            if status == 200:
                return
            code = "ServerNetworkError" if status >= 500 or status in (408, 429) else f"HTTPError.{status}"
            raise TencentCloudSDKException(code, f"HTTP {status}: {resp_inter.content[:200]!r}")

    return EssClient


class EssHook(BaseHook):
    """Calls essbasic actions through one official SDK client per thread (the SDK's session is not shared).

    :param ess_conn_id: Airflow connection id (type ``tencentcloud_ess``).
    :param max_attempts: attempts per call, counting the first, for rate limits and network errors
        (of which at most ``errors.SERVER_ERROR_ATTEMPTS`` internal errors).
    :param limiter: optional client-side rate limiter with ``acquire(action)`` and ``throttled(action)``.
    """

    conn_name_attr = "ess_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = "Tencent Cloud e-signature"

    def __init__(
        self,
        ess_conn_id: str = DEFAULT_CONN_ID,
        *,
        max_attempts: int = 6,
        backoff_base: float = 0.25,
        backoff_max: float = 8.0,
        limiter: Any = None,
    ) -> None:
        super().__init__()
        self.ess_conn_id = ess_conn_id
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.limiter = limiter
        self.stats: Counter[str] = Counter()  # calls, retries and errors by code, for run reports
        self.latency = 0.0  # seconds a call takes, moving average (0 before the first answer)
        self.retried: list[dict[str, Any]] = []  # each in-call retry: action, code, RequestId, attempt
        self._settings: EssSettings | None = None
        self._local = threading.local()
        self._lock = threading.Lock()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Relabel the generic connection form (login/password → SecretId/SecretKey)."""
        from . import get_provider_info

        return get_provider_info()["connection-types"][0]["ui-field-behaviour"]

    # ------------------------------------------------------------------ connection
    @property
    def settings(self) -> EssSettings:
        """The checked connection settings (read once)."""
        if self._settings is None:
            with self._lock:
                if self._settings is None:
                    self._settings = settings_from_connection(self.get_connection(self.ess_conn_id))
        return self._settings

    @property
    def app_id(self) -> str:
        return self.settings.app_id

    def get_conn(self) -> Any:
        """This thread's `EssbasicClient`, built on first use and reused for every later call."""
        client = getattr(self._local, "client", None)
        if client is None:
            from tencentcloud.common import credential
            from tencentcloud.common.profile.client_profile import ClientProfile
            from tencentcloud.common.profile.http_profile import HttpProfile
            from tencentcloud.essbasic.v20210526 import essbasic_client

            # Keep the SDK's request dumps (images included) out of task logs, whatever the root level.
            sdk_log = logging.getLogger(SDK_LOGGER)
            if sdk_log.getEffectiveLevel() < logging.WARNING:
                sdk_log.setLevel(logging.WARNING)
            s = self.settings
            http = HttpProfile(protocol=s.scheme, endpoint=s.netloc, reqTimeout=s.timeout)  # TLS verification stays on
            profile = ClientProfile(httpProfile=http, disable_region_breaker=True)  # the breaker would swap hosts
            client = _client_class(essbasic_client.EssbasicClient)(
                credential.Credential(s.secret_id, s.secret_key), s.region, profile
            )
            self._local.client = client
        return client

    # ------------------------------------------------------------------ calls
    def agent(
        self, proxy_organization_open_id: str, operator_open_id: str, app_id: str | None = None
    ) -> dict[str, Any]:
        """The `Agent` structure every channel call carries."""
        return {
            "AppId": app_id or self.app_id,
            "ProxyOrganizationOpenId": proxy_organization_open_id,
            "ProxyOperator": {"OpenId": operator_open_id},
        }

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _call_once(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException

        client = self.get_conn()  # built before the slot is taken: building it must not delay the send
        if self.limiter is not None:
            self.limiter.acquire(action)
        self._count(f"calls.{action}")
        sent = time.monotonic()
        try:
            body = client.call_json(action, params)
            answered = time.monotonic() - sent
            self._observe(answered)
            response = body.get("Response")
            if not isinstance(response, dict):
                raise ValueError("no Response object")
        except TencentCloudSDKException as err:
            code = err.get_code() or "ClientError"
            message = err.get_message()
            if isinstance(message, bytes):  # ServerNetworkError carries the raw body
                message = message[:200].decode("utf-8", "replace")
            error = self._error(action, code, str(message or ""), err.get_request_id(), params.get("Agent"))
        except (ValueError, KeyError, AttributeError, json.JSONDecodeError) as err:  # a 200 that is not the envelope
            error = EssApiError(action, "ServerNetworkError", f"unreadable response: {type(err).__name__}")
        else:
            # The SDK looks for Response.Error only when the Content-Type is exactly application/json: an error
            # answered as `application/json; charset=utf-8` reaches here as a "success". Never read it as one.
            failure = response.get("Error")
            if not failure:
                metrics.call_answered(action, "Ok", answered)
                return response
            if not isinstance(failure, dict):
                failure = {"Code": "ServerNetworkError", "Message": "malformed Response.Error"}
            error = self._error(
                action,
                str(failure.get("Code") or "ServerNetworkError"),
                str(failure.get("Message") or ""),
                response.get("RequestId"),
                params.get("Agent"),
            )
        self._count(f"errors.{error.code}")
        metrics.call_answered(action, error.code, time.monotonic() - sent)
        if is_rate_limited(error.code) and self.limiter is not None:
            self.limiter.throttled(action)
        raise error

    def _observe(self, seconds: float) -> None:
        with self._lock:  # a moving average: recent calls count most, one slow answer does not dominate
            self.latency = seconds if not self.latency else 0.8 * self.latency + 0.2 * seconds

    def _error(self, action: str, code: str, message: str, request_id: str | None, agent: Any = None) -> EssApiError:
        """An API error, naming the connection field to check when the credentials or AppId are refused, or the
        tenant's field (with the enterprise and operator of `agent`) for a tenant's error."""
        hint = CREDENTIAL_HINTS.get(code, "")
        if not hint and code.startswith("AuthFailure"):
            hint = "login (SecretId) and password (SecretKey)"
        if hint:
            hint = f"connection {self.ess_conn_id!r}: {hint}"
        return EssApiError(action, code, message, request_id, hint or tenant_hint(code, agent))

    def _before_sleep(self, retry_state: Any) -> None:
        error = retry_state.outcome.exception()
        self._count(f"retries.{error.code}")
        metrics.call_retried(error.action, error.code)
        with self._lock:
            self.retried.append(
                {
                    "action": error.action,
                    "code": error.code,
                    "request_id": error.request_id,
                    "attempt": retry_state.attempt_number,
                    "retried_by": "hook",
                }
            )
        self.log.warning(
            "%s: %s (RequestId %s), in-call retry %d/%d in %.2fs",
            error.action,
            error.code,
            error.request_id or "none",
            retry_state.attempt_number,
            self.max_attempts - 1,
            retry_state.next_action.sleep,
        )

    def call(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Call `action`; returns the `Response` body (RequestId included) or raises `EssApiError`.

        Transient errors are retried here, briefly, with jittered exponential backoff: up to `max_attempts`
        in all, of which at most `errors.SERVER_ERROR_ATTEMPTS` internal errors. What is left, and every
        permanent error, is raised for the caller (or Airflow's task retries) to decide. Each retry is
        logged with its RequestId and kept in `retried` for run reports.
        """
        try:
            return self._call_once(action, params)
        except EssApiError as err:
            if not err.transient:
                raise
            first = err
        # Retried outside the except block: the later attempts' errors must not carry the first as their context.
        return self._retry(action, params, first)

    def _retry(self, action: str, params: dict[str, Any], first: EssApiError) -> dict[str, Any]:
        """The rest of a call whose first attempt failed with `first`, a transient error: tenacity decides from
        that attempt on as if it had made it (the first attempt is made outside it because nearly every call succeeds
        at once, and building the retry machinery for every call costs a few percent of a call's client CPU)."""
        server_errors = 0

        def stop(retry_state: Any) -> bool:
            nonlocal server_errors
            server_errors += is_server_error(retry_state.outcome.exception().code)
            return retry_state.attempt_number >= self.max_attempts or server_errors >= SERVER_ERROR_ATTEMPTS

        retrying = Retrying(
            retry=retry_if_exception(lambda e: isinstance(e, EssApiError) and e.transient),
            # base·2ⁿ plus up to `base` of jitter: spreads clients apart yet always outlasts a 1-s rate window
            wait=wait_exponential_jitter(multiplier=self.backoff_base, max=self.backoff_max, jitter=self.backoff_base),
            stop=stop,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        replay = [first]
        earlier: list[str] = []  # the codes of the attempts that failed before the last one

        def once() -> dict[str, Any]:
            try:
                if replay:
                    raise replay.pop()  # the attempt already made, handed to tenacity as its first
                return self._call_once(action, params)
            except EssApiError as err:
                err.earlier = list(earlier)
                earlier.append(err.code)
                raise

        return retrying(once)

    # ------------------------------------------------------------------ UI
    #: The made-up enterprise the connection Test names: an answer about it proves the AppId was accepted.
    PROBE_ORGANIZATION = "ess_connection_test"
    #: Answers that can only come after the signature and the AppId were checked: the probe's enterprise (or
    #: operator) is unknown within a known application.
    PROBE_ACCEPTED = ("ResourceNotFound.Organization", "ResourceNotFound.VerifyUser")

    def test_connection(self) -> tuple[bool, str]:
        """A cheap signed call naming a made-up enterprise of the connection's AppId. It passes only on an answer
        that proves both the keys and the AppId were accepted (the enterprise is unknown); a refused key, an
        unknown AppId (`ResourceNotFound.Application`), or any answer that does not prove the AppId was
        checked fails, naming the connection field to check."""
        try:
            settings = self.settings
            probe = {
                "AppId": settings.app_id,
                "ProxyOrganizationOpenId": self.PROBE_ORGANIZATION,
                "ProxyOperator": {"OpenId": self.PROBE_ORGANIZATION},
            }
            response = self.call("ChannelDescribeOrganizationSeals", {"Agent": probe, "Limit": 1})
        except EssConfigError as err:
            return False, self._in_form(str(err))
        except EssApiError as err:
            if err.code in self.PROBE_ACCEPTED:
                return True, (
                    f"Credentials and AppId accepted by {self.settings.netloc} (the probe's made-up "
                    f"enterprise was answered {err.code}, RequestId {err.request_id})"
                )
            if err.hint:
                return False, self._in_form(str(err))
            return False, (
                f"{self._in_form(str(err))}. The answer does not show that the AppId was accepted: check the "
                "connection's extra app_id"
            )
        except Exception as err:  # noqa: BLE001 - the UI button wants a message, not a traceback
            return False, f"{type(err).__name__}: {err}"
        return True, f"Credentials and AppId accepted by {self.settings.netloc} (RequestId {response.get('RequestId')})"

    def _in_form(self, message: str) -> str:
        """A Test button's message says "the connection", not its id: the UI tests an unsaved form under a random
        id (``connection 'VNdbJbHF'``) that names nothing the user knows."""
        return message.replace(f"connection {self.ess_conn_id!r}", "the connection")
