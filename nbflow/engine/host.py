"""Hand-written container and script templates run on this machine (``--host-exec``).

The image is ignored (an image's entrypoint can be named with ``--image-command``): the pod's
containers run in private mount and PID namespaces (:mod:`.sandbox`) whose root is the pod's
own folder, with this machine's system folders read-only (:mod:`.podfs`), its volumes as
folders (:mod:`.volumes`), and, when nbflow runs as root, as an unprivileged user (uid 1000,
like nbflow's pods). When the pod's main containers end, everything it started ends with it.
The main container's stdout becomes ``outputs.result``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import NbflowError
from ..outcome import StepEnd
from .podfs import PodFS, declared_paths
from .probes import POD_IP, ready
from .volumes import HostOptions, volume_source
from .worker import LocalPod

__all__ = ["HostPod", "HostOptions", "host_exec_available", "RESULT_LIMIT", "SCRIPT_PATH"]

RESULT_LIMIT = 256 * 1024  # Argo keeps only the last 256 kB of stdout as outputs.result
SCRIPT_PATH = "/argo/staging/script"  # where Argo's executor puts a script template's source
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def host_exec_available() -> str | None:
    """Why host execution cannot work here (``None`` when it can)."""
    if sys.platform != "linux" or shutil.which("unshare") is None:
        return "--host-exec needs Linux and the unshare program (Debian package util-linux)"
    return None


class HostPod(LocalPod):
    """A pod whose containers run on the host, in the pod's own root."""

    def __init__(
        self,
        *args: Any,
        host: HostOptions | None = None,
        on_ready: Callable[[str], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.host = host if host is not None else HostOptions()
        self.on_ready = on_ready if self.req.template.get("daemon") else None
        self.started = time.monotonic()
        self.capture_stdout = True
        self.mounts = {}  # the pod's file system replaces the runner's volume folders
        self.fs = PodFS(self.pod_dir)
        self.run_dir = self.pod_dir.parent.parent
        self.specs = self._containers()
        self._mount_volumes()
        for path, what in self._declared_paths():
            self.fs.declare(path, what)

    # ------------------------------------------------------------------ the pod's view

    def local(self, path: str) -> Path:
        """Where ``path`` of the pod's view lives on this machine."""
        return self.fs.local(path)

    def _declared_paths(self) -> list[tuple[str, str]]:
        return declared_paths(self.req.inputs, self.req.template.get("outputs") or {})

    def _mount_volumes(self) -> None:
        tmpl = self.req.template
        volumes = {v["name"]: v for v in self.req.volumes}
        volumes.update({v["name"]: v for v in tmpl.get("volumes") or []})
        claims = set(self.req.claim_templates)
        for spec in self.specs:
            for m in spec["mounts"]:
                name = m.get("name", "")
                volume = volumes.get(name, {"name": name})
                if name not in volumes and name not in claims:
                    raise NbflowError(f"volume mount {m.get('mountPath')}: no volume {name!r}")
                source, read_only = volume_source(
                    volume, pod_dir=self.pod_dir, run_dir=self.run_dir,
                    claim_templates=claims, options=self.host,
                )
                if m.get("subPath"):
                    sub = os.path.normpath(m["subPath"])
                    if sub.startswith(".."):
                        raise NbflowError(f"subPath {m['subPath']!r} leaves volume {name!r}")
                    source = source / sub
                self.fs.bind(source, m["mountPath"], read_only or bool(m.get("readOnly")))

    # ------------------------------------------------------------------ containers

    def _containers(self) -> list[dict[str, Any]]:
        """The pod's containers: init, sidecars, then the main one(s)."""
        tmpl = self.req.template
        if "containerSet" in tmpl:
            cs = tmpl["containerSet"]
            shared = cs.get("volumeMounts") or []
            mains = [dict(c, volumeMounts=[*shared, *(c.get("volumeMounts") or [])])
                     for c in cs.get("containers") or []]
        else:
            main = dict(tmpl.get("container") or tmpl.get("script") or {})
            main["name"] = "main"
            mains = [main]
        main_mounts = mains[0].get("volumeMounts") or []
        out = []
        for role, containers in (("init", tmpl.get("initContainers") or []),
                                 ("sidecar", tmpl.get("sidecars") or []), ("main", mains)):
            for c in containers:
                mounts = list(c.get("volumeMounts") or [])
                if c.get("mirrorVolumeMounts"):
                    mounts += main_mounts
                out.append({"name": c.get("name") or role, "role": role, "container": c,
                            "mounts": mounts, "dependencies": c.get("dependencies") or []})
        return out

    def _argv(self, c: dict[str, Any], script: bool) -> list[str]:
        command = [str(x) for x in c.get("command") or []]
        args = [str(x) for x in c.get("args") or []]
        if not command:
            image = str(c.get("image", ""))
            entry = self.host.image_command(image)
            if entry is None:
                raise NbflowError(
                    f"template {self.req.template['name']!r}: container "
                    f"{c.get('name') or 'main'!r} relies on the entrypoint of image {image!r}; "
                    f"say what runs it here with --image-command {image}=COMMAND "
                    "(c.NbflowConfig.image_commands)"
                )
            command = entry
        if script:
            args = [*args, SCRIPT_PATH]
        return [*command, *args]

    def _env(self, c: dict[str, Any]) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH") or DEFAULT_PATH,
            "HOME": "/tmp",
            "HOSTNAME": self.req.node_id,
            "LANG": os.environ.get("LANG", "C.UTF-8"),
        }
        where = f"template {self.req.template['name']}, env"
        for e in c.get("env") or []:
            source = e.get("valueFrom") or {}
            if "secretKeyRef" in source:
                value = self.host.objects.secret_key(source["secretKeyRef"], where)
            elif "configMapKeyRef" in source:
                value = self.host.objects.config_map_key(source["configMapKeyRef"], where)
            else:
                value = str(e.get("value", ""))
            if value is not None:
                env[e["name"]] = value
        return env

    # ------------------------------------------------------------------ running

    def prepare(self) -> None:
        """Create the pod's folders, write its script, give them to the step's user."""
        for bind in self.fs.binds:
            if not bind.read_only and not bind.source.is_file():
                bind.source.mkdir(parents=True, exist_ok=True)
        self.fs.root.mkdir(parents=True, exist_ok=True)
        (self.pod_dir / "out").mkdir(exist_ok=True)
        if "script" in self.req.template:
            script = self.fs.root / SCRIPT_PATH.lstrip("/")
            script.parent.mkdir(parents=True, exist_ok=True)
            script.write_text(self.req.template["script"].get("source", ""), encoding="utf-8")
            script.chmod(0o755)  # Argo's executor writes it executable

    def command(self) -> list[str]:
        """``unshare`` around the sandbox, which reads the pod's spec from a file."""
        self._give_to_user()
        spec_path = self.pod_dir / "sandbox.json"
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(self._sandbox_spec(), f)
        # the pod dies with the engine (setpriv --pdeathsig), and everything in it with the
        # pod (a PID namespace whose first process ends kills the rest)
        wrapper = ["unshare", "--mount", "--pid", "--fork", "--kill-child",
                   "--propagation", "private"]
        if shutil.which("setpriv"):
            wrapper = ["setpriv", "--pdeathsig", "KILL", *wrapper]
        if os.geteuid() != 0:
            wrapper.append("--map-root-user")
        return [*wrapper, sys.executable, "-m", "nbflow.engine.sandbox", str(spec_path)]

    def _sandbox_spec(self) -> dict[str, Any]:
        script = "script" in self.req.template
        containers = []
        for spec in self.specs:
            c = spec["container"]
            containers.append({
                "name": spec["name"],
                "role": spec["role"],
                "argv": self._argv(c, script and spec["role"] == "main"),
                "env": self._env(c),
                "cwd": c.get("workingDir") or "/",
                "dependencies": spec["dependencies"],
                "stdout": str(self._stdout(spec["name"])),
                "stderr": str(self.log_path),
            })
        return {
            "root": str(self.fs.root),
            "host": self.fs.host,
            "hidden": self.host.hidden,
            "binds": [{"source": str(b.source), "target": b.target, "read_only": b.read_only,
                       "shadow": b.shadow} for b in self.fs.binds],
            "uid": self.host.uid,
            "gid": self.host.gid,
            "status": str(self.pod_dir / "status.json"),
            "containers": containers,
        }

    def _stdout(self, name: str) -> Path:
        return self.pod_dir / "out" / f"{name}.stdout"

    def _give_to_user(self) -> None:
        """The step's user owns the pod's writable folders (and the claims it mounts)."""
        if self.host.uid is None:
            return
        uid, gid = self.host.uid, self.host.gid if self.host.gid is not None else self.host.uid
        roots = [self.fs.root, *(b.source for b in self.fs.binds if not b.read_only)]
        for root in roots:
            if not root.exists() or root == Path("/"):
                continue
            os.chown(root, uid, gid)
            for folder, dirs, files in os.walk(root):
                for name in dirs + files:
                    os.chown(os.path.join(folder, name), uid, gid, follow_symlinks=False)

    def tick(self) -> None:
        """A daemon reports, once, that it is ready (its readiness probe passes)."""
        if self.on_ready is None:
            return
        main: dict[str, Any] = next(
            (s["container"] for s in self.specs if s["role"] == "main"), {}
        )
        if ready(main.get("readinessProbe"), time.monotonic() - self.started):
            self.on_ready(POD_IP)
            self.on_ready = None

    def end_of(self, code: int) -> StepEnd:
        """What the pod's exit ``code`` means, with the sandbox's reason when it has one."""
        status = self._status()
        if "error" in status:
            return StepEnd.of_command(125 if code == 0 else code, str(status["error"]))
        message = None
        for name, c in (status.get("containers") or {}).items():
            if c.get("init") and c.get("exitCode"):
                message = f"init container {name} failed: Error (exit code {c['exitCode']})"
            elif c.get("message") and c.get("exitCode"):
                message = f"{name}: {c['message']}"
        return StepEnd.of_command(code, message or self._termination_message())

    def _status(self) -> dict[str, Any]:
        path = self.pod_dir / "status.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    # ------------------------------------------------------------------ outputs

    def _collect_outputs(self) -> dict[str, Any]:
        self._check_outputs_are_the_pods()
        out = super()._collect_outputs()
        main = "main"  # a containerSet's result is its "main" container's (docs/container-set)
        with open(self.log_path, "ab") as log:
            for spec in self.specs:
                path = self._stdout(spec["name"])
                if path.is_file():
                    data = path.read_bytes()[-RESULT_LIMIT:]
                    log.write(data)
                    if spec["name"] == main and spec["role"] == "main":
                        text = data.decode("utf-8", errors="replace")
                        out["result"] = text[:-1] if text.endswith("\n") else text
        containers = (self._status().get("containers") or {})
        if "containerSet" in self.req.template and containers:
            out["nbflowContainers"] = containers
        return out

    def _check_outputs_are_the_pods(self) -> None:
        """Refuse an output that is (or holds) a link to a file outside the pod's folders."""
        for path, _ in declared_paths({}, self.req.template.get("outputs") or {}):
            local = self.local(path)
            if not os.path.lexists(local):
                continue
            found = [local]
            if local.is_dir() and not local.is_symlink():
                found += [Path(d, n) for d, ds, fs in os.walk(local) for n in ds + fs]
            for item in found:
                if not self.fs.inside(item):
                    raise NbflowError(f"output {path}: {item.name} links outside the pod's files")
