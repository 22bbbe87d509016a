"""Build the step notebook papermill runs for a template: parameters, inputs, code, outputs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..model import Template

__all__ = ["build_step_notebook", "NOTEBOOK_METADATA"]

NOTEBOOK_METADATA: dict[str, Any] = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
}

_HANDOFF_IMPORT = "import nbflow.handoff as _nbflow_handoff"
# Cell metadata that belongs to a previous execution, not to the template.
_RUN_METADATA = ("execution", "papermill")


def build_step_notebook(
    template: Template, setup: Sequence[str] = (), *, base_dir: str | Path | None = None
) -> dict[str, Any]:
    """Build the papermill-ready step notebook of ``template`` (an nbformat 4.5 dict).

    Cell templates get, in order: a ``parameters`` cell (when the template has
    parameters), a cell loading the inputs, one cell with the ``setup`` code, the template's
    code and a cell saving the outputs. A whole-notebook template keeps its cells, gets
    the inputs cell right after its ``parameters`` cell (or first) and the outputs cell
    last; ``setup`` is not added to it. Cell ids are stable, so the result is deterministic.

    Parameters
    ----------
    template : Template
        The template to run.
    setup : sequence of str
        Code of the ``%%setup`` cells, run before a cell template's code.
    base_dir : path, optional
        Folder that a relative ``template.notebook`` is read from (default: the current one).

    Raises
    ------
    SpecError
        When a whole-notebook template's file is missing or is not a notebook.
    """
    if template.notebook is not None:
        path = Path(base_dir if base_dir is not None else ".") / template.notebook
        cells = _notebook_cells(template, path)
    else:
        cells = _template_cells(template, setup)
    return {
        "cells": cells,
        "metadata": json.loads(json.dumps(NOTEBOOK_METADATA)),
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _code_cell(cell_id: str, source: str, tags: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": cell_id,
        "metadata": {"tags": [*tags, cell_id]},
        "outputs": [],
        "source": source,
    }


def _inputs_cell(names: Sequence[str]) -> dict[str, Any]:
    loads = [f"{n} = _nbflow_handoff.load_input({json.dumps(n)})" for n in names]
    lines = [_HANDOFF_IMPORT, *loads]
    return _code_cell("nbflow-inputs", "\n".join(lines))


def _outputs_cell(names: Sequence[str]) -> dict[str, Any]:
    call = f"_nbflow_handoff.save_outputs(globals(), {json.dumps(list(names))})"
    return _code_cell("nbflow-outputs", f"{_HANDOFF_IMPORT}\n{call}")


def _template_cells(template: Template, setup: Sequence[str]) -> list[dict[str, Any]]:
    cells = []
    if template.parameters:
        lines = [f"{k} = {template.parameters[k]!r}" for k in sorted(template.parameters)]
        cells.append(_code_cell("nbflow-parameters", "\n".join(lines), tags=("parameters",)))
    if template.inputs:
        cells.append(_inputs_cell(template.inputs))
    blocks = [b.strip("\n") for b in setup if b.strip()]
    if blocks:
        cells.append(_code_cell("nbflow-setup", "\n\n".join(blocks)))
    cells.append(_code_cell("nbflow-template", template.source))
    if template.outputs:
        cells.append(_outputs_cell(template.outputs))
    return cells


def _notebook_cells(template: Template, path: Path) -> list[dict[str, Any]]:
    where = f"template {template.name!r}"
    cells = [_clean_cell(i, c, path, where) for i, c in enumerate(_read_cells(path, where))]
    if template.inputs:
        at = next((i + 1 for i, c in enumerate(cells) if "parameters" in _tags(c)), 0)
        cells.insert(at, _inputs_cell(template.inputs))
    if template.outputs:
        cells.append(_outputs_cell(template.outputs))
    return cells


def _read_cells(path: Path, where: str) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or exc
        raise SpecError(f"cannot read notebook {str(path)!r}: {reason}", where) from exc
    try:
        nb = json.loads(text)
        if isinstance(nb, dict) and isinstance(nb.get("nbformat"), int) and nb["nbformat"] < 4:
            import nbformat  # only old notebooks need converting

            nb = json.loads(json.dumps(nbformat.reads(text, as_version=4)))
    except Exception as exc:
        raise SpecError(f"{str(path)!r} is not a notebook: {exc}", where) from exc
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise SpecError(f"{str(path)!r} is not a notebook: it has no list of cells", where)
    return cells


def _tags(cell: dict[str, Any]) -> list[str]:
    tags = cell.get("metadata", {}).get("tags", [])
    return tags if isinstance(tags, list) else []


def _clean_cell(index: int, cell: Any, path: Path, where: str) -> dict[str, Any]:
    kind = cell.get("cell_type") if isinstance(cell, dict) else None
    if kind not in ("code", "markdown", "raw"):
        raise SpecError(
            f"{str(path)!r} is not a valid notebook: cell {index} has cell_type {kind!r}", where
        )
    source = cell.get("source", "")
    metadata = {k: v for k, v in dict(cell.get("metadata") or {}).items() if k not in _RUN_METADATA}
    out: dict[str, Any] = {
        "cell_type": kind,
        "id": f"cell-{index}",
        "metadata": metadata,
        "source": "".join(source) if isinstance(source, list) else source,
    }
    if kind == "code":
        out["execution_count"] = None
        out["outputs"] = []
    elif "attachments" in cell:
        out["attachments"] = cell["attachments"]
    return out
