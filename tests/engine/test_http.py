"""``http`` templates, made by a real HTTP client against a server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from nbflow import api
from nbflow.config import load_config

SECRET = "token-from-a-secret"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:  # keep the test's output clean
        pass

    def _send(self, code: int, body: str) -> None:
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        routes = {"/ok": (200, "hello"), "/missing": (404, "nope"), "/created": (201, "made")}
        if self.path == "/token":
            return self._send(200, self.headers.get("X-Token", ""))
        code, body = routes.get(self.path, (500, "?"))
        return self._send(code, body)

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        return self._send(200, self.rfile.read(length).decode().upper())


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def http(name: str, url: str, **spec: Any) -> dict[str, Any]:
    return {"name": name, "http": {"url": url, **spec}}


def test_http_templates_succeed_fail_and_read_secrets(
    server: str, nbflow_home: Path, tmp_path: Path
) -> None:
    objects = tmp_path / "secret.yaml"
    objects.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "Secret",
                                       "metadata": {"name": "s"}, "stringData": {"t": SECRET}}))
    tasks = [
        {"name": "ok", "template": "ok"},
        {"name": "missing", "template": "missing", "continueOn": {"failed": True}},
        {"name": "created", "template": "created"},
        {"name": "condition", "template": "condition", "continueOn": {"failed": True}},
        {"name": "token", "template": "token"},
        {"name": "post", "template": "post"},
        {"name": "use", "template": "use", "depends": "ok",
         "arguments": {"parameters": [{"name": "x", "value": "{{tasks.ok.outputs.result}}"}]}},
    ]
    templates = [
        {"name": "main", "dag": {"tasks": tasks}},
        http("ok", f"{server}/ok"),
        http("missing", f"{server}/missing"),
        http("created", f"{server}/created", successCondition="response.statusCode == 201"),
        http("condition", f"{server}/ok", successCondition='response.body contains "bye"'),
        http("token", f"{server}/token", headers=[
            {"name": "X-Token", "valueFrom": {"secretKeyRef": {"name": "s", "key": "t"}}}]),
        http("post", f"{server}/post", method="POST", body="shout"),
        {"name": "use", "inputs": {"parameters": [{"name": "x"}]},
         "http": {"url": f"{server}/{{{{inputs.parameters.x}}}}", "successCondition":
                  "response.statusCode == 500 && request.url endsWith '/hello'"}},
    ]
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
          "metadata": {"generateName": "http-"},
          "spec": {"entrypoint": "main", "templates": templates}}
    run = api.run_workflow(wf, config=load_config(cache=False), workdir=tmp_path,
                           load=[str(objects)])
    nodes = {n["displayName"]: n for n in run.nodes.values() if n["type"] == "HTTP"}
    assert {k: n["phase"] for k, n in nodes.items()} == {
        "ok": "Succeeded", "missing": "Failed", "created": "Succeeded", "condition": "Failed",
        "token": "Succeeded", "post": "Succeeded", "use": "Succeeded"}
    assert nodes["ok"]["outputs"]["result"] == "hello"
    assert nodes["missing"]["message"] == "received non-2xx response code: 404"
    assert nodes["condition"]["message"] == (
        "successCondition 'response.body contains \"bye\"' evaluated false")
    assert nodes["token"]["outputs"]["result"] == SECRET  # the server got it...
    assert nodes["post"]["outputs"]["result"] == "SHOUT"
    assert run.phase == "Succeeded", run.summary()
    state = (nbflow_home / "runs" / run.id / "workflow.json").read_text()
    assert state.count(SECRET) == 1  # ...and only the response the server chose to send is kept


def test_an_unreachable_url_errors_the_node(nbflow_home: Path, tmp_path: Path) -> None:
    wf = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
          "metadata": {"generateName": "http-"},
          "spec": {"entrypoint": "main", "templates": [
              http("main", "http://127.0.0.1:9/", timeoutSeconds=2)]}}
    run = api.run_workflow(wf, config=load_config(cache=False), workdir=tmp_path)
    node = run.nodes[run.id]
    assert (node["type"], node["phase"]) == ("HTTP", "Error")
    assert node["message"].startswith("GET http://127.0.0.1:9/: ")
    assert run.phase == "Error"
