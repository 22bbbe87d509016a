"""Live updates over the ``nbflow/api/events`` WebSocket, for runs the server drives and for runs
of another process."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WAIT_S = 90.0


class Socket:
    """A client of the events WebSocket that keeps every message it received."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    def send(self, message: dict[str, Any]) -> None:
        self.ws.write_message(json.dumps(message))

    async def until(self, check: Any, what: str) -> dict[str, Any]:
        """The first message (old or new) for which ``check`` holds."""
        deadline = time.monotonic() + WAIT_S
        seen = 0
        while True:
            for message in self.messages[seen:]:
                if check(message):
                    return message
            seen = len(self.messages)
            left = deadline - time.monotonic()
            assert left > 0, f"no message {what}; got {self.messages}"
            try:
                text = await asyncio.wait_for(self.ws.read_message(), left)
            except asyncio.TimeoutError:
                continue
            assert text is not None, "the server closed the socket"
            self.messages.append(json.loads(text))


async def test_updates_of_a_run_started_from_the_server(
    call: Any, notebook: Any, jp_ws_fetch: Any, jp_root_dir: Path
) -> None:
    ws = Socket(await jp_ws_fetch("nbflow", "api", "events"))
    notebook("gated")
    _, started = await call("POST", "runs", body={"notebook": "pipeline.ipynb"})
    run_id = started["id"]
    first = await ws.until(lambda m: m["type"] == "run" and m["run"]["id"] == run_id, "run")
    assert first["run"]["workflow"] == "gated" and first["run"]["notebook"] == "pipeline.ipynb"
    ws.send({"subscribe": run_id})
    full = await ws.until(lambda m: m["type"] == "nodes" and m.get("full"), "full state")
    assert full["run"] == run_id and set(full["nodes"]) == {"start", "wait"}
    await ws.until(lambda m: _node(m, run_id, "wait") == "Running", "wait running")
    await ws.until(
        lambda m: m["type"] == "run" and m["run"]["progress"] == "1/2" and m["run"]["live"],
        "a live summary, half done",
    )
    (jp_root_dir / "go.flag").write_text("go")
    await ws.until(lambda m: _node(m, run_id, "wait") == "Succeeded", "wait succeeded")
    done = await ws.until(
        lambda m: m["type"] == "run" and m["run"]["phase"] == "Succeeded" and not m["run"]["live"],
        "the run's end",
    )
    assert done["run"]["progress"] == "2/2"
    patches = [m for m in ws.messages if m["type"] == "nodes" and not m.get("full")]
    assert all(m["run"] == run_id and m["nodes"] for m in patches)
    ws.ws.close()


async def test_updates_of_a_run_of_another_process(
    call: Any, notebook: Any, jp_ws_fetch: Any, jp_root_dir: Path
) -> None:
    ws = Socket(await jp_ws_fetch("nbflow", "api", "events"))
    path = notebook("chain")
    proc = subprocess.Popen(
        [sys.executable, "-m", "nbflow.cli", "run", str(path)],
        cwd=jp_root_dir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = await ws.until(lambda m: m["type"] == "run", "the new run")
        run_id = seen["run"]["id"]
        ws.send({"subscribe": run_id})
        await ws.until(lambda m: _node(m, run_id, "third") == "Succeeded", "third succeeded")
        end = await ws.until(
            lambda m: m["type"] == "run" and m["run"]["phase"] == "Succeeded", "the run's end"
        )
        assert end["run"]["id"] == run_id and end["run"]["progress"] == "3/3"
    finally:
        _, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 0, err
    ws.send({"unsubscribe": run_id})
    status, _ = await call("DELETE", "runs", run_id)
    assert status == 204
    gone = await ws.until(lambda m: m["type"] == "deleted", "the deletion")
    assert gone == {"type": "deleted", "run": run_id}
    ws.ws.close()


async def test_bad_messages_and_unknown_runs(jp_ws_fetch: Any) -> None:
    ws = Socket(await jp_ws_fetch("nbflow", "api", "events"))
    ws.send({"hello": 1})
    error = await ws.until(lambda m: m["type"] == "error", "an error")
    assert error["message"] == 'expected {"subscribe": run} or {"unsubscribe": run}'
    ws.send({"subscribe": "nope-12345"})
    error = await ws.until(lambda m: m.get("run") == "nope-12345", "an error about the run")
    assert error["type"] == "error" and error["message"].startswith("no run 'nope-12345'")
    ws.ws.close()


def _node(message: dict[str, Any], run_id: str, node: str) -> str | None:
    if message["type"] != "nodes" or message["run"] != run_id:
        return None
    return (message["nodes"].get(node) or {}).get("phase")
