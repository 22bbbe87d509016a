"""An HTTP test double of the Kubernetes API for the calls nbflow makes.

It keeps objects with increasing resourceVersions and an event history, so watches resume
from a version, answer 410 Gone once the history is compacted, can be cut mid-stream, and
end at ``timeoutSeconds``. It answers 403 for denied verbs, plain 404 when the Argo CRDs are
"not installed", 409 for taken names and stale resourceVersions, and serves pod logs.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import re
import string
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

ARGO = re.compile(r"^/apis/argoproj\.io/v1alpha1(?:/namespaces/([^/]+))?/([a-z]+)(?:/([^/]+))?$")
PODS = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)(/log)?$")
CLUSTER_SCOPED = {"clusterworkflowtemplates"}


class KubeState:
    """Objects, history and fault switches, shared by the handler threads."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.history: list[tuple[int, str, str, dict[str, Any]]] = []  # rv, plural, type, obj
        self.oldest = 0  # watches from an older resourceVersion get 410 Gone
        self.rv = itertools.count(100)
        self.namespaces = {"default", "team"}
        self.crds = True
        self.deny: set[tuple[str, str]] = set()  # (verb, resource)
        self.allow: set[tuple[str, str]] | None = None  # when set, RBAC: nothing else passes
        self.drop_watches = 0  # the next N watch streams break after their first event
        self.gone_watches = 0  # the next N watch requests are refused with HTTP 410
        self.garble_watches = 0  # the next N watch streams send a line that is not JSON
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.pods: dict[tuple[str, str], str] = {}  # (namespace, pod) -> log text
        self.deleted_pods: list[str] = []
        self.before_update: Any = None  # called with (name) before a PUT is applied

    def refused(self, verb: str, resource: str) -> bool:
        """Whether RBAC refuses ``verb`` on ``resource`` (``allow`` is a Role's rules)."""
        if (verb, resource) in self.deny:
            return True
        return self.allow is not None and (verb, resource) not in self.allow

    def write(self, plural: str, ns: str, obj: dict[str, Any], event: str) -> dict[str, Any]:
        """Store ``obj`` under a new resourceVersion and record the event (cond held)."""
        rv = next(self.rv)
        obj["metadata"]["resourceVersion"] = str(rv)
        key = (plural, ns, obj["metadata"]["name"])
        if event == "DELETED":
            self.objects.pop(key, None)
        else:
            self.objects[key] = obj
        self.history.append((rv, plural, event, copy.deepcopy(obj)))
        self.cond.notify_all()
        return copy.deepcopy(obj)

    def compact(self) -> None:
        """Forget the event history, as etcd compaction does."""
        with self.cond:
            self.oldest = next(self.rv)
            self.history.clear()

    def update_status(self, ns: str, name: str, status: dict[str, Any], labels: dict) -> None:
        """The controller's write: status (and labels) only, so spec patches are kept."""
        with self.cond:
            obj = copy.deepcopy(self.objects[("workflows", ns, name)])
            obj["status"] = copy.deepcopy(status)
            obj["metadata"].setdefault("labels", {}).update(labels)
            self.write("workflows", ns, obj, "MODIFIED")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    state: KubeState

    def log_message(self, *args: Any) -> None:  # keep test output clean
        pass

    # ------------------------------------------------------------------ plumbing

    def _send(self, code: int, body: Any, content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str, details: dict | None = None) -> None:
        self._send(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                          "status": "Failure", "message": message, "reason": reason,
                          "details": details or {}, "code": code})

    def _body(self) -> Any:
        return json.loads(self._raw or b"null")

    def _route(self, method: str) -> None:
        # read the body first, whatever the answer: it must not stay on a kept-alive connection
        self._raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        self.state.requests.append((method, url.path, query))
        if url.path == "/apis/argoproj.io/v1alpha1":
            if not self.state.crds:
                return self._send(404, b"404 page not found\n", "text/plain")
            return self._send(200, {"kind": "APIResourceList", "groupVersion":
                                    "argoproj.io/v1alpha1", "resources": []})
        m = ARGO.match(url.path)
        if m:
            return self._argo(method, m.group(1), m.group(2), m.group(3), query)
        m = PODS.match(url.path)
        if m:
            return self._pod(method, m.group(1), m.group(2), bool(m.group(3)))
        self._send(404, b"404 page not found\n", "text/plain")

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    # ------------------------------------------------------------------ Argo objects

    def _argo(self, method: str, ns: str | None, plural: str, name: str | None,
              query: dict[str, str]) -> None:
        st = self.state
        if not st.crds:
            return self._send(404, b"404 page not found\n", "text/plain")
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
            method, "get" if name else ("watch" if query.get("watch") == "true" else "list"))
        if st.refused(verb, plural):
            where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
            return self._status(
                403, "Forbidden",
                f'{plural}.argoproj.io is forbidden: User "alice" cannot {verb} resource '
                f'"{plural}" in API group "argoproj.io"{where}',
                {"group": "argoproj.io", "kind": plural, **({"name": name} if name else {})})
        ns = ns or ""
        if ns and ns not in st.namespaces:
            return self._status(404, "NotFound", f'namespaces "{ns}" not found',
                                {"name": ns, "kind": "namespaces"})
        if verb == "watch":
            return self._watch(plural, ns, query)
        with st.cond:
            if verb == "create":
                return self._create(plural, ns, self._body())
            if verb == "list":
                only = query.get("fieldSelector", "").removeprefix("metadata.name=") or None
                labels = dict(kv.split("=", 1) for kv in query.get("labelSelector", "").split(",")
                              if "=" in kv)  # equality selectors only
                items = [copy.deepcopy(o) for (p, n, nm), o in sorted(st.objects.items())
                         if p == plural and n == ns and only in (None, nm)
                         and labels.items() <= (o["metadata"].get("labels") or {}).items()]
                return self._send(200, {"kind": "List", "items": items,
                                        "metadata": {"resourceVersion": str(next(st.rv))}})
            obj = st.objects.get((plural, ns, name or ""))
            if obj is None:
                return self._status(404, "NotFound", f'{plural}.argoproj.io "{name}" not found',
                                    {"name": name, "group": "argoproj.io", "kind": plural})
            if verb == "get":
                return self._send(200, obj)
            if verb == "delete":
                st.write(plural, ns, copy.deepcopy(obj), "DELETED")
                return self._send(200, {"kind": "Status", "status": "Success"})
            return self._modify(verb, plural, ns, obj)

    def _create(self, plural: str, ns: str, obj: dict[str, Any]) -> None:
        meta = obj.setdefault("metadata", {})
        if not meta.get("name"):
            suffix = "".join(random.choices(string.ascii_lowercase + string.digits, k=5))
            meta["name"] = meta.get("generateName", "x-") + suffix
        if (plural, ns, meta["name"]) in self.state.objects:
            return self._status(409, "AlreadyExists",
                                f'{plural}.argoproj.io "{meta["name"]}" already exists',
                                {"name": meta["name"], "group": "argoproj.io", "kind": plural})
        if ns:
            meta["namespace"] = ns
        meta["uid"] = f"uid-{meta['name']}"
        meta["creationTimestamp"] = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        self._send(201, self.state.write(plural, ns, obj, "ADDED"))

    def _modify(self, verb: str, plural: str, ns: str, obj: dict[str, Any]) -> None:
        body = self._body()
        if verb == "update":
            if self.state.before_update is not None:
                self.state.before_update(obj["metadata"]["name"])
                obj = self.state.objects[(plural, ns, obj["metadata"]["name"])]
            sent = (body.get("metadata") or {}).get("resourceVersion")
            if sent != obj["metadata"]["resourceVersion"]:
                return self._status(
                    409, "Conflict",
                    f'Operation cannot be fulfilled on {plural}.argoproj.io "'
                    f'{obj["metadata"]["name"]}": the object has been modified',
                    {"name": obj["metadata"]["name"], "kind": plural})
            new = body
        else:
            if self.headers.get("Content-Type") != "application/merge-patch+json":
                return self._status(415, "UnsupportedMediaType", "merge patches only")
            new = merge_patch(copy.deepcopy(obj), body)
        new["metadata"] = {**obj["metadata"], **{k: v for k, v in new["metadata"].items()
                                                 if k not in ("uid", "creationTimestamp")}}
        self._send(200, self.state.write(plural, ns, new, "MODIFIED"))

    # ------------------------------------------------------------------ watch

    def _watch(self, plural: str, ns: str, query: dict[str, str]) -> None:
        with self.state.cond:
            gone = self.state.gone_watches > 0
            self.state.gone_watches -= 1 if gone else 0
            garble = not gone and self.state.garble_watches > 0
            self.state.garble_watches -= 1 if garble else 0
        if gone:
            return self._status(410, "Expired", "too old resource version")
        if garble:
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.write(b"9\r\nnot json\n\r\n0\r\n\r\n")
            return None
        try:
            self._stream(plural, ns, query)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client went away: nothing to answer

    def _stream(self, plural: str, ns: str, query: dict[str, str]) -> None:
        st = self.state
        name = query.get("fieldSelector", "").removeprefix("metadata.name=") or None
        since = int(query["resourceVersion"]) if query.get("resourceVersion") else None
        deadline = time.monotonic() + float(query.get("timeoutSeconds") or 3600)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        with st.cond:
            drop = st.drop_watches > 0
            st.drop_watches -= 1 if drop else 0
            if since is not None and since < st.oldest:
                self._chunk({"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 410,
                    "reason": "Expired", "message": f"too old resource version: {since}"}})
                return self._end()
            if since is None:
                events = [(0, "ADDED", o) for (p, n, nm), o in st.objects.items()
                          if p == plural and n == ns and name in (None, nm)]
                since = max([int(o["metadata"]["resourceVersion"]) for _, _, o in events],
                            default=st.oldest)
            else:
                events = []
        sent = 0
        while True:
            for _, kind, obj in events:
                self._chunk({"type": kind, "object": obj})
                sent += 1
                if drop:  # cut the connection in the middle of a chunk
                    self.wfile.write(b"40\r\n{\"type\": \"MODI")
                    self.wfile.flush()
                    self.close_connection = True
                    return
            with st.cond:
                events = [(rv, kind, o) for rv, p, kind, o in st.history
                          if rv > since and p == plural and o["metadata"].get("namespace", "")
                          == ns and name in (None, o["metadata"]["name"])]
                if events:
                    since = events[-1][0]
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    if query.get("allowWatchBookmarks") == "true":
                        self._chunk({"type": "BOOKMARK", "object": {
                            "kind": "Workflow", "metadata": {"resourceVersion": str(since)}}})
                    return self._end()
                st.cond.wait(min(left, 0.5))

    def _chunk(self, event: dict[str, Any]) -> None:
        line = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
        self.wfile.flush()

    def _end(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # ------------------------------------------------------------------ pods

    def _pod(self, method: str, ns: str, pod: str, log: bool) -> None:
        st = self.state
        verb = {"GET": "get", "DELETE": "delete"}.get(method, method.lower())
        resource = "pods/log" if log else "pods"
        if st.refused(verb, resource):
            return self._status(403, "Forbidden", f'pods is forbidden: cannot {verb} "{resource}"',
                                {"kind": "pods", "name": pod})
        with st.cond:
            if (ns, pod) not in st.pods:
                return self._status(404, "NotFound", f'pods "{pod}" not found',
                                    {"name": pod, "kind": "pods"})
            if method == "DELETE":
                del st.pods[(ns, pod)]
                st.deleted_pods.append(pod)
                return self._send(200, {"kind": "Pod", "apiVersion": "v1",
                                        "metadata": {"name": pod, "namespace": ns}})
            if log:
                return self._send(200, st.pods[(ns, pod)].encode(), "text/plain")
            return self._send(200, {"kind": "Pod", "metadata": {"name": pod, "namespace": ns}})


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


class KubeServer:
    """The double on a free loopback port."""

    def __init__(self) -> None:
        self.state = KubeState()
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def start(self) -> KubeServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self, namespace: str = "team") -> dict[str, Any]:
        return {
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "double", "cluster": {"server": self.url}}],
            "users": [{"name": "alice", "user": {"token": "not-a-secret"}}],
            "contexts": [{"name": "test", "context": {"cluster": "double", "user": "alice",
                                                      "namespace": namespace}}],
        }
