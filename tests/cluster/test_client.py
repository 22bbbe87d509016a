"""The Argo client against the Kubernetes API double: objects, and every error it translates."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow.argo.kinds import convert
from nbflow.cluster.client import ArgoClient
from nbflow.cluster.control import pod_name
from nbflow.cluster.errors import (
    ArgoNotInstalled,
    ClusterUnreachable,
    Conflict,
    Forbidden,
    Invalid,
    ObjectNotFound,
    Operation,
    translate,
)
from nbflow.errors import NbflowError, RunNotFound

GOLDEN = Path(__file__).parents[1] / "argo" / "golden"


def chain() -> dict[str, Any]:
    return yaml.safe_load((GOLDEN / "chain.yaml").read_text())


def test_namespace_comes_from_the_kubeconfig_context(client: ArgoClient, kube: Any) -> None:
    assert client.namespace == "team"
    assert client.host == kube.url
    with ArgoClient("default", kubeconfig=client._kubeconfig) as other:
        assert other.namespace == "default"


def test_create_get_list_patch_delete(client: ArgoClient, kube: Any) -> None:
    created = client.create(chain())
    name = created["metadata"]["name"]
    assert name.startswith("chain-") and len(name) == len("chain-") + 5
    assert created["metadata"]["namespace"] == "team"
    assert client.get(name) == created
    listed = client.list_objects(label_selector="nbflow.io/workflow=chain")
    assert [i["metadata"]["name"] for i in listed["items"]] == [name]
    assert int(listed["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    stopped = client.stop(name)
    assert stopped["spec"]["shutdown"] == "Stop" and stopped["spec"]["templates"]
    assert client.terminate(name)["spec"]["shutdown"] == "Terminate"
    patches = [r for r in kube.state.requests if r[0] == "PATCH"]
    assert len(patches) == 2
    client.delete(name)
    with pytest.raises(ObjectNotFound, match=f"no workflow '{name}' in namespace team"):
        client.get(name)
    with pytest.raises(RunNotFound):  # callers that handle a missing run handle this too
        client.stop(name)


def test_forbidden_names_the_verb_resource_and_namespace(client: ArgoClient, kube: Any) -> None:
    kube.state.deny.add(("create", "workflows"))
    with pytest.raises(Forbidden) as info:
        client.create(chain())
    assert str(info.value).startswith(
        "forbidden: cannot create workflows.argoproj.io in namespace team"
    )
    assert "nbflow k8s rbac" in str(info.value)
    assert (info.value.verb, info.value.resource, info.value.namespace) == (
        "create", "workflows.argoproj.io", "team")
    assert isinstance(info.value, PermissionError) and isinstance(info.value, NbflowError)
    kube.state.deny = {("get", "pods/log"), ("delete", "pods")}
    kube.state.pods[("team", "p1")] = "hi"
    with pytest.raises(Forbidden, match="^forbidden: cannot get pods/log in namespace team"):
        client.pod_logs("p1")
    with pytest.raises(Forbidden, match="^forbidden: cannot delete pods in namespace team"):
        client.delete_pod("p1")


def test_cluster_scoped_forbidden_and_templates(client: ArgoClient, kube: Any) -> None:
    tmpl = convert(chain(), "clusterworkflowtemplate", name="shared-chain")
    created, fresh = client.apply(tmpl)
    assert fresh and created["metadata"]["name"] == "shared-chain"
    assert "namespace" not in created["metadata"]
    again, fresh = client.apply(tmpl)
    assert not fresh
    assert int(again["metadata"]["resourceVersion"]) > int(created["metadata"]["resourceVersion"])
    kube.state.deny.add(("create", "clusterworkflowtemplates"))
    with pytest.raises(Forbidden, match="cannot create clusterworkflowtemplates.argoproj.io "
                                        "cluster-wide"):
        client.create(convert(chain(), "clusterworkflowtemplate", name="other"))


def test_missing_crd_says_argo_is_not_installed(client: ArgoClient, kube: Any) -> None:
    kube.state.crds = False
    with pytest.raises(ArgoNotInstalled, match="^Argo Workflows is not installed in this "
                                               "cluster"):
        client.create(chain())
    with pytest.raises(ArgoNotInstalled):
        client.get("chain-abcde")  # plain "404 page not found", not a Status: no such resource


def test_missing_namespace(kubeconfig: Path) -> None:
    with ArgoClient("nope", kubeconfig=str(kubeconfig)) as other, pytest.raises(
        ObjectNotFound, match="^namespace 'nope' does not exist$"
    ):
        other.create(chain())


def test_name_taken_is_a_conflict(client: ArgoClient) -> None:
    named = {**chain(), "metadata": {"name": "fixed"}}
    client.create(named)
    with pytest.raises(Conflict, match="^a workflow named 'fixed' already exists in namespace "
                                       "team$"):
        client.create(named)


def test_update_retries_a_concurrent_change_then_gives_up(client: ArgoClient, kube: Any) -> None:
    name = client.create(chain())["metadata"]["name"]
    bumps = []

    def someone_else(obj_name: str, times: int) -> None:
        if len(bumps) < times:  # another writer changes the object between our get and put
            bumps.append(obj_name)
            with kube.state.cond:
                obj = dict(kube.state.objects[("workflows", "team", obj_name)])
                kube.state.write("workflows", "team", obj, "MODIFIED")

    kube.state.before_update = lambda n: someone_else(n, 2)

    def label(wf: dict[str, Any]) -> dict[str, Any]:
        wf["metadata"].setdefault("labels", {})["x"] = "y"
        return wf

    assert client.update(name, label)["metadata"]["labels"]["x"] == "y"
    assert len(bumps) == 2
    bumps.clear()
    kube.state.before_update = lambda n: someone_else(n, 99)
    with pytest.raises(Conflict, match=f"workflow '{name}' was changed by someone else"):
        client.update(name, label)
    assert len(bumps) == 5


def test_unreachable_api_and_missing_configuration(tmp_path: Path, kube: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = kube.kubeconfig()
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    path = tmp_path / "closed"
    path.write_text(yaml.safe_dump(config))
    with ArgoClient(kubeconfig=str(path), request_timeout_s=2) as closed:
        closed.api.configuration.retries = 0
        with pytest.raises(ClusterUnreachable, match=f"cannot reach the Kubernetes API at "
                                                     f"http://127.0.0.1:{port} to create"):
            closed.create(chain())
    with pytest.raises(ClusterUnreachable, match="no usable Kubernetes configuration"):
        ArgoClient(kubeconfig=str(tmp_path / "missing")).namespace  # noqa: B018


def test_translate_table() -> None:
    op = Operation("update", "workflows.argoproj.io", "team", "wf")
    invalid = {"kind": "Status", "reason": "Invalid", "message": "bad", "details": {"causes": [
        {"field": "spec.templates[0].dag.tasks", "message": "Too many: 201: must have at most "
         "200 items"}]}}
    err = translate(422, invalid, op)
    assert isinstance(err, Invalid)
    assert str(err) == ("the Kubernetes API rejected the workflow: spec.templates[0].dag.tasks: "
                        "Too many: 201: must have at most 200 items")
    assert "Unauthorized" in type(translate(401, "", op)).__name__
    other = translate(500, '{"kind": "Status", "message": "etcd is down"}', op)
    assert str(other) == ("the Kubernetes API failed to update workflows.argoproj.io in "
                          "namespace team (HTTP 500): etcd is down")


def test_pod_names_follow_argo(kube: Any) -> None:
    from nbflow_tests_fakeargo import argo_pod_name

    wf = {"metadata": {"name": "chain-x7k2p"}}
    node = {"id": "chain-x7k2p-1", "name": "chain-x7k2p.second(1)", "templateName": "second"}
    assert pod_name(wf, node) == argo_pod_name("chain-x7k2p", node["name"], "second")
    assert pod_name(wf, node).startswith("chain-x7k2p-second-")
    long_wf = {"metadata": {"name": "w" * 200}}
    long_node = {**node, "name": "w" * 200 + ".t", "templateName": "t" * 60}
    assert len(pod_name(long_wf, long_node)) <= 253
    assert pod_name(long_wf, long_node) == argo_pod_name("w" * 200, long_node["name"], "t" * 60)
    v1 = {"metadata": {"name": "chain-x7k2p",
                       "annotations": {"workflows.argoproj.io/pod-name-format": "v1"}}}
    assert pod_name(v1, node) == "chain-x7k2p-1"


def test_cluster_modules_do_not_import_kubernetes() -> None:
    import json
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "import nbflow.cli.cluster, nbflow.cluster.run, nbflow.cluster.watch\n"
        "import nbflow.argo.kinds, nbflow.argo.nesting, nbflow.argo.limits\n"
        "print(json.dumps([m for m in ('kubernetes', 'urllib3', 'papermill') "
        "if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
