"""Upstream's own examples run on the local engine as Argo runs them (benchmarks/conformance.py).

The examples are not part of this repository: they are read from ``shared/argo/examples``
beside it (CI's layout) or ``$ARGO_EXAMPLES``. In CI (``$CI`` set, as ``.ci/run`` does) a
missing folder fails the test; elsewhere it is skipped, saying so. Every file of the baseline
(``benchmarks/conformance-baseline.txt``) must still end as Argo ends it, and no final record
may hold a Running or Pending node.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent.parent / "benchmarks" / "conformance.py"


def _examples() -> Path:
    spec = importlib.util.spec_from_file_location("conformance", HARNESS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return Path(module.default_examples())


def test_upstream_examples_end_as_argo_ends_them(tmp_path: Path) -> None:
    examples = _examples()
    if not examples.is_dir():
        message = f"Argo's examples are not at {examples} (set ARGO_EXAMPLES)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    proc = subprocess.run(
        [sys.executable, str(HARNESS), "--examples", str(examples), "--check",
         "--max-sleep", "2", "--timeout", "120", "--json", str(tmp_path / "rows.json")],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-4000:]
    assert "final records with Running/Pending nodes: 0 (0 nodes)" in proc.stdout
