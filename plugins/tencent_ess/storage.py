"""Where manifests, reports and attempt journals live: a local path or any URL Airflow's `ObjectStoragePath`
reads (`file://`, `s3://`, `gs://`, ...), so that workers on several machines share them.

Writes are atomic: a reader (another worker, the report) sees the old file or the new one, never half of it.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Union

StoragePath = Union[Path, Any]  # pathlib.Path, or airflow.sdk.ObjectStoragePath for a URL


def storage_path(location: str | os.PathLike[str]) -> StoragePath:
    """A `pathlib.Path` for a plain path, an `ObjectStoragePath` for a URL (`scheme://...`)."""
    text = os.fspath(location)
    if "://" in text:
        from airflow.sdk import ObjectStoragePath

        return ObjectStoragePath(text)
    return Path(text)


def is_local(path: StoragePath) -> bool:
    """True for a path on this machine's file system (plain, or `file://`)."""
    return isinstance(path, Path) or getattr(path, "protocol", None) in ("file", "local")


def local_path(path: StoragePath) -> Path:
    """The `pathlib.Path` of a local storage path."""
    return path if isinstance(path, Path) else Path(path.path)


def write_atomic(path: StoragePath, data: bytes) -> None:
    """Write `data` so that no reader ever sees a partial file: temp file, fsync, rename (local); one PUT
    (object stores, whose objects are replaced whole)."""
    if not is_local(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as handle:
            handle.write(data)
        return
    target = local_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def read_bytes(path: StoragePath, limit: int | None = None) -> bytes:
    """The file's bytes; with `limit`, at most that many (the size a file reports is not trusted)."""
    with path.open("rb") as handle:
        return handle.read() if limit is None else handle.read(limit)
