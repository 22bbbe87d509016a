"""The actions every interface (CLI, magics, widget, server) calls: compile, run, status, logs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .cleanup import Cleanup, collect_garbage, delete_runs

if TYPE_CHECKING:
    from .config import NbflowConfig
    from .engine.run import Run
    from .model import Workflow

__all__ = [
    "compile_workflow",
    "step_env",
    "dump_manifest",
    "run_workflow",
    "resume_run",
    "retry_run",
    "rerun_from",
    "stop_run",
    "get_run",
    "list_runs",
    "task_logs",
    "collect_garbage",
    "delete_runs",
    "Cleanup",
    "run_metrics",
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
    from .argo.compile import CompileOptions, to_manifest
    from .argo.stepenv import with_step_env

    cfg = _config(config)
    options = CompileOptions(image=cfg.image, base_dir=Path(base_dir) if base_dir else None)
    return with_step_env(to_manifest(workflow, options), step_env(cfg))


def step_env(config: NbflowConfig) -> dict[str, str]:
    """What steps must know of ``config``, as environment variables (none for defaults)."""
    from .budget import DEFAULT_MAX_OUTPUT_BYTES
    from .vocab import ALLOW_PICKLE_ENV, MAX_OUTPUT_ENV

    env = {}
    if not config.allow_pickle:
        env[ALLOW_PICKLE_ENV] = "false"
    if config.max_output_bytes != DEFAULT_MAX_OUTPUT_BYTES:
        env[MAX_OUTPUT_ENV] = str(config.max_output_bytes)
    return env


def load_source(
    path: str | Path, workflow: str | None = None, assignments: list[str] | tuple[str, ...] = ()
) -> tuple[Any, dict[str, Any], Path, dict[str, Any] | None]:
    """Read what a command was given: a notebook (its workflow) or an Argo manifest.

    ``assignments`` are ``NAME=VALUE`` texts (``-p``). Returns the Workflow model or the
    manifest, the parameters still to apply (a manifest's), the folder steps run in, and for a
    notebook where it came from (recorded so that ``rerun`` can recompile it).
    """
    from .errors import NbflowError
    from .model.values import parse_assignment

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

        return load_file(source, workflow), params, Path.cwd(), None
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
    load: list[str] | None = None,
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
    load : list of str, optional
        Files or folders of ConfigMaps, Secrets, claims and (Cluster)WorkflowTemplates the
        manifest may refer to, on top of ``c.NbflowConfig.load``.
    """
    from dataclasses import replace

    from .argo.literal import encode_value
    from .argo.stepenv import with_step_env
    from .engine.driver import LocalDriver
    from .engine.local import prepare
    from .engine.store import RunStore
    from .engine.volumes import HostOptions
    from .model import Workflow

    cfg = _config(config)
    notify = source.notify if isinstance(source, Workflow) else None
    if isinstance(source, Workflow):
        if parameters:
            source = replace(source, parameters={**source.parameters, **parameters})
            parameters = None
        source = compile_workflow(source, config=cfg, base_dir=base_dir or workdir)
    encoded = {k: encode_value(v) for k, v in (parameters or {}).items()}
    settings: dict[str, Any] = {
        "artifact_root": cfg.artifact_root,
        "workdir": str(Path(workdir or Path.cwd()).resolve()),
    }
    settings.update(_host_settings(cfg, load))
    if not cfg.cache:  # --no-cache: so do its resume, retry and rerun
        settings["cache"] = False
    host = HostOptions.from_settings(settings, Path(cfg.home), cfg.host_exec_uid)
    wf = with_step_env(prepare(source, encoded, host_exec=host_exec, host=host), step_env(cfg))
    settings.update(origin or {})
    if notify:
        settings["notify"] = notify
    run = _local_run(wf, settings, cfg)  # the store is opened (and checked) before any write
    RunStore(cfg.runs_dir).create(wf, settings)
    _watch(run, progress)
    assert isinstance(run.driver, LocalDriver)
    run.driver.start(wait=wait)
    return run


def _host_settings(cfg: NbflowConfig, load: list[str] | None) -> dict[str, Any]:
    """What a run records of the host options: loaded files (absolute), image commands and
    whether hostPath volumes are allowed (secret values are read again when it resumes)."""
    paths = [str(Path(p).resolve()) for p in [*cfg.load, *(load or [])]]
    out: dict[str, Any] = {}
    if paths:
        out["load"] = list(dict.fromkeys(paths))
    if cfg.image_commands:
        out["image_commands"] = dict(cfg.image_commands)
    if cfg.allow_host_path:
        out["allow_host_path"] = True
    return out


def _local_run(wf: dict[str, Any], settings: dict[str, Any], cfg: NbflowConfig) -> Run:
    """The run object of a local run, with the driver that can run it here."""
    from .artifacts import ArtifactStore
    from .engine.driver import LocalDriver
    from .engine.run import Run
    from .engine.store import RunStore

    runs = RunStore(cfg.runs_dir)
    store = ArtifactStore.from_config(cfg, settings["artifact_root"])
    if settings.get("cache") is False and cfg.cache:  # the run was started with --no-cache
        cfg = _without_cache(cfg)
    driver = LocalDriver(wf, settings, config=cfg, runs=runs, store=store)
    if settings.get("notify"):  # --notify: tell its targets when this driver ends the run
        from .notify.send import run_listener

        driver.subscribe(run_listener(settings["notify"], cfg, store, runs))
    run = Run(wf, store, runs.run_dir(wf["metadata"]["name"]), driver)
    run.allow_pickle = cfg.allow_pickle
    return run


def _without_cache(cfg: NbflowConfig) -> NbflowConfig:
    """A copy of ``cfg`` that reuses no cached result."""
    copy = type(cfg)(config=cfg.config)
    for name in cfg.trait_names(config=True):
        setattr(copy, name, getattr(cfg, name))
    copy.cache = False
    return copy


def _watch(run: Run, progress: TextIO | None) -> None:
    """Print one line per phase change of ``run`` on ``progress``, if given."""
    if progress is not None:
        from .engine.progress import ProgressPrinter

        run.subscribe(ProgressPrinter(progress))


def _open(run_id: str | None, cfg: NbflowConfig, *, refresh: bool = True) -> Run:
    """The run ``run_id`` (``None``: the most recent) with its driver, local or cluster."""
    from .engine.store import RunStore

    wf, settings = RunStore(cfg.runs_dir).load(run_id)
    if settings.get("backend") == "argo":
        from .cluster.run import load_cluster_run

        return load_cluster_run(wf, settings, config=cfg, refresh=refresh)
    return _local_run(wf, settings, cfg)


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
    run = _open(run_id, _config(config))
    _watch(run, progress)
    run.resume(nodes)
    return run.wait() if wait else run


def retry_run(
    run_id: str | None = None,
    *,
    config: NbflowConfig | None = None,
    progress: TextIO | None = None,
    wait: bool = True,
) -> Run:
    """Run the failed and errored steps of a finished run again, and what depends on them."""
    run = _open(run_id, _config(config))
    _watch(run, progress)
    run.retry()
    return run.wait() if wait else run


def rerun_from(
    run_id: str | Run | None,
    task: str,
    *,
    config: NbflowConfig | None = None,
    progress: TextIO | None = None,
    wait: bool = True,
    workflow: Workflow | None = None,
) -> Run:
    """Rerun ``task`` and everything downstream of it with the current code of the notebook.

    The workflow is recompiled (from ``workflow`` when given, e.g. the live kernel's, else from
    the notebook file the run came from); every other task keeps its earlier results. ``run_id``
    may be the run object itself (a viewer keeps following it).
    """
    from .engine.run import Run
    from .errors import NbflowError

    cfg = _config(config)
    run = run_id if isinstance(run_id, Run) else _open(run_id, cfg, refresh=False)
    settings = _settings(run, cfg)
    if settings.get("backend") == "argo":
        raise NbflowError("rerun --from is for local runs; on Kubernetes use nbflow k8s retry")
    if workflow is None:
        if not settings.get("notebook"):
            raise NbflowError(
                f"run {run.id} was not started from a notebook file: "
                "rerun it from the notebook's kernel (%nbflow rerun)"
            )
        from .notebook.extract import read_notebook

        workflow = read_notebook(settings["notebook"]).workflow(settings.get("workflow"))
    fresh = compile_workflow(workflow, config=cfg, base_dir=settings.get("base_dir"))
    _watch(run, progress)
    run.rerun(task, fresh)
    return run.wait() if wait else run


def _settings(run: Run, cfg: NbflowConfig) -> dict[str, Any]:
    from .engine.store import RunStore

    return RunStore(cfg.runs_dir).load(run.id)[1]


def stop_run(
    run_id: str | None = None, *, terminate: bool = False, config: NbflowConfig | None = None
) -> str:
    """Ask a running run to stop (exit handlers run) or terminate; return the run's name."""
    run = _open(run_id, _config(config), refresh=False)
    run.stop("Terminate" if terminate else "Stop")
    return run.id


def get_run(run_id: str | None = None, *, config: NbflowConfig | None = None) -> Run:
    """Load a run from the run store (``None``: the most recent run), with its driver: the
    returned object can ``stop``, ``resume``, ``retry`` and ``rerun`` it."""
    return _open(run_id, _config(config))


def list_runs(*, config: NbflowConfig | None = None) -> list[str]:
    """Names of the runs in the run store, oldest first."""
    from .engine.store import RunStore

    return RunStore(_config(config).runs_dir).names()


def task_logs(run_id: str | None, task: str, *, config: NbflowConfig | None = None) -> str:
    """Return the logs of every attempt of ``task`` in run ``run_id`` (``None``: most recent)."""
    return get_run(run_id, config=config).logs(task)


def run_metrics(run_id: str | None = None, *, config: NbflowConfig | None = None) -> str:
    """The custom metrics (``metrics.prometheus``) of run ``run_id`` (``None``: the most
    recent), in the Prometheus text format; what a scraper of the server reads too."""
    from .engine.metrics import render

    return render(get_run(run_id, config=config).workflow.get("status") or {})
