"""`make chaos`: `ess_tenant_onboarding` on 1,000 tenants while the emulator injects every fault kind at once.

Hook retries and Airflow task retries together must leave each tenant with exactly one seal of its name
and all its users authorized. Ends with `chaos: tenants N, seals N, duplicates 0, missing 0, faults injected F`.

Usage: python bench/chaos.py [--tenants 1000] [--faults internal=0.1,...] [--seed 7]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]
from bench.bench import Bench  # noqa: E402
from bench.workload import check_converged, write_fixture, write_manifest  # noqa: E402

FAULTS = "internal=0.1,http5xx=0.05,drop_before=0.05,drop_after=0.05,slow=0.01"


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--tenants", type=int, default=1000)
    args.add_argument("--faults", default=FAULTS)
    args.add_argument("--seed", type=int, default=7)
    opts = args.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="ess-chaos-"))
    bench = Bench(work)
    print(f"work directory: {work}", flush=True)
    write_fixture(work / "fixture.json", opts.tenants)
    bench.airflow("db", "migrate")
    entries = write_manifest(bench.manifests / "2026-12-10.json", opts.tenants, "合同专用章")
    emulator = bench.start("emulator-chaos", work / "fixture.json", "--faults", opts.faults, "--seed", str(opts.seed))
    try:
        print(f"ess_tenant_onboarding on {opts.tenants} tenants, --faults {opts.faults} ...", flush=True)
        run = bench.run("chaos", "ess_tenant_onboarding", "2026-12-10", opts.tenants)
        state = bench.emulator_state()
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    found = check_converged(state["seals"], entries)
    injected = state["faults_injected"]
    summary = (run.report or {}).get("summary", {})
    print(
        f"run: exit {run.returncode} in {run.wall:.0f}s; report {summary.get('by_status')}; "
        f"retried in call {summary.get('retried_calls')}; "
        f"tenants retried by task retries {summary.get('tenants_retried_by_task_retry')}"
    )
    print(f"faults injected: {injected}; log and report under {work}")
    print(
        f"chaos: tenants {found['tenants']}, seals {found['seals']}, duplicates {found['duplicates']}, "
        f"missing {found['missing']}, faults injected {sum(injected.values())}"
    )
    ok = run.returncode == 0 and found["duplicates"] == 0 and found["missing"] == 0 and found["seals"] == opts.tenants
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
