"""The HTTP layer (`ess_emulator.server`): the `/_emulator/*` endpoints, and requests no SDK would send."""

from __future__ import annotations

import http.client
import json
import socket
import time

import pytest
import requests

from tests.conftest import agent, sdk_client
from tests.conftest import emulator_state as state
from tests.emulator.test_api import code_of, system_seal


def test_reset_empties_seals_grants_and_counters_and_keeps_fixture_and_credentials(make_emulator):
    emulator = make_emulator(rate_limit=2, faults={"internal": 0.5}, seed=3)
    client = sdk_client(emulator.endpoint)
    outcomes = []
    for i in range(4):  # some created, some refused by the rate limit, some by injected faults
        try:
            client.call_json("CreateSealByImage", system_seal(f"章{i}"))
            outcomes.append("ok")
        except Exception as err:  # noqa: BLE001 - the SDK's exception; only the counters matter here
            outcomes.append(type(err).__name__)
    before = state(emulator)
    assert before["seals"] and before["request_counts"] and before["rate_limited"] and before["faults_injected"]

    resp = requests.post(emulator.url + "/_emulator/reset", timeout=5)
    assert (
        resp.status_code == 200 and resp.headers["Content-Type"] == "application/json" and resp.json() == {"ok": True}
    )
    after = state(emulator)
    assert after == {"seals": [], "request_counts": {}, "rate_limited": {}, "faults_injected": {}}

    # the fixture's enterprise and the credentials still work; the quota is whole again; the same name is free
    emulator.state.config.faults.clear()
    seal_id = client.call_json("CreateSealByImage", system_seal("章0"))["Response"]["SealId"]
    assert client.call_json("ChannelCreateSealPolicy", {"Agent": agent(), "SealId": seal_id, "UserIds": ["n9527"]})
    assert [s["seal_name"] for s in state(emulator)["seals"]] == ["章0"]


def test_reset_replays_the_fault_sequence_from_its_seed(make_emulator):
    emulator = make_emulator(faults={"internal": 0.5}, seed=42, rate_limit=0)
    client = sdk_client(emulator.endpoint)

    def run() -> list[str]:
        out = []
        for _ in range(10):
            try:
                client.call_json("ChannelDescribeOrganizationSeals", {"Agent": agent()})
                out.append("ok")
            except Exception as err:  # noqa: BLE001
                out.append(err.get_code())
        return out

    first = run()
    requests.post(emulator.url + "/_emulator/reset", timeout=5)
    assert run() == first and "InternalError.System" in first and "ok" in first


def test_reset_without_a_body_or_content_length(emulator, client):
    client.call_json("CreateSealByImage", system_seal())
    host, port = emulator.endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST /_emulator/reset HTTP/1.1\r\nHost: {emulator.endpoint}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert state(emulator)["seals"] == []
    assert (
        code_of(client, "ChannelCreateSealPolicy", {"Agent": agent(), "SealId": "x" * 32, "UserIds": ["n9527"]})
        == "ResourceNotFound"
    )


def test_embedded_emulator_reset(emulator, client):
    client.call_json("CreateSealByImage", system_seal())
    emulator.reset()
    assert state(emulator)["seals"] == []


# ------------------------------------------------------------------ framing, size, Content-Type and Host
def signed(
    body: bytes, host: str, content_type: str = "application/json", action: str = "ChannelDescribeOrganizationSeals"
) -> dict[str, str]:
    """Headers of a correctly TC3-signed request for `body`, whatever `host` and `content_type` say."""
    from ess_emulator import signing
    from tests.conftest import SECRET_ID, SECRET_KEY

    ts = int(time.time())
    canonical = signing.canonical_request({"content-type": content_type, "host": host}, ["content-type", "host"], body)
    signature = signing.signature(SECRET_KEY, ts, "essbasic", signing.string_to_sign(ts, "essbasic", canonical))
    return {
        "Host": host,
        "Content-Type": content_type,
        "X-TC-Action": action,
        "X-TC-Version": "2021-05-26",
        "X-TC-Timestamp": str(ts),
        "Authorization": f"TC3-HMAC-SHA256 Credential={SECRET_ID}/"
        f"{signing.utc_date(ts)}/essbasic/tc3_request, SignedHeaders=content-type;host, Signature={signature}",
    }


def raw_post(emulator, head: list[tuple[str, str]], body: bytes = b"") -> tuple[int, dict, float]:
    """POST / with exactly these header lines (none added) over a raw socket: (status, JSON answer, seconds)."""
    host, port = emulator.endpoint.split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        lines = "".join(f"{name}: {value}\r\n" for name, value in head)
        sock.sendall(f"POST / HTTP/1.1\r\n{lines}\r\n".encode("latin-1") + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        answer = json.loads(response.read())
        assert response.getheader("Content-Type") == "application/json"
    return response.status, answer["Response"], time.monotonic() - started


def describe_body() -> bytes:
    return json.dumps({"Agent": agent()}).encode()


def test_a_well_formed_raw_request_is_answered(emulator):
    """The baseline the cases below differ from by one thing each."""
    body = describe_body()
    head = [*signed(body, emulator.endpoint).items(), ("Content-Length", str(len(body)))]
    status, answer, _ = raw_post(emulator, head, body)
    assert status == 200 and answer["TotalCount"] == 0, answer


@pytest.mark.parametrize(
    "length_headers, status",
    [
        ([("Content-Length", "abc")], 400),
        ([("Content-Length", "-1")], 400),
        ([("Content-Length", "+5")], 400),
        ([("Content-Length", "5"), ("Content-Length", "6")], 400),
        ([], 400),
        ([("Transfer-Encoding", "chunked")], 411),
    ],
    ids=["not-a-number", "negative", "signed", "conflicting", "missing", "chunked"],
)
def test_bad_framing_is_refused_at_once_and_the_server_lives_on(emulator, length_headers, status):
    body = describe_body()
    head = [*signed(body, emulator.endpoint).items(), *length_headers]
    code, answer, seconds = raw_post(emulator, head, body)
    assert code == status and answer["Error"]["Code"] == "InvalidParameter" and answer["RequestId"]
    assert seconds < 3
    assert requests.get(emulator.url + "/_emulator/health", timeout=5).status_code == 200


def test_a_huge_declared_length_is_answered_before_any_body_is_sent(emulator):
    head = [*signed(b"", emulator.endpoint).items(), ("Content-Length", str(300 * 1024 * 1024))]
    status, answer, seconds = raw_post(emulator, head)  # not one byte of body follows
    assert status == 200 and answer["Error"]["Code"] == "RequestSizeLimitExceeded" and seconds < 3


def test_missing_host_is_refused(emulator):
    body = describe_body()
    head = [(k, v) for k, v in signed(body, emulator.endpoint).items() if k != "Host"]
    status, answer, _ = raw_post(emulator, [*head, ("Content-Length", str(len(body)))], body)
    assert status == 400 and answer["Error"]["Code"] == "InvalidParameter"


@pytest.mark.parametrize("host", ["ess-emulator:8964", "localhost:1", "essbasic.tencentcloudapi.com"])
def test_any_signed_host_value_is_accepted(emulator, host):
    """Reached as 127.0.0.1:PORT or by a compose service name: the Host's value is signed, not checked."""
    body = describe_body()
    status, answer, _ = raw_post(emulator, [*signed(body, host).items(), ("Content-Length", str(len(body)))], body)
    assert status == 200 and "Error" not in answer, answer


@pytest.mark.parametrize(
    "content_type, accepted",
    [
        ("application/json", True),
        ("application/json; charset=utf-8", True),
        ("Application/JSON;charset=UTF-8", True),
        ("application/json; charset=gbk", False),
        ("text/plain", False),
        ("application/x-www-form-urlencoded", False),
        ("multipart/form-data; boundary=x", False),
        ("application/jsonp", False),
    ],
)
def test_content_type_must_be_json(emulator, content_type, accepted):
    body = describe_body()
    head = [*signed(body, emulator.endpoint, content_type).items(), ("Content-Length", str(len(body)))]
    status, answer, _ = raw_post(emulator, head, body)
    assert status == 200
    if accepted:
        assert "Error" not in answer, answer
    else:
        assert answer["Error"]["Code"] == "InvalidParameter" and "Content-Type" in answer["Error"]["Message"]


def test_a_missing_content_type_is_refused(emulator):
    body = describe_body()
    head = [(k, v) for k, v in signed(body, emulator.endpoint).items() if k != "Content-Type"]
    status, answer, _ = raw_post(emulator, [*head, ("Content-Length", str(len(body)))], body)
    assert status == 200 and answer["Error"]["Code"] == "InvalidParameter"


@pytest.mark.parametrize("declared", ["-1", str(1 << 40)], ids=["negative", "a-terabyte"])
def test_streaming_a_huge_body_does_not_grow_the_emulators_memory(tmp_path, declared):
    """`python -m ess_emulator` in its own process; 96 MB streamed at it under a bad or huge declared length."""
    import os
    import subprocess
    import sys

    import psutil

    from tests.conftest import ROOT

    proc = subprocess.Popen(
        [sys.executable, "-m", "ess_emulator", "--port", "0", "--db", str(tmp_path / "r.db")],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        endpoint = proc.stdout.readline().rsplit("http://", 1)[1].strip()
        host, port = endpoint.split(":")
        for _ in range(3):  # warm up the handler path, so the baseline includes its own allocations
            requests.post(f"http://{endpoint}/", data=b"{}", headers={"Content-Type": "application/json"}, timeout=5)
        before = psutil.Process(proc.pid).memory_info().rss
        chunk = b"\0" * (1 << 20)
        sent = 0
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(
                f"POST / HTTP/1.1\r\nHost: {endpoint}\r\nContent-Type: application/json\r\n"
                f"X-TC-Action: CreateSealByImage\r\nContent-Length: {declared}\r\n\r\n".encode()
            )
            try:
                for _ in range(96):
                    sock.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the emulator answered and closed: what was not sent was never read
            time.sleep(0.5)
            grown = psutil.Process(proc.pid).memory_info().rss - before  # measured while the connection is open
        assert grown < 16 * 1024 * 1024, f"RSS grew by {grown / 2**20:.0f} MB after {sent / 2**20:.0f} MB sent"
        assert requests.get(f"http://{endpoint}/_emulator/health", timeout=5).status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_stalled_body_is_dropped_after_body_seconds(emulator, monkeypatch):
    import ess_emulator.server

    monkeypatch.setattr(ess_emulator.server, "BODY_SECONDS", 0.5)
    host, port = emulator.endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            f"POST / HTTP/1.1\r\nHost: {emulator.endpoint}\r\nContent-Type: application/json\r\n"
            f"Content-Length: 100\r\n\r\n{{}}".encode()
        )  # 2 of the 100 bytes, then nothing
        started = time.monotonic()
        assert sock.recv(4096) == b""  # closed without an answer: there is no request to answer
        assert time.monotonic() - started < 3
    assert requests.get(emulator.url + "/_emulator/health", timeout=5).status_code == 200


def test_an_embedded_emulator_never_entered_closes_at_once():
    """close() on an emulator whose serving thread never started used to wait forever in shutdown()."""
    import threading

    from ess_emulator import EmbeddedEmulator

    emulator = EmbeddedEmulator()
    closer = threading.Thread(target=emulator.close, daemon=True)
    closer.start()
    closer.join(timeout=5)
    assert not closer.is_alive(), "close() hung"
