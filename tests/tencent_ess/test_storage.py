"""Locations: only a definite "not found" is missing; every other failure is an error naming the location."""

from __future__ import annotations

import pytest
from fsspec.implementations.local import LocalFileSystem

from tencent_ess.errors import StorageError, redact_location
from tencent_ess.storage import is_present, list_folder, read_if_present, storage_path


@pytest.fixture
def failing_store(monkeypatch):
    """The `file://` file system, with every read, stat and listing under a folder named `unreachable` raising the
    error the test sets (as an object store does on a refused permission or a dropped connection)."""
    raised: dict[str, type[BaseException]] = {"error": PermissionError}

    def guard(real):
        def call(self, path, *args, **kwargs):
            if "unreachable" in str(path):
                raise raised["error"]("the store said no")
            return real(self, path, *args, **kwargs)

        return call

    for name in ("_open", "info", "ls"):
        monkeypatch.setattr(LocalFileSystem, name, guard(getattr(LocalFileSystem, name)))
    return raised


@pytest.mark.parametrize(
    "error, transient", [(PermissionError, False), (ConnectionError, True), (TimeoutError, True), (OSError, True)]
)
def test_a_store_that_fails_is_an_error_never_missing(tmp_path, failing_store, error, transient):
    """Regression (issue 25.6): `exists()` read any of these as "no manifest"."""
    failing_store["error"] = error
    folder = tmp_path / "unreachable"
    folder.mkdir()
    (folder / "2026-11-01.json").write_text("[]", encoding="utf-8")
    path = storage_path(f"file://{folder}/2026-11-01.json")
    assert path.exists() is False, "fsspec's own exists() hides the error (why it is never used)"
    for attempt in (lambda: read_if_present(path), lambda: is_present(path), lambda: list_folder(path.parent)):
        with pytest.raises(StorageError) as info:
            attempt()
        assert info.value.transient is transient and info.value.kind == error.__name__
        assert str(folder) in str(info.value)


@pytest.mark.parametrize("url", [False, True])
def test_only_a_definite_not_found_is_missing(tmp_path, url):
    where = (lambda p: storage_path(f"file://{p}")) if url else storage_path
    assert read_if_present(where(tmp_path / "absent.json")) is None
    assert is_present(where(tmp_path / "absent.json")) is False
    assert list_folder(where(tmp_path / "no-such-folder")) == []
    (tmp_path / "here.json").write_bytes(b"[1]")
    assert read_if_present(where(tmp_path / "here.json")) == b"[1]" and is_present(where(tmp_path / "here.json"))
    assert [p.name for p in list_folder(where(tmp_path))] == ["here.json"]


def test_a_path_through_a_file_is_a_permanent_error_naming_it(tmp_path):
    (tmp_path / "file").write_text("x", encoding="utf-8")
    with pytest.raises(StorageError, match="NotADirectoryError") as info:
        read_if_present(tmp_path / "file" / "2026-11-01.json")
    assert not info.value.transient and str(tmp_path / "file") in str(info.value)


def test_a_location_is_named_without_the_credentials_in_its_url():
    assert redact_location("s3://AKID:s3cret@bucket/tenants/x.json") == "s3://***@bucket/tenants/x.json"
    assert redact_location("/plain/path") == "/plain/path"
    err = StorageError("s3://AKID:s3cret@bucket/x.json", ConnectionError("s3://AKID:s3cret@bucket/x.json: reset"))
    assert "s3cret" not in str(err) and "***@bucket/x.json" in str(err)


def test_a_seal_image_the_store_cannot_reach_is_not_the_users_fault(tmp_path, monkeypatch):
    """Regression (issue 25.15): a transient store error reading a seal image became a permanent bad-input error."""
    from tencent_ess import storage
    from tencent_ess.errors import EssValidationError
    from tencent_ess.validation import load_seal_image

    def dropped(path, limit=None):
        raise ConnectionError("connection reset by the store")

    monkeypatch.setattr(storage, "read_bytes", dropped)
    with pytest.raises(StorageError) as info:
        load_seal_image("seal.png", None, tmp_path)
    monkeypatch.undo()
    assert info.value.transient and not isinstance(info.value, EssValidationError)
    with pytest.raises(EssValidationError, match="seal_image_path: file not found"):
        load_seal_image("seal.png", None, f"file://{tmp_path}")


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_a_written_report_has_the_mode_any_file_of_the_process_gets(tmp_path, umask):
    """mkstemp makes 0600 files: the reports were unreadable to the team that reads them."""
    import os

    from tencent_ess.storage import write_atomic

    old = os.umask(umask)
    try:
        write_atomic(storage_path(str(tmp_path)) / "run.csv", b"x")
        (tmp_path / "plain.csv").write_bytes(b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "run.csv").stat().st_mode & 0o777 == (tmp_path / "plain.csv").stat().st_mode & 0o777
    assert (tmp_path / "run.csv").stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("url", [False, True])
def test_a_stream_that_fails_half_way_leaves_nothing_written(tmp_path, url, monkeypatch):
    """`write_atomic` takes a report as pieces: one that fails half-way must not leave half a report, locally (temp
    file, rename) or in an object store (a local spool, then one upload; played by a `file://` URL taken as
    remote, so that the store's own write is what is checked)."""
    from tencent_ess import storage
    from tencent_ess.storage import write_atomic

    if url:
        monkeypatch.setattr(storage, "is_local", lambda path: False)
    path = storage_path(f"file://{tmp_path}/out/run.json" if url else tmp_path / "out" / "run.json")

    def pieces():
        yield b'{"summary": '
        raise ValueError("the encoder failed")

    with pytest.raises(ValueError):
        write_atomic(path, pieces())
    assert read_if_present(path) is None
    if not url:
        assert list((tmp_path / "out").iterdir()) == []  # no temp file left behind
    write_atomic(path, iter([b"[1,", b"2]"]))
    assert read_if_present(path) == b"[1,2]"
    write_atomic(path, iter([b"[1,", b"2]"]), path.parent / "copy.json")
    assert read_if_present(path.parent / "copy.json") == b"[1,2]"


def test_an_upload_that_fails_half_way_publishes_nothing(monkeypatch):
    """fsspec's close() uploads the buffer as the last part and finishes the upload: after a failed part, closing as
    usual would publish a prefix of the report. The file is abandoned instead (its upload aborted)."""
    from fsspec.implementations.memory import MemoryFileSystem
    from fsspec.spec import AbstractBufferedFile

    from tencent_ess import storage

    published: dict[str, bytes] = {}

    class Upload(AbstractBufferedFile):
        def _initiate_upload(self):
            self.parts = []

        def _upload_chunk(self, final=False):
            self.parts.append(self.buffer.getvalue())
            if len(self.parts) == 2 and self.path.endswith("flaky.json"):
                raise ConnectionError("connection reset")
            if final:
                published[self.path] = b"".join(self.parts)
            return True

    class Remote:
        def __init__(self, name):
            self.name, self.parent = name, type("Parent", (), {"mkdir": lambda *a, **k: None})()

        def open(self, mode):
            return Upload(MemoryFileSystem(), self.name, mode=mode, block_size=4)

    monkeypatch.setattr(storage, "COPY_BLOCK", 4)
    with pytest.raises(ConnectionError):
        storage.write_atomic(Remote("bucket/flaky.json"), iter([b"0123", b"4567", b"89ab"]))
    storage.write_atomic(Remote("bucket/fine.json"), iter([b"0123", b"4567", b"89ab"]))
    assert published == {"bucket/fine.json": b"0123456789ab"}
