"""A foreground ``%nbflow run`` answers its graph's clicks and buttons while the cell executes."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.kernel

SETUP = [
    "%load_ext nbflow",
    "%%template first --outputs n --param k=0\nn = k",
    "%%template slow --no-run\nimport time\ntime.sleep(600)",
    "%%workflow w\nfirst.map(k=[5, 7]) >> slow",
]


@pytest.fixture()
def kernel(tmp_path: Path, nbflow_home: Path) -> Iterator[Any]:
    """A real ipykernel in ``tmp_path``, and a client on its channels."""
    from jupyter_client.manager import KernelManager

    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(tmp_path), env={**os.environ, "NBFLOW_HOME": str(nbflow_home)})
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def _execute(kc: Any, code: str) -> dict[str, Any]:
    reply = kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
    assert reply["content"]["status"] == "ok", reply["content"]
    return reply


def _iopub_until(kc: Any, found: Any, timeout_s: float = 120) -> dict[str, Any]:
    """The first IOPub message for which ``found(msg)`` is true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            msg = kc.get_iopub_msg(timeout=1)
        except queue.Empty:
            continue
        if found(msg):
            return msg
    pytest.fail("the kernel did not send the expected message")


def _is_graph_open(msg: dict[str, Any]) -> bool:
    if msg["msg_type"] != "comm_open":
        return False
    state = msg["content"]["data"].get("state") or {}
    return "_esm" in state and "graph" in state


def _state_of(comm_id: str, key: str) -> Any:
    """A matcher: a comm update of ``comm_id`` that sets ``key``."""

    def found(msg: dict[str, Any]) -> bool:
        content = msg["content"]
        data = content.get("data") or {}
        return (
            msg["msg_type"] == "comm_msg"
            and content.get("comm_id") == comm_id
            and data.get("method") in ("update", "echo_update")
            and key in (data.get("state") or {})
        )

    return found


def _comm_msg(kc: Any, comm_id: str, data: dict[str, Any]) -> str:
    msg = kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
    kc.shell_channel.send(msg)
    return str(msg["header"]["msg_id"])


def test_stop_and_select_during_a_foreground_run(kernel: Any) -> None:
    kc = kernel
    for code in SETUP:
        _execute(kc, code)
    run_cell = kc.execute("run = %nbflow run w")
    after_cell = kc.execute("print('after:', run.phase)")  # queued, as "Run All" does
    comm_id = _iopub_until(kc, _is_graph_open)["content"]["comm_id"]

    # a node click while the cell executes: the kernel answers with its details
    _comm_msg(kc, comm_id, {"method": "update", "state": {"selected": {"task": "slow"}},
                            "buffer_paths": []})
    details = _iopub_until(kc, lambda m: _state_of(comm_id, "details")(m)
                           and m["content"]["data"]["state"]["details"].get("task") == "slow")
    assert details["content"]["data"]["state"]["details"]["template"] == "slow"

    # the items of a mapped task, then one item's parameters
    def details_of(task: str, node: Any = None) -> Any:
        def found(msg: dict[str, Any]) -> bool:
            if not _state_of(comm_id, "details")(msg):
                return False
            got = msg["content"]["data"]["state"]["details"]
            return got.get("task") == task and (node is None or got.get("node") == node)

        return found

    _comm_msg(kc, comm_id, {"method": "update", "state": {"selected": {"task": "first"}},
                            "buffer_paths": []})
    group = _iopub_until(kc, details_of("first"))["content"]["data"]["state"]["details"]
    assert [i["label"] for i in group["items"]] == ["0: k=5", "1: k=7"]
    item = group["items"][1]["id"]
    sent = _comm_msg(kc, comm_id, {"method": "update", "buffer_paths": [],
                                   "state": {"selected": {"task": "first", "node": item}}})
    one = _iopub_until(kc, details_of("first", item))["content"]["data"]["state"]["details"]
    assert one["parameters"] == [{"name": "k", "value": "7"}]
    # ipywidgets sends a widget's next message once the kernel said "idle" for this one
    _iopub_until(kc, lambda m: m["msg_type"] == "status"
                 and m["parent_header"].get("msg_id") == sent
                 and m["content"]["execution_state"] == "idle")

    # wait for the slow step to run, then press Stop
    def slow_running(msg: dict[str, Any]) -> bool:
        data = msg["content"].get("data") or {}
        node = ((data.get("content") or {}).get("nodes") or {}).get("slow") or {}
        return msg["msg_type"] == "comm_msg" and node.get("phase") == "Running"

    _iopub_until(kc, slow_running)
    _comm_msg(kc, comm_id, {"method": "custom", "content": {"type": "action", "name": "stop"}})

    reply = kc.get_shell_msg(timeout=120)  # the run cell ends: the run was stopped
    assert reply["parent_header"]["msg_id"] == run_cell
    assert reply["content"]["status"] == "ok"
    outputs: list[str] = []

    def printed(msg: dict[str, Any]) -> bool:
        if msg["msg_type"] == "stream" and msg["parent_header"].get("msg_id") == after_cell:
            outputs.append(msg["content"]["text"])
        return bool(outputs)

    _iopub_until(kc, printed)
    assert outputs == ["after: Failed\n"]  # the cell queued behind it ran after it, once
    reply = kc.get_shell_msg(timeout=60)
    assert reply["parent_header"]["msg_id"] == after_cell
    status = kc.execute_interactive(
        "print(run.workflow['spec'].get('shutdown'))",
        timeout=60, output_hook=lambda m: outputs.append(m["content"].get("text", "")),
    )
    assert status["content"]["status"] == "ok"
    assert "".join(outputs[1:]).strip() == "Stop"  # stopped by the widget's button
