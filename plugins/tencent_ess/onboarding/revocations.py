"""What bounds a revoking apply across its tasks, their retries and a cleared run: the run's revocation ledger,
and the claims that keep an older manifest from undoing a newer one.

- The ledger (`Ledger`): every revocation a run makes is written here *before* it is sent, one file per
  revocation, in the run's own folder (kept across clears). A revocation that would take the run's total past
  `max_revocations` is refused, and so is one whose record cannot be written or whose ledger cannot be read:
  an uncountable revocation is never made.
- The claims (`claim`, `read_claims`): every apply writes a claim for its manifest date under the connection's
  AppId *before* it looks at the others' (two runs can never both miss each other). When either of two applies
  revokes, they are ordered: a run that finds a newer date's claim (counted, or whose run has not ended) is
  superseded and changes nothing; a run that finds an older claimant still running waits for it to end, so that
  the newest manifest is always the last one written. A claim counts for good only once its run got past its
  guard with something to apply: a run that failed before, or had no manifest, supersedes nothing.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from ..errors import LedgerError, RevocationBudgetError, StorageError
from ..storage import StoragePath, json_objects, read_if_present, write_atomic
from .engine import budget_refusal
from .locations import run_name


def _records(folder: StoragePath, what: str) -> list[dict[str, Any]]:
    """Every JSON record in `folder` ([] when it does not exist); any record that cannot be read fails."""
    records = []
    for file, record in json_objects(folder):
        if isinstance(record, ValueError):
            raise LedgerError(
                f"{what} {file} cannot be read ({type(record).__name__}): this run cannot count what "
                "it did, so it revokes nothing; repair or remove that file"
            )
        records.append(record)
    return records


class Ledger:
    """The run's revocations, counted across its tasks, retries and clears (see the module's docstring).

    :param folder: the run's ledger folder (`Locations.revocations`).
    :param max_revocations: the run's budget.
    :param task: who writes, for the record's name and content.
    """

    def __init__(self, folder: StoragePath, max_revocations: int, task: str = "") -> None:
        self.folder, self.max_revocations, self.task = folder, max_revocations, task
        self._lock = threading.Lock()

    def records(self) -> list[dict[str, Any]]:
        """Every revocation recorded for the run."""
        try:
            return _records(self.folder, "revocation ledger record")
        except StorageError as err:
            raise LedgerError(
                f"the run's revocation ledger cannot be read ({err}): nothing is revoked until it can",
                transient=err.transient,
            ) from None

    def spent(self) -> int:
        """Users revoked by the run so far (a user revoked twice counts twice)."""
        return sum(len(record.get("users") or []) for record in self.records())

    def record(self, tenant: dict, seal_id: str, users: list[str]) -> None:
        """`Policy.before_revoke`: write the revocation to the ledger, or refuse it (raise) when the run's total
        would pass `max_revocations` or the ledger cannot be read or written. Serialised within the process."""
        with self._lock:
            spent = self.spent()
            if spent + len(users) > self.max_revocations:
                first = [f"{tenant.get('proxy_organization_open_id')}/{tenant.get('seal_name')}: {', '.join(users)}"]
                raise RevocationBudgetError(
                    budget_refusal(self.task or "this run", len(users), self.max_revocations, first, spent)
                )
            record = {
                "task": self.task,
                "at": time.time(),
                "seal_id": seal_id,
                "users": list(users),
                "proxy_organization_open_id": tenant.get("proxy_organization_open_id", ""),
                "seal_name": tenant.get("seal_name", ""),
                "fingerprint": tenant.get("fingerprint", ""),
            }
            try:
                write_atomic(
                    self.folder / f"{run_name(self.task)}-{uuid.uuid4().hex}.json",
                    json.dumps(record, ensure_ascii=False).encode("utf-8"),
                )
            except Exception as err:  # noqa: BLE001 - an unrecorded revocation is never sent
                raise LedgerError(
                    f"the run's revocation ledger cannot be written ({type(err).__name__}): nothing was revoked",
                    transient=not isinstance(err, PermissionError),
                ) from None


# ---------------------------------------------------------------------------------------------------- claims
def claim(folder: StoragePath, day: str, run_id: str, *, revoking: bool, dag_id: str = "") -> dict[str, Any]:
    """Claim `day` for an apply of run `run_id` of `dag_id` (`revoking`: with revoke_unlisted); returns the claim.
    Idempotent: a run's claim (one file) keeps the time it was first made, which orders the runs of one date, and
    once revoking stays revoking. A claim counts against older runs for good only once `counted` (the run got past
    its guard), or while its run is queued or running; a run that yielded (`yielded`) is waited for by no one."""
    file = folder / f"{day}__{run_name(run_id)}.json"
    raw = read_if_present(file)
    if raw is not None:
        try:
            record = json.loads(raw.decode("utf-8"))
        except ValueError:
            record = None  # damaged: written again below
        if isinstance(record, dict) and record.get("run_id") == run_id:
            if revoking and not record.get("revoking"):
                record = mark(folder, record, revoking=True)
            return record
    record = {
        "day": day,
        "run_id": run_id,
        "dag_id": dag_id,
        "at": time.time(),
        "revoking": revoking,
        "counted": False,
        "yielded": False,
    }
    write_atomic(file, json.dumps(record).encode("utf-8"))
    return record


def mark(folder: StoragePath, record: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """Rewrite a run's claim with `fields` changed: `counted=True` once it passed its guard (it then supersedes
    older runs for good), `yielded=True` once it gave way to a newer one (no one waits for it)."""
    updated = {**record, **fields}
    write_atomic(folder / f"{record['day']}__{run_name(record['run_id'])}.json", json.dumps(updated).encode("utf-8"))
    return updated


def read_claims(folder: StoragePath) -> list[dict[str, Any]]:
    """Every claim made for the AppId; a claim that cannot be read, or whose date is not a date up to tomorrow, is
    damaged and fails (it may be a newer manifest's, or a hand-made one that would supersede every run)."""
    latest = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    claims = _records(folder, "sync claim")
    for record in claims:
        day = record.get("day")
        if not isinstance(day, str) or not _DAY.match(day) or day > latest or not isinstance(record.get("run_id"), str):
            raise LedgerError(
                f"a sync claim in {folder} has no valid day (up to {latest}) or run_id: repair or remove it"
            )
    return claims


def _relevant(other: dict[str, Any], mine: dict[str, Any]) -> bool:
    """Two applies must be ordered when either revokes: a revoking apply makes its manifest the whole truth of
    the seals it names. Two additive applies (daily increments, a backfill of them) are independent."""
    return bool(other.get("revoking", True) or mine.get("revoking", True))


def superseded_by(
    claims: list[dict[str, Any]],
    mine: dict[str, Any],
    state: Callable[[dict[str, Any]], str],
    counted_only: bool = False,
) -> list[dict[str, Any]]:
    """The claims of newer manifest dates that `mine` must yield to, newest first: counted ones and, unless
    `counted_only`, those whose run is queued or running (it may be about to write)."""
    newer = [
        c
        for c in claims
        if c["day"] > mine["day"]
        and _relevant(c, mine)
        and not c.get("yielded")
        and (c.get("counted") or (not counted_only and state(c) in UNFINISHED))
    ]
    return sorted(newer, key=lambda c: c["day"], reverse=True)


def _order(record: dict[str, Any]) -> tuple[str, float, str]:
    return record["day"], float(record.get("at") or 0), record["run_id"]


def older_claimants(
    claims: list[dict[str, Any]], mine: dict[str, Any], state: Callable[[dict[str, Any]], str]
) -> list[dict[str, Any]]:
    """The other runs whose claims come before `mine` (an older date, or the same date claimed earlier) that
    `mine` must wait for: those running now and not yielded. (A queued one looks at the claims when it starts.)"""
    return [
        c
        for c in claims
        if c["run_id"] != mine["run_id"]
        and _order(c) < _order(mine)
        and _relevant(c, mine)
        and not c.get("yielded")
        and state(c) == "running"
    ]


#: Run states in which a run may still write.
UNFINISHED = ("queued", "running")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
