"""The documentation builds with warnings as errors, and its reference is complete: every
command of ``nbflow``, every magic and every configurable trait has its section, taken from the
parsers and classes themselves."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


def _reference() -> object:
    spec = importlib.util.spec_from_file_location(
        "nbflow_reference", DOCS / "_ext" / "nbflow_reference.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``sphinx-build -W`` of docs/ into a temporary folder; the tutorials are not executed
    here (tests/gallery executes them), the other executable pages are."""
    out = tmp_path_factory.mktemp("docs")
    # the pages run `!nbflow ...`: this environment's, whether or not it is activated
    path = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    env = dict(os.environ, NBFLOW_DOCS_EXECUTE="pages", PATH=path)
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(out / "doctrees"), str(DOCS), str(out / "html")],
        capture_output=True, text=True, env=env, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-5000:]
    return out / "html"


@pytest.mark.kernel
def test_cli_reference_has_every_command(built: Path) -> None:
    from nbflow.cli import _parser

    ref = _reference()
    commands = [" ".join(("nbflow", *words)) for words, _, _ in ref.walk(_parser())]  # type: ignore[attr-defined]
    assert {"nbflow run", "nbflow schedule add", "nbflow k8s rbac", "nbflow gc"} <= set(commands)
    page = (DOCS / "reference" / "cli.md").read_text()
    html = (built / "reference" / "cli.html").read_text()
    for command in commands:
        level = "#" * min(len(command.split()), 4)
        assert f"\n{level} {command}\n" in page, command
        assert f"usage: {command}" in html, command


@pytest.mark.kernel
def test_magics_reference_has_every_magic(built: Path) -> None:
    from nbflow.magics.commands import COMMANDS

    page = (DOCS / "reference" / "magics.md").read_text()
    for name in ("%%template", "%template", "%%setup", "%%workflow",
                 *(f"%nbflow {c}" for c in COMMANDS)):
        assert f"## `{name}`" in page, name
        assert f"usage: {name}" in page, name
    assert "--retries" in page and "--backoff" in page and "--notify-on" in page
    assert "magics.html" in {p.name for p in (built / "reference").iterdir()}


@pytest.mark.kernel
def test_config_reference_has_every_trait(built: Path) -> None:
    ref = _reference()
    page = (DOCS / "reference" / "config.md").read_text()
    for cls in ref.config_classes():  # type: ignore[attr-defined]
        for name in cls.class_traits(config=True):
            assert f"`c.{cls.__name__}.{name}`" in page, f"{cls.__name__}.{name}"
    html = (built / "reference" / "config.html").read_text()
    assert "c.NbflowConfig.artifact_root" in html


@pytest.mark.kernel
def test_pages_are_built_and_executed(built: Path) -> None:
    for page in ("index", "concepts", "howto/s3", "howto/kubernetes", "howto/schedules",
                 "howto/jupyterlab", "reference/api", "reference/argo", "screenshots"):
        assert (built / f"{page}.html").is_file(), page
    for name in ("quickstart", "etl", "ml", "parameters", "approval", "caching",
                 "scheduling", "cluster", "s3"):
        assert (built / "tutorials" / f"{name}.html").is_file(), name
    trouble = (built / "howto" / "troubleshooting.html").read_text()
    # executed while building: the real messages, not the commands only
    assert "unknown template" in trouble and "ZeroDivisionError: division by zero" in trouble
    assert "must not hold credentials" in trouble
    api = (built / "reference" / "api.html").read_text()
    assert "run_workflow" in api and "Run a workflow" in api
    argo = (built / "reference" / "argo.html").read_text()
    assert "withItems" in argo or "synchronization" in argo
