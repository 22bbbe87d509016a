"""Inside private mount and PID namespaces: build the pod's root, drop privileges, run its
containers.

Run as ``unshare --mount --pid --fork --propagation private python -m nbflow.engine.sandbox
SPEC.json``. The spec (written by :mod:`.host`, read then deleted: it may hold secret values)
says which folders to bind where, who to run as, and the containers: init containers one after
the other, then sidecars in the background, then the main containers (several for a
``containerSet``, each once the containers it depends on have succeeded). This process is PID 1
of its namespace: when it exits, the kernel ends every process left in it, so nothing a step
started (in the background, in another session) outlives the step. Nothing goes through a
shell: every command is an argument list.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from typing import Any

from .._linux import MS_BIND, MS_NODEV, MS_NOSUID, MS_RDONLY, MS_REC, MS_REMOUNT, mount

EMPTY = ("mnt", "media")
SIDECAR_GRACE_S = 2.0  # how long sidecars get to exit after SIGTERM once the main ones are done


class SandboxError(Exception):
    """The pod's file system cannot be set up as asked."""


# ------------------------------------------------------------------ the pod's root


def _remount_read_only(target: str) -> None:
    flags = MS_REMOUNT | MS_BIND | MS_RDONLY
    st = os.statvfs(target)  # keep the flags a user namespace locks (nosuid, nodev)
    flags |= (MS_NOSUID if st.f_flag & os.ST_NOSUID else 0) | (
        MS_NODEV if st.f_flag & os.ST_NODEV else 0
    )
    mount("none", target, None, flags)


def _bind(source: str, target: str, read_only: bool) -> None:
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        _remount_read_only(target)


def _inside(root: str, path: str) -> str:
    """``root`` + pod ``path``, refusing one that symbolic links lead out of ``root``."""
    full = root + path
    real = os.path.realpath(full)
    if real != root and not real.startswith(root + "/"):
        raise SandboxError(f"{path} leads out of the pod's root")
    return full


CREATED: list[str] = []  # folders made in the pod's root: given to the step's user


def _make(root: str, path: str, is_file: bool) -> str:
    """Create mount point ``path`` in the pod's root (its parents too)."""
    full = _inside(root, path)
    if os.path.lexists(full):
        return full
    try:
        parent = os.path.dirname(full)
        missing = []
        while not os.path.lexists(parent):
            missing.append(parent)
            parent = os.path.dirname(parent)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        CREATED.extend(missing)
        if is_file:
            open(full, "a").close()
        else:
            os.mkdir(full)
            CREATED.append(full)
    except OSError as exc:
        raise SandboxError(f"cannot create {path} in the pod: {exc.strerror}") from None
    return full


def _share_host(root: str, host: dict[str, str]) -> None:
    """The host's system folders, read-only; fresh /proc; the host's /dev and /sys."""
    for name, kind in sorted(host.items()):
        full = f"{root}/{name}"
        if kind == "link":
            if not os.path.lexists(full):
                os.symlink(os.readlink(f"/{name}"), full)
            continue
        _make(root, f"/{name}", kind == "file")
        _bind(f"/{name}", full, read_only=True)
    _make(root, "/dev", False)
    mount("/dev", f"{root}/dev", None, MS_BIND | MS_REC)
    _make(root, "/sys", False)
    _bind("/sys", f"{root}/sys", read_only=True)
    _make(root, "/proc", False)
    mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV)
    for name in EMPTY:  # folders an image has, empty, where the host keeps its own things
        _make(root, f"/{name}", False)


def _shadow(root: str, bind: dict[str, Any], fd: int) -> None:
    """A private copy of host folder ``bind['target']``: its entries are bound into the pod's
    folder, which then takes the folder's place (new files there are the pod's)."""
    target = _inside(root, bind["target"])
    source = f"/proc/self/fd/{fd}"
    for entry in os.scandir(target):
        inner = os.path.join(source, entry.name)
        if os.path.lexists(inner):
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry.path), inner)
        elif entry.is_dir():
            os.mkdir(inner)
            _bind(entry.path, inner, read_only=True)
        else:
            open(inner, "a").close()
            _bind(entry.path, inner, read_only=True)
    _bind(source, target, read_only=False)


def build_root(spec: dict[str, Any]) -> None:
    """Set up the pod's root folder; every source is opened before anything is mounted, so
    that no mount can hide another's source (e.g. a home under /tmp)."""
    root = os.path.realpath(spec["root"])
    binds = sorted(spec["binds"], key=lambda b: b["target"].count("/"))
    fds = [os.open(b["source"], os.O_PATH | os.O_CLOEXEC) for b in binds]
    mount(root, root, None, MS_BIND | MS_REC)
    _share_host(root, spec["host"])
    for hidden in spec.get("hidden") or []:
        full = root + hidden
        if os.path.isdir(full):
            mount("tmpfs", full, "tmpfs", MS_NOSUID | MS_NODEV)
            _remount_read_only(full)
    for bind, fd in zip(binds, fds):
        if bind.get("shadow"):
            _shadow(root, bind, fd)
            continue
        is_file = not os.path.isdir(f"/proc/self/fd/{fd}")
        target = _make(root, bind["target"], is_file)
        _bind(f"/proc/self/fd/{fd}", target, bind.get("read_only", False))
    for fd in fds:
        os.close(fd)
    if spec.get("uid") is not None:  # the pod's own folders are its user's, as in an image
        for folder in CREATED:
            with contextlib.suppress(OSError):
                os.chown(folder, spec["uid"], spec.get("gid") or spec["uid"])
    os.chroot(root)
    os.chdir("/")


def drop_privileges(uid: int | None, gid: int | None) -> None:
    """Run as ``uid``/``gid`` from now on, unable to gain privileges again. The only capability
    kept is binding ports below 1024 (a server image's root binds port 80)."""
    from .._linux import (
        CAP_NET_BIND_SERVICE,
        ambient_capability,
        keep_capabilities,
        no_new_privileges,
    )

    if gid is not None:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
    if uid is not None:
        keep_capabilities()
        os.setresuid(uid, uid, uid)
        with contextlib.suppress(OSError):
            ambient_capability(CAP_NET_BIND_SERVICE)
    no_new_privileges()


# ------------------------------------------------------------------ containers


class Containers:
    """Runs the pod's containers; this process reaps every process of the namespace."""

    def __init__(self, containers: list[dict[str, Any]], files: dict[str, tuple[int, int]]):
        self.specs = containers
        self.files = files  # container name -> (stdout fd, stderr fd), opened before chroot
        self.status: dict[str, dict[str, Any]] = {}
        self.procs: dict[int, str] = {}  # pid -> container name

    def start(self, spec: dict[str, Any]) -> int | None:
        """Fork and exec a container's command (``os.fork``: this process alone reaps it)."""
        cwd = spec.get("cwd") or "/"
        with contextlib.suppress(OSError):
            os.makedirs(cwd, exist_ok=True)
        out, err = self.files[spec["name"]]
        argv = spec["argv"]
        env = spec.get("env") or {}
        if "/" not in argv[0] and shutil.which(argv[0], path=env.get("PATH")) is None:
            message = "executable file not found in $PATH"  # what a container runtime says
            os.write(err, f"{argv[0]}: {message}\n".encode())
            self.status[spec["name"]] = {"exitCode": 127, "message": f"{message}: {argv[0]}"}
            return None
        report_r, report_w = os.pipe2(os.O_CLOEXEC)
        pid = os.fork()
        if pid == 0:  # the container's process
            try:
                os.close(report_r)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(out, 1)
                os.dup2(err, 2)
                os.chdir(cwd)
                os.execvpe(argv[0], argv, env)
            except OSError as exc:
                os.write(report_w, (exc.strerror or str(exc)).encode())
            finally:
                os._exit(127)
        os.close(report_w)
        failure = os.read(report_r, 4096).decode(errors="replace")  # empty once exec succeeded
        os.close(report_r)
        if failure:
            os.waitpid(pid, 0)
            os.write(err, f"{argv[0]}: {failure}\n".encode())
            self.status[spec["name"]] = {"exitCode": 127, "message": f"{failure}: {argv[0]}"}
            return None
        self.procs[pid] = spec["name"]
        self.status[spec["name"]] = {"running": True}
        return pid

    def wait_any(self) -> str:
        """Reap processes until one of the containers ends; return its name."""
        while True:
            pid, status = os.waitpid(-1, 0)
            name = self.procs.pop(pid, None)
            if name is None:
                continue  # an orphan of the namespace
            code = os.waitstatus_to_exitcode(status)
            self.status[name] = {"exitCode": code if code >= 0 else 128 - code}
            if code < 0:
                self.status[name]["message"] = f"killed by {signal.Signals(-code).name}"
            return name

    def code(self, name: str) -> int:
        return int(self.status.get(name, {}).get("exitCode", 0))

    def run(self) -> int:
        """Init containers, sidecars, main containers; the exit code of the pod."""
        by_role: dict[str, list[dict[str, Any]]] = {"init": [], "sidecar": [], "main": []}
        for spec in self.specs:
            by_role[spec.get("role", "main")].append(spec)
        for spec in by_role["init"]:
            if self.start(spec) is not None:
                self._wait_for(spec["name"])
            if self.code(spec["name"]):
                self.status[spec["name"]]["init"] = True
                return self.code(spec["name"])
        sidecars = [s["name"] for s in by_role["sidecar"] if self.start(s) is not None]
        code = self._run_main(by_role["main"])
        self._stop(sidecars)
        return code

    def _wait_for(self, name: str) -> None:
        while self.status.get(name, {}).get("running"):
            self.wait_any()

    def _run_main(self, mains: list[dict[str, Any]]) -> int:
        pending = list(mains)
        first_failure = 0
        while pending or any(n in self.procs.values() for n in (m["name"] for m in mains)):
            for spec in list(pending):
                deps = spec.get("dependencies") or []
                if any(self.status.get(d, {}).get("running") or d not in self.status
                       for d in deps):
                    continue
                pending.remove(spec)
                if any(self.code(d) for d in deps):
                    self.status[spec["name"]] = {"skipped": True}
                    continue
                if self.start(spec) is None and not first_failure:  # it could not start
                    first_failure = self.code(spec["name"])
            if any(n in self.procs.values() for n in (m["name"] for m in mains)):
                done = self.wait_any()
                if self.code(done) and not first_failure:
                    first_failure = self.code(done)
            elif pending and not any(n in self.procs.values() for n in (m["name"] for m in mains)):
                for spec in pending:  # what is left waits on something that never ran
                    self.status[spec["name"]] = {"skipped": True}
                pending = []
        return first_failure

    def _stop(self, names: list[str]) -> None:
        live = [pid for pid, name in self.procs.items() if name in names]
        for pid in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + SIDECAR_GRACE_S
        while any(pid in self.procs for pid in live) and time.monotonic() < deadline:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                time.sleep(0.05)
                continue
            name = self.procs.pop(pid, None)
            if name is not None:
                self.status[name] = {"exitCode": 0, "sidecar": True}


def main(argv: list[str] | None = None) -> int:
    """Read the spec, set up the pod, run its containers; exit with the pod's exit code."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m nbflow.engine.sandbox SPEC.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as f:
        spec = json.load(f)
    os.unlink(args[0])
    status_fd = os.open(spec["status"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    files = {}
    for c in spec["containers"]:
        out = os.open(c["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        err = os.open(c["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        files[c["name"]] = (out, err)
    try:
        build_root(spec)
        drop_privileges(spec.get("uid"), spec.get("gid"))
    except (SandboxError, OSError) as exc:
        os.write(status_fd, json.dumps({"error": str(exc)}).encode())
        return 125
    pod = Containers(spec["containers"], files)
    code = pod.run()
    os.write(status_fd, json.dumps({"containers": pod.status}).encode())
    return code


if __name__ == "__main__":
    sys.exit(main())
