"""The artifact store on S3, over HTTP against moto's server: layout, atomicity, streaming."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nbflow import marshal
from nbflow.artifacts import ArtifactNotFound, ArtifactStore, RetryPolicy
from nbflow.artifacts.s3 import PART_BYTES
from nbflow.config import load_config
from nbflow.errors import StorageError

FAST = RetryPolicy(retries=1, backoff_s=0.05)


def saved(tmp_path: Path, name: str, value: Any) -> Path:
    """An artifact folder as a step leaves it: marshal's files and nbflow.json."""
    folder = tmp_path / "out" / name
    marshal.save(value, folder, name=name)
    return folder


def test_folder_round_trip_under_the_documented_key(s3: Any, tmp_path: Path) -> None:
    store = ArtifactStore(s3.root)
    store.upload(saved(tmp_path, "x", {"a": [1, 2]}), "wf/wf-abc12/first/x/")
    assert s3.keys("wf") == [
        "prefix/wf/wf-abc12/first/x/data.json",
        "prefix/wf/wf-abc12/first/x/nbflow.json",
    ]
    assert store.exists("wf/wf-abc12/first/x/")
    store.download("wf/wf-abc12/first/x/", tmp_path / "back" / "x")
    assert marshal.load(tmp_path / "back" / "x") == {"a": [1, 2]}
    # a folder key given without its trailing slash is found too
    store.download("wf/wf-abc12/first/x", tmp_path / "again")
    assert marshal.load(tmp_path / "again") == {"a": [1, 2]}


def test_file_round_trip_and_read_bytes(s3: Any, tmp_path: Path) -> None:
    store = ArtifactStore(s3.root)
    nb = tmp_path / "notebook.ipynb"
    nb.write_text('{"cells": []}')
    store.upload(nb, "wf/run/t/notebook.ipynb")
    assert store.read_bytes("wf/run/t/notebook.ipynb") == b'{"cells": []}'
    target = tmp_path / "fetched" / "nb.ipynb"
    store.download("wf/run/t/notebook.ipynb", target)
    assert target.read_text() == '{"cells": []}'
    assert [p.name for p in target.parent.iterdir()] == ["nb.ipynb"]  # no temporary left
    assert store.local_path("wf/run/t/notebook.ipynb") is None
    assert store.url("wf/run/t/notebook.ipynb") == f"{s3.root}/wf/run/t/notebook.ipynb"


def test_fan_in_prefix_downloads_every_item(s3: Any, tmp_path: Path) -> None:
    store = ArtifactStore(s3.root)
    for i in range(3):
        store.upload(saved(tmp_path / str(i), "feats", {"shard": i}), f"wf/run/feat/{i}/feats/")
    assert store.exists("wf/run/feat/")
    store.download("wf/run/feat/", tmp_path / "inputs" / "feats")
    loaded = marshal.load_input(tmp_path / "inputs" / "feats", "feats")
    assert loaded == [{"shard": 0}, {"shard": 1}, {"shard": 2}]


def test_replacing_a_folder_leaves_no_stale_file(s3: Any, tmp_path: Path) -> None:
    store = ArtifactStore(s3.root)
    store.upload(saved(tmp_path / "a", "x", {"v": 1}), "wf/run/t/x/")
    store.upload(saved(tmp_path / "b", "x", object.__new__(Stale)), "wf/run/t/x/")
    assert s3.keys("wf/run/t/x") == ["prefix/wf/run/t/x/data.pkl", "prefix/wf/run/t/x/nbflow.json"]
    store.download("wf/run/t/x/", tmp_path / "x")
    assert isinstance(marshal.load(tmp_path / "x"), Stale)


class Stale:
    """A picklable class (module level), saved with the pickle format."""


def crash_at_commit(store: ArtifactStore, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Make the store's uploads fail just before the commit file; return the undo."""
    real_put_file = store.fs._put_file  # the coroutine behind every upload of a file

    async def put_file(lpath: str, rpath: str, **kwargs: Any) -> Any:
        if rpath.endswith("/nbflow.json"):
            raise ConnectionResetError("connection lost before the commit file")
        return await real_put_file(lpath, rpath, **kwargs)

    monkeypatch.setattr(store.fs, "_put_file", put_file)
    return lambda: monkeypatch.setattr(store.fs, "_put_file", real_put_file)


def test_leftovers_of_a_failed_upload_are_removed(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(s3.root, retry=RetryPolicy(retries=0))
    csv = tmp_path / "report.csv"
    csv.write_text("a,b")
    undo = crash_at_commit(store, monkeypatch)
    with pytest.raises(StorageError, match="cannot store"):
        store.upload(saved(tmp_path / "a", "x", csv), "wf/run/t/x/")
    assert s3.keys("wf/run/t/x") == ["prefix/wf/run/t/x/files/report.csv"]
    undo()
    store.upload(saved(tmp_path / "b", "x", 7), "wf/run/t/x/")  # another format this time
    assert s3.keys("wf/run/t/x") == ["prefix/wf/run/t/x/data.json", "prefix/wf/run/t/x/nbflow.json"]


def test_a_folder_without_its_commit_file_is_never_read(s3: Any, tmp_path: Path) -> None:
    # What an upload interrupted between the data and the commit file leaves behind.
    s3.fs.pipe_file(f"{s3.bucket}/prefix/wf/run/t/x/data.json", b"[1, 2")
    store = ArtifactStore(s3.root)
    assert not store.exists("wf/run/t/x/")
    with pytest.raises(StorageError, match=r"wf/run/t/x/ is incomplete \(no nbflow.json\)"):
        store.download("wf/run/t/x/", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_interrupted_replacement_is_refused_then_completed(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(s3.root, retry=RetryPolicy(retries=0))
    store.upload(saved(tmp_path / "old", "x", [1, 2, 3]), "wf/run/t/x/")
    new = saved(tmp_path / "new", "x", {"fresh": True})
    undo = crash_at_commit(store, monkeypatch)
    with pytest.raises(StorageError, match="cannot store"):
        store.upload(new, "wf/run/t/x/")
    # the new data is there, the old commit file is gone: no reader mixes the two versions
    assert s3.keys("wf/run/t/x") == ["prefix/wf/run/t/x/data.json"]
    with pytest.raises(StorageError, match="incomplete"):
        store.download("wf/run/t/x/", tmp_path / "x")
    undo()
    store.upload(new, "wf/run/t/x/")  # the retried step stores it again
    store.download("wf/run/t/x/", tmp_path / "x")
    assert marshal.load(tmp_path / "x") == {"fresh": True}


def test_large_file_goes_up_in_parts_and_comes_back_whole(s3: Any, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    chunk = os.urandom(1 << 20)
    with open(big, "wb") as f:
        for _ in range(3 * PART_BYTES // len(chunk) + 1):
            f.write(chunk)
    store = ArtifactStore(s3.root)
    store.upload(big, "wf/run/t/big.bin")
    info = s3.fs.info(f"{s3.bucket}/prefix/wf/run/t/big.bin")
    assert info["size"] == big.stat().st_size
    assert info["ETag"].strip('"').endswith("-4")  # a multipart upload of four parts
    store.download("wf/run/t/big.bin", tmp_path / "back.bin")
    with open(big, "rb") as a, open(tmp_path / "back.bin", "rb") as b:
        while True:
            x, y = a.read(1 << 20), b.read(1 << 20)
            assert x == y
            if not x:
                break


def test_missing_artifact_names_the_url_and_endpoint(s3: Any, tmp_path: Path) -> None:
    store = ArtifactStore(s3.root, retry=FAST)
    for key in ("wf/run/t/x/", "wf/run/t/notebook.ipynb"):
        with pytest.raises(ArtifactNotFound) as info:
            store.download(key, tmp_path / "x")
        assert str(info.value) == f"artifact not found: {s3.root}/{key} (endpoint {s3.endpoint})"
        assert info.value.url == f"{s3.root}/{key}"
        assert isinstance(info.value, FileNotFoundError)
    with pytest.raises(ArtifactNotFound):
        store.read_bytes("wf/run/t/notebook.ipynb")
    assert not store.exists("wf/run/t/x/")


def test_missing_bucket_is_said_so(s3: Any, tmp_path: Path) -> None:
    store = ArtifactStore("s3://no-such-bucket/prefix", retry=FAST)
    with pytest.raises(StorageError, match="the bucket does not exist") as info:
        store.upload(saved(tmp_path, "x", 1), "wf/run/t/x/")
    assert "s3://no-such-bucket/prefix/wf/run/t/x/" in str(info.value)
    assert s3.endpoint in str(info.value)


def test_credentials_in_the_root_url_are_refused() -> None:
    with pytest.raises(StorageError, match="must not hold credentials") as info:
        ArtifactStore("s3://AKIA:hunter2@bucket/prefix")
    assert "hunter2" not in str(info.value)


def test_endpoint_and_options_come_from_config(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    cfg = load_config(
        artifact_root=s3.root,
        s3_endpoint_url=s3.endpoint,
        storage_options={"default_block_size": 5 * 2**20},
        storage_retries=2,
        storage_backoff_s=0.25,
    )
    store = ArtifactStore.from_config(cfg)
    assert store.retry == RetryPolicy(retries=2, backoff_s=0.25, max_backoff_s=8.0)
    assert store.fs.default_block_size == 5 * 2**20
    store.upload(saved(tmp_path, "x", {"k": 1}), "wf/run/t/x/")
    assert store.endpoint == s3.endpoint
    assert s3.keys("wf") == ["prefix/wf/run/t/x/data.json", "prefix/wf/run/t/x/nbflow.json"]


def test_local_store_keeps_its_behaviour(tmp_path: Path) -> None:
    store = ArtifactStore((tmp_path / "root").as_uri())
    store.upload(saved(tmp_path, "x", {"k": 1}), "wf/run/t/x/")
    assert store.endpoint is None
    local = store.local_path("wf/run/t/x/")
    assert local is not None and json.loads((local / "data.json").read_text()) == {"k": 1}
    with pytest.raises(ArtifactNotFound, match="artifact not found: file://"):
        store.download("wf/run/t/y/", tmp_path / "y")


def test_copy_is_server_side_and_replaces_the_target(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ArtifactStore(s3.root)
    store.upload(saved(tmp_path / "a", "x", {"v": 1}), "wf/old/t/x/")
    store.upload(saved(tmp_path / "b", "x", object.__new__(Stale)), "wf/new/t/x/")
    nb = tmp_path / "notebook.ipynb"
    nb.write_text('{"cells": []}')
    store.upload(nb, "wf/old/t/notebook.ipynb")

    def no_transfer(*args: Any) -> None:
        raise AssertionError("the copy went through this machine")

    monkeypatch.setattr(store, "download", no_transfer)
    monkeypatch.setattr(store, "upload", no_transfer)
    store.copy("wf/old/t/x/", "wf/new/t/x/")
    store.copy("wf/old/t/notebook.ipynb", "wf/new/t/notebook.ipynb")
    monkeypatch.undo()
    # the earlier pickle at the target is gone: only the copied files are there
    assert s3.keys("wf/new") == [
        "prefix/wf/new/t/notebook.ipynb",
        "prefix/wf/new/t/x/data.json",
        "prefix/wf/new/t/x/nbflow.json",
    ]
    store.download("wf/new/t/x/", tmp_path / "x")
    assert marshal.load(tmp_path / "x") == {"v": 1}
    assert store.read_bytes("wf/new/t/notebook.ipynb") == b'{"cells": []}'
    assert s3.keys("wf/old/t/x") == ["prefix/wf/old/t/x/data.json", "prefix/wf/old/t/x/nbflow.json"]


def test_copy_of_a_missing_or_unfinished_folder_names_it(s3: Any, tmp_path: Path) -> None:
    store = ArtifactStore(s3.root, retry=FAST)
    with pytest.raises(ArtifactNotFound, match="wf/old/t/none"):
        store.copy("wf/old/t/none/", "wf/new/t/none/")
    s3.fs.pipe(f"{s3.bucket}/prefix/wf/old/t/half/data.json", b"{}")  # no nbflow.json: unfinished
    with pytest.raises(ArtifactNotFound, match="wf/old/t/half"):
        store.copy("wf/old/t/half/", "wf/new/t/half/")
    assert s3.keys("wf/new") == []
