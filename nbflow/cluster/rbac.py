"""The least RBAC nbflow needs: a Role for whoever submits, a ServiceAccount for the pods."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import SpecError

__all__ = ["RbacOptions", "rbac_manifests", "SUBMITTER_RULES", "EXECUTOR_RULES"]

_ARGO = "argoproj.io"

#: What ``nbflow submit/status/logs/stop/retry/resume/schedule`` and ``compile | kubectl apply``
#: do through the Kubernetes API, and nothing more.
SUBMITTER_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [_ARGO],
        "resources": ["workflows"],
        "verbs": ["create", "get", "list", "watch", "patch", "update", "delete"],
    },
    {
        "apiGroups": [_ARGO],
        "resources": ["workflowtemplates", "cronworkflows"],
        "verbs": ["create", "get", "list", "update", "delete"],
    },
    # logs of a step; retry deletes the pods of the failed steps so Argo can make them again
    {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "delete"]},
    {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
]

#: What Argo's executor in every step pod needs (Argo 3.4 and later: it reports outputs as
#: WorkflowTaskResults; it does not read or patch pods).
EXECUTOR_RULES: list[dict[str, Any]] = [
    {"apiGroups": [_ARGO], "resources": ["workflowtaskresults"], "verbs": ["create", "patch"]},
]

_CLUSTER_TEMPLATE_RULES: list[dict[str, Any]] = [
    {
        "apiGroups": [_ARGO],
        "resources": ["clusterworkflowtemplates"],
        "verbs": ["create", "get", "list", "update", "delete"],
    },
]


@dataclass(frozen=True)
class RbacOptions:
    """Who gets what.

    Parameters
    ----------
    namespace : str
        Namespace the workflows run in.
    service_account : str
        Service account the workflow pods run as (``c.ClusterConfig.service_account``).
    users, groups : sequence of str
        Kubernetes users and groups allowed to submit and manage workflows.
    submitters : sequence of str
        Service accounts allowed to submit (``NAME`` in ``namespace``, or ``NS:NAME``), e.g. a
        JupyterHub user's pod.
    cluster_templates : bool
        Also allow publishing ClusterWorkflowTemplates (a ClusterRole limited to them).
    """

    namespace: str = "default"
    service_account: str = "nbflow-workflow"
    users: Sequence[str] = ()
    groups: Sequence[str] = ()
    submitters: Sequence[str] = ()
    cluster_templates: bool = False


def rbac_manifests(opts: RbacOptions) -> list[dict[str, Any]]:
    """The ServiceAccount, Roles and RoleBindings (never cluster-admin) for ``opts``.

    The submitter RoleBinding is left out when ``opts`` names no user, group or submitter.
    """
    ns = opts.namespace
    meta = {"namespace": ns, "labels": {"app.kubernetes.io/part-of": "nbflow"}}
    out: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": opts.service_account, **meta}},
        _role("Role", "nbflow-executor", EXECUTOR_RULES, meta),
        _binding("RoleBinding", "nbflow-executor", "Role",
                 [_sa(opts.service_account, ns)], meta),
        _role("Role", "nbflow-submitter", SUBMITTER_RULES, meta),
    ]
    subjects = _subjects(opts)
    if subjects:
        out.append(_binding("RoleBinding", "nbflow-submitter", "Role", subjects, meta))
    if opts.cluster_templates:
        labels = {"labels": meta["labels"]}
        out.append(_role("ClusterRole", "nbflow-cluster-templates", _CLUSTER_TEMPLATE_RULES,
                         labels))
        if subjects:
            out.append(_binding("ClusterRoleBinding", "nbflow-cluster-templates", "ClusterRole",
                                subjects, labels))
    return out


def _role(kind: str, name: str, rules: list[dict[str, Any]], meta: dict[str, Any]) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name, **meta},
        "rules": [dict(r) for r in rules],
    }


def _binding(
    kind: str, name: str, role_kind: str, subjects: list[dict[str, Any]], meta: dict[str, Any]
) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": kind,
        "metadata": {"name": name, **meta},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind, "name": name},
        "subjects": subjects,
    }


def _sa(name: str, namespace: str) -> dict[str, Any]:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def _subjects(opts: RbacOptions) -> list[dict[str, Any]]:
    rbac = "rbac.authorization.k8s.io"
    out = [{"kind": "User", "apiGroup": rbac, "name": u} for u in opts.users]
    out += [{"kind": "Group", "apiGroup": rbac, "name": g} for g in opts.groups]
    for text in opts.submitters:
        ns, _, name = text.rpartition(":")
        if not name:
            raise SpecError(f"--service-account {text!r}: expected NAME or NAMESPACE:NAME")
        out.append(_sa(name, ns or opts.namespace))
    if any(g in ("system:masters",) for g in opts.groups):
        raise SpecError("binding system:masters would amount to cluster-admin; name a real group")
    return out
