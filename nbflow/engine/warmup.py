"""What the fork server does once, before it forks a step: import, warm caches, learn imports.

See :mod:`.forkserver`; everything here runs in the server process (or, for
:func:`learn_imports`, in a throwaway child of it).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..vocab import TERMINATION_LOG_ENV
from .zygote import run_step

__all__ = ["BASE_PRELOAD", "PAPERMILL_BACKENDS", "without", "warm", "learn_imports"]

# What every step needs, imported once before forking. The traceback machinery (stack_data,
# pygments) is otherwise imported on a step's first error.
BASE_PRELOAD = (
    "ctypes",
    "IPython.core.interactiveshell",
    "IPython.core.completer",
    "IPython.core.magics",
    "IPython.core.ultratb",
    "stack_data",
    "pygments.lexers.python",
    "pygments.formatters.terminal256",
    "jupyter_client.session",
    "ipykernel.compiler",
    "nbformat",
    "papermill.execute",
    "nbflow.handoff",
    "nbflow.marshal",
    "nbflow.runner",
    "nbflow.engine.shell",
)


# Clients of remote stores papermill's I/O layer imports when it can (s3://, gs://, hdfs://,
# abs://, adl://, github). A step reads and writes local files only, and these weigh ~20 MB
# (numpy included, through pyarrow), which every fork would copy page tables for and every step's
# exit would unmap. A step that imports one of them itself gets it as usual.
PAPERMILL_BACKENDS = ("boto3", "botocore", "pyarrow", "gcsfs", "github", "azure")


@contextlib.contextmanager
def without(names: Sequence[str]) -> Iterator[None]:
    """Make ``import NAME`` fail for ``names`` inside the block (modules not imported yet)."""
    blocked = [n for n in names if n not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]


def warm() -> None:
    """Fill the caches a step's bookkeeping fills (nbformat's validator, papermill's parser)."""
    import tempfile

    import nbformat
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    from ..notebook.step import NOTEBOOK_METADATA

    nb = nbformat.v4.new_notebook(metadata=json.loads(json.dumps(NOTEBOOK_METADATA)))
    cell = nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x")]
    nb.cells = [cell, nbformat.v4.new_markdown_cell("m")]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "warm.ipynb")
        nbformat.write(nb, path)
        nbformat.writes(parameterize_notebook(load_notebook_node(path), {"x": 2}))
        # The hand-off's first save looks up serialiser plugins (entry points): do it once here.
        from .. import marshal

        marshal.save(1, Path(tmp, "value"), name="x")
        marshal.load(Path(tmp, "value"))


# What the sample step runs: a template's code reading an input, printing, displaying rich
# output and returning a value, then a cell that raises.
_SAMPLE_CODE = (
    "y = x + i\nprint(y)\nfrom IPython.display import HTML, display\ndisplay(HTML('<b>y</b>'))\ny"
)
_SAMPLE_ERROR = "def f():\n    return 1 / 0\n\n\nf()"


LEARN_TIMEOUT_S = 60.0


def learn_imports() -> list[str]:
    """Run a sample step in a throwaway child; return the modules that imported on the way.

    IPython, papermill and the traceback machinery import more modules lazily while a step
    runs; importing them here saves every step that time.
    """
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the throwaway child
        os.close(read)
        with contextlib.suppress(BaseException):
            before = set(sys.modules)
            os.write(write, json.dumps(_sample_step(before)).encode())
        os._exit(0)
    os.close(write)
    import select

    with os.fdopen(read, "rb") as pipe:
        ready, _, _ = select.select([pipe], [], [], LEARN_TIMEOUT_S)
        data = pipe.read() if ready else b""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)  # gone already, unless it hangs
    os.waitpid(pid, 0)
    try:
        names = json.loads(data)
    except ValueError:
        return []
    return [n for n in names if isinstance(n, str) and not n.startswith("_")]


def _sample_step(before: set[str]) -> list[str]:
    import tempfile

    import nbformat

    from .. import marshal
    from ..model import Template
    from ..notebook.step import build_step_notebook
    from .shell import new_shell

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    template = Template(
        "sample", _SAMPLE_CODE, inputs=("x",), outputs=("y",), parameters={"i": 0}
    )
    nb = nbformat.from_dict(build_step_notebook(template))
    nb.cells.append(nbformat.v4.new_code_cell(_SAMPLE_ERROR))
    with tempfile.TemporaryDirectory() as tmp:
        nbformat.write(nb, os.path.join(tmp, "step.ipynb"))
        marshal.save(1, Path(tmp, "inputs", "x"), name="x")
        os.environ[TERMINATION_LOG_ENV] = os.path.join(tmp, "termination-log")
        run_step(["--dir", tmp, "--template", "sample", "-p", "i", "2"], new_shell())
    return sorted(set(sys.modules) - before)
