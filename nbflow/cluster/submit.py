"""Submit a workflow to Argo: the manifest the cluster gets (compiled, parameters, nested DAGs,
pod options, checked), created through the Kubernetes API and followed as a run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import ManifestError
from ..vocab import CACHED_TASKS_ANNOTATION
from .client import ArgoClient
from .run import ClusterRun, _record

if TYPE_CHECKING:
    from ..argo.limits import Problem
    from ..config import NbflowConfig
    from ..model import Workflow
    from .options import ClusterConfig

__all__ = ["build_manifest", "submit_workflow"]

_BARE_IMAGES = ("python:", "library/python:")


def build_manifest(
    source: Workflow | dict[str, Any],
    *,
    config: NbflowConfig,
    cluster: ClusterConfig,
    parameters: dict[str, Any] | None = None,
    base_dir: str | Path | None = None,
    prune: bool = False,
    notify: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[Problem]]:
    """The Workflow to submit: compiled, parameters set, nested, pod options, checked.

    With ``prune`` (and an ``s3://`` artifact root the cluster shares), the steps whose
    results are in nbflow's cache are left out (:mod:`.prune`). Returns the manifest and the
    warnings; raises :class:`ManifestError` listing every problem the API server or Argo
    would reject, and :class:`~.prune.NothingToRun` when every step is cached. ``notify``
    (default: the workflow's ``--notify``) adds the exit handler that sends notifications.
    """
    from ..argo.compile import CompileOptions, shape_for_argo, translate
    from ..argo.limits import Problem, check_manifest
    from ..argo.literal import encode_value
    from ..model import Workflow
    from .options import apply_pod_options, pod_options

    image = cluster.image or config.image
    if isinstance(source, Workflow):
        notify = notify or source.notify
        base = Path(base_dir) if base_dir else None
        source = translate(source, CompileOptions(image=image, base_dir=base))
    manifest = _set_parameters(source, {k: encode_value(v) for k, v in (parameters or {}).items()})
    if prune:
        manifest = _prune(manifest, config, cluster)
    manifest = shape_for_argo(manifest)
    if notify:
        from ..notify.exit import add_exit_handler

        manifest = add_exit_handler(manifest, notify, image=image, config=config)
    manifest = apply_pod_options(manifest, pod_options(cluster))
    problems = check_manifest(manifest)
    errors = [str(p) for p in problems if p.level == "error"]
    if errors:
        raise ManifestError("the cluster would reject this workflow:\n  " + "\n  ".join(errors))
    warnings = [p for p in problems if p.level != "error"]
    if image.startswith(_BARE_IMAGES) or image.split("/", 1)[-1].startswith(_BARE_IMAGES):
        warnings.append(Problem(
            "warning",
            f"steps run in image {image!r}, which has no nbflow in it: build the runner image "
            "(nbflow/cluster/Dockerfile) and set c.ClusterConfig.image",
        ))
    return manifest, warnings


def _prune(manifest: dict[str, Any], config: NbflowConfig,
           cluster: ClusterConfig) -> dict[str, Any]:
    from ..artifacts import ArtifactStore
    from .prune import NothingToRun, cluster_cache, prune_manifest
    from .run import artifact_root

    root = artifact_root(config, cluster)
    cache = cluster_cache(manifest, config, root)
    if cache is None:
        return manifest
    pruned = prune_manifest(manifest, ArtifactStore.from_config(config, root), cache)
    if pruned.all_cached:
        raise NothingToRun(cache.name, pruned.cached)
    return pruned.manifest


def _set_parameters(manifest: dict[str, Any], values: dict[str, str]) -> dict[str, Any]:
    from ..argo.manifest import set_parameters

    out = copy.deepcopy(manifest)
    out.pop("status", None)
    set_parameters(out["spec"], values)
    return out


def submit_workflow(
    source: Workflow | dict[str, Any],
    *,
    parameters: dict[str, Any] | None = None,
    config: NbflowConfig | None = None,
    cluster: ClusterConfig | None = None,
    client: ArgoClient | None = None,
    base_dir: str | Path | None = None,
    progress: TextIO | None = None,
    wait: bool = False,
    follow: bool = True,
) -> ClusterRun:
    """Submit a workflow (model or manifest) to Argo and return its :class:`ClusterRun`.

    The run is recorded in the run store (so ``nbflow status`` and ``logs`` find it) and,
    with ``follow``, watched in the background; ``wait=True`` blocks until it ends.
    ``progress`` gets the warnings of the manifest check, the cached steps left out, and one
    line per phase change. When ``config.cache`` is on and the artifact root is shared
    (``s3://``), cached steps are not submitted; if all are, :class:`~.prune.NothingToRun`
    is raised and nothing is submitted.
    """
    from ..config import load_config
    from ..engine.progress import ProgressPrinter
    from .options import load_cluster_config

    cfg = config if config is not None else load_config()
    ccfg = cluster if cluster is not None else load_cluster_config(cfg)
    manifest, warnings = build_manifest(source, config=cfg, cluster=ccfg, parameters=parameters,
                                        base_dir=base_dir, prune=cfg.cache)
    if progress is not None:
        for warning in warnings:
            progress.write(f"nbflow: {warning}\n")
        cached = _cached_tasks(manifest)
        if cached:
            progress.write(f"nbflow: cached, not submitted: {', '.join(cached)}\n")
    owns = client is None
    client = client if client is not None else ArgoClient.from_config(ccfg)
    run = _record(client.create(manifest), client, cfg, ccfg, owns)
    if progress is not None:
        run.subscribe(ProgressPrinter(progress))
    if follow or wait:
        run.follow()
    return run.wait() if wait else run


def _cached_tasks(manifest: dict[str, Any]) -> list[str]:
    import json


    annotations = (manifest.get("metadata") or {}).get("annotations") or {}
    return sorted(json.loads(annotations.get(CACHED_TASKS_ANNOTATION) or "{}"))
