"""Hand-written container and script templates run on this machine (``--host-exec``).

The image is ignored: the command runs on the host, in a private mount namespace where ``/tmp``,
the pod's volumes and the folders of its artifact and parameter paths are folders of the pod's
own, so parallel steps never collide. Stdout becomes ``outputs.result``.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from ..errors import NbflowError
from ..outcome import StepEnd
from .worker import LocalPod

__all__ = ["HostPod", "host_exec_available"]

RESULT_LIMIT = 256 * 1024  # Argo keeps only the last 256 kB of stdout as outputs.result


def host_exec_available() -> str | None:
    """Why host execution cannot work here (``None`` when it can)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "--host-exec needs the unshare and mount programs (Debian package util-linux)"
    return None


class HostPod(LocalPod):
    """A pod whose command runs on the host in its own mount namespace."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.capture_stdout = True
        self.binds: dict[str, Path] = {"/tmp": self.pod_dir / "tmp"}
        for mount, folder in self.mounts.items():
            self.binds[mount] = folder
        for path in self._declared_paths():
            if not self._covered(path):
                parent = os.path.dirname(path.rstrip("/")) or "/"
                if parent == "/" or not os.path.isdir(parent):
                    raise NbflowError(
                        f"path {path}: the local engine maps only /tmp, the pod's volumes and "
                        "existing folders; put the file under /tmp"
                    )
                self.binds[parent] = self.pod_dir / "fs" / parent.lstrip("/")

    def end_of(self, code: int) -> StepEnd:
        """What the command's exit ``code`` means: any non-zero code is a failure."""
        return StepEnd.of_command(code, self._termination_message())

    def _declared_paths(self) -> list[str]:
        tmpl = self.req.template
        paths = [a["path"] for a in self.req.inputs.get("artifacts") or [] if a.get("path")]
        outputs = tmpl.get("outputs") or {}
        paths += [a["path"] for a in outputs.get("artifacts") or [] if a.get("path")]
        paths += [
            p["valueFrom"]["path"]
            for p in outputs.get("parameters") or []
            if (p.get("valueFrom") or {}).get("path")
        ]
        return paths

    def _covered(self, path: str) -> bool:
        return any(path == m or path.startswith(m.rstrip("/") + "/") for m in self.binds)

    def local(self, path: str) -> Path:
        """Where ``path`` of the pod's view lives on this machine."""
        for mount in sorted(self.binds, key=len, reverse=True):
            if path == mount or path.startswith(mount.rstrip("/") + "/"):
                return self.binds[mount] / path[len(mount) :].lstrip("/")
        raise NbflowError(f"path {path} is outside the folders the local engine maps")

    def command(self) -> list[str]:
        for folder in self.binds.values():
            folder.mkdir(parents=True, exist_ok=True)
        tmpl = self.req.template
        spec = tmpl.get("container") or tmpl.get("script") or {}
        command = list(spec.get("command") or [])
        args = list(spec.get("args") or [])
        if "script" in tmpl:
            script = self.binds["/tmp"] / ".nbflow-script"
            script.write_text(tmpl["script"].get("source", ""), encoding="utf-8")
            args = [*args, "/tmp/.nbflow-script"]
        if not command and not args:
            raise NbflowError(
                f"template {tmpl['name']!r} has no command: its image's entrypoint "
                "cannot run on the host"
            )
        wrapper = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:
            wrapper.append("--map-root-user")
        ordered = sorted(self.binds.items(), key=lambda kv: len(kv[0]))  # parents first
        binds = [x for mount, folder in ordered for x in ("--bind", str(folder), mount)]
        cwd = ["--cwd", spec.get("workingDir") or "/tmp"]  # the workdir may be hidden by the binds
        return [
            *wrapper,
            sys.executable,
            "-m",
            "nbflow.engine.sandbox",
            *binds,
            *cwd,
            "--",
            *command,
            *args,
        ]

    def _collect_outputs(self) -> dict[str, Any]:
        out = super()._collect_outputs()
        stdout = self.pod_dir / "stdout"
        if stdout.is_file():
            data = stdout.read_bytes()[-RESULT_LIMIT:]
            with open(self.log_path, "ab") as log:
                log.write(data)
            text = data.decode("utf-8", errors="replace")
            out["result"] = text[:-1] if text.endswith("\n") else text
        return out
