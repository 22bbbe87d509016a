"""Acting on runs by name, from any process: start a notebook's workflow, stop, retry, resume,
rerun and delete a run.

Interfaces that do not hold the run's engine (the Jupyter server, another terminal) call these;
they go through :mod:`nbflow.api`, so a run driven by a busy or dead kernel, or by ``nbflow run``
in another process, is reached through the run store (its lock and control file) or the cluster.
Each refusal is a :class:`~nbflow.errors.RunStateError` that names the run and its phase.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NbflowError, RunStateError, SpecError
from .vocab import COMPLETED, FAILED, NodeType, Phase

if TYPE_CHECKING:
    from .config import NbflowConfig
    from .engine.run import Run
    from .engine.store import RunStore

__all__ = ["ACTIONS", "act", "assignments", "run_notebook", "delete_run", "suspended_nodes"]

#: Every action :func:`act` knows.
ACTIONS = ("stop", "terminate", "retry", "resume", "resume_run", "rerun")
SETTLE_S = 10.0  # longest wait for an engine that has ended a run to let it go


def _config(config: NbflowConfig | None) -> NbflowConfig:
    from .config import load_config

    return config if config is not None else load_config()


def assignments(values: dict[str, Any]) -> list[str]:
    """``{"k": v}`` (a request's parameters) as ``-p k=v`` texts: a string is read as
    ``-p k=TEXT`` reads it (a Python literal when it is one); any other value stands for
    itself."""
    return [f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in values.items()]


def run_notebook(
    path: str | Path,
    *,
    workflow: str | None = None,
    assignments: Sequence[str] = (),
    config: NbflowConfig | None = None,
    wait: bool = False,
) -> Run:
    """Run a notebook's workflow without a kernel, as ``nbflow run NB -w W -p k=v`` does.

    ``assignments`` are ``NAME=VALUE`` texts, read as ``-p`` reads them (a Python literal when
    the value is one). The steps run in the notebook's folder. Returns the run at once (or,
    with ``wait``, once it has ended).
    """
    from . import api
    from .model import Workflow

    if Path(path).suffix != ".ipynb":
        raise SpecError(f"{path}: expected a notebook (.ipynb)")
    source, params, base, origin = api.load_source(path, workflow, list(assignments))
    assert isinstance(source, Workflow)
    return api.run_workflow(
        source,
        parameters=params,
        config=_config(config),
        workdir=base,
        base_dir=base,
        wait=wait,
        origin=origin,
    )


def suspended_nodes(workflow: dict[str, Any]) -> list[str]:
    """Display names of the run's suspend nodes waiting to be resumed."""
    nodes = (workflow.get("status") or {}).get("nodes") or {}
    return [
        str(n.get("displayName", ""))
        for n in nodes.values()
        if n.get("type") == NodeType.SUSPEND and n.get("phase") == Phase.RUNNING
    ]


def act(
    run_id: str,
    action: str,
    *,
    task: str | None = None,
    nodes: Sequence[str] | None = None,
    config: NbflowConfig | None = None,
    live: Run | None = None,
) -> Run:
    """Do ``action`` (one of :data:`ACTIONS`) on run ``run_id``; return the run that goes on.

    Parameters
    ----------
    task : str, optional
        ``rerun``: the task to rerun from (required); ``resume``: the suspended node to
        resume, when ``nodes`` is not given.
    nodes : sequence of str, optional
        ``resume``: the suspended nodes to resume (default: all of them).
    live : Run, optional
        The run object, when this process drives it (it is then acted on directly).

    Raises
    ------
    RunStateError
        The run's state does not allow the action (e.g. stopping a run that has ended).
    RunNotFound
        No such run.
    """
    from . import api
    from .engine.store import RunStore

    if action not in ACTIONS:
        raise NbflowError(f"unknown action {action!r} (one of {', '.join(ACTIONS)})")
    cfg = _config(config)
    runs = RunStore(cfg.runs_dir)
    wf, settings = runs.load(run_id)
    name = wf["metadata"]["name"]
    phase = (wf.get("status") or {}).get("phase") or Phase.PENDING
    local = settings.get("backend") != "argo"
    if phase in COMPLETED:  # an engine that has just ended the run may still be closing
        if live is not None:
            live.wait(SETTLE_S)
        _wait_unlocked(runs, name, SETTLE_S)
    busy = local and runs.is_locked(name)
    if live is not None and not live.live:
        live = None
    if action in ("stop", "terminate"):
        strategy = "Terminate" if action == "terminate" else "Stop"
        if live is not None:
            live.stop(strategy)
            return live
        if (local and not busy) or (not local and phase in COMPLETED):
            raise RunStateError(f"run {name} is not running ({phase})")
        api.stop_run(name, terminate=action == "terminate", config=cfg)
        return api.get_run(name, config=cfg)
    if action == "resume":
        return _resume(name, wf, task, nodes, cfg, live)
    if busy or live is not None:
        raise RunStateError(f"run {name} is still running: stop it first")
    if action == "resume_run":
        if local and phase in COMPLETED and not (wf.get("spec") or {}).get("shutdown"):
            raise RunStateError(f"run {name} has ended ({phase}): retry or rerun it instead")
        return api.resume_run(name, config=cfg, wait=False)
    if action == "retry":
        if phase not in FAILED:
            raise RunStateError(f"run {name} did not fail ({phase}): nothing to retry")
        return api.retry_run(name, config=cfg, wait=False)
    if not task:
        raise SpecError("rerun needs the task to rerun from")
    return api.rerun_from(name, task, config=cfg, wait=False)


def _wait_unlocked(runs: RunStore, name: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while runs.is_locked(name) and time.monotonic() < deadline:
        time.sleep(0.02)


def _resume(
    name: str,
    wf: dict[str, Any],
    task: str | None,
    nodes: Sequence[str] | None,
    cfg: NbflowConfig,
    live: Run | None,
) -> Run:
    from . import api

    waiting = suspended_nodes(wf) if live is None else suspended_nodes(live.workflow)
    if not waiting:
        raise RunStateError(f"run {name} has no suspended node to resume")
    chosen = list(nodes) if nodes else ([task] if task else None)
    unknown = [n for n in chosen or [] if n not in waiting]
    if unknown:
        raise SpecError(
            f"run {name} has no suspended node {unknown[0]!r} (waiting: {', '.join(waiting)})"
        )
    if live is not None:
        live.resume(chosen)
        return live
    return api.resume_run(name, nodes=chosen, config=cfg, wait=False)


def delete_run(run_id: str, *, config: NbflowConfig | None = None) -> str:
    """Delete a run that is not running: its record, logs, and its artifacts except those
    another run reads or a cache entry points at (see :func:`nbflow.api.delete_runs`); return
    its name. A cluster run's Workflow object stays on the cluster."""
    from .cleanup import delete_runs
    from .engine.store import RunStore

    cfg = _config(config)
    wf, _ = RunStore(cfg.runs_dir).load(run_id)
    name = str(wf["metadata"]["name"])
    delete_runs([name], config=cfg)
    return name
