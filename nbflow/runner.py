"""The in-step entrypoint (``python -m nbflow.runner``): one papermill run, locally or in a pod.

The step directory (``/nbflow`` in a pod) holds ``step.ipynb``, the ``inputs/`` the step reads,
and receives ``outputs/``, ``parameters/`` and the executed ``notebook.ipynb``. Parameters arrive as
arguments holding JSON text (never through a shell) and are injected the papermill way.
"""

from __future__ import annotations

import argparse
import base64
import functools
import json
import os
import re
import signal
import sys
from pathlib import Path
from typing import Any

TERMINATION_LOG = "/dev/termination-log"
EXIT_FAILED = 1  # a cell raised: Argo's Failed
EXIT_USAGE = 2
EXIT_KERNEL_DIED = 3  # the kernel process died (crash, out of memory): nbflow reports Error
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@functools.lru_cache(maxsize=1)
def _parser() -> argparse.ArgumentParser:
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


def _terminate(message: str) -> None:
    """Leave a one-line reason where the orchestrator looks for it (Kubernetes' termination log)."""
    target = os.environ.get("NBFLOW_TERMINATION_LOG", TERMINATION_LOG)
    try:
        with open(target, "w", encoding="utf-8") as f:
            f.write(message[:4000])
    except OSError:
        pass
    print(f"nbflow.runner: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Run the step; return 0 on success, 1 when a cell fails, 2 on a usage error, 3 when the
    kernel died."""
    args = _parser().parse_args(argv)
    # jupyter_server#1559: jsonschema's format checker pulls rfc3987_syntax, seconds of CPU at
    # import; nbformat validation never needs it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    step_dir = Path(args.dir).resolve()
    source = step_dir / "step.ipynb"
    if not source.is_file():
        _terminate(f"no step notebook at {source}")
        return EXIT_USAGE
    decoded = step_dir / "step.decoded.ipynb"
    decoded.write_text(read_step_notebook(source), encoding="utf-8")
    for sub in ("outputs", "parameters"):
        (step_dir / sub).mkdir(parents=True, exist_ok=True)
    os.environ["NBFLOW_STEP_DIR"] = str(step_dir)
    os.environ["NBFLOW_TEMPLATE"] = args.template
    parameters = {name: decode_value(value) for name, value in args.parameter}
    return _execute(decoded, step_dir / "notebook.ipynb", parameters, args.kernel)


def _execute(source: Path, target: Path, parameters: dict[str, Any], kernel: str | None) -> int:
    import logging

    import papermill
    from jupyter_client.manager import AsyncKernelManager
    from nbclient.exceptions import DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    kernel_name = kernel or _kernel_name(source)
    km = AsyncKernelManager(kernel_name=kernel_name)
    try:
        papermill.execute_notebook(
            str(source),
            str(target),
            parameters=parameters,
            kernel_name=kernel_name,
            progress_bar=False,
            log_output=True,
            km=km,
        )
    except PapermillExecutionError as exc:
        traceback = "\n".join(_ANSI.sub("", line) for line in exc.traceback or [])
        print(traceback, file=sys.stderr)
        _terminate(f"{exc.ename}: {exc.evalue} (cell {exc.exec_count})")
        return EXIT_FAILED
    except DeadKernelError:
        _terminate(f"kernel died: {_kernel_exit(km)}")
        return EXIT_KERNEL_DIED
    except Exception as exc:  # a timeout, a kernel that would not start: the step failed
        _terminate(f"{type(exc).__name__}: {exc}")
        return EXIT_FAILED
    return 0


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
        name = signal.Signals(-code).name if -code in signal.valid_signals() else "signal"
        hint = ": out of memory?" if -code == signal.SIGKILL else ""
        return f"exit code {code} ({name}{hint})"
    return f"exit code {code}"


if __name__ == "__main__":
    sys.exit(main())
