"""What the local engine refuses before anything runs, with one line that says why: names that
are not Kubernetes names, templates it cannot run (and what would let it), and objects a
template needs that were not given (``--load``, ``--image-command``, ``--allow-host-path``)."""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Any

from ..argo.container import runs_nbflow
from ..argo.hydrate import template_calls
from ..errors import ManifestError, NbflowError
from .podfs import declared_paths

if TYPE_CHECKING:
    from .volumes import HostOptions

__all__ = ["check_names", "check_workflow", "check_runnable"]

# Kubernetes object names (RFC 1123 subdomains); generateName is such a name's beginning.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
_PREFIX = re.compile(r"[a-z0-9][-a-z0-9.]*")
MAX_NAME = 253


def check_names(manifest: dict[str, Any]) -> None:
    """Refuse a ``metadata.name`` / ``generateName`` that is not a Kubernetes name (such a name
    also names the run's folder: ``../x`` must never be one)."""
    meta = manifest.get("metadata") or {}
    for key, pattern in (("name", _NAME), ("generateName", _PREFIX)):
        value = meta.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or len(value) > MAX_NAME - 5 or not pattern.fullmatch(value):
            raise ManifestError(
                f"metadata.{key} {value!r} is not a Kubernetes name (lower-case letters, "
                "digits, '-' and '.', starting and ending with a letter or digit)"
            )


def check_runnable(template: dict[str, Any], host_exec: bool = False) -> str | None:
    """Why the local engine cannot run ``template`` (``None`` when it can).

    With ``host_exec``, hand-written container, script and containerSet templates run on this
    machine.
    """
    if "resource" in template:
        return (
            f"template {template['name']!r}: a resource template acts on the Kubernetes API, "
            "which no single machine offers; submit the workflow to a cluster (nbflow submit)"
        )
    if host_exec and any(k in template for k in ("container", "script", "containerSet")):
        from .host import host_exec_available

        return host_exec_available()
    if "container" in template:
        if runs_nbflow(template):
            return None
        cmd = list(template["container"].get("command") or [])
        return (
            f"template {template['name']!r} runs {' '.join(cmd) or 'its image entrypoint'} in "
            f"image {template['container'].get('image', '?')!r}: the local engine runs only "
            "nbflow steps (python -m nbflow.runner); run it with --host-exec to run the command "
            "on this machine, ignoring the image"
        )
    if any(k in template for k in ("dag", "suspend", "steps", "http")):
        return None
    if "script" in template or "containerSet" in template:
        kind = "script" if "script" in template else "containerSet"
        return f"template {template['name']!r}: {kind} templates run locally with --host-exec"
    kinds = [k for k in ("plugin", "data") if k in template]
    what = ", ".join(kinds) or "this kind of"
    return f"template {template['name']!r}: {what} templates cannot run locally"


def check_workflow(wf: dict[str, Any], host_exec: bool, host: HostOptions | None) -> None:
    """Refuse, before anything runs, a workflow whose templates cannot run here."""
    spec = wf["spec"]
    why = _unreadable_input({"name": "spec.arguments", "inputs": spec.get("arguments") or {}})
    if why:
        raise ManifestError(why)
    for tmpl in spec["templates"]:
        why = check_runnable(tmpl, host_exec) or _unreadable_input(tmpl) or _other_node(
            tmpl, spec
        )
        for call in template_calls(tmpl):
            why = why or _unreadable_input(
                {"name": f"{tmpl['name']}, {call.get('name')}", "inputs": call.get("arguments")}
            )
        if why:
            raise ManifestError(why)
    if not host_exec or host is None:
        return
    for tmpl in spec["templates"]:
        try:
            _check_host_template(tmpl, host)
        except NbflowError as exc:
            raise ManifestError(str(exc)) from None
    from .sync import semaphore_size, wanted

    size = semaphore_size(host.objects.config_maps)
    syncs = [spec.get("synchronization"), *(t.get("synchronization") for t in spec["templates"])]
    for sync in syncs:
        for lock in wanted(sync):
            if "configMapKeyRef" in lock:
                size(lock["configMapKeyRef"])  # refuses a semaphore whose size is not given
    claims = {(c.get("metadata") or {}).get("name") for c in spec.get("volumeClaimTemplates") or []}
    for volume in spec.get("volumes") or []:
        _check_volume(volume, claims, host, "spec.volumes")


# Where an input artifact may come from that the local engine cannot fetch.
_REMOTE = ("git", "http", "gcs", "azure", "oss", "hdfs", "artifactory", "huggingface", "plugin")
# What this machine is, in the well-known node labels' words.
_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le",
         "s390x": "s390x"}


def _unreadable_input(tmpl: dict[str, Any]) -> str | None:
    """An input artifact from a store the local engine cannot read (a git repository, a
    bucket of its own, ...)."""
    for a in (tmpl.get("inputs") or {}).get("artifacts") or []:
        if "from" in a or "fromExpression" in a:
            continue
        s3 = a.get("s3") or {}
        kind = next((k for k in _REMOTE if k in a), None)
        if kind is None and (s3.get("bucket") or s3.get("endpoint")):
            kind = f"S3 bucket {s3.get('bucket', '?')!r} at {s3.get('endpoint', 'AWS')}"
        if kind is not None and not a.get("optional"):
            return (
                f"template {tmpl['name']!r}: input artifact {a.get('name')!r} comes from {kind}, "
                "which the local engine does not fetch; give it as a raw artifact, from an "
                "earlier step, or as a key of the artifact root"
            )
    return None


def _other_node(tmpl: dict[str, Any], spec: dict[str, Any]) -> str | None:
    """A template that asks for a node of another operating system or architecture."""
    import platform

    wanted = {**(spec.get("nodeSelector") or {}), **(tmpl.get("nodeSelector") or {})}
    here = {"kubernetes.io/os": sys.platform if sys.platform != "darwin" else "darwin",
            "kubernetes.io/arch": _ARCH.get(platform.machine(), platform.machine())}
    here["beta.kubernetes.io/os"] = here["kubernetes.io/os"]
    here["beta.kubernetes.io/arch"] = here["kubernetes.io/arch"]
    for label, value in wanted.items():
        if label in here and "{{" not in str(value) and str(value) != here[label]:
            return (
                f"template {tmpl['name']!r} asks for a node with {label}={value}; this machine "
                f"is {here[label]}"
            )
    return None


def _containers(tmpl: dict[str, Any]) -> list[dict[str, Any]]:
    out = [*(tmpl.get("initContainers") or []), *(tmpl.get("sidecars") or [])]
    if "containerSet" in tmpl:
        out += (tmpl["containerSet"] or {}).get("containers") or []
    for key in ("container", "script"):
        if key in tmpl:
            out.append(tmpl[key])
    return out


def _check_host_template(tmpl: dict[str, Any], host: HostOptions) -> None:
    where = f"template {tmpl['name']!r}"
    for c in _containers(tmpl):
        image = str(c.get("image", ""))
        if not c.get("command") and "{{" not in image and host.image_command(image) is None:
            raise NbflowError(
                f"{where}: container {c.get('name') or 'main'!r} relies on the entrypoint of "
                f"image {image!r}; say what runs it on this machine with --image-command "
                f"{image}=COMMAND (c.NbflowConfig.image_commands)"
            )
        for e in c.get("env") or []:
            source = e.get("valueFrom") or {}
            if "secretKeyRef" in source and "{{" not in str(source["secretKeyRef"]):
                host.objects.secret_key(source["secretKeyRef"], f"{where}, env {e.get('name')}")
            if "configMapKeyRef" in source and "{{" not in str(source["configMapKeyRef"]):
                host.objects.config_map_key(
                    source["configMapKeyRef"], f"{where}, env {e.get('name')}"
                )
    for volume in tmpl.get("volumes") or []:
        _check_volume(volume, set(), host, where)
    for what, path in _paths(tmpl):
        if "{{" not in path and (not path.startswith("/") or ".." in path.split("/")):
            raise NbflowError(
                f"{where}: {what} {path!r} must be an absolute path that stays in the pod's "
                "folders (no '..')"
            )


def _paths(tmpl: dict[str, Any]) -> list[tuple[str, str]]:
    """The artifact, parameter and mount paths a template declares."""
    out = [(what, path) for path, what in
           declared_paths(tmpl.get("inputs") or {}, tmpl.get("outputs") or {})]
    for c in _containers(tmpl):
        out += [("mount path", m["mountPath"]) for m in c.get("volumeMounts") or []
                if m.get("mountPath")]
    return [(what, str(path)) for what, path in out]


def _check_volume(volume: dict[str, Any], claims: set[Any], host: HostOptions, where: str) -> None:
    name = volume.get("name")
    if "hostPath" in volume and not host.allow_host_path:
        raise ManifestError(
            f"{where}: volume {name!r} is hostPath {volume['hostPath'].get('path')}, which would "
            "give steps this machine's folder; allow it with --allow-host-path"
        )
    claim = (volume.get("persistentVolumeClaim") or {}).get("claimName")
    if claim and "{{" not in claim and claim not in host.objects.claims and claim not in claims:
        raise ManifestError(
            f"{where}: volume {name!r} uses PersistentVolumeClaim {claim!r}, which is not "
            "loaded: give the file that defines it with --load FILE"
        )
    for kind, key in (("configMap", "name"), ("secret", "secretName")):
        source = volume.get(kind)
        if not source or source.get("optional") or "{{" in str(source.get(key)):
            continue
        table = host.objects.config_maps if kind == "configMap" else host.objects.secrets
        if source.get(key) not in table:
            label = "ConfigMap" if kind == "configMap" else "Secret"
            raise ManifestError(
                f"{where}: volume {name!r} uses {label} {source.get(key)!r}, which is not "
                "loaded: give the file that defines it with --load FILE"
            )
