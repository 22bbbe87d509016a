"""The run store: one folder per run holding its Workflow (spec and status), logs and settings."""

from __future__ import annotations

import json
import os
import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import NbflowError, RunNotFound

__all__ = ["RunStore", "new_run_name"]

_ALPHABET = string.ascii_lowercase + string.digits


def new_run_name(generate_name: str) -> str:
    """Argo-style name: ``generateName`` plus five random lower-case letters and digits."""
    return generate_name + "".join(secrets.choice(_ALPHABET) for _ in range(5))


class RunStore:
    """Runs under ``<home>/runs/<run>/``: ``workflow.json``, ``run.json`` and ``logs/``.

    ``workflow.json`` is rewritten atomically (temporary file, then rename) as the run changes
    (at a pace the engine sets in large runs, see :data:`nbflow.engine.local.SAVE_PACE`), so a
    reader, or a resumed run, always sees a whole state.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def run_dir(self, name: str) -> Path:
        """The folder of run ``name``."""
        return self.root / name

    def log_path(self, name: str, node_id: str) -> Path:
        """The log file of one pod."""
        return self.root / name / "logs" / f"{node_id}.log"

    def create(self, workflow: dict[str, Any], settings: dict[str, Any]) -> Path:
        """Register a new run; ``settings`` records how to reach its artifacts and where it ran."""
        folder = self.run_dir(workflow["metadata"]["name"])
        folder.mkdir(parents=True, exist_ok=False)
        _write_json(folder / "run.json", settings)
        self.save(workflow)
        return folder

    def save(self, workflow: dict[str, Any]) -> None:
        """Persist the workflow object (spec and status) atomically."""
        _write_json(self.run_dir(workflow["metadata"]["name"]) / "workflow.json", workflow)

    def load(self, name: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return ``(workflow, settings)`` of run ``name`` (``None``: the most recent run)."""
        name = name or self.latest()
        folder = self.run_dir(name)
        try:
            workflow = json.loads((folder / "workflow.json").read_text(encoding="utf-8"))
            settings = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunNotFound(f"no run {name!r} in {self.root}") from None
        return workflow, settings

    def settings(self, name: str, **updates: Any) -> dict[str, Any]:
        """Update (and return) the settings recorded in ``run.json``."""
        path = self.run_dir(name) / "run.json"
        settings = json.loads(path.read_text(encoding="utf-8"))
        if updates:
            settings.update(updates)
            _write_json(path, settings)
        return settings

    @contextmanager
    def lock(self, name: str) -> Iterator[None]:
        """Hold the run's lock while an engine works on it; a second engine gets a clear error."""
        import fcntl

        path = self.run_dir(name) / "lock"
        with open(path, "a+", encoding="utf-8") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                f.seek(0)
                raise NbflowError(
                    f"run {name} is being run by another process (pid {f.read().strip() or '?'})"
                ) from None
            f.seek(0)
            f.truncate()
            f.write(str(os.getpid()))
            f.flush()
            try:
                yield
            finally:
                f.truncate(0)
                fcntl.flock(f, fcntl.LOCK_UN)

    def is_locked(self, name: str) -> bool:
        """Whether an engine is working on the run right now."""
        import fcntl

        path = self.run_dir(name) / "lock"
        if not path.exists():
            return False
        with open(path, "a+", encoding="utf-8") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(f, fcntl.LOCK_UN)
            return False

    def request(self, name: str, **request: Any) -> None:
        """Leave a request for the engine running ``name`` in another process.

        ``shutdown="Stop"|"Terminate"`` stops the run; ``resume=[names] | None`` resumes its
        suspended nodes (``None``: all of them).
        """
        _write_json(self.run_dir(name) / "control.json", request)

    def take_control(self, name: str) -> dict[str, Any] | None:
        """Return and clear the pending request for ``name``."""
        path = self.run_dir(name) / "control.json"
        try:
            request = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        path.unlink(missing_ok=True)
        return request if isinstance(request, dict) else None

    def snapshot(self, name: str) -> Path:
        """Keep a copy of the run's current state before it is reopened (retry, rerun)."""
        folder = self.run_dir(name)
        n = len(list(folder.glob("workflow.*.json"))) + 1
        target = folder / f"workflow.{n}.json"
        target.write_bytes((folder / "workflow.json").read_bytes())
        return target

    def delete(self, name: str) -> None:
        """Delete the record of run ``name`` (its folder), refusing while an engine runs it.

        Its artifacts stay in the artifact store: deleting them is the retention code's job.
        """
        import shutil

        if self.is_locked(name):
            raise NbflowError(f"run {name} is running: stop it before deleting it")
        folder = self.run_dir(name)
        if folder.is_dir():
            # renamed first, so that a reader never sees half a run
            doomed = folder.with_name(f".deleted-{name}-{secrets.token_hex(4)}")
            os.replace(folder, doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def names(self) -> list[str]:
        """Run names, oldest first."""
        if not self.root.is_dir():
            return []
        runs = [p for p in self.root.iterdir() if (p / "workflow.json").is_file()]
        return [p.name for p in sorted(runs, key=lambda p: (p / "run.json").stat().st_mtime)]

    def latest(self) -> str:
        """The most recently started run."""
        names = self.names()
        if not names:
            raise RunNotFound(f"no runs yet in {self.root}")
        return names[-1]


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(data, separators=(",", ":"))  # compact: the C encoder, no indentation
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
