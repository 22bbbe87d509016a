"""Authorization through jupyter_server's authorizer: resource ``nbflow``, read and write."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jupyter_server.auth import Authorizer
from tornado.httpclient import HTTPClientError


class ReadOnly(Authorizer):
    """Lets users read nbflow's runs but not act on them; remembers what it was asked."""

    asked: list[tuple[str, str]] = []

    def is_authorized(self, handler: Any, user: Any, action: str, resource: str) -> bool:
        if resource == "nbflow":
            type(self).asked.append((action, resource))
        return resource != "nbflow" or action == "read"


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """nbflow's extension, behind the read-only authorizer."""
    ReadOnly.asked = []
    return {
        "ServerApp": {
            "jpserver_extensions": {"nbflow.server": True},
            "authorizer_class": ReadOnly,
        },
    }


async def test_reading_is_allowed_acting_is_not(
    call: Any, notebook: Any, jp_ws_fetch: Any, past_runs: dict[str, str], nbflow_home: Any
) -> None:
    status, data = await call("GET", "runs")
    assert status == 200 and data["total"] == 3
    run_id = past_runs["chain"]
    status, _ = await call("GET", "runs", run_id, "graph")
    assert status == 200
    notebook("chain")
    status, data = await call("POST", "runs", body={"notebook": "pipeline.ipynb"})
    assert status == 403
    assert data == {"message": "User is not authorized to write on resource: nbflow."}
    status, _ = await call("POST", "runs", run_id, "actions", "rerun", body={"task": "second"})
    assert status == 403
    status, _ = await call("DELETE", "runs", run_id)
    assert status == 403
    status, _ = await call("POST", "notebooks", "lint", body={"path": "pipeline.ipynb"})
    assert status == 403
    assert (nbflow_home / "runs" / run_id).is_dir()
    assert {r["id"] for r in (await call("GET", "runs"))[1]["runs"]} == set(past_runs.values())
    ws = await jp_ws_fetch("nbflow", "api", "events")
    ws.write_message(json.dumps({"subscribe": run_id}))
    message = json.loads(await ws.read_message())
    assert message["type"] == "nodes" and message["run"] == run_id
    ws.close()
    assert ("read", "nbflow") in ReadOnly.asked and ("write", "nbflow") in ReadOnly.asked


async def test_the_socket_needs_read(jp_ws_fetch: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ReadOnly, "is_authorized", lambda self, h, u, a, r: r != "nbflow")
    with pytest.raises(HTTPClientError) as err:
        await jp_ws_fetch("nbflow", "api", "events")
    assert err.value.code == 403
