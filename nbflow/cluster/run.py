"""Runs on Kubernetes: the run object that follows a Workflow on the cluster, and how to find
runs (submitted from here and recorded in the run store, or started elsewhere)."""

from __future__ import annotations

import weakref
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..engine.driver import Subscribers
from ..engine.run import Run
from ..errors import NbflowError
from ..vocab import COMPLETED
from .client import ArgoClient
from .errors import ClusterUnreachable, ObjectNotFound
from .prune import cluster_cache
from .watch import WorkflowWatcher

if TYPE_CHECKING:
    from ..config import NbflowConfig
    from ..engine.cache import ResultCache
    from ..engine.store import RunStore
    from .options import ClusterConfig

__all__ = [
    "ClusterRun",
    "open_cluster_run",
    "load_cluster_run",
    "recorded_cluster_run",
    "artifact_root",
    "BACKEND",
]

BACKEND = "argo"


class ClusterDriver(Subscribers):
    """Drives a run on Kubernetes: a watch that keeps ``workflow`` in step with the cluster's
    Workflow, and Argo's actions through the Kubernetes API.

    Parameters
    ----------
    client : ArgoClient
        Connection to the run's cluster and namespace.
    workflow : dict
        The run's Workflow object, updated in place while the driver follows it.
    """

    actions = frozenset({"stop", "resume", "retry"})

    def __init__(self, client: ArgoClient, workflow: dict[str, Any]) -> None:
        super().__init__()
        self.client = client
        self.watcher = self._new_watcher(workflow)
        self.following = False

    def _new_watcher(self, workflow: dict[str, Any]) -> WorkflowWatcher:
        watcher = WorkflowWatcher(self.client, workflow)
        watcher.listeners.append(self.emit)
        return watcher

    @property
    def name(self) -> str:
        """The workflow's name."""
        return self.watcher.name

    @property
    def workflow(self) -> dict[str, Any]:
        """The Workflow object, as last read from the cluster."""
        return self.watcher.workflow

    @property
    def lock(self) -> AbstractContextManager[Any]:
        """Held while the watch updates ``workflow``."""
        return self.watcher.lock

    @property
    def live(self) -> bool:
        """Whether this process follows the run and it has not ended yet."""
        return self.following and not self.watcher.finished.is_set()

    def follow(self) -> None:
        """Watch the workflow in the background (again, after it ended and was retried)."""
        if self.following and not self.watcher.finished.is_set():
            return
        if self.watcher.finished.is_set() or self.watcher.done:
            self.watcher = self._new_watcher(self.watcher.workflow)
        self.following = True
        if not self.watcher.done:
            self.watcher.start()
        else:
            self.watcher.finished.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run ends (following it if nobody does), or ``timeout`` passes.

        Raises the watch's error (e.g. the cluster became unreachable) once it gave up.
        """
        if not self.watcher.done and not self.following:
            self.follow()
        ended = self.watcher.finished.wait(timeout) if self.following else True
        if self.watcher.error is not None and self.watcher.finished.is_set():
            raise self.watcher.error
        return ended

    def refresh(self) -> None:
        """Read the workflow's current state from the cluster."""
        self.watcher.refresh()

    def stop(self, strategy: str = "Stop") -> None:
        """``argo stop`` (exit handlers run) or, with ``"Terminate"``, ``argo terminate``."""
        if strategy == "Terminate":
            self.client.terminate(self.name)
        else:
            self.client.stop(self.name)

    def resume(self, nodes: list[str] | None = None) -> list[str]:
        """Resume the suspended workflow or its suspended steps (all, or those named); follow
        the run. Returns what resumed."""
        obj, resumed = self.client.resume(self.name, nodes)
        self.watcher.apply(obj)
        self.follow()
        return resumed

    def retry(self) -> None:
        """Run the failed steps again (succeeded ones keep their results); follow the run."""
        self.watcher.apply(self.client.retry(self.name))
        self.follow()

    def rerun(self, task: str, manifest: dict[str, Any]) -> None:
        """Not offered on a cluster: Argo retries failed steps, it does not rerun from a task."""
        raise NbflowError("rerun --from is for local runs; on Kubernetes use nbflow k8s retry")


class ClusterRun(Run):
    """A run on Kubernetes, with the surface of a local :class:`~nbflow.engine.run.Run`.

    Its driver (:class:`ClusterDriver`) keeps ``workflow`` current while it follows the
    Workflow; logs come from the step pods, executed notebooks and outputs from the artifact
    repository. With a ``cache``, the succeeded steps of the run are added to it once the run
    ends.
    """

    driver: ClusterDriver

    def __init__(
        self,
        workflow: dict[str, Any],
        store: Any,
        run_dir: Path,
        client: ArgoClient,
        runs: RunStore | None = None,
        *,
        owns_client: bool = False,
        cache: ResultCache | None = None,
    ) -> None:
        super().__init__(workflow, store, run_dir, ClusterDriver(client, workflow))
        self.client = client
        self.runs = runs
        self.cache = cache
        self.fed: str | None = None  # resourceVersion whose succeeded steps went to the cache
        self.stale: str | None = None
        if runs is not None:
            self.subscribe(self._save)
        self.subscribe(self._feed)
        if owns_client:  # close the connections with the run object
            weakref.finalize(self, client.close)

    @property
    def namespace(self) -> str:
        """The run's namespace."""
        return self.client.namespace

    @property
    def watcher(self) -> WorkflowWatcher:
        """The watch that follows the workflow."""
        return self.driver.watcher

    def _save(self, workflow: dict[str, Any], changed: list[dict[str, Any]]) -> None:
        if self.runs is not None:
            self.runs.save(workflow)

    def _feed(self, workflow: dict[str, Any], changed: list[dict[str, Any]]) -> None:
        """Once the run has ended: add its succeeded steps to the cache (as local runs do)."""
        from ..engine.cache import ResultCache, record_nodes

        version = workflow["metadata"].get("resourceVersion") or ""
        if self.cache is None or self.fed == version:
            return
        if (workflow.get("status") or {}).get("phase") not in COMPLETED:
            return
        self.fed = version
        record_nodes(workflow, ResultCache(self.cache.path, self.cache.name), self.store)

    # ------------------------------------------------------------------ following

    def follow(self) -> ClusterRun:
        """Start watching the workflow in the background (viewers get its events)."""
        self.driver.follow()
        return self

    def wait(self, timeout: float | None = None) -> ClusterRun:
        """Block until the run ends (following it if nobody does), or ``timeout`` passes."""
        self.driver.wait(timeout)
        return self

    def refresh(self) -> ClusterRun:
        """Read the workflow's current state from the cluster."""
        self.driver.refresh()
        self.stale = None
        return self

    # ------------------------------------------------------------------ control

    def terminate(self) -> None:
        """Stop without running the exit handlers."""
        self.stop("Terminate")

    def delete(self) -> None:
        """Delete the workflow (and its pods) from the cluster; the local record stays."""
        self.client.delete(self.id)

    # ------------------------------------------------------------------ views

    def task_nodes(self) -> dict[str, Any]:
        """Task nodes by task name, through nested parts of large DAGs; ``onExit`` last."""
        from ..argo.nesting import task_nodes

        out = task_nodes(self.workflow)
        exit_node = next(
            (n for n in self.nodes.values() if n["name"] == f"{self.id}.onExit"), None
        )
        if exit_node is not None:
            out["onExit"] = exit_node
        return out

    def logs(self, task: str) -> str:
        """Logs of the main container of every attempt of ``task``, each under a header."""
        parts = []
        for pod in self.pods(task):
            try:
                text = self.client.node_logs(self.workflow, pod)
            except ObjectNotFound:
                text = "(the pod is gone: Argo's pod GC or a retry deleted it)\n"
            parts.append(f"==> {pod['displayName']} ({pod['phase']}) <==\n{text}")
        return "\n".join(parts)

    def summary(self) -> str:
        """The run's task table, with where it runs and anything that limits the view."""
        notes = [f"  namespace {self.namespace}"]
        if self.stale:
            notes.append(f"  last known state (cluster unreachable: {self.stale})")
        if self.watcher.deleted:
            notes.append("  the workflow was deleted from the cluster")
        if self.watcher.offloaded:
            notes.append("  node status is offloaded to Argo's database: ask argo-server")
        return "\n".join([super().summary(), *notes])


def open_cluster_run(
    name: str,
    *,
    config: NbflowConfig | None = None,
    cluster: ClusterConfig | None = None,
    client: ArgoClient | None = None,
    refresh: bool = True,
) -> ClusterRun:
    """The run ``name``: from the run store if submitted from here, else read from the cluster
    (a CronWorkflow's run, or one created with kubectl) and recorded."""
    from ..config import load_config
    from ..engine.store import RunStore
    from .options import load_cluster_config

    cfg = config if config is not None else load_config()
    runs = RunStore(cfg.runs_dir)
    try:
        wf, settings = runs.load(name)
    except NbflowError:
        settings = {}
    if settings.get("backend") == BACKEND:
        return load_cluster_run(wf, settings, config=cfg, client=client, refresh=refresh)
    ccfg = cluster if cluster is not None else load_cluster_config(cfg)
    owns = client is None
    client = client if client is not None else ArgoClient.from_config(ccfg)
    return _record(client.get(name), client, cfg, ccfg, owns)


def recorded_cluster_run(
    run_id: str | None, *, config: NbflowConfig, refresh: bool = True
) -> ClusterRun | None:
    """The :class:`ClusterRun` of run ``run_id`` (``None``: the most recent) if the run store
    records it as a run on Kubernetes, else ``None`` (a local run)."""
    from ..engine.store import RunStore

    wf, settings = RunStore(config.runs_dir).load(run_id)
    if settings.get("backend") != BACKEND:
        return None
    return load_cluster_run(wf, settings, config=config, refresh=refresh)


def load_cluster_run(
    workflow: dict[str, Any],
    settings: dict[str, Any],
    *,
    config: NbflowConfig,
    client: ArgoClient | None = None,
    refresh: bool = True,
) -> ClusterRun:
    """The :class:`ClusterRun` of a run-store record (``settings["backend"] == "argo"``).

    With ``refresh`` its state is read from the cluster; if the cluster cannot be reached the
    recorded state is kept and :attr:`ClusterRun.stale` says why.
    """
    from ..engine.store import RunStore

    owns = client is None
    client = client if client is not None else ArgoClient(
        settings.get("namespace"), context=settings.get("context"),
        kubeconfig=settings.get("kubeconfig"),
    )
    runs = RunStore(config.runs_dir)
    name = workflow["metadata"]["name"]
    root = settings.get("artifact_root", "")
    run = ClusterRun(workflow, _store(config, root), runs.run_dir(name), client, runs,
                     owns_client=owns, cache=cluster_cache(workflow, config, root))
    if refresh:
        try:
            run.refresh()
        except ClusterUnreachable as exc:
            run.stale = str(exc)
    return run


def _record(
    obj: dict[str, Any], client: ArgoClient, cfg: NbflowConfig, ccfg: ClusterConfig,
    owns_client: bool = False,
) -> ClusterRun:
    from ..engine.store import RunStore

    runs = RunStore(cfg.runs_dir)
    root = artifact_root(cfg, ccfg)
    settings = {"backend": BACKEND, "namespace": client.namespace, "context": ccfg.context,
                "kubeconfig": ccfg.kubeconfig, "artifact_root": root}
    name = obj["metadata"]["name"]
    if not runs.run_dir(name).is_dir():
        runs.create(obj, settings)
    return ClusterRun(obj, _store(cfg, root), runs.run_dir(name), client, runs,
                      owns_client=owns_client, cache=cluster_cache(obj, cfg, root))


def artifact_root(cfg: NbflowConfig, ccfg: ClusterConfig) -> str:
    """The URL of the cluster's artifact repository as this machine reads it ("": unknown)."""
    if ccfg.artifact_root:
        return str(ccfg.artifact_root)
    from ..artifacts import is_object_store

    # steps read and write key-only S3 artifacts: only an S3 root is one the cluster shares
    return cfg.artifact_root if is_object_store(cfg.artifact_root) else ""


def _store(cfg: NbflowConfig, root: str) -> Any:
    from ..artifacts import ArtifactStore

    if not root:
        return _NoStore()
    return ArtifactStore.from_config(cfg, root)


class _NoStore:
    """Stands in for the artifact store when nobody said where the cluster keeps artifacts."""

    def __getattr__(self, name: str) -> Any:
        raise NbflowError(
            "nbflow does not know where this cluster keeps artifacts: set "
            "c.ClusterConfig.artifact_root to the artifact repository's bucket (s3://BUCKET)"
        )
