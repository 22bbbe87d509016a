"""Kernel-side hand-off of a step: read input artifacts, record and save outputs (stdlib only)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import marshal
from .errors import MarshalError, NbflowError, SpecError
from .vocab import ATTEMPT_ENV, STEP_DIR_ENV, TEMPLATE_ENV

__all__ = [
    "output",
    "recorded",
    "reset",
    "load_input",
    "save_outputs",
    "step_dir",
    "attempt",
]


_recorded: dict[str, Any] = {}


def output(name: str, value: Any) -> Any:
    """Record ``value`` as the output ``name``; it wins over a variable of the same name.

    Whole-notebook templates use it, e.g. ``nbflow.output("report", Path("report.html"))``
    (a :class:`pathlib.Path` saves the file or folder it points to). Returns ``value``.
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name or name[0] == ".":
        raise SpecError(
            f"nbflow.output(): {name!r} is not a valid output name "
            "(use the name declared with --outputs)"
        )
    _recorded[name] = value
    return value


def attempt() -> int | None:
    """The 0-based attempt number of the running step, or ``None`` outside a step.

    A template with ``--retries`` gets Argo's ``{{retries}}`` in ``$NBFLOW_ATTEMPT``; any other
    step is always attempt 0.
    """
    if not os.environ.get(STEP_DIR_ENV):
        return None
    return int(os.environ.get(ATTEMPT_ENV) or 0)


def recorded() -> dict[str, Any]:
    """A copy of the values recorded with :func:`output` and not yet saved."""
    return dict(_recorded)


def reset() -> None:
    """Forget every value recorded with :func:`output`."""
    _recorded.clear()


def step_dir() -> Path:
    """The step directory of the running step (``$NBFLOW_STEP_DIR``).

    Raises
    ------
    NbflowError
        Outside a step, when the variable is not set.
    """
    value = os.environ.get(STEP_DIR_ENV)
    if not value:
        raise NbflowError(
            f"${STEP_DIR_ENV} is not set: step inputs and outputs are only "
            "available inside a step that nbflow runs"
        )
    return Path(value)


def _template() -> str | None:
    return os.environ.get(TEMPLATE_ENV) or None


def _of_template() -> str:
    name = _template()
    return f" of template {name!r}" if name else ""


def load_input(name: str) -> Any:
    """Load the input ``name`` from ``$NBFLOW_STEP_DIR/inputs/<name>``.

    A fan-in input (the producer was a mapped task) loads as the list of its items.

    Raises
    ------
    MarshalError
        When the input is missing from the step directory or cannot be loaded.
    NbflowError
        Outside a step.
    """
    path = step_dir() / "inputs" / name
    if not path.is_dir():
        raise MarshalError(
            f"input {name!r}{_of_template()} is missing from the step directory (expected {path})"
        )
    return marshal.load_input(path, name)


def save_outputs(namespace: Mapping[str, Any], names: Sequence[str]) -> None:
    """Save each output in ``names`` into ``outputs/<name>/`` of the step directory.

    A value recorded with :func:`output` wins; otherwise ``namespace[name]`` is used.
    A JSON-able value of at most 64 KiB is also written as the output parameter
    ``parameters/<name>``. Recorded values are forgotten once all outputs are saved.

    Raises
    ------
    SpecError
        When an output is neither recorded nor defined in ``namespace``.
    MarshalError
        When a value cannot be saved.
    NbflowError
        Outside a step.
    """
    root = step_dir()
    missing = [n for n in names if n not in _recorded and n not in namespace]
    if missing:
        template = _template()
        who = f"template {template!r}" if template else "the step"
        raise SpecError(
            f"{who} did not define its output {missing[0]!r} (assign a variable of "
            "that name, or call nbflow.output(name, value))"
        )
    for name in names:
        value = _recorded[name] if name in _recorded else namespace[name]
        marshal.save(value, root / "outputs" / name, name=name, template=_template())
        _write_parameter(root / "parameters" / name, marshal.to_parameter(value))
    reset()


def _write_parameter(path: Path, text: str | None) -> None:
    if text is None:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
