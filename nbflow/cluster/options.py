"""Cluster settings (the ``ClusterConfig`` traitlets) and the pod knobs they put in a manifest."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from traitlets import Bool, Dict, Int, List, Unicode, validate
from traitlets.config import Configurable

from ..argo.limits import workflow_spec
from ..config import no_credentials
from ..errors import SpecError

if TYPE_CHECKING:
    from ..config import NbflowConfig

__all__ = [
    "ClusterConfig",
    "PodOptions",
    "load_cluster_config",
    "pod_options",
    "apply_pod_options",
    "parse_toleration",
    "parse_selector",
]

TMP_VOLUME = "nbflow-tmp"
_EFFECTS = ("", "NoSchedule", "PreferNoSchedule", "NoExecute")
_TOLERATION_KEYS = {"key", "operator", "value", "effect", "tolerationSeconds"}


class ClusterConfig(Configurable):
    """Where and how workflows run on Kubernetes (``c.ClusterConfig.*`` in ``nbflow_config.py``).

    Command-line options and magic arguments override these values.
    """

    namespace = Unicode(
        "", help="Namespace of the workflows. Default: the kubeconfig context's, else 'default'."
    ).tag(config=True)
    context = Unicode("", help="kubeconfig context (default: the current one).").tag(config=True)
    kubeconfig = Unicode(
        "",
        help="kubeconfig file. Default: $KUBECONFIG or ~/.kube/config; inside a pod, the pod's "
        "service account (in-cluster configuration).",
    ).tag(config=True)
    image = Unicode(
        "",
        help="Image of the steps on the cluster: an image with nbflow and the notebook's "
        "requirements (nbflow/cluster/Dockerfile). Default: NbflowConfig.image.",
    ).tag(config=True)
    service_account = Unicode(
        "", help="Service account the workflow's pods run as (nbflow k8s rbac creates one)."
    ).tag(config=True)
    image_pull_secrets = List(
        Unicode(), help="Secrets for pulling the step images from a private registry."
    ).tag(config=True)
    node_selector = Dict(
        value_trait=Unicode(), help="Node labels the step pods must run on, e.g. {'pool': 'cpu'}."
    ).tag(config=True)
    tolerations = List(
        Dict(),
        help="Tolerations of the step pods, as Kubernetes writes them: {'key': 'gpu', "
        "'operator': 'Exists', 'effect': 'NoSchedule'}.",
    ).tag(config=True)
    artifact_repository_ref = Unicode(
        "",
        help="Artifact repository of the workflows as 'configmap' or 'configmap#key'. Default: "
        "the namespace's default repository, else the controller's.",
    ).tag(config=True)
    artifact_root = Unicode(
        "",
        help="fsspec URL of the artifact repository's bucket (e.g. s3://my-bucket), used to open "
        "executed notebooks and outputs. Default: NbflowConfig.artifact_root when it is s3://.",
    ).tag(config=True)
    _root_checked = validate("artifact_root")(no_credentials)
    run_as_user = Int(1000, help="User id of the step containers (not root).").tag(config=True)
    run_as_non_root = Bool(
        True, help="Make Kubernetes refuse to start a step container as root."
    ).tag(config=True)
    read_only_root_filesystem = Bool(
        True,
        help="Mount the step containers' root filesystem read-only; /tmp (also HOME) is a "
        "writable emptyDir.",
    ).tag(config=True)
    pod_gc = Unicode(
        "",
        help="When Argo deletes finished pods: OnPodCompletion, OnPodSuccess, "
        "OnWorkflowCompletion or OnWorkflowSuccess (default: never; logs stay readable).",
    ).tag(config=True)


@dataclass(frozen=True)
class PodOptions:
    """The pod-level settings :func:`apply_pod_options` writes into a workflow spec."""

    service_account: str = ""
    image_pull_secrets: tuple[str, ...] = ()
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[dict[str, Any], ...] = ()
    artifact_repository_ref: str = ""
    run_as_user: int = 1000
    run_as_non_root: bool = True
    read_only_root_filesystem: bool = True
    pod_gc: str = ""


def load_cluster_config(
    nbflow_config: NbflowConfig | None = None, **overrides: Any
) -> ClusterConfig:
    """``ClusterConfig`` from the same config files as ``nbflow_config``, then ``overrides``.

    Overrides that are ``None`` are ignored, so CLI options can be passed as they are.
    """
    from ..config import configured, load_config

    base = nbflow_config if nbflow_config is not None else load_config()
    return configured(ClusterConfig, base.config, "cluster", **overrides)


def pod_options(cfg: ClusterConfig) -> PodOptions:
    """The :class:`PodOptions` of a :class:`ClusterConfig` (checked)."""
    opts = PodOptions(
        service_account=cfg.service_account,
        image_pull_secrets=tuple(cfg.image_pull_secrets),
        node_selector=dict(cfg.node_selector),
        tolerations=tuple(_check_toleration(t) for t in cfg.tolerations),
        artifact_repository_ref=cfg.artifact_repository_ref,
        run_as_user=cfg.run_as_user,
        run_as_non_root=cfg.run_as_non_root,
        read_only_root_filesystem=cfg.read_only_root_filesystem,
        pod_gc=cfg.pod_gc,
    )
    if opts.run_as_non_root and opts.run_as_user == 0:
        raise SpecError("run_as_non_root cannot be combined with run_as_user 0")
    return opts


def apply_pod_options(manifest: dict[str, Any], opts: PodOptions) -> dict[str, Any]:
    """Return a copy of ``manifest`` with the pod settings of ``opts`` in its workflow spec."""
    out = copy.deepcopy(manifest)
    spec = workflow_spec(out)
    if opts.service_account:
        spec["serviceAccountName"] = opts.service_account
    if opts.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": s} for s in opts.image_pull_secrets]
    if opts.node_selector:
        spec["nodeSelector"] = dict(sorted(opts.node_selector.items()))
    if opts.tolerations:
        spec["tolerations"] = [dict(t) for t in opts.tolerations]
    if opts.pod_gc:
        spec["podGC"] = {"strategy": opts.pod_gc}
    if opts.artifact_repository_ref:
        config_map, _, key = opts.artifact_repository_ref.partition("#")
        spec["artifactRepositoryRef"] = {"configMap": config_map, **({"key": key} if key else {})}
    if opts.run_as_non_root:
        uid = opts.run_as_user
        spec["securityContext"] = {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
    leaves = [t for t in spec.get("templates") or [] if "container" in t or "script" in t]
    for tmpl in leaves:
        _harden(tmpl.get("container") or tmpl["script"], opts.read_only_root_filesystem)
    if leaves and opts.read_only_root_filesystem:
        volumes = spec.setdefault("volumes", [])
        if all(v.get("name") != TMP_VOLUME for v in volumes):
            volumes.append({"name": TMP_VOLUME, "emptyDir": {}})
    return out


def _harden(container: dict[str, Any], read_only: bool) -> None:
    ctx = container.setdefault("securityContext", {})
    ctx.setdefault("allowPrivilegeEscalation", False)
    ctx.setdefault("capabilities", {"drop": ["ALL"]})
    if not read_only:
        return
    ctx["readOnlyRootFilesystem"] = True
    mounts = container.setdefault("volumeMounts", [])
    if all(m.get("name") != TMP_VOLUME for m in mounts):
        mounts.append({"name": TMP_VOLUME, "mountPath": "/tmp"})
    env = container.setdefault("env", [])
    if all(e.get("name") != "HOME" for e in env):
        # Kernels write connection files and caches under HOME: point it at the writable /tmp.
        env.append({"name": "HOME", "value": "/tmp"})


def _check_toleration(tol: dict[str, Any]) -> dict[str, Any]:
    unknown = set(tol) - _TOLERATION_KEYS
    if unknown:
        raise SpecError(f"toleration {tol}: unknown field {sorted(unknown)[0]!r}")
    op = tol.get("operator", "Equal")
    if op not in ("Equal", "Exists"):
        raise SpecError(f"toleration {tol}: operator must be Equal or Exists")
    if op == "Exists" and tol.get("value"):
        raise SpecError(f"toleration {tol}: operator Exists takes no value")
    if tol.get("effect", "") not in _EFFECTS:
        raise SpecError(
            f"toleration {tol}: effect must be one of {', '.join(e for e in _EFFECTS if e)}"
        )
    return dict(tol)


def parse_toleration(text: str) -> dict[str, Any]:
    """Parse ``key=value:Effect``, ``key:Effect``, ``key=value`` or ``key`` (kubectl taint's form).

    Without ``=value`` the toleration matches any value (``operator: Exists``).
    """
    head, _, effect = text.partition(":")
    key, eq, value = head.partition("=")
    if not key:
        raise SpecError(f"--toleration {text!r}: expected KEY[=VALUE][:EFFECT]")
    tol: dict[str, Any] = {"key": key, "operator": "Equal" if eq else "Exists"}
    if eq:
        tol["value"] = value
    if effect:
        tol["effect"] = effect
    return _check_toleration(tol)


def parse_selector(text: str) -> tuple[str, str]:
    """Parse a node selector ``key=value``."""
    key, eq, value = text.partition("=")
    if not key or not eq:
        raise SpecError(f"--node-selector {text!r}: expected KEY=VALUE")
    return key, value
