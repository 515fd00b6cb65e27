"""Where manifests, reports and attempt journals live: a local path or any URL Airflow's `ObjectStoragePath`
reads (`file://`, `s3://`, `gs://`, ...), so that workers on several machines share them.

Writes are atomic: a reader (another worker, the report) sees the old file or the new one, never half of it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from .errors import StorageError

StoragePath = Path | Any  # pathlib.Path, or airflow.sdk.ObjectStoragePath for a URL
#: Bytes a copy or an upload moves at a time.
COPY_BLOCK = 1 << 20


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


def write_atomic(path: StoragePath, data: bytes | Iterable[bytes], *copies: StoragePath) -> None:
    """Write `data` (bytes, or pieces of bytes written as they come, so that a large report is never whole in
    memory) so that no reader ever sees a partial file: temp file, fsync, rename (local); one upload of a local
    spool (object stores, whose objects are replaced whole: a stream that fails half-way uploads nothing).
    `copies`: more locations given the same bytes, each written so, from one pass over `data`."""
    if copies:
        with tempfile.TemporaryFile() as spool:
            for piece in (data,) if isinstance(data, bytes | bytearray) else data:
                spool.write(piece)
            for target in (path, *copies):
                spool.seek(0)
                write_atomic(target, iter(lambda: spool.read(COPY_BLOCK), b""))
        return
    pieces = (data,) if isinstance(data, bytes | bytearray) else data
    if not is_local(path):
        with tempfile.TemporaryFile() as spool:
            for piece in pieces:
                spool.write(piece)
            spool.seek(0)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = path.open("wb")
            try:
                shutil.copyfileobj(spool, handle, COPY_BLOCK)
            except BaseException:
                abandon(handle)
                raise
            handle.close()
        return
    target = local_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Created as open() creates files (0666 less the umask), so the team can read the reports: mkstemp's 0600 did
    # not let them. O_EXCL and a random name keep it as safe as mkstemp.
    temp = target.parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def abandon(handle: Any) -> None:
    """Close an object store's file without committing what was written. fsspec's `close()` uploads the buffer as
    the last part and finishes the upload: after a part failed half-way, that would publish a prefix of the file."""
    discard = getattr(handle, "discard", None)
    if callable(discard):
        discard()  # s3fs, gcsfs: abort the multipart upload
    handle.forced = True  # so that a close() now, or the file's finalizer, skips the final flush
    handle.closed = True


def read_bytes(path: StoragePath, limit: int | None = None) -> bytes:
    """The file's bytes; with `limit`, at most that many (the size a file reports is not trusted)."""
    with path.open("rb") as handle:
        return handle.read() if limit is None else handle.read(limit)


# Only these mean "not there". fsspec's `exists()` answers False for any error (permission, network, expired
# credentials), which would make an unreadable folder look like a day without a manifest: it is never used here.
def read_if_present(path: StoragePath, limit: int | None = None) -> bytes | None:
    """The file's bytes (at most `limit`), or None when it definitely does not exist. Any other failure is a
    `StorageError` naming the location."""
    try:
        return read_bytes(path, limit)
    except FileNotFoundError:
        return None
    except Exception as err:  # noqa: BLE001 - fsspec back ends raise their own types; none may read as "missing"
        raise StorageError(str(path), err) from None


def stat_if_present(path: StoragePath) -> Any:
    """The file's stat (an `os.stat_result`, or an object store's info dict), or None when it definitely does not
    exist; any other failure is a `StorageError`."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except Exception as err:  # noqa: BLE001 - see read_if_present
        raise StorageError(str(path), err) from None


def is_present(path: StoragePath) -> bool:
    """True when the file exists, False only when it definitely does not; any other failure is a `StorageError`."""
    return stat_if_present(path) is not None


def lines_if_present(path: StoragePath) -> Iterator[bytes] | None:
    """The file's lines, read as they are consumed (a large report is never whole in memory), or None when it
    definitely does not exist; a failure to reach or read it, then or later, is a `StorageError`."""
    if stat_if_present(path) is None:  # an object store may open lazily: its "not found" would come mid-read
        return None
    try:
        handle = path.open("rb")
    except Exception as err:  # noqa: BLE001 - see read_if_present; gone since the stat is not "missing" either
        raise StorageError(str(path), err) from None
    return _lines(path, handle)


def _lines(path: StoragePath, handle: Any) -> Iterator[bytes]:
    with handle:
        while True:
            try:
                line = handle.readline()
            except Exception as err:  # noqa: BLE001 - see read_if_present
                raise StorageError(str(path), err) from None
            if not line:
                return
            yield line


def read_until(path: StoragePath, marker: bytes, step: int, limit: int) -> bytes | None:
    """The head of the file, read `step` bytes at a time until it holds `marker`, ends, or reaches `limit`; None
    when the file definitely does not exist (any other failure is a `StorageError`, as in `read_if_present`)."""
    try:
        with path.open("rb") as handle:
            head = bytearray()
            while len(head) < limit:
                chunk = handle.read(step)
                searched = max(0, len(head) - len(marker))
                head += chunk
                if not chunk or head.find(marker, searched) >= 0:
                    break
            return bytes(head)
    except FileNotFoundError:
        return None
    except Exception as err:  # noqa: BLE001 - see read_if_present
        raise StorageError(str(path), err) from None


def list_folder(path: StoragePath) -> list[StoragePath]:
    """The folder's entries, sorted by name; [] only when the folder definitely does not exist (a folder on an
    object store exists once something is written under it). Any other failure is a `StorageError`."""
    try:
        return sorted(path.iterdir(), key=lambda entry: entry.name)
    except FileNotFoundError:
        return []
    except NotADirectoryError as err:  # what ObjectStoragePath raises for a folder that is not there, too
        if not is_present(path):
            return []
        raise StorageError(str(path), err, doing="list") from None
    except Exception as err:  # noqa: BLE001 - see read_if_present
        raise StorageError(str(path), err, doing="list") from None


def json_objects(folder: StoragePath) -> Iterator[tuple[StoragePath, dict[str, Any] | ValueError]]:
    """Each `*.json` file of a folder (hidden ones skipped, by name) with the JSON object it holds, or the
    `ValueError` saying why it does not hold one; a file removed between the listing and the read is left out.
    A folder or file that cannot be reached raises `StorageError` (see `read_if_present`)."""
    for file in list_folder(folder):
        if not file.name.endswith(".json") or file.name.startswith("."):
            continue
        raw = read_if_present(file)
        if raw is None:
            continue
        try:
            value = json.loads(raw.decode("utf-8"))
            yield file, value if isinstance(value, dict) else ValueError("not a JSON object")
        except ValueError as err:  # UnicodeDecodeError and JSONDecodeError included
            yield file, err
