"""The client against an independent Kubernetes emulator (kmock's KubernetesEmulator).

Our own double could share our misreadings of the API; kmock, written separately, checks the
same calls: create, get, list, merge patch, delete, watch, 404s.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow.cluster.client import ArgoClient
from nbflow.cluster.errors import ObjectNotFound
from nbflow.cluster.watch import WorkflowWatcher

GOLDEN = Path(__file__).parents[1] / "argo" / "golden"


@pytest.fixture()
def emulator(tmp_path: Path) -> Iterator[tuple[Any, Path]]:
    """kmock's emulator on loopback, served from its own event loop thread; and a kubeconfig."""
    import kmock

    box: dict[str, Any] = {}
    ready = threading.Event()

    async def serve() -> None:
        box["stop"] = asyncio.Event()
        async with kmock.KubernetesEmulator() as emu, kmock.Server(emu) as server:
            emu.resources["argoproj.io/v1alpha1/workflows"] = {}
            box.update(emu=emu, url=str(server.url).rstrip("/"), loop=asyncio.get_running_loop())
            ready.set()
            await box["stop"].wait()

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "k",
        "clusters": [{"name": "kmock", "cluster": {"server": box["url"]}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "k", "context": {"cluster": "kmock", "user": "u",
                                               "namespace": "team"}}],
    }
    path = tmp_path / "kmock-kubeconfig"
    path.write_text(yaml.safe_dump(config))
    yield box["emu"], path
    box["loop"].call_soon_threadsafe(box["stop"].set)
    thread.join(10)


def chain(name: str) -> dict[str, Any]:
    wf = yaml.safe_load((GOLDEN / "chain.yaml").read_text())
    wf["metadata"] = {"name": name, "labels": {"nbflow.io/workflow": "chain"}}
    return wf


def test_objects_round_trip_through_kmock(emulator: tuple[Any, Path]) -> None:
    emu, kubeconfig = emulator
    with ArgoClient(kubeconfig=str(kubeconfig), request_timeout_s=10) as client:
        created = client.create(chain("chain-kmock"))
        assert created["metadata"] == {"name": "chain-kmock", "namespace": "team",
                                       "labels": {"nbflow.io/workflow": "chain"}}
        assert client.get("chain-kmock")["spec"] == chain("x")["spec"]
        assert [i["metadata"]["name"] for i in client.list_objects()["items"]] == ["chain-kmock"]
        assert client.stop("chain-kmock")["spec"]["shutdown"] == "Stop"
        assert client.get("chain-kmock")["spec"]["templates"]  # a merge patch, not a replace
        client.delete("chain-kmock")
        with pytest.raises(ObjectNotFound, match="no workflow 'chain-kmock' in namespace team"):
            client.get("chain-kmock")
    assert len(emu.objects) == 1  # kmock keeps the deleted object's history


def test_watcher_follows_status_written_by_someone_else(emulator: tuple[Any, Path]) -> None:
    _, kubeconfig = emulator
    with ArgoClient(kubeconfig=str(kubeconfig), request_timeout_s=10) as client, \
            ArgoClient(kubeconfig=str(kubeconfig)) as controller:
        created = client.create(chain("chain-watched"))
        watcher = WorkflowWatcher(client, created, server_timeout_s=5, backoff_s=0.05)
        seen: list[list[str]] = []
        watcher.listeners.append(lambda wf, changed: seen.append([n["phase"] for n in changed]))
        watcher.start()
        node = {"id": "chain-watched", "name": "chain-watched", "displayName": "chain-watched",
                "type": "DAG"}
        for phase in ("Running", "Succeeded"):
            controller.patch("chain-watched", {"status": {
                "phase": phase, "nodes": {"chain-watched": {**node, "phase": phase}}}})
            deadline = time.monotonic() + 30
            while [phase] not in seen and time.monotonic() < deadline:
                time.sleep(0.01)
        assert watcher.finished.wait(30)
        assert watcher.error is None
        assert watcher.workflow["status"]["phase"] == "Succeeded"
        assert seen[-1] == ["Succeeded"] and ["Running"] in seen
