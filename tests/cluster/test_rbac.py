"""The least RBAC: valid Kubernetes objects, no cluster-admin, and enough for every command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from nbflow.cluster.rbac import SUBMITTER_RULES, RbacOptions, rbac_manifests
from nbflow.errors import SpecError


def test_objects_are_valid_kubernetes() -> None:
    objects = rbac_manifests(RbacOptions("team", users=["alice"], groups=["ml"],
                                         submitters=["hub:jupyter-alice", "nb"],
                                         cluster_templates=True))
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("ServiceAccount", "nbflow-workflow"),
        ("Role", "nbflow-executor"),
        ("RoleBinding", "nbflow-executor"),
        ("Role", "nbflow-submitter"),
        ("RoleBinding", "nbflow-submitter"),
        ("ClusterRole", "nbflow-cluster-templates"),
        ("ClusterRoleBinding", "nbflow-cluster-templates"),
    ]
    for obj in objects:
        for version in ("1.27", kubernetes_validate.latest_version()):
            kubernetes_validate.validate(obj, version, strict=True)
    binding = objects[4]
    assert binding["subjects"] == [
        {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
        {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ml"},
        {"kind": "ServiceAccount", "name": "jupyter-alice", "namespace": "hub"},
        {"kind": "ServiceAccount", "name": "nb", "namespace": "team"},
    ]
    assert objects[2]["subjects"] == [
        {"kind": "ServiceAccount", "name": "nbflow-workflow", "namespace": "team"}
    ]


def test_never_cluster_admin() -> None:
    objects = rbac_manifests(RbacOptions("team", users=["alice"], cluster_templates=True))
    for obj in objects:
        for rule in obj.get("rules") or []:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
            assert not {"secrets", "configmaps", "roles", "rolebindings"} & set(rule["resources"])
        ref = obj.get("roleRef") or {}
        assert ref.get("name") != "cluster-admin"
    cluster = [o for o in objects if o["kind"].startswith("Cluster")]
    assert all(r["resources"] == ["clusterworkflowtemplates"] for o in cluster
               for r in o.get("rules") or [])
    plain = rbac_manifests(RbacOptions("team"))
    assert not any(o["kind"].startswith("Cluster") or o["kind"] == "RoleBinding"
                   and o["metadata"]["name"] == "nbflow-submitter" for o in plain)
    with pytest.raises(SpecError, match="cluster-admin"):
        rbac_manifests(RbacOptions("team", groups=["system:masters"]))
    with pytest.raises(SpecError, match="expected NAME or NAMESPACE:NAME"):
        rbac_manifests(RbacOptions("team", submitters=["hub:"]))


def test_the_submitter_role_is_enough_for_every_command(
    make_notebook: Any, cluster_home: Path, kube: Any, argo: Any
) -> None:
    """The double enforces exactly the Role's rules; every command still works."""
    from nbflow.argo.kinds import CronOptions, convert
    from nbflow.cluster.client import ArgoClient
    from nbflow.cluster.errors import Forbidden
    from nbflow.cluster.options import load_cluster_config
    from nbflow.cluster.run import open_cluster_run
    from nbflow.cluster.submit import build_manifest, submit_workflow
    from nbflow.config import load_config
    from nbflow.notebook.extract import read_notebook

    kube.state.allow = {
        (verb, resource)
        for rule in SUBMITTER_RULES
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    argo.outcomes = {"second": ["Failed"]}
    wf = read_notebook(make_notebook("chain")).workflow()
    run = submit_workflow(wf, wait=True)
    assert run.phase == "Failed"
    assert "second says hello" in run.logs("second")
    run.retry().wait(30)
    assert run.phase == "Succeeded"
    again = open_cluster_run(run.id, config=load_config())
    again.stop()
    again.delete()
    again.client.close()
    manifest, _ = build_manifest(wf, config=load_config(), cluster=load_cluster_config())
    with ArgoClient() as client:
        for kind in ("workflowtemplate", "cronworkflow"):
            obj = convert(manifest, kind, name=f"chain-{kind}", cron=CronOptions(("@daily",)))
            assert client.apply(obj)[1] is True
            assert client.apply(obj)[1] is False  # the second time an update
    kube.state.allow.discard(("delete", "pods"))  # without it, retry says what is missing
    argo.outcomes = {"second": ["Failed"]}
    failing = submit_workflow(wf, wait=True)
    with pytest.raises(Forbidden, match="^forbidden: cannot delete pods in namespace team"):
        failing.retry()
