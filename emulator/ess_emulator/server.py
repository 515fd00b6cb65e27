"""The wire format: HTTP, the TC3 signature check, the `Response` envelope, limits and injected faults.

Order of checks for `POST /`: body size → action/version headers → Authorization → JSON body →
rate limit → latency → injected fault → the action (models.py) → `drop_after` fault → answer.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import signing
from .faults import FaultInjector
from .models import ACTIONS, ApiError, EssBackend
from .ratelimit import SlidingWindowLimiter
from .sealdraw import draw_seal

VERSION = "2021-05-26"
SERVICE = "essbasic"
MAX_BODY = 10 * 1024 * 1024
MAX_SKEW_SECONDS = 300
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
    """Shared by every handler thread: backend, limiter, fault injector and counters."""

    def __init__(self, backend: EssBackend, config: EmulatorConfig) -> None:
        self.backend = backend
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


class _Drop(Exception):
    """Close the connection without answering."""


class EssRequestHandler(BaseHTTPRequestHandler):
    """One HTTP request. Never logs bodies, headers or keys: only action, code and RequestId."""

    protocol_version = "HTTP/1.1"
    server_version = "ess-emulator"
    state: EmulatorState  # set on the subclass made by make_server

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
            row = self.state.backend.seal_row(path.rsplit("/", 1)[1][: -len(".png")])
            if row is None or row["from_image"]:
                self._send(404, "text/plain", b"no such seal preview")
            else:
                png = draw_seal(row["seal_name"], row["seal_style"], row["seal_size"], row["horizontal_text"])
                self._send(200, "image/png", png)
        else:
            self._send(404, "text/plain", b"not found")

    # ------------------------------------------------------------------ POST /: the API
    def do_POST(self) -> None:
        request_id = str(uuid.uuid4())
        action = self.headers.get("X-TC-Action", "")
        try:
            self._handle_api(request_id, action)
        except _Drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _handle_api(self, request_id: str, action: str) -> None:
        state = self.state
        state.count(state.request_counts, action or "<none>")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self._drain(length)
            return self._answer(request_id, action, error=ApiError("RequestSizeLimitExceeded", "请求包超过10MB"))
        body = self.rfile.read(length)
        try:
            params, secret_id = self._check_request(action, body)
        except ApiError as error:
            return self._answer(request_id, action, error=error)
        if not state.limiter.admit((secret_id, action)):
            state.count(state.rate_limited, action)
            return self._answer(request_id, action, error=ApiError("RequestLimitExceeded", "请求频率超过限制"))
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
            return self._answer(request_id, action, error=ApiError("InternalError.System", "系统错误,请稍后重试"))
        if fault == "slow":
            time.sleep(state.config.slow_seconds)
        host = self.headers.get("Host", "")
        try:
            result = state.backend.handle(action, params, host)
        except ApiError as error:
            return self._answer(request_id, action, error=error)
        if fault == "drop_after":
            raise _Drop  # applied and committed, the answer lost
        self._answer(request_id, action, result=result)

    def _drain(self, length: int) -> None:
        """Read and drop an oversized body so the client sees the answer, not a reset; absurd sizes just close."""
        self.close_connection = True
        if length <= 8 * MAX_BODY:
            while length > 0:
                chunk = self.rfile.read(min(length, 1 << 20))
                if not chunk:
                    break
                length -= len(chunk)

    def _check_request(self, action: str, body: bytes) -> tuple[dict[str, Any], str]:
        """Headers, signature and body; returns (params, secret_id) or raises ApiError."""
        if not action:
            raise ApiError("MissingParameter", "缺少公共参数 X-TC-Action")
        version = self.headers.get("X-TC-Version")
        if not version:
            raise ApiError("MissingParameter", "缺少公共参数 X-TC-Version")
        if version != VERSION:
            raise ApiError("NoSuchVersion", f"接口版本 {version} 不存在")
        if action not in ACTIONS:
            raise ApiError("InvalidAction", f"接口 {action} 不存在")
        auth = signing.parse_authorization(self.headers.get("Authorization"))
        if auth is None:
            raise ApiError("AuthFailure.InvalidAuthorization", "Authorization 请求头缺失或格式错误")
        if auth.service != SERVICE:
            raise ApiError("AuthFailure.InvalidAuthorization", f"签名服务名应为 {SERVICE}")
        try:
            timestamp = int(self.headers.get("X-TC-Timestamp", ""))
        except ValueError:
            raise ApiError("AuthFailure.InvalidAuthorization", "X-TC-Timestamp 缺失或不是整数") from None
        if abs(time.time() - timestamp) > MAX_SKEW_SECONDS:
            raise ApiError("AuthFailure.SignatureExpire", "签名过期,请求时间与服务器时间相差超过5分钟")
        secret_key = self.state.config.credentials.get(auth.secret_id)
        if secret_key is None:
            raise ApiError("AuthFailure.SecretIdNotFound", "密钥不存在")
        headers = {name.lower(): value for name, value in self.headers.items()}
        if not signing.verify(auth, secret_key, timestamp, headers, body):
            raise ApiError("AuthFailure.SignatureFailure", "签名错误")
        try:
            params = json.loads(body or b"{}")
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ApiError("InvalidParameter", "请求体不是合法的 JSON") from None
        if not isinstance(params, dict):
            raise ApiError("InvalidParameter", "请求体必须是 JSON 对象")
        return params, auth.secret_id

    # ------------------------------------------------------------------ answers
    def _answer(
        self, request_id: str, action: str, *, result: dict[str, Any] | None = None, error: ApiError | None = None
    ) -> None:
        if error is not None:
            body: dict[str, Any] = {"Error": {"Code": error.code, "Message": error.message}}
            log.info("%s %s %s", action or "-", error.code, request_id)
        else:
            body = dict(result or {})
            log.debug("%s ok %s", action, request_id)
        body["RequestId"] = request_id
        payload = json.dumps({"Response": body}, ensure_ascii=False).encode("utf-8")
        self._send(200, "application/json", payload)  # exactly application/json: the SDK reads errors only then

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)


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
