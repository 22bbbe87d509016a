"""Per-step overhead: nbflow's fast engine vs its papermill engine vs plain papermill per step.

    python benchmarks/steps.py                 # everything, median of 3 repetitions
    python benchmarks/steps.py --reps 1 --only a --skip-plain
    python benchmarks/steps.py --ploomber /path/to/ploomber   # ploomber build as well

Pipelines: (a) a chain of 20 trivial templates, (b) a fan-out of 40 trivial items plus a fan-in,
(c) a DAG of 6 whole notebooks that import pandas and numpy. Each runs as ``nbflow run
--engine fast|papermill`` (the whole process, timed from outside) and as plain ``papermill``
called once per step in sequence. Per-step overhead = (wall time - the cells' own execution
time, read from the executed notebooks) / steps. "warm" figures time the same run inside one
process from its first step to its end, leaving out interpreter start and fork-server warm-up;
"executor" drives the fork server directly on compiled step notebooks of (a). Memory compares the
peak RSS of 100- and 1,000-item fan-outs on the fast engine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat

PY = sys.executable
HERE = Path(__file__).resolve()
TRIVIAL = "x = x + 1"


def notebook(path: Path, cells: list[str], tags: dict[int, list[str]] | None = None) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    for index, names in (tags or {}).items():
        nb.cells[index].metadata["tags"] = names
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


# ------------------------------------------------------------------------------ pipelines


def chain(folder: Path, n: int = 20) -> Path:
    cells = ["%%template t0 --outputs x0\nx0 = 0"]
    cells += [
        f"%%template t{i} --inputs x{i - 1} --outputs x{i}\nx{i} = x{i - 1} + 1"
        for i in range(1, n)
    ]
    cells.append("%%workflow chain\n" + " >> ".join(f"t{i}" for i in range(n)))
    return notebook(folder / "chain.ipynb", cells)


WORK = "s = sum(range(10**6))  # ~20 ms of computation\n"


def fanout(folder: Path, n: int = 40, parallelism: int | None = None, work: str = "") -> Path:
    flag = f" --parallelism {parallelism}" if parallelism else ""
    cells = [
        "%%template make --outputs x\nx = 1",
        f"%%template item --inputs x --outputs y --param i=0\n{work}y = x + i",
        "%%template join --inputs y --outputs total\ntotal = sum(y)",
        f"%%workflow fan{flag}\nmake >> item.map(i=range({n})) >> join",
    ]
    name = f"fan{n}-{parallelism or 0}{'-work' if work else ''}.ipynb"
    return notebook(folder / name, cells)


IMPORTS = "import numpy as np\nimport pandas as pd"
DAG_CODE = {  # name: (inputs, outputs, code)
    "a": ([], ["df"], 'df = pd.DataFrame({"x": np.arange(1000)})'),
    "b": (["df"], ["b"], "b = float(df.x.mean())"),
    "c": (["df"], ["c"], "c = float(df.x.std())"),
    "e": (["df"], ["e"], "e = int(df.x.sum())"),
    "d": (["b", "c"], ["d"], "d = b + c"),
    "f": (["d", "e"], ["f"], "f = d * e"),
}


def dag(folder: Path) -> Path:
    cells = []
    for name, (inputs, outputs, code) in DAG_CODE.items():
        notebook(folder / f"{name}.ipynb", [IMPORTS, code])
        ins = f" --inputs {','.join(inputs)}" if inputs else ""
        cells.append(f"%template {name} --notebook {name}.ipynb{ins} --outputs {outputs[0]}")
    cells.append("%%workflow dag\na >> [b, c, e]\n[b, c] >> d\n[d, e] >> f")
    return notebook(folder / "dag.ipynb", cells)


# Plain papermill: one notebook per step, data handed over through pickle files.
def plain_steps(case: str, folder: Path) -> list[tuple[Path, dict[str, Any]]]:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    load = (
        "import pickle, pathlib\n"
        "get = lambda n: pickle.loads((pathlib.Path(data) / n).read_bytes())"
    )
    save = "(pathlib.Path(data) / {n!r}).write_bytes(pickle.dumps({n}))"
    params = 'data = ""'

    def step(name: str, body: str, extra: dict[str, Any] | None = None) -> tuple[Path, dict]:
        nb = notebook(folder / f"{name}.ipynb", [params, load, body], {0: ["parameters"]})
        return nb, {"data": str(data), **(extra or {})}

    if case == "a":
        first = step("t0", "x = 0\n" + save.format(n="x"))
        rest = step("t", "x = get('x')\n" + TRIVIAL + "\n" + save.format(n="x"))
        return [first] + [rest] * 19
    if case == "b":
        item_code = (
            "x = get('x')\ny = x + i\n(pathlib.Path(data) / f'y{i}').write_bytes(pickle.dumps(y))"
        )
        item_nb = notebook(
            folder / "item.ipynb", [params + "\ni = 0", load, item_code], {0: ["parameters"]}
        )
        out = [step("make", "x = 1\n" + save.format(n="x"))]
        out += [(item_nb, {"data": str(data), "i": i}) for i in range(40)]
        return out + [step("join", "total = sum(get(f'y{i}') for i in range(40))")]
    out = []
    for name, (inputs, outputs, code) in DAG_CODE.items():
        reads = "".join(f"{n} = get({n!r})\n" for n in inputs)
        body = f"{IMPORTS}\n{reads}{code}\n" + save.format(n=outputs[0])
        out.append(step(name, body))
    return out


# ------------------------------------------------------------------------------ measuring


def cell_seconds(paths: list[Path]) -> float:
    """The cells' own execution time: kernel-side execute_input to execute_reply, summed."""
    total = 0.0
    for path in paths:
        for cell in json.loads(path.read_text())["cells"]:
            t = cell.get("metadata", {}).get("execution", {})
            if "iopub.execute_input" in t and "shell.execute_reply" in t:
                start = datetime.fromisoformat(t["iopub.execute_input"].rstrip("Z"))
                end = datetime.fromisoformat(t["shell.execute_reply"].rstrip("Z"))
                total += (end - start).total_seconds()
    return total


def nbflow_cli(path: Path, engine: str) -> dict[str, float]:
    """``nbflow run`` as a user runs it, in a fresh home; wall time of the whole process."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, NBFLOW_HOME=home)
        argv = [PY, "-m", "nbflow.cli", "run", str(path), "--engine", engine]
        start = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=path.parent)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"nbflow run failed:\n{done.stderr[-3000:]}")
        notebooks = sorted(Path(home, "artifacts").rglob("notebook.ipynb"))
        return {"wall": wall, "cells": cell_seconds(notebooks), "steps": len(notebooks)}


INNER = r"""
import json, sys, time
from pathlib import Path
from nbflow import api
from nbflow.config import load_config
from nbflow.notebook.extract import read_notebook
path, engine = Path(sys.argv[1]), sys.argv[2]
wf = read_notebook(path).workflow(None)
run = api.run_workflow(
    wf, config=load_config(engine=engine), workdir=path.parent, base_dir=path.parent
)
assert run.phase == "Succeeded", run.summary()
print(json.dumps({"end": time.time()}))
"""


def nbflow_warm(path: Path, engine: str, cores: set[int] | None = None) -> dict[str, float]:
    """The run inside one process, timed from the start of its first step's notebook to its end.

    This leaves out the interpreter's start and the fork server's warm-up (the first step
    waits for it), which a run pays once, whatever its size. ``cores``: the only CPUs the run
    (and every process it starts) may use.
    """
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, NBFLOW_HOME=home)
        pin = None if cores is None else lambda: os.sched_setaffinity(0, cores)
        done = subprocess.run(
            [PY, "-c", INNER, str(path), engine],
            env=env,
            capture_output=True,
            text=True,
            preexec_fn=pin,  # noqa: PLW1509 - a benchmark; no threads in flight here
        )
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-3000:])
        end = json.loads(done.stdout.splitlines()[-1])["end"]
        notebooks = sorted(Path(home, "artifacts").rglob("notebook.ipynb"))
        start = min(_started(nb) for nb in notebooks)
        return {"wall": end - start, "cells": cell_seconds(notebooks), "steps": len(notebooks)}


def _started(path: Path) -> float:
    meta = json.loads(path.read_text())["metadata"]["papermill"]
    return datetime.fromisoformat(meta["start_time"]).timestamp()


def plain_papermill(case: str, folder: Path) -> dict[str, float]:
    """``papermill in.ipynb out.ipynb -p ...`` once per step, in sequence."""
    shutil.rmtree(folder, ignore_errors=True)
    steps = plain_steps(case, folder)
    outs = []
    (folder / "out").mkdir()
    start = time.perf_counter()
    for index, (nb, params) in enumerate(steps):
        out = folder / "out" / f"{index}.ipynb"
        argv = [PY, "-m", "papermill", str(nb), str(out), "--no-progress-bar"]
        for key, value in params.items():
            argv += ["-p", key, str(value)]
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"papermill failed:\n{done.stderr[-3000:]}")
        outs.append(out)
    wall = time.perf_counter() - start
    return {"wall": wall, "cells": cell_seconds(outs), "steps": len(outs)}


def ploomber_steps(case: str, folder: Path) -> Path:
    """The same steps as a Ploomber pipeline (``pipeline.yaml``), handing data over by pickle."""
    folder.mkdir(parents=True, exist_ok=True)
    load = "import pickle\nget = lambda t: pickle.load(open(upstream[t]['data'], 'rb'))"
    save = "pickle.dump({n}, open(product['data'], 'wb'))"
    tasks: dict[str, tuple[list[str], str]] = {}  # name: (upstream, body)
    if case == "a":
        tasks["t0"] = ([], "x = 0\n" + save.format(n="x"))
        for i in range(1, 20):
            body = f"x = get('t{i - 1}')\n{TRIVIAL}\n" + save.format(n="x")
            tasks[f"t{i}"] = ([f"t{i - 1}"], body)
    elif case == "b":
        tasks["make"] = ([], "x = 1\n" + save.format(n="x"))
        for i in range(40):
            tasks[f"item{i}"] = (["make"], f"i = {i}\ny = get('make') + i\n" + save.format(n="y"))
        items = [f"item{i}" for i in range(40)]
        total = f"total = sum(get(t) for t in {items!r})\n" + save.format(n="total")
        tasks["join"] = (items, total)
    else:
        producer = {out: name for name, (_, outs, _) in DAG_CODE.items() for out in outs}
        for name, (inputs, outputs, code) in DAG_CODE.items():
            reads = "".join(f"{n} = get({producer[n]!r})\n" for n in inputs)
            upstream = [producer[n] for n in inputs]
            tasks[name] = (upstream, f"{IMPORTS}\n{reads}{code}\n" + save.format(n=outputs[0]))
    lines = ["tasks:"]
    for name, (upstream, body) in tasks.items():
        params = f"upstream = {upstream or None!r}\nproduct = None"
        notebook(folder / f"{name}.ipynb", [params, load, body], {0: ["parameters"]})
        lines += [
            f"  - source: {name}.ipynb",
            "    product:",
            f"      nb: out/{name}.ipynb",
            f"      data: out/{name}.pkl",
        ]
    (folder / "pipeline.yaml").write_text("\n".join(lines) + "\n")
    return folder


def ploomber_build(case: str, folder: Path, exe: str) -> dict[str, float]:
    """``ploomber build --force`` on :func:`ploomber_steps` (its serial executor)."""
    shutil.rmtree(folder, ignore_errors=True)
    ploomber_steps(case, folder)
    start = time.perf_counter()
    done = subprocess.run([exe, "build", "--force"], cwd=folder, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"ploomber build failed:\n{done.stderr[-3000:]}")
    outs = sorted((folder / "out").glob("*.ipynb"))
    return {"wall": wall, "cells": cell_seconds(outs), "steps": len(outs)}


def executor_chain(folder: Path, n: int = 20) -> dict[str, float]:
    """The fork server alone, warm, on the compiled step notebooks of (a), inputs staged by hand."""
    from nbflow import api
    from nbflow.config import load_config
    from nbflow.engine.fast import ForkServer, StepRequest
    from nbflow.engine.imports import step_notebook
    from nbflow.notebook.extract import read_notebook

    manifest = api.compile_workflow(
        read_notebook(chain(folder, n)).workflow(None), config=load_config()
    )
    templates = {t["name"]: t for t in manifest["spec"]["templates"]}
    with ForkServer() as server:
        server.start()
        server.ready.wait()
        dirs = []
        for i in range(n):
            d = folder / "executor" / f"t{i}"
            shutil.rmtree(d, ignore_errors=True)
            (d / "inputs").mkdir(parents=True)
            (d / "step.ipynb").write_text(json.dumps(step_notebook(templates[f"t{i}"])))
            dirs.append(d)
        start = time.perf_counter()
        for i, d in enumerate(dirs):
            if i:
                shutil.copytree(dirs[i - 1] / "outputs" / f"x{i - 1}", d / "inputs" / f"x{i - 1}")
            env = dict(os.environ, NBFLOW_TERMINATION_LOG=str(d / "termination-log"))
            request = StepRequest(
                ["--dir", str(d), "--template", f"t{i}"], env, str(folder), str(d / "log")
            )
            if server.run(request).code != 0:
                raise RuntimeError((d / "log").read_text())
        wall = time.perf_counter() - start
    return {"wall": wall, "cells": cell_seconds([d / "notebook.ipynb" for d in dirs]), "steps": n}


PEAK = r"""
import contextlib, io, json, resource, sys, threading, time
from nbflow.cli import main
start = time.perf_counter()
with contextlib.redirect_stderr(io.StringIO()):
    code = main(["run", sys.argv[1], "--engine", "fast"])
seconds = time.perf_counter() - start
for thread in threading.enumerate():  # helpers end in the background: count them once reaped
    if thread.name.endswith("-reap"):
        thread.join(60)
engine = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
helpers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": code, "seconds": seconds, "engine": engine, "helpers": helpers}))
"""


def peak_rss(path: Path) -> dict[str, float]:
    """Peak RSS (MiB) of an ``nbflow run``'s own process and of its largest helper process."""
    with tempfile.TemporaryDirectory() as home:
        env = dict(os.environ, NBFLOW_HOME=home)
        done = subprocess.run([PY, "-c", PEAK, str(path)], env=env, capture_output=True, text=True)
        if done.returncode != 0 or json.loads(done.stdout.splitlines()[-1])["code"] != 0:
            raise RuntimeError(done.stdout[-3000:] + done.stderr[-3000:])
        out = json.loads(done.stdout.splitlines()[-1])
        return {
            "engine": out["engine"] / 1024,
            "helpers": out["helpers"] / 1024,
            "seconds": out["seconds"],
        }


# ------------------------------------------------------------------------------ report


def median(reps: int, run: Callable[..., dict[str, float]], *args: Any) -> dict[str, float]:
    return _medians([run(*args) for _ in range(reps)])


def paired(
    reps: int, first: tuple[Any, ...], second: tuple[Any, ...]
) -> tuple[dict[str, float], dict[str, float], list[float]]:
    """Two measurements taken in turns, so that a machine whose speed drifts during the
    benchmark (a VM's often does) slows both alike. ``first``/``second``: (function, *args).

    Returns the medians of each and the ratio of wall times (first / second) of every pair.
    """
    one: list[dict[str, float]] = []
    two: list[dict[str, float]] = []
    for _ in range(reps):
        one.append(first[0](*first[1:]))
        two.append(second[0](*second[1:]))
    ratios = [a["wall"] / b["wall"] for a, b in zip(one, two)]
    return _medians(one), _medians(two), ratios


def speedup(ratios: list[float]) -> str:
    """The median of per-pair ratios, with the middle half and the extremes of them."""
    quartiles = statistics.quantiles(ratios, n=4, method="inclusive") if ratios[1:] else ratios * 3
    q1, _, q3 = quartiles
    return (
        f"{statistics.median(ratios):.2f}x (middle half {q1:.2f}-{q3:.2f}, "
        f"all {min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)} pairs)"
    )


def _medians(results: list[dict[str, float]]) -> dict[str, float]:
    out = {k: statistics.median(r[k] for r in results) for k in results[0]}
    out["overhead_ms"] = 1000 * (out["wall"] - out["cells"]) / out["steps"]
    return out


def row(case: str, how: str, m: dict[str, float], note: str = "") -> str:
    return (
        f"{case:<4} {how:<28} {m['steps']:>5.0f} {m['wall']:>9.2f} {m['cells']:>8.2f} "
        f"{m['overhead_ms']:>10.1f}  {note}"
    )


def measure(case: str, root: Path, args: argparse.Namespace) -> list[str]:
    """Measure one pipeline; return its table rows (summary lines start with '=')."""
    folder = root / case
    path = {"a": chain, "b": fanout, "c": dag}[case](folder)
    reps, lines = args.reps, []
    got: dict[str, dict[str, float]] = {}
    if case == "a":
        got["executor"] = median(reps, executor_chain, root / "x")
        lines.append(row(case, "fork server alone (warm)", got["executor"], "executor only"))
    got["fast"] = median(reps, nbflow_cli, path, "fast")
    lines.append(row(case, "nbflow run --engine fast", got["fast"], "whole process"))
    got["warm"] = median(reps, nbflow_warm, path, "fast")
    lines.append(row(case, "  same, warm", got["warm"], "first step to end"))
    if not args.skip_papermill_engine:
        got["pm"] = median(reps, nbflow_cli, path, "papermill")
        lines.append(row(case, "nbflow run --engine papermill", got["pm"], "whole process"))
    if not args.skip_plain:
        got["plain"] = median(reps, plain_papermill, case, folder / "plain")
        lines.append(row(case, "papermill per step", got["plain"], "baseline"))
    if args.ploomber:
        got["ploomber"] = median(reps, ploomber_build, case, folder / "ploomber", args.ploomber)
        lines.append(row(case, "ploomber build", got["ploomber"], "serial executor"))
    if "plain" in got and "fast" in got:
        ratio = got["plain"]["wall"] / got["fast"]["wall"]
        lines.append(
            f"=({case}) wall time, plain papermill / nbflow run --engine fast: {ratio:.1f}x"
        )
    if "ploomber" in got and "fast" in got:
        ratio = got["ploomber"]["wall"] / got["fast"]["wall"]
        lines.append(
            f"=({case}) wall time, ploomber build / nbflow run --engine fast: {ratio:.1f}x"
        )
    if case == "b" and len(os.sched_getaffinity(0)) >= 2:
        pairs = max(reps, args.pairs)  # what the noise of a shared machine blurs most
        busy = fanout(folder, 40, None, WORK)
        one_core, two_cores = {0}, {0, 1}
        for labels, what, first, second in (
            (
                ("warm, on 1 core", "warm, on 2 cores"),
                "speed-up from 2 cores (warm)",
                (nbflow_warm, path, "fast", one_core),
                (nbflow_warm, path, "fast", two_cores),
            ),
            (
                ("items ~20 ms, 1 core", "items ~20 ms, 2 cores"),
                "with ~20 ms of work per item, speed-up from 2 cores",
                (nbflow_warm, busy, "fast", one_core),
                (nbflow_warm, busy, "fast", two_cores),
            ),
            (
                ("warm, parallelism 1", "warm, parallelism 2"),
                "speed-up from 2 workers (warm)",
                (nbflow_warm, fanout(folder, 40, 1), "fast"),
                (nbflow_warm, fanout(folder, 40, 2), "fast"),
            ),
        ):
            one, two, ratios = paired(pairs, first, second)
            lines.append(row(case, f"  {labels[0]}", one))
            lines.append(row(case, f"  {labels[1]}", two))
            lines.append(f"=(b) {what}: {speedup(ratios)}")
    return lines


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3, help="repetitions per figure (median)")
    p.add_argument("--only", default="abc", help="which pipelines: any of a, b, c")
    p.add_argument(
        "--pairs", type=int, default=11, help="pairs taken in turns for the speed-ups of (b)"
    )
    p.add_argument("--skip-plain", action="store_true", help="skip plain papermill (slow)")
    p.add_argument("--skip-papermill-engine", action="store_true", help="skip --engine papermill")
    p.add_argument("--skip-memory", action="store_true", help="skip the 100/1,000-item runs")
    p.add_argument(
        "--ploomber",
        metavar="EXE",
        default=shutil.which("ploomber"),
        help="the ploomber command to compare with (default: ploomber on PATH, if any); "
        "install it apart from nbflow, with pandas and numpy for (c)",
    )
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="nbflow-bench-"))
    print(f"{'':<4} {'how':<28} {'steps':>5} {'wall s':>9} {'cells s':>8} {'ms/step':>10}")
    summary = []
    try:
        for case in args.only:
            for line in measure(case, root, args):
                if line.startswith("="):
                    summary.append(line[1:])
                else:
                    print(line, flush=True)
        if not args.skip_memory:
            small = peak_rss(fanout(root / "m", 100))
            large = peak_rss(fanout(root / "m", 1000))
            for what, label in (
                ("engine", "the nbflow run process"),
                ("helpers", "its largest helper"),
            ):
                summary.append(
                    f"peak RSS of {label}: fan-out of 100 {small[what]:.0f} MiB, "
                    f"of 1,000 {large[what]:.0f} MiB (ratio {large[what] / small[what]:.2f})"
                )
            summary.append(
                f"fan-out of 100: {small['seconds']:.1f} s, of 1,000: {large['seconds']:.1f} s "
                f"(ratio {large['seconds'] / small['seconds']:.1f})"
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
