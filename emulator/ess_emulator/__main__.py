"""`python -m ess_emulator`: serve the emulator until interrupted."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from . import DEFAULT_FIXTURE, PROFILES, build_server
from .faults import parse_faults


def _latency(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    low_ms, high_ms = float(low), float(high or low)
    if low_ms < 0 or high_ms < low_ms:
        raise argparse.ArgumentTypeError(f"--latency-ms {text!r}: want A or A-B with 0 <= A <= B")
    return low_ms, high_ms


def _faults(text: str) -> dict[str, float]:
    try:
        return parse_faults(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ess_emulator",
        description="Local emulator of Tencent Cloud e-signature (essbasic 2021-05-26): CreateSealByImage, "
        "ChannelCreateSealPolicy, ChannelDescribeOrganizationSeals, ChannelDeleteSealPolicies, ChannelUpdateSealStatus. "
        "GET /_emulator/state shows its state, POST /_emulator/reset empties it.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8964, help="port; 0 picks a free one (default 8964)")
    p.add_argument(
        "--db", default="ess_emulator.db", help="SQLite file holding seals and grants (default ./ess_emulator.db)"
    )
    p.add_argument(
        "--fixtures", default=str(DEFAULT_FIXTURE), help="JSON file of credentials, apps, enterprises, employees"
    )
    p.add_argument(
        "--secret-id",
        default=os.environ.get("ESS_EMULATOR_SECRET_ID"),
        help="an extra accepted SecretId (env ESS_EMULATOR_SECRET_ID)",
    )
    p.add_argument(
        "--secret-key",
        default=os.environ.get("ESS_EMULATOR_SECRET_KEY"),
        help="its SecretKey (env ESS_EMULATOR_SECRET_KEY keeps it out of `ps`)",
    )
    p.add_argument(
        "--rate-limit",
        type=int,
        default=20,
        help="requests per second per (SecretId, action); 0 = unlimited (default 20)",
    )
    p.add_argument(
        "--latency-ms",
        type=_latency,
        default=(0.0, 0.0),
        metavar="A[-B]",
        help="added latency, fixed or uniform in A-B ms",
    )
    p.add_argument(
        "--faults",
        type=_faults,
        default={},
        metavar="SPEC",
        help="e.g. internal=0.1,http5xx=0.05,drop_before=0.05,drop_after=0.05,slow=0.01",
    )
    p.add_argument(
        "--slow-seconds", type=float, default=3.0, help="how long a `slow` fault holds its answer (default 3)"
    )
    p.add_argument("--seed", type=int, default=None, help="seed for faults and latency, to replay a run")
    p.add_argument(
        "--review-seconds", type=float, default=0.0, help="how long image seals stay CHECKING (0 = decided at once)"
    )
    p.add_argument(
        "--profile",
        default="",
        metavar="P[,P]",
        help="readings of the API no source settles: "
        + "; ".join(f"{name}: {text}" for name, text in PROFILES.items()),
    )
    return p


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends serve_forever the same way Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s ess-emulator %(levelname)s %(message)s")
    try:
        server = build_server(
            host=args.host,
            port=args.port,
            db=args.db,
            fixtures=args.fixtures,
            secret_id=args.secret_id,
            secret_key=args.secret_key,
            review_seconds=args.review_seconds,
            rate_limit=args.rate_limit,
            latency_ms=args.latency_ms,
            faults=args.faults,
            slow_seconds=args.slow_seconds,
            seed=args.seed,
            profiles=args.profile.split(","),
        )
    except (OSError, ValueError, KeyError) as err:
        print(f"ess-emulator: cannot start: {err}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _stop)
    print(f"ess-emulator listening on {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        server.state.backend.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
