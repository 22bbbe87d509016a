"""Read templates, setup code and workflows from a notebook's magics (or cell tags) into a spec."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dsl import parse_workflow
from ..errors import SpecError
from ..model import Task, Template, Workflow
from ..model.check import check
from .magic_args import (
    WorkflowOptions,
    check_names,
    is_name,
    parse_notebook_template,
    parse_setup,
    parse_template,
    parse_workflow_options,
)

__all__ = ["CellInfo", "WorkflowDecl", "NotebookSpec", "read_notebook", "read_parameters_cell"]

CELL_KINDS = ("template", "setup", "workflow", "notebook-template", "code", "markdown", "raw")
_CELL_MAGIC = re.compile(r"%%(template|setup|workflow)(?:\s+(.*))?")
_LINE_TEMPLATE = re.compile(r"%template(?:\s+(.*))?")


@dataclass(frozen=True)
class CellInfo:
    """One cell of a notebook: 0-based ``index``, ``kind`` (see ``CELL_KINDS``), ``source``."""

    index: int
    kind: str
    source: str


@dataclass(frozen=True)
class WorkflowDecl:
    """A ``%%workflow`` cell: its options, the tasks of its body, and its 0-based cell index."""

    options: WorkflowOptions
    tasks: tuple[Task, ...]
    cell: int | None = None

    @property
    def where(self) -> str:
        """How messages name this workflow, e.g. ``"workflow nightly (cell 7)"``."""
        at = f" (cell {self.cell + 1})" if self.cell is not None else ""
        return f"workflow {self.options.name}{at}"


@dataclass
class NotebookSpec:
    """Everything a notebook defines: templates, setup code, workflows, and its cells.

    Built statically by :func:`read_notebook`, or cell by cell by the live magics; in the
    live kernel, re-running a cell replaces the earlier definition of the same name.

    Parameters
    ----------
    templates : dict
        Template name to :class:`~nbflow.model.Template`, in definition order.
    setup : dict
        Setup code by key (the ``%%setup`` name, or ``"cell N"`` for an unnamed one).
    workflows : dict
        Workflow name to :class:`WorkflowDecl`.
    cells : list of CellInfo
        Every cell of the notebook (empty in the live kernel).
    base_dir : str, optional
        Folder relative ``--notebook`` paths are read from.
    """

    templates: dict[str, Template] = field(default_factory=dict)
    setup: dict[str, str] = field(default_factory=dict)
    workflows: dict[str, WorkflowDecl] = field(default_factory=dict)
    cells: list[CellInfo] = field(default_factory=list)
    base_dir: str | None = None

    def add_template(self, template: Template, *, replace: bool = True) -> None:
        """Register ``template``; with ``replace=False`` a second definition is an error."""
        old = self.templates.get(template.name)
        if old is not None and not replace:
            raise SpecError(
                f"template {template.name!r} is defined twice: in {_cell(old.cell)} "
                f"and in {_cell(template.cell)}"
            )
        self.templates[template.name] = template

    def add_setup(self, code: str, key: str, *, replace: bool = True) -> None:
        """Register setup ``code`` under ``key``; it keeps its place when replaced."""
        if key in self.setup and not replace:
            raise SpecError(f"setup {key!r} is defined twice")
        self.setup[key] = code

    def add_workflow(
        self,
        options: WorkflowOptions,
        tasks: tuple[Task, ...],
        *,
        cell: int | None = None,
        replace: bool = True,
        check: bool = False,
    ) -> None:
        """Register a workflow; with ``check=True`` validate it first against known templates."""
        decl = WorkflowDecl(options, tasks, cell)
        old = self.workflows.get(options.name)
        if old is not None and not replace:
            raise SpecError(
                f"workflow {options.name!r} is defined twice: in {_cell(old.cell)} "
                f"and in {_cell(cell)}"
            )
        if check:
            self._build(decl, None)
        self.workflows[options.name] = decl

    def declaration(self, name: str | None = None) -> WorkflowDecl:
        """The declaration of workflow ``name``, or of the only workflow when ``name`` is None."""
        if name is None:
            if len(self.workflows) == 1:
                return next(iter(self.workflows.values()))
            if not self.workflows:
                raise SpecError("no workflow is defined (write a %%workflow cell)")
            raise SpecError(
                f"several workflows are defined ({', '.join(self.workflows)}): name the one to use"
            )
        if name not in self.workflows:
            known = ", ".join(self.workflows) or "none"
            raise SpecError(f"no workflow {name!r} (defined: {known})")
        return self.workflows[name]

    def workflow(
        self, name: str | None = None, parameters: dict[str, Any] | None = None
    ) -> Workflow:
        """Build and check the :class:`~nbflow.model.Workflow` called ``name``.

        Parameters
        ----------
        name : str, optional
            Workflow name; ``None`` picks the only workflow.
        parameters : dict, optional
            Workflow parameters (``-p k=v``).

        Raises
        ------
        SpecError
            Unknown name, or wiring that :func:`nbflow.model.check` rejects.
        """
        return self._build(self.declaration(name), parameters)

    def _build(self, decl: WorkflowDecl, parameters: dict[str, Any] | None) -> Workflow:
        where = decl.where
        used: list[str] = []
        for task in decl.tasks:
            if task.template not in self.templates:
                known = ", ".join(self.templates) or "none"
                raise SpecError(
                    f"unknown template {task.template!r} (defined: {known})",
                    where,
                    task.line,
                    task.col,
                )
            if task.template not in used:
                used.append(task.template)
        exit_name = decl.options.on_exit
        if exit_name is not None and exit_name in self.templates and exit_name not in used:
            used.append(exit_name)
        wf = Workflow(
            name=decl.options.name,
            templates={n: self.templates[n] for n in used},
            tasks=decl.tasks,
            setup=tuple(self.setup.values()),
            parameters=dict(parameters or {}),
            parallelism=decl.options.parallelism,
            on_exit=exit_name,
            schedule=decl.options.schedule,
            notify=decl.options.notify,
            where=where,
        )
        check(wf)
        return wf


def _cell(index: int | None) -> str:
    return "the live kernel" if index is None else f"cell {index + 1}"


def read_notebook(path: str | Path) -> NotebookSpec:
    """Read the nbflow magics (and nbflow cell tags) of the notebook at ``path``, no kernel.

    Every :class:`SpecError` names the cell (``"cell N"``, 1-based) and the line inside it.
    Relative ``--notebook`` paths are read from the notebook's folder.
    """
    path = Path(path)
    cells = _load_cells(path)
    spec = NotebookSpec(base_dir=str(path.parent))
    for index, cell in enumerate(cells):
        source = _source(cell)
        try:
            kind = _read_cell(spec, index, cell, source)
        except SpecError as exc:
            if exc.where is not None:
                raise
            raise SpecError(exc.message, f"cell {index + 1}", exc.line, exc.col) from None
        spec.cells.append(CellInfo(index, kind, source))
    return spec


def _load_cells(path: Path) -> list[dict[str, Any]]:
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"no such notebook: {str(path)!r}") from None
    except (OSError, ValueError) as exc:
        raise SpecError(f"cannot read {str(path)!r} as a notebook: {exc}") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list) or nb.get("nbformat") != 4:
        raise SpecError(f"{str(path)!r} is not a version 4 notebook (open and save it in Jupyter)")
    return [c for c in cells if isinstance(c, dict)]


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _read_cell(spec: NotebookSpec, index: int, cell: dict[str, Any], source: str) -> str:
    """Register what cell ``index`` defines; return its kind."""
    if cell.get("cell_type") != "code":
        return "markdown" if cell.get("cell_type") == "markdown" else "raw"
    lines = source.splitlines(keepends=True)
    first = next((i for i, text in enumerate(lines) if text.strip()), None)
    magic = _CELL_MAGIC.fullmatch(lines[first].rstrip()) if first is not None else None
    if first is not None and magic is not None:
        kind, args, body = magic.group(1), magic.group(2) or "", "".join(lines[first + 1 :])
        try:
            _read_cell_magic(spec, index, kind, args, body, first + 1)
        except SpecError as exc:
            if exc.where is not None:
                raise
            line = exc.line or first + 1
            raise SpecError(exc.message, f"cell {index + 1}", line, exc.col) from None
        return kind
    found = False
    for number, text in enumerate(lines, 1):
        match = _LINE_TEMPLATE.fullmatch(text.strip())
        if match is not None and text.startswith("%"):
            try:
                template = parse_notebook_template(
                    match.group(1) or "", cell=index, base_dir=spec.base_dir or "."
                )
                spec.add_template(template, replace=False)
            except SpecError as exc:
                raise SpecError(exc.message, f"cell {index + 1}", number) from None
            found = True
    if found:
        return "notebook-template"
    return _read_tags(spec, index, cell.get("metadata", {}).get("nbflow"), source)


def _read_cell_magic(
    spec: NotebookSpec, index: int, kind: str, args: str, body: str, line: int
) -> None:
    if kind == "template":
        template, _ = parse_template(args, body, cell=index)
        spec.add_template(template, replace=False)
    elif kind == "setup":
        spec.add_setup(body, parse_setup(args) or f"cell {index + 1}", replace=False)
    else:
        options = parse_workflow_options(args)
        tasks = parse_workflow(body, where=f"cell {index + 1}", line_offset=line)
        spec.add_workflow(options, tasks, cell=index, replace=False)


def _read_tags(spec: NotebookSpec, index: int, meta: Any, source: str) -> str:
    """Read the ``nbflow`` cell metadata that the lab extension writes, if any."""
    if not isinstance(meta, dict):
        return "code"
    if meta.get("setup"):
        name = meta.get("name")
        spec.add_setup(source, str(name) if name else f"cell {index + 1}", replace=False)
        return "setup"
    if "template" not in meta:
        return "code"
    name, params = meta["template"], meta.get("parameters", {})
    if not isinstance(name, str) or not is_name(name):
        raise SpecError(f"nbflow tag: template name {name!r} is not a valid Python name")
    if not isinstance(params, dict):
        raise SpecError("nbflow tag: 'parameters' must be a mapping of names to values")
    lists = {key: meta.get(key, []) for key in ("inputs", "outputs")}
    for key, value in lists.items():
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise SpecError(f"nbflow tag: {key!r} must be a list of names")
    template = Template(
        name=name,
        source=source,
        inputs=check_names(lists["inputs"], "inputs"),
        outputs=check_names(lists["outputs"], "outputs"),
        parameters=dict(zip(check_names(params, "parameters"), params.values())),
        cell=index,
    )
    spec.add_template(template, replace=False)
    return "template"


@dataclass(frozen=True)
class NotLiteral:
    """A parameters-cell default that is not a Python literal, e.g. ``os.environ["X"]``."""

    text: str
    line: int


def read_parameters_cell(path: Path, shown: str | None = None) -> dict[str, Any] | None:
    """Read the defaults of the ``parameters``-tagged cell of the notebook at ``path``.

    Simple assignments ``name = <literal>`` (also ``a = b = 1`` and annotated ones) count;
    other statements are ignored. A default that is not a literal comes back as a
    :class:`NotLiteral`. Returns ``None`` when the notebook has no parameters cell.
    """
    shown = shown or str(path)
    try:
        cells = _load_cells(path)
    except SpecError as exc:
        raise SpecError(f"--notebook: {exc.message} (looked in {path.parent})") from None
    for c in cells:
        if c.get("cell_type") == "code" and "parameters" in c.get("metadata", {}).get("tags", []):
            return _literal_assignments(_source(c), shown)
    return None


def _literal_assignments(source: str, shown: str) -> dict[str, Any]:
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise SpecError(f"{shown}, parameters cell line {exc.lineno}: {exc.msg}") from None
    out: dict[str, Any] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign):
            targets, value = stmt.targets, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            targets, value = [stmt.target], stmt.value
        else:
            continue
        try:
            default: Any = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            default = NotLiteral(ast.get_source_segment(source, value) or "?", stmt.lineno)
        for target in targets:
            if isinstance(target, ast.Name):
                out[target.id] = default
    return out
