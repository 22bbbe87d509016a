"""Pod folders are taken away at once and deleted in the background, crash leftovers included."""

from __future__ import annotations

from pathlib import Path

from nbflow.engine.trash import PREFIX, Trash


def pod_folder(parent: Path, name: str, files: int = 3) -> Path:
    folder = parent / name
    (folder / "inputs" / "x").mkdir(parents=True)
    for i in range(files):
        (folder / "inputs" / "x" / f"f{i}").write_text("data")
    return folder


def test_a_discarded_folder_is_gone_at_once_and_deleted_by_close(tmp_path: Path) -> None:
    trash = Trash(tmp_path)
    folder = pod_folder(tmp_path, "node-1")
    trash.discard(folder)
    assert not folder.exists()
    pod_folder(tmp_path, "node-1")  # a rerun of the same pod makes its folder afresh
    trash.discard(tmp_path / "no-such-folder")  # nothing to do
    trash.close()
    assert [p.name for p in tmp_path.iterdir()] == ["node-1"]


def test_folders_a_crashed_engine_left_are_deleted_by_the_next_one(tmp_path: Path) -> None:
    left = pod_folder(tmp_path, f"{PREFIX}123-0-node-1")
    kept = pod_folder(tmp_path, "node-2")
    Trash(tmp_path).close()
    assert not left.exists() and kept.exists()


def test_a_trash_of_a_folder_that_does_not_exist_yet(tmp_path: Path) -> None:
    trash = Trash(tmp_path / "pods")
    pods = tmp_path / "pods"
    trash.discard(pod_folder(pods, "node-1"))
    trash.close()
    assert list(pods.iterdir()) == []
