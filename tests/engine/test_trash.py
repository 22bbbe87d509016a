"""Pod folders are taken away at once and deleted by a helper process, crash leftovers included."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

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


def test_close_without_waiting_leaves_the_deleting_to_the_helper(
    tmp_path: Path, eventually: Any
) -> None:
    trash = Trash(tmp_path)
    for i in range(20):
        trash.discard(pod_folder(tmp_path, f"node-{i}", files=20))
    helper = trash._helper
    assert helper is not None
    trash.close(wait=False)
    eventually(lambda: helper.poll() is not None, what="the helper to end by itself")
    assert helper.returncode == 0
    assert list(tmp_path.iterdir()) == []


def test_the_helper_finishes_its_work_when_the_engine_dies(tmp_path: Path, eventually: Any) -> None:
    engine = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from nbflow.engine.trash import Trash\n"
        "parent = Path(sys.argv[1])\n"
        "trash = Trash(parent)\n"
        "for name in ('a', 'b', 'c'):\n"
        "    (parent / name / 'outputs').mkdir(parents=True)\n"
        "    (parent / name / 'outputs' / 'y').write_text('1')\n"
        "    trash.discard(parent / name)\n"
        "os.kill(os.getpid(), 9)\n"
    )
    done = subprocess.run([sys.executable, "-c", engine, str(tmp_path)], timeout=60)
    assert done.returncode == -signal.SIGKILL
    eventually(lambda: list(tmp_path.iterdir()) == [], what="the folders to be deleted")


def test_a_ctrl_c_in_the_terminal_does_not_reach_the_helper(tmp_path: Path) -> None:
    trash = Trash(tmp_path)
    helper = trash._helper
    assert helper is not None
    # the terminal signals its foreground process group, the engine's; the helper has its own
    assert os.getpgid(helper.pid) == helper.pid != os.getpgid(0)
    trash.close()


def test_a_dead_helper_leaves_the_deleting_to_the_engine(tmp_path: Path) -> None:
    trash = Trash(tmp_path)
    helper = trash._helper
    assert helper is not None
    helper.kill()
    helper.wait()
    for i in range(3):
        trash.discard(pod_folder(tmp_path, f"node-{i}"))
    assert trash._pipe is None
    assert list(tmp_path.iterdir()) == []  # deleted in place
    trash.close()
