"""Synthetic tenants for `make bench`, `make chaos` and the fault tests: an emulator fixture and a manifest."""

from __future__ import annotations

import json
from pathlib import Path

from ess_emulator import DEFAULT_FIXTURE


def org(i: int) -> str:
    """The OpenId of synthetic enterprise `i`."""
    return f"benchorg{i:05d}"


def write_fixture(path: Path, tenants: int) -> None:
    """The default fixture's credentials and AppId, with `tenants` verified enterprises of two employees each."""
    default = json.loads(DEFAULT_FIXTURE.read_text("utf-8"))
    orgs = [
        {
            "open_id": org(i),
            "name": f"Bench tenant {i}",
            "employees": [
                {"open_id": f"b{i:05d}admin", "user_id": f"{i:05d}".ljust(32, "a")},
                {"open_id": f"b{i:05d}staff", "user_id": f"{i:05d}".ljust(32, "s")},
            ],
        }
        for i in range(tenants)
    ]
    fixture = {
        "credentials": default["credentials"],
        "apps": [{"app_id": default["apps"][0]["app_id"], "organizations": orgs}],
    }
    path.write_text(json.dumps(fixture), encoding="utf-8")


def write_manifest(path: Path, count: int, seal_name: str, first: int = 0) -> list[dict]:
    """`count` system-seal tenants, one per enterprise from `first` on, each granting its two employees; returns
    the entries."""
    entries = [
        {
            "proxy_organization_open_id": org(i),
            "operator_open_id": f"b{i:05d}admin",
            "seal_name": seal_name,
            "seal_type": "CONTRACT",
            "generate_source": "SealGenerateSourceSystem",
            "seal_style": "circle",
            "user_ids": [f"b{i:05d}admin", f"b{i:05d}staff"],
        }
        for i in range(first, first + count)
    ]
    path.write_text(json.dumps(entries, ensure_ascii=False), encoding="utf-8")
    return entries


def check_converged(seals: list[dict], entries: list[dict]) -> dict[str, int]:
    """Compare the emulator's seals with a manifest: every tenant exactly one seal of its name, all users on it.

    Returns counts: tenants, seals (of the manifest's names), duplicates, missing (no seal, or users missing).
    """
    wanted = {(e["proxy_organization_open_id"], e["seal_name"]): e for e in entries}
    found: dict[tuple[str, str], list[dict]] = {}
    for seal in seals:
        key = (seal["organization_open_id"], seal["seal_name"])
        if key in wanted:
            found.setdefault(key, []).append(seal)
    duplicates = sum(len(v) - 1 for v in found.values())
    missing = 0
    for key, entry in wanted.items():
        held = {u for seal in found.get(key, []) for u in seal["authorized_user_ids"]}
        if key not in found or not set(entry["user_ids"]) <= held:
            missing += 1
    return {
        "tenants": len(wanted),
        "seals": sum(len(v) for v in found.values()),
        "duplicates": duplicates,
        "missing": missing,
    }


def calls_between(before: dict, after: dict) -> tuple[dict[str, int], int]:
    """From two of the emulator's states (`/_emulator/state`): the calls answered in between, by action, and how
    many of them were refused for rate (RequestLimitExceeded)."""
    calls = {action: n - before["request_counts"].get(action, 0) for action, n in after["request_counts"].items()}
    refused = sum(after["rate_limited"].values()) - sum(before["rate_limited"].values())
    return calls, refused
