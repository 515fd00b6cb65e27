"""HTTP only: framing and body limits, the TC3 signature check, the `Response` envelope, the gateway's rate
limit, injected faults, and the `/_emulator/*` endpoints. The actions themselves are `responses.py`.

Order of checks for `POST /`: Host present → Content-Length well formed (no Transfer-Encoding) → body size →
Content-Type → action/version headers → Authorization → JSON body → rate limit → latency → injected fault →
the action → `drop_after` fault → answer.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import signing
from .exceptions import (
    EssError,
    InternalError,
    InvalidAction,
    InvalidAuthorization,
    InvalidParameter,
    MissingParameter,
    NoSuchVersion,
    RequestLimitExceeded,
    RequestSizeLimitExceeded,
    SecretIdNotFound,
    SignatureExpire,
    SignatureFailure,
)
from .faults import FaultInjector
from .models import EssBackend
from .responses import ACTIONS, EssResponses
from .sealdraw import draw_seal
from .throttle import SlidingWindowLimiter

VERSION = "2021-05-26"
SERVICE = "essbasic"
MAX_BODY = 10 * 1024 * 1024  # the API's body limit with TC3 signing
MAX_SKEW_SECONDS = 300
BODY_SECONDS = 30.0  # a body must arrive within this (a stalled client does not hold a thread forever)
# After refusing a request whose body is not read, what the client still sends is read and dropped (64 KiB at a
# time, never kept), up to these bounds, so that closing does not reset the connection before the answer is read.
DRAIN_BYTES, DRAIN_SECONDS = 8 * MAX_BODY, 10.0
LINGER_BYTES, LINGER_SECONDS = 1024 * 1024, 2.0
_DIGITS = re.compile(r"[0-9]+")
log = logging.getLogger("ess_emulator")


@dataclass
class EmulatorConfig:
    """Everything `python -m ess_emulator` can be told."""

    credentials: dict[str, str]
    rate_limit: int = 20
    latency_ms: tuple[float, float] = (0.0, 0.0)
    slow_seconds: float = 3.0
    faults: dict[str, float] = field(default_factory=dict)
    seed: int | None = None


class EmulatorState:
    """Shared by every handler thread: the model, its responses, the limiter, the fault injector and counters."""

    def __init__(self, backend: EssBackend, config: EmulatorConfig) -> None:
        self.backend = backend
        self.responses = EssResponses(backend)
        self.config = config
        self.limiter = SlidingWindowLimiter(config.rate_limit)
        self.faults = FaultInjector(config.faults, config.seed)
        self.request_counts: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        self._lock = threading.Lock()

    def count(self, counter: Counter[str], key: str) -> None:
        with self._lock:
            counter[key] += 1

    def as_json(self) -> dict[str, Any]:
        with self._lock:
            counts, limited = dict(self.request_counts), dict(self.rate_limited)
        return {
            "seals": self.backend.snapshot(),
            "request_counts": counts,
            "rate_limited": limited,
            "faults_injected": dict(self.faults.injected),
        }

    def reset(self) -> None:
        """Back to a fresh start (like moto's reset): no seals, grants or counts, full quotas, the fault
        sequence from its seed again. Fixture, credentials and options stay."""
        self.backend.reset()
        self.limiter.reset()
        with self._lock:
            self.request_counts.clear()
            self.rate_limited.clear()
            self.faults = FaultInjector(self.config.faults, self.config.seed)


class _Drop(Exception):
    """Close the connection without answering."""


class _Refused(Exception):
    """A request refused before its body is read: answered with `status` and the envelope, then closed."""

    def __init__(self, status: int, error: EssError, drain: int = LINGER_BYTES, seconds: float = LINGER_SECONDS):
        super().__init__(error.code)
        self.status, self.error, self.drain, self.seconds = status, error, drain, seconds


class EssRequestHandler(BaseHTTPRequestHandler):
    """One HTTP request. Never logs bodies, headers or keys: only action, code and RequestId."""

    protocol_version = "HTTP/1.1"
    server_version = "ess-emulator"
    state: EmulatorState  # set on the subclass made by EmulatorServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - BaseHTTPRequestHandler's signature
        return  # access lines would name paths only, but one place decides what is logged: _answer

    # ------------------------------------------------------------------ GET: inspection and previews
    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/_emulator/state":
            self._send(200, "application/json", json.dumps(self.state.as_json(), ensure_ascii=False).encode())
        elif path == "/_emulator/health":
            self._send(200, "application/json", b'{"ok": true}')
        elif path.startswith("/_emulator/seal-images/") and path.endswith(".png"):
            seal = self.state.backend.seal(path.rsplit("/", 1)[1][: -len(".png")])
            if seal is None or seal.from_image:
                self._send(404, "text/plain", b"no such seal preview")
            else:
                self._send(200, "image/png", draw_seal(seal.name, seal.style, seal.size, seal.horizontal_text))
        else:
            self._send(404, "text/plain", b"not found")

    # ------------------------------------------------------------------ POST: the API, and reset
    def do_POST(self) -> None:
        request_id = str(uuid.uuid4())
        action = self.headers.get("X-TC-Action", "")
        is_reset = self.path.split("?", 1)[0] == "/_emulator/reset"
        if not is_reset:
            self.state.count(self.state.request_counts, action or "<none>")
        try:
            body = self._read_body(required=not is_reset)
            if is_reset:
                self.state.reset()
                return self._send(200, "application/json", b'{"ok": true}')
            self._handle_api(request_id, action, body)
        except _Refused as refused:
            self.close_connection = True
            self._answer(request_id, action, error=refused.error, status=refused.status)
            self._discard(refused.drain, refused.seconds)
        except _Drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _read_body(self, *, required: bool) -> bytes:
        """The body, once its framing is sound and it is within MAX_BODY; nothing is read before that."""
        if not self.headers.get("Host"):
            # HTTP/1.1 requires Host (RFC 9112 §3.2: 400). Its value is not checked: the emulator is reached
            # as 127.0.0.1:PORT, by a compose service name, ...; the signature covers whatever was sent.
            raise _Refused(400, InvalidParameter("缺少 Host 请求头"))
        if self.headers.get("Transfer-Encoding") is not None:
            raise _Refused(411, InvalidParameter("不支持 Transfer-Encoding,请求须带 Content-Length"))
        lengths = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if not lengths and not required:
            return b""
        if len(lengths) != 1 or not _DIGITS.fullmatch(next(iter(lengths))):
            raise _Refused(400, InvalidParameter("Content-Length 缺失或不是非负整数"))
        length = int(lengths.pop())
        if length > MAX_BODY:
            # ASSUMPTION: the documented envelope (HTTP 200, RequestSizeLimitExceeded), answered before the body is
            # read, so the SDK reports the code; the body is then read and dropped up to DRAIN_BYTES so the client
            # can read the answer, and past that the connection is closed.
            drain = length if length <= DRAIN_BYTES else LINGER_BYTES
            raise _Refused(200, RequestSizeLimitExceeded(), drain, DRAIN_SECONDS)
        self.connection.settimeout(BODY_SECONDS)
        try:
            body = self.rfile.read(length)
        except OSError:  # a timeout included
            raise _Drop from None
        if len(body) < length:
            raise _Drop  # the client went away mid-body
        self.connection.settimeout(None)  # an idle keep-alive connection may wait for its next request
        return body

    def _discard(self, limit: int, seconds: float) -> None:
        """Read and drop up to `limit` bytes the client is still sending, for at most `seconds`."""
        deadline = time.monotonic() + seconds
        try:
            self.connection.shutdown(socket.SHUT_WR)  # the answer is complete: the client sees end of stream
            while limit > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.connection.settimeout(remaining)
                chunk = self.rfile.read1(min(limit, 64 * 1024))
                if not chunk:
                    break
                limit -= len(chunk)
        except OSError:
            pass

    def _handle_api(self, request_id: str, action: str, body: bytes) -> None:
        state = self.state
        try:
            params, secret_id = self._check_request(action, body)
        except EssError as error:
            return self._answer(request_id, action, error=error)
        if not state.limiter.admit((secret_id, action)):
            state.count(state.rate_limited, action)
            return self._answer(request_id, action, error=RequestLimitExceeded())
        # ASSUMPTION: the gateway counts a request against the rate limit when it arrives; --latency-ms is the
        # service's processing time after that, so a client pacing its sends is paced at the gateway too.
        low, high = state.config.latency_ms
        if high > 0:
            time.sleep(state.faults.uniform(low, high) / 1000.0)

        fault = state.faults.draw()
        if fault == "http5xx":
            return self._send(502, "text/html", b"<html><body>502 Bad Gateway</body></html>")
        if fault == "drop_before":
            raise _Drop
        if fault == "internal":
            return self._answer(request_id, action, error=InternalError())
        if fault == "slow":
            time.sleep(state.config.slow_seconds)
        try:
            result = state.responses.dispatch(action, params, self.headers["Host"])
        except EssError as error:
            return self._answer(request_id, action, error=error)
        if fault == "drop_after":
            raise _Drop  # applied and committed, the answer lost
        self._answer(request_id, action, result=result)

    def _check_request(self, action: str, body: bytes) -> tuple[dict[str, Any], str]:
        """Content type, headers, signature and body; returns (params, secret_id) or raises EssError."""
        if not _is_json(self.headers.get("Content-Type", "")):
            # ASSUMPTION: like the gateway for a TC3 POST with a JSON body, only `application/json` (optionally
            # `; charset=utf-8`) is accepted; anything else is the common code InvalidParameter.
            raise InvalidParameter("Content-Type 必须是 application/json")
        if not action:
            raise MissingParameter("缺少公共参数 X-TC-Action")
        version = self.headers.get("X-TC-Version")
        if not version:
            raise MissingParameter("缺少公共参数 X-TC-Version")
        if version != VERSION:
            raise NoSuchVersion(f"接口版本 {version} 不存在")
        if action not in ACTIONS:
            raise InvalidAction(f"接口 {action} 不存在")
        auth = signing.parse_authorization(self.headers.get("Authorization"))
        if auth is None:
            raise InvalidAuthorization("Authorization 请求头缺失或格式错误")
        if auth.service != SERVICE:
            raise InvalidAuthorization(f"签名服务名应为 {SERVICE}")
        try:
            timestamp = int(self.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            raise InvalidAuthorization("X-TC-Timestamp 缺失或不是整数") from None
        if abs(time.time() - timestamp) > MAX_SKEW_SECONDS:
            raise SignatureExpire
        secret_key = self.state.config.credentials.get(auth.secret_id)
        if secret_key is None:
            raise SecretIdNotFound
        headers = {name.lower(): value for name, value in self.headers.items()}
        if not signing.verify(auth, secret_key, timestamp, headers, body):
            raise SignatureFailure
        try:
            params = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise InvalidParameter("请求体不是合法的 JSON") from None
        if not isinstance(params, dict):
            raise InvalidParameter("请求体必须是 JSON 对象")
        return params, auth.secret_id

    # ------------------------------------------------------------------ answers
    def _answer(
        self,
        request_id: str,
        action: str,
        *,
        result: dict[str, Any] | None = None,
        error: EssError | None = None,
        status: int = 200,
    ) -> None:
        if error is not None:
            body: dict[str, Any] = {"Error": {"Code": error.code, "Message": error.message}}
            log.info("%s %s %s", action or "-", error.code, request_id)
        else:
            body = dict(result or {})
            log.debug("%s ok %s", action, request_id)
        body["RequestId"] = request_id
        payload = json.dumps({"Response": body}, ensure_ascii=False).encode("utf-8")
        self._send(status, "application/json", payload)  # exactly application/json: the SDK reads errors only then

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


def _is_json(content_type: str) -> bool:
    """`application/json`, optionally with `charset=utf-8` (any case, any spacing); nothing else."""
    media_type, *parameters = (part.strip().lower() for part in content_type.split(";"))
    return media_type == "application/json" and all(
        parameter.replace(" ", "") in ("charset=utf-8", 'charset="utf-8"') for parameter in parameters
    )


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server whose handler threads share one EmulatorState."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], state: EmulatorState) -> None:
        handler = type("BoundEssRequestHandler", (EssRequestHandler,), {"state": state})
        super().__init__(address, handler)
        self.state = state

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"
