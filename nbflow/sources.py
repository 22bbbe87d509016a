"""What interfaces without a kernel ask of a notebook file: its workflows and their templates'
cells, the manifest of one workflow, and its lint problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import NbflowConfig

__all__ = ["outline", "compile_notebook", "lint_notebook"]


def outline(path: str | Path) -> list[dict[str, Any]]:
    """The workflows of the notebook at ``path``, read statically.

    One entry per ``%%workflow`` cell: ``name``, ``cell`` and ``cell_id`` (of the workflow
    cell), ``tasks`` (names, in order), ``templates`` (``name``, ``cell`` index and
    ``cell_id`` of each template it uses, ``None`` for a cell when unknown), ``schedule``,
    ``parallelism`` and ``on_exit``.

    Raises
    ------
    SpecError
        The notebook cannot be read, or a cell's nbflow magic is wrong (it names the cell).
    """
    from .notebook.extract import read_notebook

    spec = read_notebook(path)
    ids = _cell_ids(Path(path))
    out = []
    for name, decl in spec.workflows.items():
        used = list(dict.fromkeys(t.template for t in decl.tasks))
        if decl.options.on_exit and decl.options.on_exit not in used:
            used.append(decl.options.on_exit)
        templates = []
        for tname in used:
            cell = spec.templates[tname].cell if tname in spec.templates else None
            templates.append({"name": tname, "cell": cell, "cell_id": _id(ids, cell)})
        out.append(
            {
                "name": name,
                "cell": decl.cell,
                "cell_id": _id(ids, decl.cell),
                "tasks": [t.name for t in decl.tasks],
                "templates": templates,
                "schedule": decl.options.schedule,
                "parallelism": decl.options.parallelism,
                "on_exit": decl.options.on_exit,
            }
        )
    return out


def _cell_ids(path: Path) -> list[str | None]:
    cells = json.loads(path.read_text(encoding="utf-8")).get("cells") or []
    return [c.get("id") if isinstance(c, dict) else None for c in cells]


def _id(ids: list[str | None], cell: int | None) -> str | None:
    return ids[cell] if cell is not None and 0 <= cell < len(ids) else None


def compile_notebook(
    path: str | Path,
    workflow: str | None = None,
    *,
    kind: str | None = None,
    config: NbflowConfig | None = None,
) -> str:
    """The YAML manifest of a notebook's workflow, as ``nbflow compile NB -w W [--kind K]``
    writes it: a Workflow by default, a CronWorkflow for ``kind="cronworkflow"`` (on the
    notebook's ``--schedule``), or a (Cluster)WorkflowTemplate."""
    from . import api
    from .argo.kinds import export

    source, _, base, _ = api.load_source(path, workflow)
    manifest = api.compile_workflow(source, config=config, base_dir=base)
    schedules = (source.schedule,) if source.schedule else ()
    return api.dump_manifest(export(manifest, kind or "workflow", schedules=schedules), "yaml")


def lint_notebook(path: str | Path, workflow: str | None = None) -> list[dict[str, Any]]:
    """The problems ``nbflow lint`` reports: ``level``, ``where`` and ``message`` each."""
    from .lint import lint
    from .notebook.extract import read_notebook

    return [
        {"level": p.level, "where": p.where, "message": p.message}
        for p in lint(read_notebook(Path(path)), workflow)
    ]
