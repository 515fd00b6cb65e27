"""The day's manifest: read it (local path or object-storage URL), check every entry, cut it into chunks."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable
from typing import Any

from ..errors import EssError, EssValidationError, ManifestError, redact_location
from ..storage import StoragePath, read_if_present
from ..validation import check_tenant, json_object_pairs, name_key
from .engine import FAILED, TenantResult, requested_users
from .locations import require_manifest_folder

#: A manifest larger than this is refused before parsing (a million tenants is ~300 MB of JSON).
MAX_MANIFEST_BYTES = 512 * 1024 * 1024
#: A chunk task leaves the quota idle for about a second as it starts and ends (its XComs, the first tenants'
#: calls waiting on each other, the last ones' round trips: 0.85 s measured at 100/s): chunks of this many
#: seconds of work at the paced rate keep that near 2%.
CHUNK_SECONDS = 40
#: Bounds of the derived chunk size: today's 1,000 below 25/s, and the Param's most (one chunk's rows are one XCom).
MIN_CHUNK, MAX_CHUNK = 1000, 5000


def read_manifest(path: StoragePath) -> list[Any] | None:
    """The manifest's entries; None only when the file definitely does not exist (any other failure to reach it
    is a `StorageError`, never "no manifest"). A UTF-8 BOM is accepted; an object naming a key twice is kept
    apart for `check_tenant` to refuse (never silently merged). Anything wrong with the content is a
    `ManifestError` naming the file and the rule: permanent, never retried."""
    read = read_manifest_bytes(path)
    return None if read is None else parse_manifest(path, read)


def read_manifest_bytes(path: StoragePath) -> bytes | None:
    """The manifest file's bytes (None: definitely absent, in a folder that exists); larger than
    MAX_MANIFEST_BYTES is refused. A missing folder is not "no manifest today": a mistyped Variable or an
    unmounted volume would skip every day, green."""
    raw = read_if_present(path, MAX_MANIFEST_BYTES + 1)
    if raw is None:
        require_manifest_folder(path)
    if raw is not None and len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(f"manifest {redact_location(path)}: larger than {MAX_MANIFEST_BYTES // 1048576} MB")
    return raw


def manifest_digest(raw: bytes) -> str:
    """What identifies a manifest's content: a task that finds another digest than its plan's must not apply it."""
    return hashlib.sha256(raw).hexdigest()


def parse_manifest(path: StoragePath, raw: bytes) -> list[Any]:
    """The entries of a manifest's bytes (see `read_manifest`)."""
    try:
        data = json.loads(raw.decode("utf-8-sig"), object_pairs_hook=json_object_pairs)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ManifestError(f"manifest {redact_location(path)}: not valid UTF-8 JSON ({err})") from None
    except RecursionError:
        raise ManifestError(f"manifest {redact_location(path)}: JSON nested too deeply") from None
    except ValueError as err:  # e.g. an integer of more digits than Python converts (sys.get_int_max_str_digits)
        raise ManifestError(
            f"manifest {redact_location(path)}: a value cannot be read as JSON data ({str(err)[:120]})"
        ) from None
    if not isinstance(data, list):
        raise ManifestError(
            f"manifest {redact_location(path)}: must be a JSON list of tenant objects, got {type(data).__name__}"
        )
    return data


def _named(entry: Any, key: str) -> str:
    value = entry.get(key, "") if isinstance(entry, dict) else ""
    return value if isinstance(value, str) else repr(value)[:80]


def plan_tenants(entries: Iterable[Any], base_dir: Any = None) -> tuple[list[dict], list[dict]]:
    """Check every entry: (valid tenants as dicts with their manifest index and fingerprint, rejected rows
    naming the entry and the field). Any failure of one entry, whatever its kind, rejects that entry only;
    a duplicate (same enterprise, look-alike seal name) is rejected, the first occurrence kept.

    A rejected entry shields what it names from revocation: a valid tenant whose seal (or, when the rejected
    entry can be read only as far as its enterprise, whose enterprise; or, when not even that, any tenant) a
    rejected entry names carries `withheld`, the reason, and `revoke_unlisted` revokes nothing from it: the
    rejected entry may have listed the very users a revocation would remove."""
    seen: dict[tuple[str, str], int] = {}
    tenants: list[dict] = []
    rejected: list[dict] = []
    shields: dict[tuple[str | None, str | None], int] = {}
    for index, entry in enumerate(entries):
        try:
            tenant = check_tenant(entry, base_dir)
            if tenant.key in seen:
                raise EssError(f"seal_name: duplicate of entry {seen[tenant.key]} (same enterprise and seal name)")
        except Exception as err:  # noqa: BLE001 - a bad entry becomes a report row, never a failed plan
            reason = str(err) if isinstance(err, EssError) else f"{type(err).__name__}: {err}"
            row = TenantResult(
                index,
                _named(entry, "proxy_organization_open_id"),
                _named(entry, "seal_name"),
                FAILED,
                requested=requested_users(entry),
                error=f"entry {index}: {reason}",
            )
            rejected.append(row.to_dict())
            shields.setdefault(_shielded(entry), index)
            continue
        seen[tenant.key] = index
        tenants.append({"index": index, "fingerprint": tenant.fingerprint(), **tenant.to_dict()})
    for tenant in tenants:
        org, seal = tenant["proxy_organization_open_id"], name_key(tenant["seal_name"])
        for key in ((org, seal), (org, None), (None, None)):
            if key in shields:
                tenant["withheld"] = f"rejected entry {shields[key]} names " + (
                    "the same seal" if key[1] else "the same enterprise" if key[0] else "nothing readable"
                )
                break
    return tenants, rejected


def _shielded(entry: Any) -> tuple[str | None, str | None]:
    """What a rejected entry can be read to name: (enterprise, seal name key), (enterprise, None) or (None, None)."""
    org = entry.get("proxy_organization_open_id") if isinstance(entry, dict) else None
    if not isinstance(org, str) or not org:
        return None, None
    name = entry.get("seal_name")
    if not isinstance(name, str) or not name.strip():
        return org, None
    return org, name_key(name)


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
