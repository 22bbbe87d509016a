"""Shared fixtures: an isolated nbflow home per test, the Argo schema, manifest validation,
waiting for what happens in the background."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

DATA = Path(__file__).parent / "data"
NOTEBOOKS = Path(__file__).parent / "notebooks"


# Where the developer's own settings would reach the tests (and the tests' files the developer).
USER_SETTINGS = (
    "NBFLOW_HOME",
    "NBFLOW_ENGINE",
    "NBFLOW_ARTIFACT_ROOT",
    "IPYTHONDIR",
    "JUPYTER_CONFIG_DIR",
    "JUPYTER_CONFIG_PATH",
    "JUPYTER_DATA_DIR",
    "JUPYTER_PATH",
    "JUPYTER_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
)


@pytest.fixture(scope="session", autouse=True)
def private_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A home folder of the session's own (one per xdist worker), without nbflow's, IPython's
    and Jupyter's settings of the environment.

    The kernels, Jupyter servers and browsers that tests start write there (histories, runtime
    files, profiles), not into the developer's home, and read nothing from it (IPython startup
    files, ``nbflow_config.py``, user kernels). The same for every test of the session: nothing
    a test sets may depend on it.
    """
    home = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(home))
        for name in USER_SETTINGS:
            mp.delenv(name, raising=False)
        yield home


@pytest.fixture(scope="session")
def argo_validator() -> Any:
    """A Draft 2020-12 validator of Argo's own JSON schema."""
    from jsonschema import Draft202012Validator

    schema = json.loads((DATA / "argo" / "schema.json").read_text())
    return Draft202012Validator(schema)


@pytest.fixture()
def validate_manifest(argo_validator: Any):
    """Assert that a manifest is valid against Argo's schema, listing every violation."""

    def check(manifest: dict[str, Any]) -> None:
        errors = sorted(argo_validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
        assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])

    return check


@pytest.fixture()
def shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A new IPython shell with nbflow loaded and an empty registry, working in ``tmp_path``.

    It is the process's IPython singleton during the test only: afterwards ``get_ipython()``
    is ``None`` again, and ``__main__`` and the builtins that the shell replaces or adds
    (``display``, ``__IPYTHON__``) are as before, so that no later test runs "in IPython".
    """
    import atexit
    import builtins
    import sys

    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    from nbflow.magics import NbflowMagics
    from nbflow.notebook.extract import NotebookSpec

    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    assert not InteractiveShell.initialized(), "an IPython shell outlived its test"
    names = set(vars(builtins))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    ip = InteractiveShell.instance(config=config)
    try:
        ip.run_line_magic("load_ext", "nbflow")
        ip.magics_manager.registry[NbflowMagics.__name__].spec = NotebookSpec(
            base_dir=str(tmp_path)
        )
        yield ip
    finally:
        ip.atexit_operations()
        atexit.unregister(ip.atexit_operations)
        InteractiveShell.clear_instance()
        for name in set(vars(builtins)) - names:
            delattr(builtins, name)


@pytest.fixture(autouse=True)
def nbflow_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private nbflow home (runs, artifacts, cache) for every test: ``$NBFLOW_HOME``."""
    home = tmp_path / "nbflow-home"
    monkeypatch.setenv("NBFLOW_HOME", str(home))
    return home


@pytest.fixture(params=["fast", "papermill"])
def both_engines(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test once with each local engine (``NBFLOW_ENGINE``); the fast one is the default."""
    monkeypatch.setenv("NBFLOW_ENGINE", request.param)
    return str(request.param)


# Pipelines used across the compiler, engine and CLI tests, as the cells a user writes.
PIPELINES: dict[str, list[str]] = {
    "chain": [
        "%load_ext nbflow",
        "%%setup\nimport math",
        "%%template first --outputs x\nx = 16",
        "%%template second --inputs x --outputs y --param scale=1.0\ny = math.sqrt(x) * scale",
        "%%template third --inputs y --outputs label\nlabel = f'y={y}'\nprint(label)",
        "%%workflow chain\nfirst >> second >> third",
    ],
    "diamond": [
        "%%template top --outputs n\nn = 3",
        "%%template left --inputs n --outputs a\na = n * 2",
        "%%template right --inputs n --outputs b\nb = n * 10",
        "%%template join --inputs a,b --outputs total\ntotal = a + b",
        "%%workflow diamond --parallelism 2\ntop >> [left, right] >> join",
    ],
    "fanout": [
        "%%template extract --outputs raw\nraw = [i * i for i in range(8)]",
        "%%template featurize --inputs raw --outputs feats --param shard=0\n"
        "feats = {'shard': shard, 'value': raw[shard]}",
        "%%template train --inputs feats --outputs total,shards\n"
        "total = sum(f['value'] for f in feats)\nshards = [f['shard'] for f in feats]",
        "%%workflow fanout\nextract >> featurize.map(shard=range(8)) >> train",
    ],
    "options": [
        "%%template flaky --outputs attempt --retries 3 --backoff 1s --backoff-factor 2 "
        "--max-backoff 10m --timeout 30m --cpu 500m --memory 1Gi\n"
        "from pathlib import Path\n"
        "counter = Path('attempts.txt')\n"
        "attempt = int(counter.read_text()) if counter.exists() else 0\n"
        "counter.write_text(str(attempt + 1))\n"
        "if attempt < 2:\n    raise RuntimeError(f'flaky failure {attempt}')",
        "%%template score --inputs attempt --outputs accuracy --param bonus=0.5\n"
        "accuracy = 0.4 + bonus",
        "%%template report --inputs accuracy --param title='nightly'\nprint(title, accuracy)",
        "%%template fallback --param title='nightly'\nprint('low accuracy', title)",
        "%%template notify\nprint('done')",
        "%%workflow options --on-exit notify\n"
        "flaky >> score(bonus=0.6) >> report.when('accuracy > 0.9')\n"
        "score >> fallback.when('accuracy <= 0.9').continue_on_fail()",
    ],
    "failing": [
        "%%template boom --outputs x\nx = 1 / 0",
        "%%template after --inputs x\nprint(x)",
        "%%template ok --outputs y\ny = 1",
        "%%template tail\nprint('tail ran')",
        "%%workflow failing\nboom >> after",
        "%%workflow tolerant\nboom.continue_on_fail() >> tail\nok",
    ],
}


@pytest.fixture()
def make_notebook(tmp_path: Path):
    """Write a notebook made of the given code cells (or a named pipeline) into tmp_path."""
    import nbformat

    def make(
        cells: list[str] | str, name: str = "pipeline.ipynb", folder: Path | None = None
    ) -> Path:
        sources = PIPELINES[cells] if isinstance(cells, str) else cells
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(src) for src in sources]
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3",
            "language": "python",
        }
        path = (folder or tmp_path) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, path)
        return path

    return make


@pytest.fixture()
def eventually() -> Callable[..., Any]:
    """Poll ``condition`` until it holds (a bound on waiting, never an assertion on speed)."""

    def wait(condition: Callable[[], Any], timeout_s: float = 20.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(0.01)
        raise AssertionError(f"gave up waiting for {what or condition}")

    return wait


@pytest.fixture()
def run_notebook() -> Callable[..., Any]:
    """Run the workflow of a notebook file on the local engine, with ``load_config(**settings)``;
    its steps run in the notebook's folder."""
    from nbflow import api
    from nbflow.config import load_config
    from nbflow.notebook.extract import read_notebook

    def run(path: Path, **settings: Any) -> Any:
        wf = read_notebook(path).workflow()
        return api.run_workflow(wf, config=load_config(**settings), workdir=path.parent)

    return run


class _Planted:
    """Loading its pickle touches a file: the proof that a planted pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.touch, (self.marker,))


@pytest.fixture()
def planted_pickle(tmp_path: Path) -> tuple[bytes, Path]:
    """A pickle that, if it is ever loaded, creates the returned marker file."""
    import pickle

    marker = tmp_path / "pwned"
    return pickle.dumps(_Planted(marker)), marker
