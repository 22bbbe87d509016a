"""Argo objects through the official ``kubernetes`` client: create, get, watch, control, logs.

Every API failure leaves as a :class:`~nbflow.cluster.errors.ClusterError` saying what was
refused (see :func:`~nbflow.cluster.errors.translate`). ``kubernetes`` is imported on first use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Generator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .control import pod_name, resume_status, retry_status
from .errors import ClusterUnreachable, Conflict, ObjectNotFound, Operation, translate

if TYPE_CHECKING:
    from .options import ClusterConfig

__all__ = ["ArgoClient", "GROUP", "VERSION", "PLURALS"]

GROUP, VERSION = "argoproj.io", "v1alpha1"
PLURALS = {
    "Workflow": "workflows",
    "WorkflowTemplate": "workflowtemplates",
    "ClusterWorkflowTemplate": "clusterworkflowtemplates",
    "CronWorkflow": "cronworkflows",
}
_IN_CLUSTER_NS = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
_UPDATE_TRIES = 5


class ArgoClient:
    """A connection to one cluster and namespace.

    Parameters
    ----------
    namespace : str, optional
        Default: the kubeconfig context's namespace (in a pod: the pod's), else ``default``.
    context, kubeconfig : str, optional
        kubeconfig context and file (default: current context of ``$KUBECONFIG`` or
        ``~/.kube/config``; inside a pod without one, the in-cluster service account).
    api_client : kubernetes.client.ApiClient, optional
        An already configured client (tests, or callers with their own configuration).
    request_timeout_s : float
        Timeout of every request but watches.
    """

    def __init__(
        self,
        namespace: str | None = None,
        *,
        context: str | None = None,
        kubeconfig: str | None = None,
        api_client: Any = None,
        request_timeout_s: float = 30.0,
    ) -> None:
        self._namespace = namespace or None
        self._context = context or None
        self._kubeconfig = kubeconfig or None
        self._api = api_client
        self._config_ns: str | None = None
        self.request_timeout_s = request_timeout_s

    @classmethod
    def from_config(cls, cfg: ClusterConfig) -> ArgoClient:
        """A client for the cluster and namespace of a :class:`ClusterConfig`."""
        return cls(cfg.namespace, context=cfg.context, kubeconfig=cfg.kubeconfig)

    # ------------------------------------------------------------------ connection

    @property
    def api(self) -> Any:
        """The ``kubernetes.client.ApiClient`` (configured on first use)."""
        if self._api is None:
            self._api = self._connect()
        return self._api

    @property
    def namespace(self) -> str:
        """The namespace this client works in."""
        if self._namespace:
            return self._namespace
        _ = self.api  # reading the configuration finds the context's namespace
        return self._config_ns or "default"

    def close(self) -> None:
        """Close the connections to the API server."""
        if self._api is not None:
            self._api.close()

    def __enter__(self) -> ArgoClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def host(self) -> str:
        """URL of the API server."""
        return str(self.api.configuration.host)

    def _connect(self) -> Any:
        from kubernetes import client, config
        from kubernetes.config.config_exception import ConfigException

        conf = client.Configuration()
        # kubernetes reads $KUBECONFIG once, at import: read it now, as kubectl does
        path = self._kubeconfig or os.environ.get("KUBECONFIG") or None
        try:
            config.load_kube_config(config_file=path, context=self._context,
                                    client_configuration=conf, persist_config=False)
            self._config_ns = _context_namespace(path, self._context)
        except (ConfigException, OSError, TypeError) as exc:
            if self._kubeconfig or "KUBERNETES_SERVICE_HOST" not in os.environ:
                raise ClusterUnreachable(
                    f"no usable Kubernetes configuration ({exc}): set KUBECONFIG, pass "
                    "--kubeconfig/--context, or run inside a cluster"
                ) from None
            config.load_incluster_config(client_configuration=conf)
            if _IN_CLUSTER_NS.is_file():
                self._config_ns = _IN_CLUSTER_NS.read_text().strip()
        return client.ApiClient(conf)

    def _call(self, op: Operation, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", self.request_timeout_s)
        try:
            return fn(*args, **kwargs)
        except ApiException as exc:
            raise translate(int(exc.status or 0), exc.body, op) from None
        except (HTTPError, OSError) as exc:
            raise ClusterUnreachable(
                f"cannot reach the Kubernetes API at {self.host} to {op.verb} {op.resource}: "
                f"{_reason(exc)}"
            ) from None

    def _objects(self) -> Any:
        from kubernetes.client import CustomObjectsApi

        return CustomObjectsApi(self.api)

    def _op(self, verb: str, kind: str, name: str | None = None) -> Operation:
        ns = None if kind == "ClusterWorkflowTemplate" else self.namespace
        return Operation(verb, f"{PLURALS[kind]}.{GROUP}", ns, name)

    # ------------------------------------------------------------------ Argo objects

    def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Create any Argo object; return it as stored (with its generated name)."""
        kind = _kind(manifest)
        api = self._objects()
        if kind == "ClusterWorkflowTemplate":
            return self._call(self._op("create", kind), api.create_cluster_custom_object,
                              GROUP, VERSION, PLURALS[kind], manifest)
        body = {**manifest, "metadata": {**manifest.get("metadata", {}),
                                          "namespace": self.namespace}}
        created = self._call(self._op("create", kind), api.create_namespaced_custom_object,
                             GROUP, VERSION, self.namespace, PLURALS[kind], body)
        if created is None and body["metadata"].get("name"):
            # the client drops a body sent with 200 instead of 201; read the object back
            return self.get(body["metadata"]["name"], kind)
        return created

    def get(self, name: str, kind: str = "Workflow") -> dict[str, Any]:
        """Read one object."""
        api = self._objects()
        if kind == "ClusterWorkflowTemplate":
            return self._call(self._op("get", kind, name), api.get_cluster_custom_object,
                              GROUP, VERSION, PLURALS[kind], name)
        return self._call(self._op("get", kind, name), api.get_namespaced_custom_object,
                          GROUP, VERSION, self.namespace, PLURALS[kind], name)

    def list_objects(
        self,
        kind: str = "Workflow",
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict[str, Any]:
        """List objects of ``kind`` in the namespace: a ``...List`` whose
        ``metadata.resourceVersion`` is where a watch of the same objects should start."""
        return self._call(self._op("list", kind), self._objects().list_namespaced_custom_object,
                          GROUP, VERSION, self.namespace, PLURALS[kind],
                          label_selector=label_selector, field_selector=field_selector)

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Write back a whole object; its ``resourceVersion`` makes a concurrent change a 409."""
        kind, name = _kind(obj), obj["metadata"]["name"]
        api = self._objects()
        if kind == "ClusterWorkflowTemplate":
            return self._call(self._op("update", kind, name), api.replace_cluster_custom_object,
                              GROUP, VERSION, PLURALS[kind], name, obj)
        return self._call(self._op("update", kind, name), api.replace_namespaced_custom_object,
                          GROUP, VERSION, self.namespace, PLURALS[kind], name, obj)

    def patch(self, name: str, body: dict[str, Any], kind: str = "Workflow") -> dict[str, Any]:
        """JSON merge patch (RFC 7386) of a namespaced object."""
        return self._call(self._op("patch", kind, name),
                          self._objects().patch_namespaced_custom_object,
                          GROUP, VERSION, self.namespace, PLURALS[kind], name, body)

    def delete(self, name: str, kind: str = "Workflow") -> None:
        """Delete an object (Argo deletes a workflow's pods with it)."""
        api = self._objects()
        if kind == "ClusterWorkflowTemplate":
            self._call(self._op("delete", kind, name), api.delete_cluster_custom_object,
                       GROUP, VERSION, PLURALS[kind], name)
        else:
            self._call(self._op("delete", kind, name), api.delete_namespaced_custom_object,
                       GROUP, VERSION, self.namespace, PLURALS[kind], name)

    def apply(self, manifest: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        """Create a named object, or replace the one of that name; return it and ``created``."""
        kind, name = _kind(manifest), manifest["metadata"]["name"]
        try:
            return self.create(manifest), True
        except Conflict:
            pass

        def change(current: dict[str, Any]) -> dict[str, Any]:
            meta = {**manifest["metadata"],
                    "resourceVersion": current["metadata"]["resourceVersion"]}
            return {**manifest, "metadata": meta}

        return self.update(name, change, kind), False

    def update(
        self, name: str, change: Callable[[dict[str, Any]], dict[str, Any]], kind: str = "Workflow"
    ) -> dict[str, Any]:
        """Read, ``change`` and write back an object, again on a concurrent change (409)."""
        for attempt in range(_UPDATE_TRIES):
            new = change(self.get(name, kind))
            try:
                return self.replace(new)
            except Conflict:
                if attempt == _UPDATE_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------ watch

    def watch(
        self,
        name: str,
        resource_version: str | None,
        *,
        timeout_s: int | None = None,
        read_timeout_s: float | None = None,
    ) -> Generator[dict[str, Any], None, None]:
        """Raw watch events of workflow ``name`` after ``resource_version``.

        Ends when the server closes the stream; a broken connection raises
        :class:`ClusterUnreachable`. ``ERROR`` events (such as 410 Gone) are yielded as they
        are: :class:`~nbflow.cluster.watch.WorkflowWatcher` handles them.
        """
        from urllib3.exceptions import HTTPError

        resp = self._call(
            self._op("watch", "Workflow", name), self._objects().list_namespaced_custom_object,
            GROUP, VERSION, self.namespace, "workflows", field_selector=f"metadata.name={name}",
            watch=True, allow_watch_bookmarks=True, resource_version=resource_version,
            timeout_seconds=timeout_s, _preload_content=False,
            _request_timeout=(self.request_timeout_s, read_timeout_s or 300.0),
        )
        try:
            buffer = b""
            for chunk in resp.stream(amt=None, decode_content=True):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        except (HTTPError, OSError, ValueError) as exc:  # ValueError: a garbled event
            raise ClusterUnreachable(
                f"the watch of workflow {name} broke: {_reason(exc)}"
            ) from None
        finally:
            resp.close()
            resp.release_conn()

    # ------------------------------------------------------------------ control

    def stop(self, name: str) -> dict[str, Any]:
        """Stop: no new step starts, running ones are killed, exit handlers still run."""
        return self.patch(name, {"spec": {"shutdown": "Stop"}})

    def terminate(self, name: str) -> dict[str, Any]:
        """Terminate: like stop, but exit handlers do not run."""
        return self.patch(name, {"spec": {"shutdown": "Terminate"}})

    def retry(self, name: str) -> dict[str, Any]:
        """Run the failed steps of a Failed/Error workflow again (``argo retry``)."""
        _, doomed = retry_status(self.get(name))  # fails early on an unfinished workflow
        for pod in doomed:  # the controller recreates a step's pod under the same name
            self.delete_pod(pod)
        return self.update(name, lambda current: retry_status(current)[0])

    def resume(
        self, name: str, nodes: list[str] | None = None
    ) -> tuple[dict[str, Any], list[str]]:
        """Resume a suspended workflow (``spec.suspend``, or its suspended steps: all, or those
        named); return the workflow and what resumed."""
        now = datetime.now(timezone.utc)
        resumed: list[str] = []

        def change(wf: dict[str, Any]) -> dict[str, Any]:
            new, names = resume_status(wf, now, nodes)
            resumed[:] = names
            return new

        return self.update(name, change), resumed

    # ------------------------------------------------------------------ pods

    def pod_logs(self, pod: str, container: str = "main") -> str:
        """Logs of one container of a pod."""
        from kubernetes.client import CoreV1Api

        op = Operation("get", "pods/log", self.namespace, pod)
        return str(self._call(op, CoreV1Api(self.api).read_namespaced_pod_log, pod,
                              self.namespace, container=container))

    def node_logs(self, workflow: dict[str, Any], node: dict[str, Any]) -> str:
        """Logs of the main container of the pod that ran ``node``."""
        return self.pod_logs(pod_name(workflow, node))

    def delete_pod(self, pod: str) -> bool:
        """Delete a pod; ``False`` if it was gone already."""
        from kubernetes.client import CoreV1Api

        op = Operation("delete", "pods", self.namespace, pod)
        try:
            self._call(op, CoreV1Api(self.api).delete_namespaced_pod, pod, self.namespace)
        except ObjectNotFound:
            return False
        return True


def _kind(manifest: dict[str, Any]) -> str:
    kind = manifest.get("kind")
    if kind not in PLURALS:
        raise ValueError(f"not an Argo kind nbflow submits: {kind!r}")
    return str(kind)


def _context_namespace(kubeconfig: str | None, context: str | None) -> str | None:
    from kubernetes import config

    contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
    chosen = next((c for c in contexts if c["name"] == context), active) if context else active
    return ((chosen or {}).get("context") or {}).get("namespace")


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    return str(reason or exc)
