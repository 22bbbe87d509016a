"""The run store: one folder per run holding its Workflow (spec and status), logs and settings."""

from __future__ import annotations

import json
import os
import secrets
import string
from pathlib import Path
from typing import Any

from ..errors import RunNotFound

__all__ = ["RunStore", "new_run_name"]

_ALPHABET = string.ascii_lowercase + string.digits


def new_run_name(generate_name: str) -> str:
    """Argo-style name: ``generateName`` plus five random lower-case letters and digits."""
    return generate_name + "".join(secrets.choice(_ALPHABET) for _ in range(5))


class RunStore:
    """Runs under ``<home>/runs/<run>/``: ``workflow.json``, ``run.json`` and ``logs/``.

    ``workflow.json`` is rewritten atomically (temporary file, then rename) after every change,
    so a reader, or a resumed run, always sees a whole state.
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
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
