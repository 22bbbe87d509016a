"""The artifact store's backends: chosen by scheme, and the generic fsspec one at work."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from nbflow import marshal
from nbflow.artifacts import ArtifactNotFound, ArtifactStore, is_object_store
from nbflow.artifacts.generic import FsspecBackend
from nbflow.artifacts.local import LocalBackend
from nbflow.artifacts.s3 import ObjectBackend
from nbflow.artifacts.store import backend_for


@pytest.mark.parametrize(
    ("url", "backend", "object_store"),
    [
        ("/plain/path", LocalBackend, False),
        ("file:///abs/path", LocalBackend, False),
        ("s3://bucket/prefix", ObjectBackend, True),
        ("s3a://bucket", ObjectBackend, True),
        ("memory://x", FsspecBackend, False),
        ("gs://bucket", FsspecBackend, False),
    ],
)
def test_the_scheme_chooses_the_backend(url: str, backend: type, object_store: bool) -> None:
    assert backend_for(url) is backend
    assert is_object_store(url) is object_store


@pytest.fixture()
def memory() -> ArtifactStore:
    """A store on fsspec's in-memory filesystem: no backend of its own, the generic one."""
    store = ArtifactStore(f"memory://nbflow-{uuid.uuid4().hex}")
    assert type(store.backend) is FsspecBackend
    yield store
    store.fs.rm(store.path(""), recursive=True)


def test_generic_backend_round_trips_folders_and_files(
    memory: ArtifactStore, tmp_path: Path
) -> None:
    folder = tmp_path / "x"
    marshal.save({"a": [1, 2]}, folder, name="x")
    memory.upload(folder, "wf/run/first/x/")
    assert memory.exists("wf/run/first/x/") and memory.local_path("wf/run/first/x/") is None
    memory.download("wf/run/first/x/", tmp_path / "back")
    assert marshal.load(tmp_path / "back") == {"a": [1, 2]}
    (tmp_path / "nb.ipynb").write_text("{}", encoding="utf-8")
    memory.upload(tmp_path / "nb.ipynb", "wf/run/first/notebook.ipynb")
    assert memory.read_bytes("wf/run/first/notebook.ipynb") == b"{}"
    found = memory.fs.find(memory.path("wf"))
    assert not [p for p in found if ".tmp-" in p]  # the temporary name was moved into place


def test_generic_backend_copies_and_names_what_is_missing(
    memory: ArtifactStore, tmp_path: Path
) -> None:
    folder = tmp_path / "x"
    marshal.save(7, folder, name="x")
    memory.upload(folder, "a/")
    marshal.save(8, folder, name="x")
    memory.upload(folder, "b/")
    memory.copy("a/", "b/")  # replaces what was there
    memory.download("b/", tmp_path / "b")
    assert marshal.load(tmp_path / "b") == 7
    with pytest.raises(ArtifactNotFound, match="artifact not found: memory://nbflow-.*/gone"):
        memory.download("gone", tmp_path / "gone")
