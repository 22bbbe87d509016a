"""Parse the argument lines of the nbflow magics (%%template, %%setup, %%workflow, %nbflow)."""

from __future__ import annotations

import argparse
import keyword
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from ..errors import SpecError
from ..model import RETRY_POLICIES, Resources, Retry, Template
from ..model.values import parse_assignment, parse_duration

__all__ = [
    "MagicParser",
    "parse_assignments",
    "WorkflowOptions",
    "check_names",
    "is_name",
    "parse_notebook_template",
    "parse_setup",
    "parse_template",
    "parse_workflow_options",
    "split_line",
    "template_parser",
    "notebook_template_parser",
    "setup_parser",
    "workflow_parser",
]

_QUANTITY = re.compile(r"(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?")
_CRON_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,?LW#-]+")


@dataclass(frozen=True)
class WorkflowOptions:
    """Options of a ``%%workflow NAME`` line.

    Parameters
    ----------
    name : str
        Workflow name.
    parallelism : int, optional
        Maximum number of steps running at once (at least 1).
    on_exit : str, optional
        Template run after the DAG, whatever its outcome.
    schedule : str, optional
        Cron schedule: five fields, or a macro such as ``@daily``.
    notify : dict, optional
        ``--notify TARGET [--notify-on WHEN] [--notify-attach]`` (:mod:`nbflow.notify.spec`).
    """

    name: str
    parallelism: int | None = None
    on_exit: str | None = None
    schedule: str | None = None
    notify: dict[str, Any] | None = None


class MagicParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises :class:`SpecError` instead of exiting."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog=prog, add_help=False, allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"^argument ([^:]+): ", r"\1: ", message)
        missing = "the following arguments are required: "
        if message.startswith(missing):
            message = f"missing {message[len(missing) :]} after {self.prog}"
        raise SpecError(message)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise SpecError(f"{self.prog}: {(message or 'invalid arguments').strip()}")

    def parse(self, tokens: list[str]) -> argparse.Namespace:
        """Parse ``tokens``; anything left over is an error naming the first extra token."""
        ns, extra = self.parse_known_args(tokens)
        if extra:
            raise SpecError(f"unrecognized argument {extra[0]}")
        return ns


def split_line(line: str) -> list[str]:
    """Split a magic line like a shell would; a token starting with ``#`` starts a comment."""
    try:
        tokens = shlex.split(line)
    except ValueError as exc:
        raise SpecError(f"cannot split the magic line: {exc}") from None
    for i, tok in enumerate(tokens):
        if tok.startswith("#"):
            return tokens[:i]
    return tokens


def is_name(text: str) -> bool:
    """Whether ``text`` can name a Python variable (an identifier, not a keyword)."""
    return text.isidentifier() and not keyword.iskeyword(text)


def check_names(names: Iterable[str], option: str) -> tuple[str, ...]:
    """Check that ``names`` are distinct Python variable names; return them as a tuple."""
    out: list[str] = []
    for name in names:
        if not is_name(name):
            raise SpecError(f"{option}: {name!r} is not a valid Python name")
        if name in out:
            raise SpecError(f"{option}: {name!r} is listed twice")
        out.append(name)
    return tuple(out)


def _name_list(values: list[str] | None, option: str) -> tuple[str, ...]:
    parts = [p.strip() for v in values or () for p in v.split(",")]
    return check_names([p for p in parts if p], option)


def parse_assignments(values: list[str] | None, option: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for text in values or ():
        try:
            key, value = parse_assignment(text)
        except ValueError:
            raise SpecError(f"{option}: expected NAME=VALUE, got {text!r}") from None
        check_names([key], option)
        out[key] = value
    return out


def _int(text: str | None, option: str, minimum: int) -> int | None:
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        raise SpecError(f"{option}: expected an integer, got {text!r}") from None
    if value < minimum:
        raise SpecError(f"{option}: must be at least {minimum}, got {value}")
    return value


def _duration(text: str | None, option: str, *, positive: bool = False) -> float | None:
    if text is None:
        return None
    try:
        value = parse_duration(text)
    except ValueError:
        raise SpecError(
            f"{option}: expected a duration such as 30s, 10m or 2h, got {text!r}"
        ) from None
    if positive and value <= 0:
        raise SpecError(f"{option}: must be longer than 0, got {text!r}")
    return value


def _quantity(text: str | None, option: str) -> str | None:
    if text is not None and not _QUANTITY.fullmatch(text):
        raise SpecError(
            f"{option}: expected a Kubernetes quantity such as 2Gi, 500m or 1.5, got {text!r}"
        )
    return text


def _add_step_options(parser: MagicParser) -> None:
    """Options shared by cell and notebook templates: data, parameters, retries, resources."""
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--inputs", action="append")
    parser.add_argument("--outputs", action="append")
    parser.add_argument("--param", "-p", action="append", dest="param")
    parser.add_argument("--retries")
    parser.add_argument("--retry-policy")
    parser.add_argument("--backoff")
    parser.add_argument("--backoff-factor")
    parser.add_argument("--max-backoff")
    parser.add_argument("--timeout")
    parser.add_argument("--cpu")
    parser.add_argument("--memory")
    parser.add_argument("--image")
    parser.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True)


def _retry(ns: argparse.Namespace) -> Retry | None:
    limit = _int(ns.retries, "--retries", 0)
    if limit is None:
        for opt in ("retry_policy", "backoff", "backoff_factor", "max_backoff"):
            if getattr(ns, opt) is not None:
                raise SpecError(f"--{opt.replace('_', '-')} needs --retries")
        return None
    policy = "Always"
    if ns.retry_policy is not None:
        matches = [p for p in RETRY_POLICIES if p.lower() == ns.retry_policy.lower()]
        if not matches:
            raise SpecError(
                f"--retry-policy: expected one of {', '.join(RETRY_POLICIES)}, "
                f"got {ns.retry_policy!r}"
            )
        policy = matches[0]
    if ns.backoff is None:
        for opt in ("backoff_factor", "max_backoff"):
            if getattr(ns, opt) is not None:
                raise SpecError(f"--{opt.replace('_', '-')} needs --backoff")
    return Retry(
        limit=limit,
        policy=policy,
        backoff_s=_duration(ns.backoff, "--backoff"),
        factor=_int(ns.backoff_factor, "--backoff-factor", 1),
        max_backoff_s=_duration(ns.max_backoff, "--max-backoff", positive=True),
    )


def _template_fields(ns: argparse.Namespace) -> dict[str, Any]:
    """Turn the shared step options into keyword arguments of :class:`Template`."""
    if not is_name(ns.name):
        raise SpecError(f"template name {ns.name!r} is not a valid Python name")
    inputs = _name_list(ns.inputs, "--inputs")
    outputs = _name_list(ns.outputs, "--outputs")
    params = parse_assignments(ns.param, "--param")
    for p in params:
        if p in inputs:
            raise SpecError(f"--param {p}: {p!r} is also listed in --inputs")
    if ns.image is not None and not ns.image.strip():
        raise SpecError("--image: expected an image name, got ''")
    return dict(
        name=ns.name,
        inputs=inputs,
        outputs=outputs,
        parameters=params,
        retry=_retry(ns),
        timeout_s=_duration(ns.timeout, "--timeout", positive=True),
        resources=Resources(
            cpu=_quantity(ns.cpu, "--cpu"), memory=_quantity(ns.memory, "--memory")
        ),
        image=ns.image,
        cache=ns.cache,
    )


def template_parser() -> MagicParser:
    """The parser of ``%%template``'s arguments."""
    parser = MagicParser("%%template")
    _add_step_options(parser)
    parser.add_argument("--no-run", action="store_true")
    return parser


def notebook_template_parser() -> MagicParser:
    """The parser of ``%template NAME --notebook PATH``'s arguments."""
    parser = MagicParser("%template")
    _add_step_options(parser)
    parser.add_argument("--notebook")
    return parser


def setup_parser() -> MagicParser:
    """The parser of ``%%setup``'s arguments."""
    parser = MagicParser("%%setup")
    parser.add_argument("name", metavar="NAME", nargs="?")
    return parser


def workflow_parser() -> MagicParser:
    """The parser of ``%%workflow``'s arguments."""
    parser = MagicParser("%%workflow")
    parser.add_argument("name", metavar="NAME")
    parser.add_argument("--parallelism")
    parser.add_argument("--on-exit")
    parser.add_argument("--schedule")
    parser.add_argument("--notify", action="append")
    parser.add_argument("--notify-on", dest="notify_on")
    parser.add_argument("--notify-attach", dest="notify_attach", action="store_true")
    return parser


def parse_template(line: str, source: str, *, cell: int | None = None) -> tuple[Template, bool]:
    """Parse a ``%%template NAME [options]`` line and the cell's code.

    Parameters
    ----------
    line : str
        The magic's arguments (the text after ``%%template``).
    source : str
        The cell's code, which becomes the template's source.
    cell : int, optional
        0-based index of the cell, stored on the template for messages.

    Returns
    -------
    (Template, bool)
        The template, and whether ``--no-run`` asks not to run the cell live.
    """
    ns = template_parser().parse(split_line(line))
    return Template(source=source, cell=cell, **_template_fields(ns)), bool(ns.no_run)


def parse_notebook_template(
    line: str, *, base_dir: str | Path, cell: int | None = None
) -> Template:
    """Parse ``%template NAME --notebook PATH [options]``: a whole notebook as a template.

    The notebook's ``parameters``-tagged cell gives the parameters and their defaults;
    ``--param`` overrides them. When the notebook has a parameters cell, ``--param`` may only
    name its parameters; without one, ``--param`` declares them (papermill injects them).

    Parameters
    ----------
    line : str
        The magic's arguments (the text after ``%template``).
    base_dir : path
        Folder that a relative ``--notebook`` path is read from.
    cell : int, optional
        0-based index of the cell, stored on the template for messages.
    """
    ns = notebook_template_parser().parse(split_line(line))
    if ns.notebook is None:
        raise SpecError("%template: --notebook PATH is required (use %%template for a cell)")
    from .extract import NotLiteral, read_parameters_cell  # extract imports this module

    fields = _template_fields(ns)
    defaults = read_parameters_cell(Path(base_dir) / ns.notebook, ns.notebook)
    overrides = fields.pop("parameters")
    if defaults is not None:
        for key in overrides:
            if key not in defaults:
                raise SpecError(
                    f"--param {key}: {ns.notebook} has no parameter {key!r} "
                    f"(its parameters: {', '.join(defaults) or 'none'})"
                )
    params = {**(defaults or {}), **overrides}
    for key, value in params.items():
        if isinstance(value, NotLiteral):
            raise SpecError(
                f"{ns.notebook}, parameters cell line {value.line}: the default of "
                f"{key!r} is not a literal ({value.text}); give it a literal value "
                f"or set it with --param {key}=..."
            )
    return Template(notebook=ns.notebook, parameters=params, cell=cell, **fields)


def parse_setup(line: str) -> str | None:
    """Parse ``%%setup [NAME]``; return the name or ``None``."""
    name: str | None = setup_parser().parse(split_line(line)).name
    return name


def _check_schedule(text: str) -> str:
    text = " ".join(text.split())
    if text.startswith("@"):
        word, _, rest = text.partition(" ")
        if word in _CRON_MACROS and not rest:
            return text
        if word == "@every" and rest:
            _duration(rest, "--schedule @every", positive=True)
            return text
        raise SpecError(
            f"--schedule: unknown macro {text!r} (use one of "
            f"{', '.join(_CRON_MACROS)} or @every DURATION)"
        )
    fields = text.split(" ") if text else []
    if len(fields) != 5:
        raise SpecError(
            f"--schedule: expected 5 cron fields (minute hour day month weekday), "
            f"got {len(fields)} in {text!r}"
        )
    for f in fields:
        if not _CRON_FIELD.fullmatch(f):
            raise SpecError(f"--schedule: invalid cron field {f!r} in {text!r}")
    return text


def parse_workflow_options(line: str) -> WorkflowOptions:
    """Parse ``%%workflow NAME [--parallelism N] [--on-exit TEMPLATE] [--schedule CRON]
    [--notify TARGET ...] [--notify-on WHEN] [--notify-attach]``."""
    from ..notify.spec import parse_notify

    ns = workflow_parser().parse(split_line(line))
    if ns.on_exit is not None and not is_name(ns.on_exit):
        raise SpecError(f"--on-exit: {ns.on_exit!r} is not a valid template name")
    return WorkflowOptions(
        name=ns.name,
        parallelism=_int(ns.parallelism, "--parallelism", 1),
        on_exit=ns.on_exit,
        schedule=None if ns.schedule is None else _check_schedule(ns.schedule),
        notify=parse_notify(ns.notify, ns.notify_on, ns.notify_attach),
    )
