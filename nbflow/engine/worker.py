"""Run one pod of a manifest on this machine: stage artifacts, start the runner, collect outputs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..argo.container import runs_nbflow
from ..artifacts import ArtifactNotFound, ArtifactStore
from ..digest import digest_path, verify_input
from ..errors import DiskFull, NbflowError
from ..outcome import EXIT_CODES, End, StepEnd
from ..vocab import (
    DIGESTS,
    EXECUTED_NOTEBOOK,
    EXPECT_FILE,
    RUNNER_MODULE,
    STEP_DIR,
    TERMINATION_LOG_ENV,
    Phase,
)
from .pod import PodRequest, PodResult

__all__ = ["LocalPod"]

CANCELLED = "Stopped"  # the message of a pod killed on request (the engine names the strategy)
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


def missing_input(name: str, key: str, url: str) -> str:
    """Why input artifact ``name`` is missing, naming the task that should have stored it.

    Keys are laid out as ``<workflow>/<run>/<task>[/<item>]/<name>/``; a key of three parts is
    the fan-in of a mapped task (every item's outputs).
    """
    parts = key.strip("/").split("/")
    if len(parts) == 3:
        return (
            f"input artifact {name!r} not found at {url}: no item of the mapped task "
            f"{parts[2]!r} (run {parts[1]}) stored it"
        )
    if len(parts) >= 4:
        return (
            f"input artifact {name!r} not found at {url}: its producer, task {parts[2]!r} "
            f"(run {parts[1]}), did not store it"
        )
    return f"input artifact {name!r} not found at {url}"


class LocalPod:
    """One pod, run as a ``python -m nbflow.runner`` process with the pod's volumes as folders.

    Parameters
    ----------
    request : PodRequest
        What the operator asked for.
    store : ArtifactStore
        Where artifacts live.
    pod_dir : Path
        Scratch folder of this pod (removed afterwards).
    log_path : Path
        The pod's log (stdout and stderr), appended to.
    workdir : Path
        Working directory of the step.
    pid_file : Path, optional
        Where the step's process group id is kept while it runs, so that a resumed run can
        kill steps a crashed engine left behind.
    server : ForkServer, optional
        The fast engine's fork server, to run the step in (default: a runner process).
    discard : callable, optional
        Takes the pod's folder away once the pod is done (default: deletes it at once; the
        engine passes :meth:`.trash.Trash.discard`).
    """

    def __init__(
        self,
        request: PodRequest,
        store: ArtifactStore,
        pod_dir: Path,
        log_path: Path,
        workdir: Path,
        pid_file: Path | None = None,
        server: Any = None,
        discard: Callable[[Path], None] | None = None,
    ) -> None:
        self.req = request
        self.store = store
        self.pod_dir = pod_dir
        self.log_path = log_path
        self.workdir = workdir
        container = request.template.get("container") or request.template.get("script") or {}
        self.mounts = {
            m["mountPath"].rstrip("/"): pod_dir / m["name"]
            for m in container.get("volumeMounts") or []
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid_file = pid_file
        self.server = server  # the fast engine's ForkServer, when the step runs there
        self.discard = discard or _remove  # how the pod's folder goes once it is done
        self.exit_code: int | None = None
        self.capture_stdout = False  # host steps: stdout becomes outputs.result
        self.expect: dict[str, Any] = {}  # digests its inputs must have (nbflow.digest)

    def local(self, path: str) -> Path:
        """Map a path of the pod's filesystem to this machine (volume mounts are folders)."""
        for mount in sorted(self.mounts, key=len, reverse=True):
            if path == mount or path.startswith(mount + "/"):
                return self.mounts[mount] / path[len(mount) :].lstrip("/")
        raise NbflowError(
            f"path {path} is outside the pod's volumes; the local engine cannot map it"
        )

    def _arg(self, arg: str) -> str:
        if any(arg == m or arg.startswith(m + "/") for m in self.mounts):
            return str(self.local(arg))
        return arg

    def run(self, cancel: threading.Event) -> PodResult:
        """Run the pod to its end (or until ``cancel`` is set) and describe how it ended."""
        try:
            if self.pod_dir.exists():  # left by an engine that crashed
                self.discard(self.pod_dir)
            self.pod_dir.mkdir(parents=True)
            self.prepare()
            self._stage_inputs()
        except DiskFull:
            raise  # not this pod's fault: the engine stops the run
        except NbflowError as exc:
            return PodResult(Phase.ERROR, str(exc))
        end = self._run_in_server(cancel) if self.server is not None else self._run(cancel)
        self.exit_code = end.exit_code
        try:
            outputs = self._collect_outputs()
        except DiskFull:
            raise
        except NbflowError as exc:
            if end.phase == Phase.SUCCEEDED:
                return PodResult(Phase.ERROR, str(exc))
            outputs = {"exitCode": str(end.exit_code)} if end.exit_code is not None else {}
        finally:
            self.discard(self.pod_dir)
        return PodResult(end.phase, end.message, outputs)

    def tick(self) -> None:
        """Called about every 0.2 s while the step runs (a daemon checks its readiness)."""

    def prepare(self) -> None:
        """Create the pod's folders (its volumes) before the inputs are staged."""
        for folder in self.mounts.values():
            folder.mkdir(parents=True, exist_ok=True)

    def end_of(self, code: int) -> StepEnd:
        """What the step's exit ``code`` means: the runner's codes (:mod:`nbflow.outcome`)."""
        return StepEnd.of_runner(code, self._termination_message())

    # ------------------------------------------------------------------ inputs

    def _stage_inputs(self) -> None:
        for art in self.req.inputs.get("artifacts") or []:
            target = self.local(art["path"])
            target.parent.mkdir(parents=True, exist_ok=True)
            if "raw" in art:
                target.write_text(art["raw"].get("data", ""), encoding="utf-8")
            elif (art.get("s3") or {}).get("key"):
                key = art["s3"]["key"]
                try:
                    if art.get("subPath"):
                        self._stage_part(art, key, target)
                    else:
                        self.store.download(key, target)
                except ArtifactNotFound:
                    if art.get("optional"):
                        continue
                    message = missing_input(art["name"], key, self.store.url(key))
                    raise NbflowError(message) from None
            elif not art.get("optional"):
                raise NbflowError(
                    f"input artifact {art['name']!r} has no source the local engine can read"
                )
        self._expect_inputs()

    def _stage_part(self, art: dict[str, Any], key: str, target: Path) -> None:
        """Stage a file or folder inside an artifact (``subPath``). When its producer recorded
        the artifact's digest, the whole is downloaded and checked first, then the part kept."""
        part = os.path.normpath(art["subPath"]).lstrip("/")
        expect = self.expect.pop(art["name"], None)
        if expect is None:
            self.store.download(key.rstrip("/") + "/" + part, target)
            return
        whole = self.local(STEP_DIR) / "whole" / art["name"]
        self.store.download(key, whole)
        verify_input(whole, art["name"], expect)
        source = whole / part
        if not source.exists():
            raise ArtifactNotFound(key.rstrip("/") + "/" + part)
        shutil.move(str(source), str(target))
        shutil.rmtree(whole, ignore_errors=True)

    def _expect_inputs(self) -> None:
        """Hand the step its inputs' recorded digests: ``nbflow.runner`` checks them before it
        runs anything; for any other command the engine checks them here."""
        if runs_nbflow(self.req.template):
            path = self.local(STEP_DIR) / EXPECT_FILE
            path.write_text(json.dumps(self.expect), encoding="utf-8")
            return
        paths = {a["name"]: a["path"] for a in self.req.inputs.get("artifacts") or []}
        for name, expect in self.expect.items():
            if name in paths and self.local(paths[name]).exists():
                verify_input(self.local(paths[name]), name, expect)

    # ------------------------------------------------------------------ process

    def command(self) -> list[str]:
        """The process to start: ``python -m nbflow.runner`` with the pod's arguments mapped."""
        return [sys.executable, "-m", RUNNER_MODULE, *self.runner_args()]

    def runner_args(self) -> list[str]:
        """The runner's arguments, passed through a file: parameters of any size fit in it,
        where one command-line argument may hold at most 128 KiB on Linux."""
        container = self.req.template["container"]
        path = self.pod_dir / "args.json"
        path.write_text(json.dumps([self._arg(a) for a in container.get("args") or []]))
        return ["--args-file", str(path)]

    def environment(self) -> dict[str, str]:
        """This machine's environment plus the container's ``env``."""
        env = dict(os.environ)
        container = self.req.template.get("container") or self.req.template.get("script") or {}
        env.update({e["name"]: str(e.get("value", "")) for e in container.get("env") or []})
        env[TERMINATION_LOG_ENV] = str(self.pod_dir / "termination-log")
        return env

    def _run_in_server(self, cancel: threading.Event) -> StepEnd:
        """Run the step in the fast engine's fork server."""
        from .fast import DEADLINE, STOPPED, StepRequest

        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        request = StepRequest(
            args=self.runner_args(),
            env=self.environment(),
            cwd=str(self.workdir),
            log_path=str(self.log_path),
            deadline_s=self.req.deadline_s,
        )
        end = self.server.run(request, cancel)
        if end.reason == STOPPED:
            return StepEnd(End.STOPPED, message=CANCELLED)
        if end.reason == DEADLINE:
            return StepEnd(End.DEADLINE, message=DEADLINE_MESSAGE)
        if end.message is not None:  # the step's process died (a signal) or the server did
            return StepEnd(End.KERNEL_DIED, EXIT_CODES[End.KERNEL_DIED], end.message)
        assert end.code is not None
        return self.end_of(end.code)

    def _run(self, cancel: threading.Event) -> StepEnd:
        """Run the step's process (the runner, or a host command) until it ends."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log, open(self.pod_dir / "stdout", "wb") as out:
            self.proc = subprocess.Popen(
                self.command(),
                stdout=out if self.capture_stdout else log,
                stderr=log if self.capture_stdout else subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                env=self.environment(),
                start_new_session=True,
            )
        if self.pid_file is not None:
            self.pid_file.parent.mkdir(parents=True, exist_ok=True)
            self.pid_file.write_text(str(self.proc.pid))
        try:
            return self._wait(cancel)
        finally:
            if self.pid_file is not None:
                self.pid_file.unlink(missing_ok=True)

    def _wait(self, cancel: threading.Event) -> StepEnd:
        assert self.proc is not None
        deadline = None if self.req.deadline_s is None else time.monotonic() + self.req.deadline_s
        while True:
            try:
                return self.end_of(self.proc.wait(timeout=0.2))
            except subprocess.TimeoutExpired:
                pass
            self.tick()
            if cancel.is_set():
                self._kill()
                return StepEnd(End.STOPPED, message=CANCELLED)
            if deadline is not None and time.monotonic() >= deadline:
                self._kill()
                return StepEnd(End.DEADLINE, message=DEADLINE_MESSAGE)

    def _kill(self) -> None:
        """Kill the step's process and everything it started (whatever their session)."""
        from .._linux import kill_tree

        assert self.proc is not None
        kill_tree(self.proc.pid)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def _termination_message(self) -> str | None:
        path = self.pod_dir / "termination-log"
        if path.is_file():
            return path.read_text(encoding="utf-8").strip() or None
        return None

    # ------------------------------------------------------------------ outputs

    def _collect_outputs(self) -> dict[str, Any]:
        spec = self.req.template.get("outputs") or {}
        params = []
        for p in spec.get("parameters") or []:
            src = p.get("valueFrom") or {}
            if "path" not in src:
                continue
            local = self.local(src["path"])
            if local.is_file():
                text = local.read_text(encoding="utf-8")
                params.append(
                    {"name": p["name"], "value": text[:-1] if text.endswith("\n") else text}
                )
            elif "default" in src:
                params.append({"name": p["name"], "value": src["default"]})
        arts = []
        digests: dict[str, str] = {}
        # the runner digests what it wrote (an nbflow-digests output); other commands: here
        reported = any(p["name"] == DIGESTS for p in spec.get("parameters") or [])
        for a in spec.get("artifacts") or []:
            local = self.local(a["path"])
            if not local.exists():
                continue  # a missing optional artifact; required ones are checked by the caller
            key = (a.get("s3") or {}).get("key") or f"{self.req.node_id}/{a['name']}"
            if local.is_dir() and not key.endswith("/"):
                key += "/"
            self.store.upload(local, key)
            arts.append({"name": a["name"], "path": a["path"], "s3": {"key": key}})
            if a["name"] != EXECUTED_NOTEBOOK and not reported:
                digests[a["name"]] = digest_path(local)
        missing = [
            a["name"]
            for a in spec.get("artifacts") or []
            if not a.get("optional") and a["name"] not in {x["name"] for x in arts}
        ]
        out: dict[str, Any] = {}
        if self.exit_code is not None:
            out["exitCode"] = str(self.exit_code)
        if digests:
            params.append({"name": DIGESTS, "value": json.dumps(digests, sort_keys=True)})
        if params:
            out["parameters"] = params
        if arts:
            out["artifacts"] = arts
        if missing:
            raise NbflowError(f"output artifact {missing[0]!r} was not produced")
        return out


def _remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def kill_leftover_pods(pids_dir: Path) -> list[int]:
    """Kill the steps (runner and kernel) a crashed engine left running; return their pids."""
    killed = []
    for pid_file in sorted(pids_dir.glob("*")) if pids_dir.is_dir() else []:
        try:
            pid = int(pid_file.read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            cmdline = b""
        if b"nbflow.runner" in cmdline or b"nbflow.engine.sandbox" in cmdline:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
                killed.append(pid)
        pid_file.unlink(missing_ok=True)
    return killed
