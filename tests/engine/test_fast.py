"""The fast engine: its fork server (isolation between steps, crashes, stops, preloading), the
templates it leaves to papermill, and a run that falls back."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from nbflow import api
from nbflow.config import load_config
from nbflow.engine.fast import (
    DEADLINE,
    LOST,
    STOPPED,
    ForkServer,
    StepExit,
    StepRequest,
    fallback_reason,
    pool_size,
)
from nbflow.engine.imports import discover, notebook_imports, step_notebook
from nbflow.notebook.extract import read_notebook

pytestmark = pytest.mark.kernel


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    with ForkServer(pool_size=2, preload=["json"]) as fs:
        fs.start()
        yield fs


class Steps:
    """Write step notebooks into a folder and run them on the fork server."""

    def __init__(self, server: ForkServer, root: Path) -> None:
        self.server, self.root, self.count = server, root, 0
        self.workdir = root / "work"
        self.workdir.mkdir()

    def run(
        self, *cells: str, env: dict[str, str] | None = None, **kwargs: Any
    ) -> tuple[StepExit, Path]:
        self.count += 1
        step = self.root / f"step{self.count}"
        step.mkdir()
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
        nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
        nbformat.write(nb, step / "step.ipynb")
        base = dict(os.environ, NBFLOW_TERMINATION_LOG=str(step / "termination-log"))
        request = StepRequest(
            ["--dir", str(step), "--template", f"t{self.count}"],
            env if env is not None else base,
            str(self.workdir),
            str(step / "log"),
            kwargs.pop("deadline_s", None),
        )
        return self.server.run(request, **kwargs), step

    def ok(self, *cells: str) -> str:
        """Run a step that must succeed; return its log."""
        end, step = self.run(*cells)
        log = (step / "log").read_text()
        assert end == StepExit(0), log
        return log


@pytest.fixture()
def steps(server: ForkServer, tmp_path: Path) -> Steps:
    return Steps(server, tmp_path)


def test_globals_and_modules_do_not_leak(steps: Steps) -> None:
    first, _ = steps.run(
        "leaked = 1\nimport json, sys, colorsys\njson.leaked = 1\nsys.modules['fake_mod'] = json"
    )
    assert first == StepExit(0)
    log = steps.ok(
        "import json, sys\n"
        "assert 'leaked' not in globals()\n"
        "assert not hasattr(json, 'leaked')\n"
        "assert 'fake_mod' not in sys.modules\n"
        "assert 'colorsys' not in sys.modules  # imported by the other step only\n"
        "assert 'json' in sys.modules\n"
        "print('isolated')"
    )
    assert "isolated" in log


def test_each_step_has_its_own_input_history(steps: Steps) -> None:
    steps.run("a = 1", "b = 2", "c = 3")
    end, step = steps.run(
        "x = 1",
        "assert In[1:] == ['x = 1', In[2]], In\nassert Out == {}\n"
        "get_ipython().run_line_magic('history', '')",
    )
    log = (step / "log").read_text()
    assert end.code == 0, log
    assert log.startswith("x = 1\n")  # %history shows this step's cells only
    assert "a = 1" not in log


def test_local_modules_load_fresh_from_the_working_directory(steps: Steps) -> None:
    (steps.workdir / "helper.py").write_text("calls = []\n")
    steps.run("import helper\nhelper.calls.append(1)")
    end, step = steps.run("import helper\nassert helper.calls == [], helper.calls")
    assert end.code == 0, (step / "log").read_text()


def test_environment_is_the_request_plus_kernel_variables(steps: Steps) -> None:
    env = {"PATH": os.environ["PATH"], "ONLY_HERE": "yes", "HOME": os.environ.get("HOME", "/")}
    steps.run("import os\nos.environ['SET_BY_STEP'] = '1'", env=env)
    end, step = steps.run("import json, os\nprint('ENV=' + json.dumps(dict(os.environ)))", env=env)
    assert end.code == 0, (step / "log").read_text()
    line = next(x for x in (step / "log").read_text().splitlines() if x.startswith("ENV="))
    seen = json.loads(line[4:])
    assert seen["ONLY_HERE"] == "yes"
    assert "SET_BY_STEP" not in seen
    assert seen["NBFLOW_STEP_DIR"] == str(step) and seen["NBFLOW_TEMPLATE"] == "t2"
    assert seen["MPLBACKEND"] == "module://matplotlib_inline.backend_inline"
    assert seen["PAGER"] == "cat"  # what ipykernel sets for the user's code
    extra = set(seen) - set(env) - {"NBFLOW_STEP_DIR", "NBFLOW_TEMPLATE"}
    assert extra <= {
        "TERM",
        "CLICOLOR",
        "FORCE_COLOR",
        "CLICOLOR_FORCE",
        "PAGER",
        "GIT_PAGER",
        "MPLBACKEND",
        "JPY_PARENT_PID",
        "PYDEVD_DISABLE_FILE_VALIDATION",
        "PYDEVD_USE_FRAME_EVAL",
    }


def test_working_directory_and_sys_path(steps: Steps) -> None:
    steps.run("import os\nos.chdir('/')")
    end, step = steps.run(
        "import os, sys\n"
        f"assert os.getcwd() == {str(steps.workdir)!r}, os.getcwd()\n"
        "assert '' in sys.path\n"
        "assert input is not None\n"
        "try:\n    input('?')\nexcept Exception as exc:\n    print(type(exc).__name__)"
    )
    assert end.code == 0, (step / "log").read_text()
    assert "StdinNotImplementedError" in (step / "log").read_text()


def test_a_segfault_ends_only_that_step(steps: Steps) -> None:
    end, step = steps.run("print('before the crash')", "import ctypes\nctypes.string_at(0)")
    assert end == StepExit(None, signal.SIGSEGV, died=True)
    assert end.message == "kernel died: exit code -11 (SIGSEGV)"
    assert "before the crash" in (step / "log").read_text()
    after, _ = steps.run("x = 1")
    assert after == StepExit(0)


def test_exit_codes_follow_the_runner(steps: Steps) -> None:
    failed, step = steps.run("raise ValueError('nope')")
    assert failed == StepExit(1)
    assert (step / "termination-log").read_text() == "ValueError: nope (cell 1)"
    assert "ValueError: nope" in (step / "log").read_text()
    assert (step / "notebook.ipynb").is_file()


def test_a_process_that_exits_mid_step_died_like_a_kernel(steps: Steps) -> None:
    for code in (0, 1, 7):  # whatever the code, the step did not finish
        exited, step = steps.run("print('started')", f"import os\nos._exit({code})", "x = 1")
        assert exited == StepExit(code, died=True)
        assert exited.message == f"kernel died: exit code {code}"
        assert "started" in (step / "log").read_text()
        kept = nbformat.read(step / "notebook.ipynb", as_version=4)  # the notebook stays
        sources = [c.source for c in kept.cells]
        assert sources[:2] == ["print('started')", f"import os\nos._exit({code})"]


def test_a_step_that_dies_while_a_process_it_forked_lives_on_died(steps: Steps) -> None:
    # the forked process holds the step's status pipe open: its end is told by reaping alone
    exited, step = steps.run(
        "import os, time\nif os.fork() == 0:\n    time.sleep(3)\n    os._exit(0)\nos._exit(5)"
    )
    assert exited == StepExit(5, died=True), (step / "log").read_text()
    assert steps.run("x = 1")[0] == StepExit(0)  # the server goes on


def test_deadline_and_cancel_kill_the_step(steps: Steps) -> None:
    t0 = time.monotonic()
    late, _ = steps.run("import time\ntime.sleep(60)", deadline_s=0.5)
    assert late.reason == DEADLINE and late.signal == signal.SIGKILL
    cancel = threading.Event()
    threading.Timer(0.5, cancel.set).start()
    stopped, _ = steps.run("import time\ntime.sleep(60)", cancel=cancel)
    assert stopped.reason == STOPPED
    assert time.monotonic() - t0 < 30
    assert steps.run("x = 1")[0] == StepExit(0)


def test_parallel_steps_from_several_threads(steps: Steps) -> None:
    results: list[StepExit] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        end, step = steps.run(f"import time\ntime.sleep(0.2)\nprint('item', {i})")
        assert f"item {i}" in (step / "log").read_text()
        with lock:
            results.append(end)

    with lock:
        threads = [threading.Thread(target=one, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [StepExit(0)] * 6


def test_handoff_outputs_are_written(steps: Steps) -> None:
    end, step = steps.run(
        "answer = {'value': 42}",
        "import nbflow.handoff as h\nh.save_outputs(globals(), ['answer'])",
    )
    assert end.code == 0, (step / "log").read_text()
    assert json.loads((step / "parameters" / "answer").read_text()) == {"value": 42}


def test_a_dead_server_loses_its_steps_and_is_restarted(tmp_path: Path) -> None:
    with ForkServer() as fs:
        fs.start()
        steps = Steps(fs, tmp_path)
        # the step kills the server (its parent) while it runs, then waits to be lost with it
        lost, _ = steps.run(
            "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\ntime.sleep(60)"
        )
        assert lost.reason == LOST and "fork server" in str(lost.message)
        assert steps.run("x = 1")[0] == StepExit(0)


def test_a_server_closed_without_waiting_ends_by_itself() -> None:
    fs = ForkServer(pool_size=2)
    fs.start()
    assert fs.ready.wait(60)
    proc = fs._proc
    assert proc is not None
    fs.close(wait=False)
    assert proc.wait(timeout=20) == 0  # its input closed: it killed its zygotes and exited
    fs.close()  # closing again is a no-op


def test_preload_skips_local_missing_and_unsafe_modules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mylocal.py").write_text("X = 1\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))  # importable, yet the user's own
    names = ["colorsys", "mylocal", "no_such_module_xyz", "tkinter", "math"]
    with ForkServer(preload=names, local_dirs=[tmp_path]) as fs:
        fs.start()
        assert fs.ready.wait(60)
        info = fs.info
    assert {"colorsys", "math"} <= set(info["preloaded"])
    assert info["skipped"]["mylocal"] == "a module of the working directory"
    assert info["skipped"]["no_such_module_xyz"] == "not installed"
    assert info["skipped"]["tkinter"] == "never preloaded"


def test_a_stream_flushed_after_its_notebook_ended_writes_nothing(tmp_path: Path) -> None:
    import gc

    from nbflow.engine.capture import CaptureStream, FdCapture, OutputSink

    log = tmp_path / "log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT)  # stands for a step's stdout, its log
    try:
        cells = [nbformat.v4.new_code_cell("x")]
        sink = OutputSink(cells)
        sink.begin(0)
        capture = FdCapture("stdout", fd)
        capture.start(sink)
        stream = CaptureStream(sink, "stdout", fd, capture)
        os.write(fd, b"from C code\n")
        stream.flush()
        capture.close()
        del stream  # what the collector does after the notebook: IOBase.__del__ flushes
        gc.collect()
    finally:
        os.close(fd)
    assert cells[0]["outputs"][0]["text"] == "from C code\n"
    assert log.read_bytes() == b""  # no sync marker left in the step's log
    assert not capture.broken  # a sync that waited for a marker nobody reads would time out


def test_the_server_learns_what_a_running_step_imports(server: ForkServer) -> None:
    assert server.ready.wait(60)
    # imported by IPython only once a cell runs (bdb) or a step's shell is used (the logger):
    # a sample step that ended early would not have taught them
    assert {"bdb", "IPython.core.logger"} <= set(server.info["learned"])


def test_papermills_remote_store_clients_are_not_in_the_image_but_import(steps: Steps) -> None:
    log = steps.ok(
        "import sys\n"
        "assert not {'botocore', 'boto3', 'pyarrow'} & set(sys.modules), 'preloaded'\n"
        "import botocore, pyarrow\n"
        "print('imported', botocore.__name__, pyarrow.__name__)"
    )
    assert "imported botocore pyarrow" in log


def _template(cells: list[str], kernel: str = "python3") -> dict[str, Any]:
    nb = {
        "cells": [{"cell_type": "code", "source": c, "metadata": {}} for c in cells],
        "metadata": {"kernelspec": {"name": kernel, "language": "python"}},
    }
    data = json.dumps(nb)
    return {
        "name": "t",
        "inputs": {
            "artifacts": [
                {"name": "nbflow-step", "path": "/nbflow/step.ipynb", "raw": {"data": data}}
            ]
        },
        "container": {"args": ["--dir", "/nbflow", "--template", "t"]},
    }


def test_discover_counts_imports_across_templates_and_sees_through_magics() -> None:
    manifest = {
        "spec": {
            "templates": [
                {"name": "main", "dag": {"tasks": []}},
                _template(["%%time\nimport numpy as np\nfrom pandas import DataFrame"]),
                _template(["!ls\nimport numpy\nimport torch\nfrom . import sibling"]),
                _template(["%matplotlib inline\nimport os.path\n%time import pandas"]),
            ]
        }
    }
    assert discover(manifest) == ["numpy", "pandas", "os.path"]
    nb = step_notebook(_template(["import a.b\nif x:\n    import c"]))
    assert nb is not None and notebook_imports(nb) == ["a.b", "c"]


def test_fallback_reasons() -> None:
    assert fallback_reason(_template(["import numpy"])) is None
    widgets = fallback_reason(_template(["import ipywidgets as w"]))
    assert widgets is not None and "ipywidgets" in widgets
    assert "kernel" in str(fallback_reason(_template(["x = 1"], kernel="ir")))
    other = _template(["x = 1"])
    other["container"]["args"] += ["--kernel", "julia"]
    assert fallback_reason(other) == "the step asks for another kernel"
    assert fallback_reason({"name": "t", "container": {}}) == "no step notebook"


def test_pool_size_follows_workers_and_cores() -> None:
    cores = os.cpu_count() or 1
    assert pool_size(1) == 1
    assert pool_size(0) == 1
    assert pool_size(1000) == cores


def test_a_python3_kernel_of_another_environment_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nbflow.engine import fast

    spec = tmp_path / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = ["/opt/other-env/bin/python", "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    kernel = {"argv": argv, "display_name": "Other", "language": "python"}
    (spec / "kernel.json").write_text(json.dumps(kernel))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    fast._foreign_kernel.cache_clear()
    try:
        why = fallback_reason(_template(["x = 1"]))
    finally:
        fast._foreign_kernel.cache_clear()
    assert why == "the python3 kernel runs another Python (/opt/other-env/bin/python)"


def test_a_run_sends_a_template_using_widgets_to_papermill(make_notebook: Any) -> None:
    cells = [
        "%%template w --outputs n\nimport ipywidgets\nn = 1",
        "%%template plain --outputs m\nm = 1",
        "%%workflow widgets\nw\nplain",
    ]
    path = make_notebook(cells)
    wf = read_notebook(path).workflow(None)
    config = load_config(engine="fast", cache=False)
    run = api.run_workflow(wf, config=config, workdir=path.parent, base_dir=path.parent)
    assert run.phase == "Succeeded", run.summary()
    assert run.outputs("w") == {"n": 1} and run.outputs("plain") == {"m": 1}
    assert run.driver.engine.fallbacks == {
        "w": "it uses ipywidgets (widgets need a real kernel's comms)"
    }
