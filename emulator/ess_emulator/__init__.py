"""A local emulator of Tencent Cloud e-signature (essbasic 2021-05-26) for the seal actions: `build_server`,
`EmbeddedEmulator` (a server in a background thread, for tests), `DEFAULT_FIXTURE`, and `fetch_state` (what a
running emulator holds and has counted, as `GET /_emulator/state` answers).

Use it from the command line (`python -m ess_emulator --help`) or embedded in tests::

    with EmbeddedEmulator() as emulator:
        ...  # point an HttpProfile / Airflow connection at emulator.url

Layout (like moto): `models` (state and rules), `responses` (each action's parameters in, JSON out),
`exceptions` (one class per error code), `server` (HTTP), and beside them `signing` (TC3), `throttle` (the
gateway's rate limit), `faults`, `fixtures`, `sealdraw`.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .exceptions import EssError
from .fixtures import DEFAULT_FIXTURE, Fixture
from .models import PROFILES, EssBackend
from .server import EmulatorConfig, EmulatorServer, EmulatorState

__all__ = [
    "EssError",
    "EmbeddedEmulator",
    "EmulatorConfig",
    "build_server",
    "DEFAULT_FIXTURE",
    "PROFILES",
    "fetch_state",
]


def fetch_state(url: str, timeout: float = 60.0) -> dict[str, Any]:
    """`GET {url}/_emulator/state` of a running emulator: its seals with their grants, the calls it answered by
    action, and those it refused for rate. Never through a proxy: the emulator is local."""
    import json
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"{url.rstrip('/')}/_emulator/state", timeout=timeout) as answer:
        return json.loads(answer.read().decode("utf-8"))


def build_server(
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    db: str | os.PathLike[str] = ":memory:",
    fixtures: str | os.PathLike[str] = DEFAULT_FIXTURE,
    secret_id: str | None = None,
    secret_key: str | None = None,
    review_seconds: float = 0.0,
    profiles: Iterable[str] = (),
    **config: Any,
) -> EmulatorServer:
    """A bound, not yet serving, emulator; `config` takes the EmulatorConfig fields (rate_limit, faults, ...)."""
    fixture = Fixture.load(fixtures)
    credentials = dict(fixture.credentials)
    if secret_id and secret_key:
        credentials[secret_id] = secret_key
    elif secret_id or secret_key:
        raise ValueError("--secret-id and --secret-key go together")
    backend = EssBackend(str(db), fixture, review_seconds, profiles)
    state = EmulatorState(backend, EmulatorConfig(credentials=credentials, **config))
    return EmulatorServer((host, port), state)


class EmbeddedEmulator:
    """The emulator on a free loopback port in a background thread, for tests (like moto's server mode)."""

    def __init__(self, db: str | os.PathLike[str] | None = None, **options: Any) -> None:
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if db is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="ess-emulator-")
            db = Path(self._tmp.name) / "ess.db"
        self.server = build_server(db=db, **options)
        self._thread = threading.Thread(target=self.server.serve_forever, name="ess-emulator", daemon=True)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def endpoint(self) -> str:
        """`host:port`, the form the SDK's HttpProfile.endpoint takes."""
        return self.url.split("://", 1)[1]

    @property
    def state(self) -> EmulatorState:
        return self.server.state

    def __enter__(self) -> EmbeddedEmulator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget every seal, grant and count, as `POST /_emulator/reset` does."""
        self.server.state.reset()

    def close(self) -> None:
        """Stop serving (if it ever started: `shutdown()` would wait forever for a loop that never ran) and free the
        port, the database and the temporary folder."""
        if self._thread.is_alive():
            self.server.shutdown()
        self.server.server_close()
        self.server.state.backend.close()
        if self._tmp is not None:
            self._tmp.cleanup()
