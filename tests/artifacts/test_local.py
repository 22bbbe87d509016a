"""The artifact store on a local folder (the default artifact root): layout, replacement, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nbflow import marshal
from nbflow.artifacts import ArtifactNotFound, ArtifactStore


def saved(tmp_path: Path, name: str, value: Any) -> Path:
    folder = tmp_path / "out" / name
    marshal.save(value, folder, name=name)
    return folder


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


@pytest.fixture()
def store(tmp_path: Path) -> ArtifactStore:
    return ArtifactStore(str(tmp_path / "artifacts"))


def test_folder_round_trip_under_the_documented_key(store: ArtifactStore, tmp_path: Path) -> None:
    store.upload(saved(tmp_path, "x", {"a": [1, 2]}), "wf/wf-abc12/first/x/")
    root = tmp_path / "artifacts"
    assert files(root) == ["wf/wf-abc12/first/x/data.json", "wf/wf-abc12/first/x/nbflow.json"]
    assert store.local_path("wf/wf-abc12/first/x/") == root / "wf/wf-abc12/first/x"
    store.download("wf/wf-abc12/first/x/", tmp_path / "back" / "x")
    assert marshal.load(tmp_path / "back" / "x") == {"a": [1, 2]}
    store.download("wf/wf-abc12/first/x", tmp_path / "again")  # without the trailing slash
    assert marshal.load(tmp_path / "again") == {"a": [1, 2]}


def test_file_round_trip_leaves_no_temporary(store: ArtifactStore, tmp_path: Path) -> None:
    nb = tmp_path / "notebook.ipynb"
    nb.write_text('{"cells": []}')
    store.upload(nb, "wf/run/t/notebook.ipynb")
    assert store.read_bytes("wf/run/t/notebook.ipynb") == b'{"cells": []}'
    assert files(tmp_path / "artifacts") == ["wf/run/t/notebook.ipynb"]
    target = tmp_path / "fetched" / "nb.ipynb"
    store.download("wf/run/t/notebook.ipynb", target)
    assert target.read_text() == '{"cells": []}'


def test_fan_in_prefix_downloads_every_item(store: ArtifactStore, tmp_path: Path) -> None:
    for i in range(3):
        store.upload(saved(tmp_path / str(i), "feats", {"shard": i}), f"wf/run/feat/{i}/feats/")
    store.download("wf/run/feat/", tmp_path / "inputs" / "feats")
    loaded = marshal.load_input(tmp_path / "inputs" / "feats", "feats")
    assert loaded == [{"shard": 0}, {"shard": 1}, {"shard": 2}]


def test_replacing_keeps_only_the_new_content(store: ArtifactStore, tmp_path: Path) -> None:
    store.upload(saved(tmp_path / "a", "x", [1, 2, 3]), "wf/run/t/x/")
    store.upload(saved(tmp_path / "b", "x", "text"), "wf/run/t/x/")
    store.download("wf/run/t/x/", tmp_path / "x")
    assert marshal.load(tmp_path / "x") == "text"
    assert len(files(tmp_path / "artifacts")) == len(files(tmp_path / "b" / "out" / "x"))
    # a folder replaces a file, and the reverse
    single = tmp_path / "single.txt"
    single.write_text("one")
    store.upload(single, "wf/run/t/y")
    store.upload(saved(tmp_path / "c", "y", 7), "wf/run/t/y")
    assert marshal.load(store.local_path("wf/run/t/y")) == 7
    store.upload(single, "wf/run/t/x")
    assert store.read_bytes("wf/run/t/x") == b"one"


def test_downloading_a_staged_input_twice_replaces_it(store: ArtifactStore, tmp_path: Path) -> None:
    store.upload(saved(tmp_path / "a", "x", {"v": 1}), "wf/run/t/x/")
    target = tmp_path / "inputs" / "x"
    store.download("wf/run/t/x/", target)
    (target / "stray").write_text("left by a step")
    store.download("wf/run/t/x/", target)
    assert not (target / "stray").exists()
    assert marshal.load(target) == {"v": 1}


def test_missing_key_names_the_url(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(ArtifactNotFound, match="wf/run/nothing/x"):
        store.download("wf/run/nothing/x/", tmp_path / "x")


def test_copy_replaces_the_target(store: ArtifactStore, tmp_path: Path) -> None:
    store.upload(saved(tmp_path / "a", "x", {"v": 1}), "wf/old/t/x/")
    store.upload(saved(tmp_path / "b", "x", [1, 2]), "wf/new/t/x/")
    store.copy("wf/old/t/x/", "wf/new/t/x/")
    assert marshal.load(store.local_path("wf/new/t/x/")) == {"v": 1}
    root = tmp_path / "artifacts" / "wf"
    assert files(root / "new") == files(root / "old")
    with pytest.raises(ArtifactNotFound, match="wf/old/t/none"):
        store.copy("wf/old/t/none/", "wf/new/t/none/")
