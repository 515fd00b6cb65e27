"""The day's manifest: read it (local path or object-storage URL), check every entry, cut it into chunks."""

from __future__ import annotations

import json
import math
from typing import Any, Iterable

from ..errors import EssError, EssValidationError
from ..storage import StoragePath, read_bytes
from ..validation import check_tenant, json_object_pairs
from .engine import FAILED, TenantResult

#: A manifest larger than this is refused before parsing (a million tenants is ~300 MB of JSON).
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
#: A chunk task leaves the quota idle for about a second as it starts and ends (its XComs, the first tenants'
#: calls waiting on each other, the last ones' round trips: 0.85 s measured at 100/s): chunks of this many
#: seconds of work at the paced rate keep that near 2%.
CHUNK_SECONDS = 40
#: Bounds of the derived chunk size: today's 1,000 below 25/s, and the Param's most (one chunk's rows are one XCom).
MIN_CHUNK, MAX_CHUNK = 1000, 5000


class ManifestError(EssError):
    """The manifest file itself is unusable (not JSON, not a list, too large): the run fails, naming it."""


def read_manifest(path: StoragePath) -> list[Any] | None:
    """The manifest's entries; None when there is no manifest for that date. A UTF-8 BOM is accepted;
    an object naming a key twice is kept apart for `check_tenant` to refuse (never silently merged)."""
    if not path.exists():
        return None
    raw = read_bytes(path, MAX_MANIFEST_BYTES + 1)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest {path}: larger than {MAX_MANIFEST_BYTES // 1048576} MB")
    try:
        data = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=json_object_pairs)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"manifest {path}: not valid UTF-8 JSON ({err})") from None
    except RecursionError:
        raise ManifestError(f"manifest {path}: JSON nested too deeply") from None
    if not isinstance(data, list):
        raise ManifestError(f"manifest {path}: must be a JSON list of tenant objects, got {type(data).__name__}")
    return data


def _named(entry: Any, key: str) -> str:
    value = entry.get(key, "") if isinstance(entry, dict) else ""
    return value if isinstance(value, str) else repr(value)[:80]


def plan_tenants(entries: Iterable[Any], base_dir: Any = None) -> tuple[list[dict], list[dict]]:
    """Check every entry: (valid tenants as dicts with their manifest index and fingerprint, rejected rows
    naming the entry and the field). Any failure of one entry, whatever its kind, rejects that entry only;
    a duplicate (same enterprise, look-alike seal name) is rejected, the first occurrence kept."""
    seen: dict[tuple[str, str], int] = {}
    tenants: list[dict] = []
    rejected: list[dict] = []
    for index, entry in enumerate(entries):
        try:
            tenant = check_tenant(entry, base_dir)
            if tenant.key in seen:
                raise EssError(f"seal_name: duplicate of entry {seen[tenant.key]} (same enterprise and seal name)")
        except Exception as err:  # noqa: BLE001 - a bad entry becomes a report row, never a failed plan
            reason = str(err) if isinstance(err, EssError) else f"{type(err).__name__}: {err}"
            row = TenantResult(index, _named(entry, "proxy_organization_open_id"), _named(entry, "seal_name"), FAILED,
                               error=f"entry {index}: {reason}")
            rejected.append(row.to_dict())
            continue
        seen[tenant.key] = index
        tenants.append({"index": index, "fingerprint": tenant.fingerprint(), **tenant.to_dict()})
    return tenants, rejected


def chunk_size_for(rate_limit: float) -> int:
    """Tenants per chunk when Param `chunk_size` is empty: CHUNK_SECONDS of work at `rate_limit` (each tenant
    makes one call of each paced action), between MIN_CHUNK and MAX_CHUNK. At 100/s a 1,000-tenant chunk is 10 s
    of work and its start and end cost 8% of the quota; at 4,000, 2%."""
    return max(MIN_CHUNK, min(MAX_CHUNK, math.ceil(rate_limit * CHUNK_SECONDS)))


def make_chunks(tenants: list[dict], chunk_size: int, max_chunks: int | None = None) -> list[list[dict]]:
    """Chunks of about `chunk_size`, an enterprise's tenants kept together so it is described once.

    With `max_chunks` (Airflow's `[core] max_map_length`), chunks grow so that their number stays within it.
    """
    if chunk_size < 1:
        raise EssValidationError("chunk_size", "must be at least 1")
    by_org: dict[str, list[dict]] = {}
    for tenant in tenants:
        by_org.setdefault(tenant["proxy_organization_open_id"], []).append(tenant)
    while True:
        chunks: list[list[dict]] = [[]]
        for group in by_org.values():
            if chunks[-1] and len(chunks[-1]) + len(group) > chunk_size:
                chunks.append([])
            chunks[-1].extend(group)
        chunks = [chunk for chunk in chunks if chunk]
        if max_chunks is None or len(chunks) <= max(1, max_chunks):
            return chunks
        chunk_size = max(chunk_size * 2, -(-len(tenants) // max_chunks))
