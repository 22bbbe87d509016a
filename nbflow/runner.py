"""The in-step entrypoint (``python -m nbflow.runner``): one papermill run, locally or in a pod.

The step directory (``/nbflow`` in a pod) holds ``step.ipynb``, the ``inputs/`` the step reads,
and receives ``outputs/``, ``parameters/`` and the executed ``notebook.ipynb``. Parameters arrive as
arguments holding JSON text (never through a shell) and are injected the papermill way.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

from .budget import capped_output
from .digest import check_inputs, record_digests
from .errors import IntegrityError
from .outcome import End, StepEnd, signal_description
from .vocab import STEP_DIR_ENV, TEMPLATE_ENV, TERMINATION_LOG_ENV

__all__ = ["main", "run_step", "report", "parser", "decode_value", "read_step_notebook"]

TERMINATION_LOG = "/dev/termination-log"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@functools.lru_cache(maxsize=1)
def parser() -> argparse.ArgumentParser:
    """The command line's parser, built once (the fast engine's server builds it pre-fork)."""
    p = argparse.ArgumentParser(prog="python -m nbflow.runner", description=__doc__.splitlines()[0])
    p.add_argument("--dir", default="/nbflow", help="the step directory (default: /nbflow)")
    p.add_argument("--template", default="", help="template name, for messages")
    p.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "JSON"),
        help="a parameter and its value as JSON text (plain text is taken as a string)",
    )
    p.add_argument(
        "--kernel", default=None, help="kernel name (default: the notebook's kernelspec)"
    )
    p.add_argument(
        "--expect",
        default="",
        metavar="JSON",
        help="what the producers of the step's inputs recorded (their nbflow-digests)",
    )
    p.add_argument(
        "--args-file",
        metavar="FILE",
        help="read the arguments from FILE, a JSON list of strings (parameters of any size)",
    )
    return p


def decode_value(text: str) -> Any:
    """Read a parameter value: JSON text, or the text itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def read_step_notebook(path: Path) -> str:
    """The step notebook's JSON text; also accepts base64 (used when the JSON contains ``{{``)."""
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("{"):
        return text
    return base64.b64decode(text).decode("utf-8")


def report(end: StepEnd) -> int:
    """Leave the end's one-line reason where the orchestrator looks for it (Kubernetes'
    termination log) and on stderr; return the exit code that reports it."""
    if end.message:
        target = os.environ.get(TERMINATION_LOG_ENV, TERMINATION_LOG)
        try:
            with open(target, "w", encoding="utf-8") as f:
                f.write(end.message[:4000])
        except OSError:
            pass
        print(f"nbflow.runner: {end.message}", file=sys.stderr)
    return end.runner_exit_code


def main(argv: list[str] | None = None) -> int:
    """Run the step in a kernel of its own; exit 0 on success, 1 when a cell fails, 2 on a
    usage error, 3 when the kernel died (see :mod:`nbflow.outcome`)."""
    import logging

    from ._linux import become_subreaper, kill_tree

    # papermill logs the cells' outputs (log_output): they are the pod's log
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    become_subreaper()  # what the kernel starts, even in a session of its own, comes back here
    try:
        return report(run_step(argv))
    finally:
        kill_tree(os.getpid(), include_self=False)  # and ends with the step


def run_step(argv: list[str] | None = None, *, engine: str | None = None) -> StepEnd:
    """Run one step and say how it ended: the one path both engines take.

    Prepares the step directory, injects the parameters the papermill way and executes the
    step notebook with papermill's ``execute_notebook``.

    Parameters
    ----------
    argv : list of str
        The runner's arguments (``--dir DIR --template NAME -p NAME JSON ...``).
    engine : str, optional
        A registered papermill engine to run the cells (the fast engine's in-process shell);
        default: papermill's own, in a kernel started for the step.
    """
    args = parser().parse_args(argv)
    if args.args_file:
        args = parser().parse_args(json.loads(Path(args.args_file).read_text(encoding="utf-8")))
    # jupyter_server#1559: jsonschema's format checker pulls rfc3987_syntax, seconds of CPU at
    # import; nbformat validation never needs it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    step_dir = Path(args.dir).resolve()
    source = step_dir / "step.ipynb"
    if not source.is_file():
        return StepEnd(End.USAGE, message=f"no step notebook at {source}")
    decoded = step_dir / "step.decoded.ipynb"
    decoded.write_text(read_step_notebook(source), encoding="utf-8")
    for sub in ("outputs", "parameters"):
        (step_dir / sub).mkdir(parents=True, exist_ok=True)
    os.environ[STEP_DIR_ENV] = str(step_dir)
    os.environ[TEMPLATE_ENV] = args.template
    parameters = {name: decode_value(value) for name, value in args.parameter}
    kernel = args.kernel or _kernel_name(decoded)
    try:
        check_inputs(step_dir, args.expect)
    except IntegrityError as exc:
        return StepEnd(End.BAD_INPUT, message=str(exc))
    end = _execute(decoded, step_dir / "notebook.ipynb", parameters, kernel, engine)
    if end.end is End.SUCCEEDED:
        record_digests(step_dir)
    return end


def _execute(
    source: Path, target: Path, parameters: dict[str, Any], kernel: str, engine: str | None
) -> StepEnd:
    import papermill
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    options: dict[str, Any] = {"engine_name": engine}
    km = None
    if engine is None:
        from jupyter_client.manager import AsyncKernelManager

        from .kernel_engine import register

        km = AsyncKernelManager(kernel_name=kernel)
        options.update(log_output=True, km=km, engine_name=register())
    try:
        # the kernel's own output (what its cells' subprocesses print) goes to the log too
        with capped_output() if engine is None else contextlib.nullcontext():
            try:
                papermill.execute_notebook(
                    str(source),
                    str(target),
                    parameters=parameters,
                    kernel_name=kernel,
                    progress_bar=False,
                    **options,
                )
            finally:  # what the cells started ends with them, before their output is flushed
                if engine is None:
                    from ._linux import kill_tree

                    kill_tree(os.getpid(), include_self=False)
    except PapermillExecutionError as exc:
        traceback = "\n".join(_ANSI.sub("", line) for line in exc.traceback or [])
        print(traceback, file=sys.stderr)
        return StepEnd(End.FAILED, message=f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})")
    except DeadKernelError:
        return StepEnd(End.KERNEL_DIED, message=f"kernel died: {_kernel_exit(km)}")
    except Exception as exc:  # a timeout, a kernel that would not start: the step failed
        return StepEnd(End.FAILED, message=f"{type(exc).__name__}: {exc}")
    return StepEnd(End.SUCCEEDED)


def _kernel_name(source: Path) -> str:
    meta = json.loads(source.read_text(encoding="utf-8")).get("metadata", {})
    return str(meta.get("kernelspec", {}).get("name") or "python3")


def _kernel_exit(km: Any) -> str:
    """Describe how the kernel process ended, e.g. ``exit code -9 (SIGKILL: out of memory?)``."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        return "it stopped answering"
    if code < 0:
        return f"exit code {code} ({signal_description(-code, hint=True)})"
    return f"exit code {code}"


if __name__ == "__main__":
    sys.exit(main())
