"""Injected faults: parsed from `--faults kind=p,...`, drawn from one seeded RNG so a run can be replayed."""

from __future__ import annotations

import random
import threading
from collections import Counter

FAULT_KINDS = ("internal", "http5xx", "drop_before", "drop_after", "slow")


def parse_faults(spec: str | None) -> dict[str, float]:
    """`internal=0.1,http5xx=0.05` → {"internal": 0.1, "http5xx": 0.05}; unknown kinds and bad numbers fail."""
    faults: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in (spec or "").split(","))):
        kind, sep, value = part.partition("=")
        if not sep or kind not in FAULT_KINDS:
            raise ValueError(f"--faults: {part!r} is not KIND=PROBABILITY with KIND one of {', '.join(FAULT_KINDS)}")
        probability = float(value)
        if not 0.0 <= probability <= 1.0:
            raise ValueError(f"--faults: {kind} probability {probability} is not within 0..1")
        faults[kind] = probability
    if sum(faults.values()) > 1.0:
        raise ValueError("--faults: the probabilities add up to more than 1")
    return faults


class FaultInjector:
    """Draws at most one fault per API request and counts what it injected."""

    def __init__(self, faults: dict[str, float], seed: int | None = None) -> None:
        self.faults = faults
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        if not self.faults:
            return None
        with self._lock:
            roll = self._rng.random()
            for kind in FAULT_KINDS:
                probability = self.faults.get(kind, 0.0)
                if roll < probability:
                    self.injected[kind] += 1
                    return kind
                roll -= probability
        return None

    def uniform(self, low: float, high: float) -> float:
        with self._lock:
            return self._rng.uniform(low, high)
