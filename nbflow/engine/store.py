"""The run store: one folder per run holding its Workflow (spec and status), logs and settings."""

from __future__ import annotations

import errno
import json
import os
import secrets
import string
from pathlib import Path
from typing import IO, Any

from ..errors import DiskFull, RecordError, RunLocked, RunNotFound, RunStateError

__all__ = ["RunStore", "RunLock", "new_run_name", "FULL"]

#: What a write that found no room fails with.
FULL = frozenset({errno.ENOSPC, errno.EDQUOT})

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

    def separate_log(self, name: str, node_id: str, what: str) -> Path:
        """The log file of one pod, about to be written again (a retry, resume or rerun of
        the run): a line that says so first ends what the earlier execution wrote."""
        from datetime import datetime, timezone

        path = self.log_path(name, node_id)
        if path.is_file() and path.stat().st_size:
            stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            with open(path, "a", encoding="utf-8") as f:
                f.write(f"\n──── {what} · {stamp} ────\n")
        return path

    def create(self, workflow: dict[str, Any], settings: dict[str, Any]) -> Path:
        """Register a new run; ``settings`` records how to reach its artifacts and where it ran."""
        folder = self.run_dir(workflow["metadata"]["name"])
        folder.mkdir(parents=True, exist_ok=False)
        try:
            _write_json(folder / "run.json", settings)
            self.save(workflow)
        except BaseException:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)  # no half-made record
            raise
        return folder

    def save(self, workflow: dict[str, Any]) -> None:
        """Persist the workflow object (spec and status) atomically."""
        _write_json(self.run_dir(workflow["metadata"]["name"]) / "workflow.json", workflow)

    def load(self, name: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return ``(workflow, settings)`` of run ``name`` (``None``: the most recent run).

        Raises
        ------
        RunNotFound
            There is no such run.
        RecordError
            Its record is corrupt or partly written (one line naming the file).
        """
        name = name or self.latest()
        folder = self.run_dir(name)
        if not (folder / "workflow.json").is_file():
            raise RunNotFound(f"no run {name!r} in {self.root}")
        workflow = _read_record(folder / "workflow.json")
        settings = _read_record(folder / "run.json")
        if not isinstance((workflow.get("metadata") or {}).get("name"), str):
            raise RecordError(f"run record {folder / 'workflow.json'} has no metadata.name")
        return workflow, settings

    def settings(self, name: str, **updates: Any) -> dict[str, Any]:
        """Update (and return) the settings recorded in ``run.json``."""
        path = self.run_dir(name) / "run.json"
        settings = _read_record(path)
        if updates:
            settings.update(updates)
            _write_json(path, settings)
        return settings

    def acquire(self, name: str) -> RunLock:
        """Take the run's lock for an engine that will work on it (see :class:`RunLock`).

        Raises
        ------
        RunLocked
            Another process holds it (nothing is written then).
        """
        import fcntl

        path = self.run_dir(name) / "lock"
        f = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open by the RunLock
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "?"
            f.close()
            raise RunLocked(f"run {name} is being run by another process (pid {holder})") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        return RunLock(f)

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
            raise RunStateError(f"run {name} is running: stop it before deleting it")
        folder = self.run_dir(name)
        if folder.is_dir():
            # renamed first, so that a reader never sees half a run
            doomed = folder.with_name(f".deleted-{name}-{secrets.token_hex(4)}")
            os.replace(folder, doomed)
            shutil.rmtree(doomed, ignore_errors=True)

    def names(self) -> list[str]:
        """Run names, oldest first (by when their record was created)."""
        if not self.root.is_dir():
            return []
        runs = [p for p in self.root.iterdir() if (p / "workflow.json").is_file()]
        return [p.name for p in sorted(runs, key=_created)]

    def latest(self) -> str:
        """The most recently started run."""
        names = self.names()
        if not names:
            raise RunNotFound(f"no runs yet in {self.root}")
        return names[-1]


class RunLock:
    """The lock of one run, held until :meth:`release` (or the end of a ``with`` block).

    It can be taken in one thread and released in another: a driver takes it before it
    reopens a run, and hands it to the engine that then runs it.
    """

    def __init__(self, file: IO[str]) -> None:
        self._file: IO[str] | None = file

    def release(self) -> None:
        """Let another engine take the run (idempotent)."""
        import fcntl

        f, self._file = self._file, None
        if f is None:
            return
        try:
            f.truncate(0)
            fcntl.flock(f, fcntl.LOCK_UN)
        finally:
            f.close()

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _created(folder: Path) -> float:
    for name in ("run.json", "workflow.json"):
        try:
            return (folder / name).stat().st_mtime
        except OSError:
            continue
    return 0.0


def _read_record(path: Path) -> dict[str, Any]:
    """A JSON object of a run's record; one line naming the file when it cannot be read."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RecordError(f"run record {path} is missing (the run was not fully created)") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordError(f"run record {path} is corrupt ({exc})") from None
    except OSError as exc:
        raise RecordError(f"cannot read run record {path}: {exc.strerror or exc}") from None
    if not isinstance(data, dict):
        raise RecordError(f"run record {path} is corrupt (not a JSON object)")
    return data


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(data, separators=(",", ":"))  # compact: the C encoder, no indentation
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        if exc.errno in FULL:
            raise DiskFull(f"no space left on the device to write {path}") from None
        raise
