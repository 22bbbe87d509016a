"""Lint a notebook pipeline: wiring errors, names a step lacks, outputs that cannot be saved."""

from __future__ import annotations

import builtins
import functools
import symtable
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NbflowError, SpecError

if TYPE_CHECKING:
    from .model import Template
    from .notebook.extract import NotebookSpec

__all__ = ["Problem", "lint", "check_outputs"]

# Names a step's kernel has without any code defining them (IPython adds the first ones).
_ALWAYS_DEFINED = frozenset(dir(builtins)) | {"get_ipython", "display", "In", "Out", "exit", "quit"}


@dataclass(frozen=True)
class Problem:
    """One finding of :func:`lint`.

    Parameters
    ----------
    level : str
        ``"error"`` (the workflow cannot run) or ``"warning"`` (it will probably fail).
    message : str
        What is wrong and how to fix it.
    where : str, optional
        Where, e.g. ``"cell 4"`` or ``"workflow nightly (cell 7), line 2, column 1"``.
    """

    level: str
    message: str
    where: str | None = None

    def __str__(self) -> str:
        return (
            f"{self.level}: {self.where}: {self.message}"
            if self.where
            else f"{self.level}: {self.message}"
        )


def lint(
    spec: NotebookSpec, name: str | None = None, *, namespace_cells: Sequence[str] | None = None
) -> list[Problem]:
    """Check workflow ``name`` of ``spec`` (the only one when ``None``).

    Parameters
    ----------
    spec : NotebookSpec
        What the notebook (or the live kernel) defines.
    name : str, optional
        Workflow to check. When ``None`` and the notebook has no workflow, every template
        is checked.
    namespace_cells : sequence of str, optional
        Code that ran outside templates, one entry per cell; in the live kernel, IPython's
        ``In`` list (entry ``i`` is shown as ``In [i]``). By default the file's plain cells.

    Returns
    -------
    list of Problem
        The wiring error first (if any), then warnings template by template.
    """
    problems: list[Problem] = []
    try:
        templates = _templates(spec, name, problems)
    except SpecError as exc:
        return [Problem("error", exc.message, _where(exc))]
    if namespace_cells is None:
        cells = [
            (f"cell {c.index + 1}", c.source)
            for c in spec.cells
            if c.kind in ("code", "notebook-template")
        ]
    else:
        cells = [(f"In [{i}]", src) for i, src in enumerate(namespace_cells) if src]
    context = _Context(spec, cells)
    for template in templates:
        if template.notebook is None:
            problems.extend(context.check(template))
    return problems


def _templates(spec: NotebookSpec, name: str | None, problems: list[Problem]) -> list[Template]:
    """The templates to check; a wiring error goes to ``problems`` when they are still known."""
    if name is None and not spec.workflows:
        return list(spec.templates.values())
    try:
        return list(spec.workflow(name).templates.values())
    except SpecError as exc:
        problems.append(Problem("error", exc.message, _where(exc)))
    decl = spec.declaration(name)  # raises when ``name`` itself is the problem
    used = [t.template for t in decl.tasks] + [decl.options.on_exit or ""]
    return [spec.templates[n] for n in dict.fromkeys(used) if n in spec.templates]


def _where(exc: SpecError) -> str | None:
    parts = [exc.where] if exc.where else []
    if exc.line is not None:
        parts.append(f"line {exc.line}" + (f", column {exc.col}" if exc.col is not None else ""))
    return ", ".join(parts) or None


class _Context:
    """What is defined where: setup code, plain cells, other templates."""

    def __init__(self, spec: NotebookSpec, cells: list[tuple[str, str]]) -> None:
        self.spec = spec
        self.setup: set[str] = set()
        for code in spec.setup.values():
            self.setup |= _scan(code)[0] if _parses(code) else set()
        self.cells = [(label, _scan(src)[0]) for label, src in cells if _parses(src)]

    def check(self, template: Template) -> list[Problem]:
        """Warnings about one cell template."""
        where = (
            f"cell {template.cell + 1}"
            if template.cell is not None
            else f"template {template.name}"
        )
        try:
            bound, used = _scan(template.source)
        except SyntaxError as exc:
            line = (exc.lineno or 0) + (1 if template.cell is not None else 0)
            return [
                Problem(
                    "error",
                    f"template {template.name!r} does not parse: {exc.msg}",
                    f"{where}, line {line}",
                )
            ]
        known = bound | self.setup | set(template.inputs) | set(template.parameters)
        problems = [
            Problem("warning", self._missing(n, template), where)
            for n in sorted(used - known - _ALWAYS_DEFINED)
        ]
        given = bound | set(template.inputs) | set(template.parameters)
        problems += [
            Problem(
                "warning",
                f"template {template.name!r} declares output {out!r} but never assigns it",
                where,
            )
            for out in template.outputs
            if out not in given
        ]
        return problems

    def _missing(self, name: str, template: Template) -> str:
        cells = [label for label, bound in self.cells if name in bound]
        if cells:
            return (
                f"`{name}` is defined only in {_join(cells)}: move it into a %%setup cell "
                "or declare it as an input"
            )
        others = [
            t.name
            for t in self.spec.templates.values()
            if t.name != template.name
            and t.notebook is None
            and _parses(t.source)
            and name in _scan(t.source)[0]
        ]
        if others:
            return (
                f"`{name}` is defined only in template {_join(repr(o) for o in others)}: "
                f"declare it as an input of {template.name!r} (and as an output there)"
            )
        return f"`{name}` is used by template {template.name!r} but defined nowhere"


def _join(items: Iterable[str]) -> str:
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _parses(source: str) -> bool:
    try:
        _scan(source)
    except SyntaxError:
        return False
    return True


@functools.lru_cache(maxsize=512)
def _scan(source: str) -> tuple[frozenset[str], frozenset[str]]:
    """The global names ``source`` binds, and those it reads without binding them.

    IPython syntax (magics, ``!cmd``) is converted to Python first. Raises ``SyntaxError``.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(source)
    try:
        table = symtable.symtable(code, "<cell>", "exec")
    except (ValueError, RecursionError) as exc:  # null bytes; absurd nesting
        raise SyntaxError(str(exc)) from None
    bound: set[str] = set()
    read: set[str] = set()
    for sym in table.get_symbols():
        if sym.is_assigned() or sym.is_imported():
            bound.add(sym.get_name())
        elif sym.is_referenced():
            read.add(sym.get_name())
    stack: list[Any] = list(table.get_children())
    while stack:
        child = stack.pop()
        stack.extend(child.get_children())
        for sym in child.get_symbols():
            if sym.is_declared_global() and sym.is_assigned():
                bound.add(sym.get_name())
            elif sym.is_global() and sym.is_referenced():
                read.add(sym.get_name())
    read -= bound
    return frozenset(bound), frozenset(n for n in read if not n.startswith("__"))


def check_outputs(
    spec: NotebookSpec, name: str | None, namespace: Mapping[str, Any]
) -> list[Problem]:
    """Try to save each declared output whose value is in ``namespace`` (the live kernel's).

    Every cell template of workflow ``name`` (all templates when the notebook has no
    workflow) is checked: an output that a cell has computed is saved as a step would save
    it, into a temporary folder, so that a value no serialiser accepts (an open socket, a
    lambda) is reported now rather than when the step ends. Outputs not computed yet are
    skipped. A value of a class defined in the notebook itself is saved fine here but cannot
    be loaded by a step whose code does not define that class: a warning names it.

    Returns
    -------
    list of Problem
        Errors naming the variable, its type and the template; then warnings.
    """
    from . import handoff

    try:
        templates = _templates(spec, name, [])
    except SpecError:
        return []  # lint() reports it
    recorded = handoff.recorded()
    setup: set[str] = set()
    for code in spec.setup.values():
        setup |= _scan(code)[0] if _parses(code) else set()
    problems: list[Problem] = []
    with tempfile.TemporaryDirectory(prefix="nbflow-lint-") as tmp:
        for template in templates:
            if template.notebook is not None:
                continue
            where = (
                f"cell {template.cell + 1}"
                if template.cell is not None
                else f"template {template.name}"
            )
            for out in template.outputs:
                if out not in recorded and out not in namespace:
                    continue
                value = recorded[out] if out in recorded else namespace[out]
                problem = _check_value(value, out, template.name, setup, Path(tmp) / out)
                if problem is not None:
                    problems.append(Problem(problem[0], problem[1], where))
    return sorted(problems, key=lambda p: p.level != "error")


def _check_value(
    value: Any, name: str, template: str, setup: set[str], target: Path
) -> tuple[str, str] | None:
    from . import marshal

    try:
        fmt = marshal.save(value, target, name=name, template=template)
    except NbflowError as exc:
        return "error", str(exc)
    except OSError as exc:  # the temporary folder, not the value
        return "warning", f"output {name!r} of template {template!r} was not checked: {exc}"
    if fmt != "pickle":
        return None
    # Pickle stores classes and functions by reference: one defined in a plain cell of the
    # notebook (module __main__) is missing from the kernels of the steps that load the value.
    module = getattr(value, "__module__", None)  # an instance's is its class's
    qualname = getattr(value, "__qualname__", None) or type(value).__qualname__
    if module == "__main__" and str(qualname).split(".")[0] not in setup:
        return (
            "warning",
            f"output {name!r} of template {template!r} needs {qualname}, defined in the "
            f"notebook: steps that load it cannot unpickle it unless {qualname} is defined in "
            "a %%setup cell (or imported from a module)",
        )
    return None

