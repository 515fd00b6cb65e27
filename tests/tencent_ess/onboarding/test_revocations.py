"""The run's revocation ledger and the AppId's sync claims: what bounds a revoking apply across tasks and runs."""

from __future__ import annotations

import pytest

from tencent_ess.errors import LedgerError, RevocationBudgetError
from tencent_ess.onboarding.revocations import (
    Ledger,
    claim,
    mark,
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
    unfinished = lambda c: "running"  # noqa: E731 - every run is running
    old = claim(tmp_path, "2026-11-04", "run-a", revoking=True)
    new = claim(tmp_path, "2026-11-05", "run-b", revoking=True)
    same_day = claim(tmp_path, "2026-11-05", "run-c", revoking=True)
    assert claim(tmp_path, "2026-11-04", "run-a", revoking=True) == old, "a run's claim keeps its first time"
    claims = read_claims(tmp_path)
    assert sorted(c["run_id"] for c in superseded_by(claims, old, unfinished)) == ["run-b", "run-c"]
    assert superseded_by(claims, new, unfinished) == []
    assert [c["run_id"] for c in older_claimants(claims, new, unfinished)] == ["run-a"]
    assert sorted(c["run_id"] for c in older_claimants(claims, same_day, unfinished)) == ["run-a", "run-b"]
    assert older_claimants(claims, old, unfinished) == [], "the oldest claimant waits for no one (no deadlock)"


def test_a_claim_supersedes_for_good_only_once_counted(tmp_path):
    """Review finding: a claim was made before anything was known and never released, so a run that failed its
    guard, or had no manifest (a mistyped date), superseded every older run for ever, green."""
    old = claim(tmp_path, "2026-11-04", "run-a", revoking=True)
    newer = claim(tmp_path, "2026-11-09", "run-typo", revoking=True)
    ended = lambda c: "failed"  # noqa: E731 - every other run has ended
    assert superseded_by(read_claims(tmp_path), old, ended) == [], "an uncounted claim of an ended run is void"
    assert superseded_by(read_claims(tmp_path), old, lambda c: "queued"), "a queued one may still write"
    assert not superseded_by(read_claims(tmp_path), old, lambda c: "running", counted_only=True)
    mark(tmp_path, newer, counted=True)
    assert [c["run_id"] for c in superseded_by(read_claims(tmp_path), old, ended)] == ["run-typo"]


def test_only_applies_of_which_one_revokes_are_ordered(tmp_path):
    """Two additive applies (daily increments, a backfill of them) are independent; a revoking one is ordered
    against every other apply (review finding: an older revoking apply revoked a newer additive grant)."""
    ended = lambda c: "success"  # noqa: E731
    add_old = claim(tmp_path, "2026-11-04", "add-old", revoking=False)
    mark(tmp_path, claim(tmp_path, "2026-11-08", "add-new", revoking=False), counted=True)
    assert superseded_by(read_claims(tmp_path), add_old, ended) == []
    sync_old = claim(tmp_path, "2026-11-05", "sync-old", revoking=True)
    assert [c["run_id"] for c in superseded_by(read_claims(tmp_path), sync_old, ended)] == ["add-new"]


def test_a_claim_that_cannot_be_read_fails_it_may_be_a_newer_manifests(tmp_path):
    claim(tmp_path, "2026-11-04", "run-a", revoking=True)
    (tmp_path / "2026-11-09__x.json").write_text("[", encoding="utf-8")
    with pytest.raises(LedgerError):
        read_claims(tmp_path)
    (tmp_path / "2026-11-09__x.json").unlink()
    (tmp_path / "9999-12-31__forged.json").write_text('{"day": "9999-12-31", "run_id": "forged"}', encoding="utf-8")
    with pytest.raises(LedgerError, match="no valid day"):  # it would supersede every apply for ever
        read_claims(tmp_path)


def test_a_run_that_yielded_is_waited_for_by_no_one_and_only_running_runs_are(tmp_path):
    """Review findings: runs waiting for each other (a yielded older run's report waits for the newer run, which
    waited for it), and a newer run waiting an hour for a cleared older run that could not start before it."""
    old = claim(tmp_path, "2026-11-04", "run-a", revoking=True)
    new = claim(tmp_path, "2026-11-05", "run-b", revoking=True)
    assert older_claimants(read_claims(tmp_path), new, lambda c: "queued") == []
    assert [c["run_id"] for c in older_claimants(read_claims(tmp_path), new, lambda c: "running")] == ["run-a"]
    mark(tmp_path, old, yielded=True)
    assert older_claimants(read_claims(tmp_path), new, lambda c: "running") == []


def test_a_run_once_revoking_stays_revoking(tmp_path):
    """Review finding: a reused run id kept an earlier claim's revoking=False."""
    claim(tmp_path, "2026-11-04", "run-a", revoking=False)
    assert claim(tmp_path, "2026-11-04", "run-a", revoking=True)["revoking"] is True
    assert read_claims(tmp_path)[0]["revoking"] is True


def test_a_ledger_the_store_cannot_reach_is_retried_a_damaged_one_is_not(tmp_path, monkeypatch):
    """Review finding: a network blip on the ledger failed the task for good."""
    from tencent_ess import storage

    Ledger(tmp_path / "l", 5).record(TENANT, "S", ["u1"])
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.json").write_text("{", encoding="utf-8")
    with pytest.raises(LedgerError) as damaged:
        Ledger(tmp_path / "d", 5).spent()
    assert not damaged.value.transient

    def dropped(path, limit=None):
        raise ConnectionError("reset")

    monkeypatch.setattr(storage, "read_bytes", dropped)
    with pytest.raises(LedgerError) as blip:
        Ledger(tmp_path / "l", 5).spent()
    assert blip.value.transient
