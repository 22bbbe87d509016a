"""The actions every interface (CLI, magics, widget, server) calls: compile, run, status, logs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .config import NbflowConfig
    from .engine.run import Run
    from .model import Workflow

__all__ = ["compile_workflow", "dump_manifest", "run_workflow", "get_run", "list_runs", "task_logs"]


def _config(config: NbflowConfig | None) -> NbflowConfig:
    from .config import load_config

    return config if config is not None else load_config()


def compile_workflow(
    workflow: Workflow, *, config: NbflowConfig | None = None, base_dir: str | Path | None = None
) -> dict[str, Any]:
    """Compile ``workflow`` to an Argo ``Workflow`` manifest (a plain dict).

    ``base_dir`` is where relative ``--notebook`` paths of templates are read from.
    """
    from .argo.compile import CompileOptions
    from .argo.compile import compile_workflow as _compile

    cfg = _config(config)
    return _compile(
        workflow, CompileOptions(image=cfg.image, base_dir=Path(base_dir) if base_dir else None)
    )


def dump_manifest(manifest: dict[str, Any], fmt: str = "yaml") -> str:
    """Serialise a manifest deterministically as ``"yaml"`` or ``"json"``."""
    from .argo.manifest import dump

    return dump(manifest, fmt)


def run_workflow(
    source: Workflow | dict[str, Any],
    *,
    parameters: dict[str, Any] | None = None,
    config: NbflowConfig | None = None,
    workdir: str | Path | None = None,
    base_dir: str | Path | None = None,
    progress: TextIO | None = None,
    wait: bool = True,
) -> Run:
    """Run a workflow (or an already compiled manifest) on the local engine.

    Parameters
    ----------
    source : Workflow or dict
        A pipeline model, compiled first, or an Argo Workflow manifest.
    parameters : dict, optional
        Workflow parameters (``-p k=v``), Python values.
    workdir : path, optional
        Working directory of the steps (default: the current directory).
    progress : text stream, optional
        Where to write one line per task phase change.
    wait : bool
        Block until the run ends (default) or return at once with the run going on.
    """
    from dataclasses import replace

    from .argo.compile import encode_value
    from .artifacts import ArtifactStore
    from .engine.local import LocalEngine, prepare
    from .engine.progress import ProgressPrinter
    from .engine.run import Run
    from .engine.store import RunStore
    from .model import Workflow

    cfg = _config(config)
    if isinstance(source, Workflow):
        if parameters:
            source = replace(source, parameters={**source.parameters, **parameters})
            parameters = None
        source = compile_workflow(source, config=cfg, base_dir=base_dir or workdir)
    encoded = {k: encode_value(v) for k, v in (parameters or {}).items()}
    wf = prepare(source, encoded)
    runs = RunStore(cfg.runs_dir)
    store = ArtifactStore(cfg.artifact_root)
    run_dir = runs.create(
        wf, {"artifact_root": cfg.artifact_root, "workdir": str(workdir or Path.cwd())}
    )
    engine = LocalEngine(
        wf, runs=runs, store=store, workdir=Path(workdir or Path.cwd()), max_workers=cfg.workers
    )
    if progress is not None:
        engine.listeners.append(ProgressPrinter(progress))
    run = Run(wf, store, run_dir, engine)
    if wait:
        engine.run()
    else:
        engine.start()
    return run


def get_run(run_id: str | None = None, *, config: NbflowConfig | None = None) -> Run:
    """Load a run from the run store; ``None`` means the most recent run."""
    from .artifacts import ArtifactStore
    from .engine.run import Run
    from .engine.store import RunStore

    runs = RunStore(_config(config).runs_dir)
    wf, settings = runs.load(run_id)
    return Run(wf, ArtifactStore(settings["artifact_root"]), runs.run_dir(wf["metadata"]["name"]))


def list_runs(*, config: NbflowConfig | None = None) -> list[str]:
    """Names of the runs in the run store, oldest first."""
    from .engine.store import RunStore

    return RunStore(_config(config).runs_dir).names()


def task_logs(run_id: str | None, task: str, *, config: NbflowConfig | None = None) -> str:
    """Return the logs of every attempt of ``task`` in run ``run_id`` (``None``: most recent)."""
    return get_run(run_id, config=config).logs(task)
