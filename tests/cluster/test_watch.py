"""Following a workflow: watch streams, resourceVersions, reconnects, 410 Gone, deletion."""

from __future__ import annotations

import base64
import gzip
import json
import socket
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow.cluster.client import ArgoClient
from nbflow.cluster.errors import ClusterUnreachable, Forbidden
from nbflow.cluster.watch import WorkflowWatcher, decode_nodes

GOLDEN = Path(__file__).parents[1] / "argo" / "golden"
ORDER = {"Pending": 0, "Running": 1, "Succeeded": 2, "Failed": 2, "Error": 2, "Skipped": 2,
         "Omitted": 2}


def manifest(name: str = "fanout") -> dict[str, Any]:
    return yaml.safe_load((GOLDEN / f"{name}.yaml").read_text())


class Recorder:
    """A listener, as the widget or the progress printer are."""

    def __init__(self, watcher: WorkflowWatcher) -> None:
        self.calls: list[list[tuple[str, str]]] = []
        self.versions = [watcher.resource_version]
        self.watcher = watcher
        watcher.listeners.append(self)

    def __call__(self, workflow: dict[str, Any], changed: list[dict[str, Any]]) -> None:
        self.calls.append([(n["id"], n["phase"]) for n in changed])
        self.versions.append(self.watcher.resource_version)

    def history(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for call in self.calls:
            for node, phase in call:
                out.setdefault(node, []).append(phase)
        return out


def follow(client: ArgoClient, created: dict[str, Any], **kwargs: Any) -> tuple[Any, Recorder]:
    watcher = WorkflowWatcher(client, json.loads(json.dumps(created)), backoff_s=0.01, **kwargs)
    return watcher, Recorder(watcher)


def watch_requests(kube: Any) -> list[dict[str, str]]:
    return [q for m, _, q in kube.state.requests if m == "GET" and q.get("watch") == "true"]


def test_watcher_follows_status_nodes_to_the_end(client: ArgoClient, kube: Any, argo: Any) -> None:
    created = client.create(manifest())
    watcher, seen = follow(client, created)
    watcher.start()
    assert watcher.finished.wait(30)
    assert watcher.error is None and watcher.workflow["status"]["phase"] == "Succeeded"
    server = client.get(created["metadata"]["name"])
    assert watcher.workflow == server  # the very object on the server, in the run's dict
    pods = [n for n in server["status"]["nodes"].values() if n["type"] == "Pod"]
    assert len(pods) == 10  # extract, 8 featurize items, train
    history = seen.history()
    for pod in pods:  # every pod was reported, ending Succeeded, never going backwards
        phases = history[pod["id"]]
        assert phases[-1] == "Succeeded"
        assert [ORDER[p] for p in phases] == sorted(ORDER[p] for p in phases)
    assert all(call for call in seen.calls[:-1])  # only real changes are reported
    requests = watch_requests(kube)
    assert requests[0]["resourceVersion"] == created["metadata"]["resourceVersion"]
    assert requests[0]["fieldSelector"] == f"metadata.name={created['metadata']['name']}"
    assert requests[0]["allowWatchBookmarks"] == "true"
    assert watcher.relists == 0 and watcher.reconnects == 0


def test_dropped_connections_resume_from_the_last_version(
    client: ArgoClient, kube: Any, argo: Any
) -> None:
    kube.state.drop_watches = 4
    created = client.create(manifest())
    watcher, seen = follow(client, created)
    watcher.start()
    assert watcher.finished.wait(30)
    assert watcher.error is None and watcher.workflow["status"]["phase"] == "Succeeded"
    assert watcher.workflow == client.get(created["metadata"]["name"])
    assert watcher.reconnects >= 4 and watcher.relists == 0  # no need to read it all again
    requests = watch_requests(kube)
    assert len(requests) >= 5
    for request in requests:  # every reconnect asked for what came after what was seen
        assert request["resourceVersion"] in seen.versions
    for phases in seen.history().values():
        assert [ORDER[p] for p in phases] == sorted(ORDER[p] for p in phases)


def test_expired_version_reads_the_workflow_again(
    client: ArgoClient, kube: Any, argo: Any, eventually: Any
) -> None:
    argo.hold.set()  # pods start but do not finish
    created = client.create(manifest("chain"))
    watcher, seen = follow(client, created, server_timeout_s=1)
    watcher.start()
    eventually(lambda: watcher.workflow.get("status", {}).get("phase") == "Running",
               what="the run to start")
    kube.state.compact()  # the version the watcher holds is gone from the server's history
    eventually(lambda: watcher.relists == 1, what="a relist after 410 Gone")
    argo.hold.clear()
    assert watcher.finished.wait(30)
    assert watcher.error is None and watcher.workflow["status"]["phase"] == "Succeeded"
    lists = [q for m, p, q in kube.state.requests if m == "GET" and "watch" not in q
             and p.endswith("/workflows")]
    assert lists and lists[0]["fieldSelector"] == f"metadata.name={created['metadata']['name']}"
    assert seen.history()  # changes after the relist were still reported


def test_deleted_workflow_ends_the_watch(client: ArgoClient, argo: Any, eventually: Any) -> None:
    argo.hold.set()
    created = client.create(manifest("chain"))
    watcher, seen = follow(client, created)
    watcher.start()
    eventually(lambda: watcher.workflow.get("status"), what="a status")
    client.delete(created["metadata"]["name"])
    assert watcher.finished.wait(30)
    assert watcher.deleted and watcher.done and watcher.error is None
    assert seen.calls[-1] == []


def test_forbidden_watch_is_reported(client: ArgoClient, kube: Any) -> None:
    created = client.create(manifest("chain"))
    kube.state.deny.add(("watch", "workflows"))
    watcher, _ = follow(client, created)
    watcher.run()
    assert isinstance(watcher.error, Forbidden)
    assert str(watcher.error).startswith(
        "forbidden: cannot watch workflows.argoproj.io in namespace team"
    )


def test_gives_up_after_repeated_connection_failures(
    client: ArgoClient, kube: Any, tmp_path: Path
) -> None:
    created = client.create(manifest("chain"))
    with socket.socket() as s:  # a port nobody listens on: the API server went away
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = kube.kubeconfig()
    config["clusters"][0]["cluster"]["server"] = f"http://127.0.0.1:{port}"
    (tmp_path / "gone").write_text(yaml.safe_dump(config))
    with ArgoClient(kubeconfig=str(tmp_path / "gone"), request_timeout_s=2) as gone:
        gone.api.configuration.retries = 0
        watcher, _ = follow(gone, created, max_failures=2)
        watcher.run()
    assert isinstance(watcher.error, ClusterUnreachable)
    assert watcher.reconnects == 2 and watcher.finished.is_set()


def test_a_failing_listener_does_not_stop_the_watch(
    client: ArgoClient, argo: Any
) -> None:
    created = client.create(manifest("chain"))
    watcher, seen = follow(client, created)

    def broken(workflow: dict[str, Any], changed: list[dict[str, Any]]) -> None:
        raise RuntimeError("viewer bug")

    watcher.listeners.insert(0, broken)
    watcher.run()
    assert watcher.workflow["status"]["phase"] == "Succeeded"
    assert watcher.listener_errors and seen.calls


def test_compressed_and_offloaded_nodes(client: ArgoClient) -> None:
    nodes = {"wf": {"id": "wf", "name": "wf", "type": "DAG", "phase": "Running"}}
    packed = base64.b64encode(gzip.compress(json.dumps(nodes).encode())).decode()
    assert decode_nodes({"compressedNodes": packed}) == nodes
    assert decode_nodes({"offloadNodeStatusVersion": "abc"}) is None
    watcher = WorkflowWatcher(client, {"metadata": {"name": "wf", "resourceVersion": "1"}})
    seen = Recorder(watcher)
    obj = {"metadata": {"name": "wf", "resourceVersion": "2"}, "spec": {},
           "status": {"phase": "Running", "compressedNodes": packed}}
    assert watcher.apply(obj) == [nodes["wf"]]
    assert watcher.workflow["status"] == {"phase": "Running", "nodes": nodes}
    assert watcher.resource_version == "2" and seen.calls == [[("wf", "Running")]]
    offloaded = {**obj, "status": {"phase": "Running", "offloadNodeStatusVersion": "v1"}}
    assert watcher.apply(offloaded) == []
    assert watcher.offloaded and watcher.workflow["status"]["nodes"] == nodes


@pytest.mark.parametrize("strategy", ["Stop", "Terminate"])
def test_stop_through_the_watcher_like_an_engine(
    client: ArgoClient, argo: Any, eventually: Any, strategy: str
) -> None:
    argo.hold.set()
    created = client.create(manifest("chain"))
    watcher, _ = follow(client, created)
    watcher.start()
    eventually(lambda: any(n["phase"] == "Running" and n["type"] == "Pod"
                           for n in watcher.workflow.get("status", {}).get("nodes", {}).values()),
               what="a running pod")
    watcher.stop(strategy)
    assert watcher.finished.wait(30)
    status = watcher.workflow["status"]
    assert status["phase"] == "Failed"
    assert status["message"] == f"Stopped with strategy '{strategy}'"
    assert watcher.workflow["spec"]["shutdown"] == strategy


def test_http_410_and_garbled_events_are_recovered_from(
    client: ArgoClient, kube: Any, argo: Any, eventually: Any
) -> None:
    argo.hold.set()
    kube.state.gone_watches = 1
    kube.state.garble_watches = 1
    created = client.create(manifest("chain"))
    watcher, _ = follow(client, created)
    watcher.start()
    eventually(lambda: kube.state.garble_watches == 0 and watcher.reconnects >= 1,
               what="the garbled stream to be left behind")
    assert watcher.relists == 1  # after the 410
    argo.hold.clear()
    assert watcher.finished.wait(30)
    assert watcher.error is None and watcher.workflow["status"]["phase"] == "Succeeded"
