"""The run's revocation ledger and the AppId's sync claims: what bounds a revoking apply across tasks and runs."""

from __future__ import annotations

import pytest

from tencent_ess.errors import LedgerError, RevocationBudgetError
from tencent_ess.onboarding.revocations import (
    Ledger,
    claim,
    older_claimants,
    read_claims,
    superseded_by,
)

TENANT = {"proxy_organization_open_id": "org", "seal_name": "章", "fingerprint": "f1"}


def test_the_ledger_counts_every_revocation_of_the_run_and_refuses_past_the_budget(tmp_path):
    ledger = Ledger(tmp_path / "run.revocations", 3, task="onboard[0]")
    ledger.record(TENANT, "S1", ["u1", "u2"])
    Ledger(tmp_path / "run.revocations", 3, task="onboard[1]").record(TENANT, "S2", ["u3"])  # another task
    assert ledger.spent() == 3
    with pytest.raises(RevocationBudgetError, match="this run revoked 3 already"):
        ledger.record(TENANT, "S3", ["u4"])
    assert ledger.spent() == 3, "a refused revocation is not recorded"


def test_a_ledger_that_cannot_be_read_refuses_every_revocation(tmp_path):
    ledger = Ledger(tmp_path / "run.revocations", 10)
    ledger.record(TENANT, "S1", ["u1"])
    (tmp_path / "run.revocations" / "damaged.json").write_text("{", encoding="utf-8")
    with pytest.raises(LedgerError, match="cannot count what it did"):
        ledger.record(TENANT, "S1", ["u2"])
    blocked = tmp_path / "file"
    blocked.write_text("x", encoding="utf-8")
    with pytest.raises(LedgerError, match="cannot be read"):
        Ledger(blocked / "run.revocations", 10).spent()


def test_claims_order_runs_by_date_then_by_who_claimed_first(tmp_path):
    old = claim(tmp_path, "2026-11-04", "run-a")
    new = claim(tmp_path, "2026-11-05", "run-b")
    same_day = claim(tmp_path, "2026-11-05", "run-c")
    assert claim(tmp_path, "2026-11-04", "run-a") == old, "a run's claim keeps the time it was first made"
    claims = read_claims(tmp_path)
    assert [c["run_id"] for c in superseded_by(claims, "2026-11-04")] in (["run-b", "run-c"], ["run-c", "run-b"])
    assert superseded_by(claims, "2026-11-05") == []
    assert [c["run_id"] for c in older_claimants(claims, new)] == ["run-a"]
    assert sorted(c["run_id"] for c in older_claimants(claims, same_day)) == ["run-a", "run-b"]
    assert older_claimants(claims, old) == [], "the oldest claimant waits for no one (no deadlock)"


def test_a_claim_that_cannot_be_read_fails_it_may_be_a_newer_manifests(tmp_path):
    claim(tmp_path, "2026-11-04", "run-a")
    (tmp_path / "2026-11-09__x.json").write_text("[", encoding="utf-8")
    with pytest.raises(LedgerError):
        read_claims(tmp_path)
