"""Fixtures of the cluster tests: the Kubernetes API double on loopback, a fake Argo, clients."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml


def _load(name: str) -> Any:
    """Import a helper module beside this file (tests are not a package here)."""
    spec = importlib.util.spec_from_file_location(f"nbflow_tests_{name}",
                                                  Path(__file__).with_name(f"{name}.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


kubeapi = _load("kubeapi")
fakeargo = _load("fakeargo")


@pytest.fixture()
def kube() -> Iterator[Any]:
    """The Kubernetes API double (``.state`` holds objects, requests and fault switches)."""
    server = kubeapi.KubeServer().start()
    yield server
    server.close()


@pytest.fixture()
def kubeconfig(kube: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubeconfig (context ``test``, namespace ``team``) pointing at the double; $KUBECONFIG."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(kube.kubeconfig()))
    monkeypatch.setenv("KUBECONFIG", str(path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return path


@pytest.fixture()
def argo(kube: Any, tmp_path: Path) -> Iterator[Any]:
    """A fake Argo controller running the double's workflows; it writes executed notebooks
    into ``tmp_path / "bucket"`` (the artifact repository)."""
    controller = fakeargo.FakeArgo(kube.state)
    controller.artifact_dir = tmp_path / "bucket"
    controller.start()
    yield controller
    controller.close()


@pytest.fixture()
def client(kubeconfig: Path) -> Iterator[Any]:
    from nbflow.cluster.client import ArgoClient

    with ArgoClient(kubeconfig=str(kubeconfig), request_timeout_s=10) as c:
        yield c


@pytest.fixture()
def cluster_home(
    nbflow_home: Path, kubeconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A private nbflow home and Jupyter config dir whose nbflow_config.py points at the double
    and at ``tmp_path / "bucket"`` as the artifact repository."""
    conf = tmp_path / "jupyter-config"
    conf.mkdir()
    (conf / "nbflow_config.py").write_text(
        f"c.ClusterConfig.artifact_root = {(tmp_path / 'bucket').as_uri()!r}\n"
        "c.ClusterConfig.image = 'registry.example/nbflow-runner:1'\n"
    )
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(conf))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(conf))
    return nbflow_home


def _nbflow(argv: list[str]) -> int:
    """``nbflow ARGV`` with the cluster commands, as ``nbflow.cli.main`` dispatches them."""
    import argparse

    from nbflow.cli.cluster import add_commands
    from nbflow.errors import NbflowError

    parser = argparse.ArgumentParser(prog="nbflow")
    parser.add_argument("--home")
    parser.add_argument("--artifact-root")
    handlers = add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return handlers[args.command](args)
    except NbflowError as exc:
        print(f"nbflow: error: {exc}", file=sys.stderr)
        return 2


@pytest.fixture()
def nbflow() -> Callable[[list[str]], int]:
    """Run an ``nbflow`` cluster command in this process; returns its exit code."""
    return _nbflow
