"""``import nbflow`` stays light: no Jupyter, papermill, kubernetes or data libraries at import."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = [
    "IPython",
    "papermill",
    "nbformat",
    "nbclient",
    "jupyter_client",
    "kubernetes",
    "s3fs",
    "fsspec",
    "pandas",
    "numpy",
    "pyarrow",
    "yaml",
    "traitlets",
    "ipykernel",
    "zmq",
]


def test_import_nbflow_loads_no_heavy_module() -> None:
    code = (
        "import sys, json, nbflow, nbflow.model, nbflow.dsl, nbflow.errors\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_public_helpers_exist() -> None:
    import nbflow
    from nbflow import handoff

    assert nbflow.attempt() is None  # outside a step
    assert nbflow.output("x", 3) == 3
    assert handoff.recorded() == {"x": 3}
    handoff.reset()
