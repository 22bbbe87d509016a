"""The actions every interface (CLI, magics, widget, server) calls: compile, run, status, logs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .config import NbflowConfig
    from .engine.run import Run
    from .model import Workflow

__all__ = [
    "compile_workflow",
    "dump_manifest",
    "run_workflow",
    "resume_run",
    "retry_run",
    "rerun_from",
    "stop_run",
    "get_run",
    "list_runs",
    "task_logs",
]


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
    from .argo.nesting import nest_large_dags

    cfg = _config(config)
    options = CompileOptions(image=cfg.image, base_dir=Path(base_dir) if base_dir else None)
    return nest_large_dags(_compile(workflow, options))


def load_source(
    path: str | Path, workflow: str | None = None, assignments: list[str] | tuple[str, ...] = ()
) -> tuple[Any, dict[str, Any], Path, dict[str, Any] | None]:
    """Read what a command was given: a notebook (its workflow) or an Argo manifest.

    ``assignments`` are ``NAME=VALUE`` texts (``-p``). Returns the Workflow model or the
    manifest, the parameters still to apply (a manifest's), the folder steps run in, and for a
    notebook where it came from (recorded so that ``rerun`` can recompile it).
    """
    from .errors import NbflowError
    from .model import parse_assignment

    params = {}
    for text in assignments:
        try:
            key, value = parse_assignment(text)
        except ValueError as exc:
            raise NbflowError(f"-p {text}: {exc}") from None
        params[key] = value
    source = Path(path)
    if source.suffix == ".ipynb":
        from .notebook.extract import read_notebook

        wf = read_notebook(source).workflow(workflow, params)
        base = source.resolve().parent
        origin = {"notebook": str(source.resolve()), "workflow": wf.name, "base_dir": str(base)}
        return wf, {}, base, origin
    if source.suffix in (".yaml", ".yml", ".json"):
        from .argo.manifest import load_file

        return load_file(source), params, Path.cwd(), None
    raise NbflowError(f"{source}: expected a notebook (.ipynb) or a manifest (.yaml, .yml, .json)")


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
    origin: dict[str, Any] | None = None,
    host_exec: bool = False,
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
    host_exec : bool
        Run hand-written container and script templates on this machine (the image is
        ignored; each step sees private folders for ``/tmp`` and its paths).
    origin : dict, optional
        Where the workflow came from (``{"notebook": path, "workflow": name}``), recorded so
        that ``rerun`` can recompile the current code of the notebook.
    """
    from dataclasses import replace

    from .argo.compile import encode_value
    from .engine.local import prepare
    from .engine.store import RunStore
    from .model import Workflow

    cfg = _config(config)
    notify = source.notify if isinstance(source, Workflow) else None
    if isinstance(source, Workflow):
        if parameters:
            source = replace(source, parameters={**source.parameters, **parameters})
            parameters = None
        source = compile_workflow(source, config=cfg, base_dir=base_dir or workdir)
    encoded = {k: encode_value(v) for k, v in (parameters or {}).items()}
    wf = prepare(source, encoded, host_exec=host_exec)
    settings: dict[str, Any] = {
        "artifact_root": cfg.artifact_root,
        "workdir": str(Path(workdir or Path.cwd()).resolve()),
    }
    settings.update(origin or {})
    if notify:
        settings["notify"] = notify
    RunStore(cfg.runs_dir).create(wf, settings)
    return _drive(wf, settings, cfg, progress, wait)


def _drive(
    wf: dict[str, Any],
    settings: dict[str, Any],
    cfg: NbflowConfig,
    progress: TextIO | None,
    wait: bool,
    resume: tuple[str, ...] | list[str] | None = (),
) -> Run:
    """Run (or go on running) ``wf`` with a local engine; return its run object.

    ``resume`` names suspended nodes to resume first (empty: none; ``None``: all).
    """
    from .artifacts import ArtifactStore
    from .engine.local import LocalEngine
    from .engine.progress import ProgressPrinter
    from .engine.run import Run
    from .engine.store import RunStore

    runs = RunStore(cfg.runs_dir)
    store = ArtifactStore.from_config(cfg, settings["artifact_root"])
    engine = LocalEngine(
        wf,
        runs=runs,
        store=store,
        workdir=Path(settings["workdir"]),
        max_workers=cfg.workers,
        cache=_cache(wf, cfg),
        cache_dir=Path(cfg.home) / "cache",
        engine=cfg.engine,
    )
    if progress is not None:
        engine.listeners.append(ProgressPrinter(progress))
    if settings.get("notify"):
        from .notify.send import run_listener

        engine.listeners.append(run_listener(settings["notify"], cfg, store, runs))
    if resume is None or resume:
        engine.resume(list(resume) if resume else None)
    run = Run(wf, store, runs.run_dir(wf["metadata"]["name"]), engine)
    if wait:
        engine.run()
    else:
        engine.start()
    return run


def _cache(wf: dict[str, Any], cfg: NbflowConfig) -> Any:
    """The result cache of the workflow ``wf`` belongs to, or ``None`` when caching is off."""
    if not cfg.cache:
        return None
    from .engine.cache import workflow_cache

    return workflow_cache(wf, Path(cfg.home) / "cache")


def _cluster_run(run_id: str | None, cfg: NbflowConfig, progress: TextIO | None) -> Any:
    """The run as a cluster run when it was submitted to Argo, else ``None``."""
    from .cluster.run import recorded_cluster_run

    run = recorded_cluster_run(run_id, config=cfg)
    if run is not None and progress is not None:
        from .engine.progress import ProgressPrinter

        run.watcher.listeners.append(ProgressPrinter(progress))
    return run


def _reopen(run_id: str | None, cfg: NbflowConfig) -> tuple[dict[str, Any], dict[str, Any]]:
    from .engine.store import RunStore
    from .engine.worker import kill_leftover_pods

    runs = RunStore(cfg.runs_dir)
    wf, settings = runs.load(run_id)
    name = wf["metadata"]["name"]
    if runs.is_locked(name):
        from .errors import NbflowError

        raise NbflowError(f"run {name} is still running in another process")
    kill_leftover_pods(runs.run_dir(name) / "pids")
    runs.snapshot(name)
    return wf, settings


def resume_run(
    run_id: str | None = None,
    *,
    nodes: list[str] | None = None,
    config: NbflowConfig | None = None,
    progress: TextIO | None = None,
    wait: bool = True,
) -> Run:
    """Resume a run (``None``: the most recent one), like ``argo resume``, and more.

    Suspended nodes are resumed: all of them, or those named in ``nodes``. When the run is
    being run by another process, that process is asked to do it and the run is returned as
    stored. Otherwise the run crashed or was stopped, and it goes on here: steps that had
    succeeded are not run again (their artifacts are reused), steps that were running when the
    engine died or was stopped run again.
    """
    from .engine.recovery import resume_plan
    from .engine.store import RunStore

    cfg = _config(config)
    cluster = _cluster_run(run_id, cfg, progress)
    if cluster is not None:
        cluster.resume(nodes)
        return cluster.wait() if wait else cluster
    runs = RunStore(cfg.runs_dir)
    wf, _ = runs.load(run_id)
    name = wf["metadata"]["name"]
    if runs.is_locked(name):
        runs.request(name, resume=nodes)
        return get_run(name, config=cfg)
    wf, settings = _reopen(name, cfg)
    resume_plan(wf)
    run = _drive(wf, settings, cfg, progress, wait=False, resume=nodes or None)
    return run.wait() if wait else run


def retry_run(
    run_id: str | None = None,
    *,
    config: NbflowConfig | None = None,
    progress: TextIO | None = None,
    wait: bool = True,
) -> Run:
    """Run the failed and errored steps of a finished run again, and what depends on them."""
    from .engine.recovery import retry_plan

    cfg = _config(config)
    cluster = _cluster_run(run_id, cfg, progress)
    if cluster is not None:
        cluster.retry()
        return cluster.wait() if wait else cluster
    wf, settings = _reopen(run_id, cfg)
    retry_plan(wf)
    return _drive(wf, settings, cfg, progress, wait)


def rerun_from(
    run_id: str | None,
    task: str,
    *,
    config: NbflowConfig | None = None,
    progress: TextIO | None = None,
    wait: bool = True,
    workflow: Workflow | None = None,
) -> Run:
    """Rerun ``task`` and everything downstream of it with the current code of the notebook.

    The workflow is recompiled (from ``workflow`` when given, e.g. the live kernel's, else from
    the notebook file the run came from); every other task keeps its earlier results.
    """
    from .engine.dag import DagPlan
    from .engine.recovery import rerun_plan
    from .errors import NbflowError

    cfg = _config(config)
    from .cluster.run import recorded_cluster_run

    if recorded_cluster_run(run_id, config=cfg, refresh=False) is not None:
        raise NbflowError("rerun --from is for local runs; on Kubernetes use nbflow k8s retry")
    wf, settings = _reopen(run_id, cfg)
    if workflow is None:
        if not settings.get("notebook"):
            raise NbflowError(
                f"run {wf['metadata']['name']} was not started from a notebook file: "
                "rerun it from the notebook's kernel (%nbflow rerun)"
            )
        from .notebook.extract import read_notebook

        workflow = read_notebook(settings["notebook"]).workflow(settings.get("workflow"))
    fresh = compile_workflow(workflow, config=cfg, base_dir=settings.get("base_dir"))
    old_args = {p["name"]: p for p in (wf["spec"].get("arguments") or {}).get("parameters") or []}
    for p in (fresh["spec"].get("arguments") or {}).get("parameters") or []:
        if p["name"] in old_args:
            p["value"] = old_args[p["name"]]["value"]
    entry = next(t for t in fresh["spec"]["templates"] if t["name"] == fresh["spec"]["entrypoint"])
    plan = DagPlan.of(entry)
    if task not in plan.by_name:
        raise NbflowError(f"workflow has no task {task!r} (tasks: {', '.join(plan.by_name)})")
    wf["spec"] = fresh["spec"]
    rerun_plan(wf, _downstream(plan.depends, task))
    return _drive(wf, settings, cfg, progress, wait)


def _downstream(depends: dict[str, tuple[str, list[str]]], task: str) -> list[str]:
    out = [task]
    for name in out:
        out += [t for t, (_, deps) in depends.items() if name in deps and t not in out]
    return out


def stop_run(
    run_id: str | None = None, *, terminate: bool = False, config: NbflowConfig | None = None
) -> str:
    """Ask a running run to stop (exit handlers run) or terminate; return the run's name."""
    from .engine.store import RunStore
    from .errors import NbflowError

    cfg = _config(config)
    runs = RunStore(cfg.runs_dir)
    wf, settings = runs.load(run_id)
    name = wf["metadata"]["name"]
    if settings.get("backend") == "argo":
        from .cluster.run import load_cluster_run

        load_cluster_run(wf, settings, config=cfg, refresh=False).stop(
            "Terminate" if terminate else "Stop"
        )
        return name
    if not runs.is_locked(name):
        raise NbflowError(
            f"run {name} is not running ({wf.get('status', {}).get('phase') or 'never started'})"
        )
    runs.request(name, shutdown="Terminate" if terminate else "Stop")
    return name


def get_run(run_id: str | None = None, *, config: NbflowConfig | None = None) -> Run:
    """Load a run from the run store; ``None`` means the most recent run."""
    from .artifacts import ArtifactStore
    from .engine.run import Run
    from .engine.store import RunStore

    cfg = _config(config)
    runs = RunStore(cfg.runs_dir)
    wf, settings = runs.load(run_id)
    if settings.get("backend") == "argo":
        from .cluster.run import load_cluster_run

        return load_cluster_run(wf, settings, config=cfg)
    store = ArtifactStore.from_config(cfg, settings["artifact_root"])
    return Run(wf, store, runs.run_dir(wf["metadata"]["name"]))


def list_runs(*, config: NbflowConfig | None = None) -> list[str]:
    """Names of the runs in the run store, oldest first."""
    from .engine.store import RunStore

    return RunStore(_config(config).runs_dir).names()


def task_logs(run_id: str | None, task: str, *, config: NbflowConfig | None = None) -> str:
    """Return the logs of every attempt of ``task`` in run ``run_id`` (``None``: most recent)."""
    return get_run(run_id, config=config).logs(task)
