"""The HTTP layer (`ess_emulator.server`): the `/_emulator/*` endpoints, and requests no SDK would send."""

from __future__ import annotations

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
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/json" and resp.json() == {"ok": True}
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
    import socket

    client.call_json("CreateSealByImage", system_seal())
    host, port = emulator.endpoint.split(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(f"POST /_emulator/reset HTTP/1.1\r\nHost: {emulator.endpoint}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert state(emulator)["seals"] == []
    assert code_of(client, "ChannelCreateSealPolicy", {"Agent": agent(), "SealId": "x" * 32, "UserIds": ["n9527"]}) \
        == "ResourceNotFound"


def test_embedded_emulator_reset(emulator, client):
    client.call_json("CreateSealByImage", system_seal())
    emulator.reset()
    assert state(emulator)["seals"] == []
