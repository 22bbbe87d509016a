"""The runner image's Dockerfile agrees with the pods nbflow generates (no Docker here)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from nbflow.cluster.options import TMP_VOLUME, ClusterConfig, PodOptions, apply_pod_options

ROOT = Path(__file__).parents[2]
DOCKERFILE = ROOT / "nbflow" / "cluster" / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    out: list[tuple[str, str]] = []
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_runs_as_the_non_root_user_the_pods_ask_for() -> None:
    steps = instructions()
    users = [args for word, args in steps if word == "USER"]
    assert users == ["1000:1000"]
    assert int(users[0].split(":")[0]) == ClusterConfig().run_as_user != 0
    after_user = [word for word, _ in steps[[w for w, _ in steps].index("USER"):]]
    assert "RUN" not in after_user and "COPY" not in after_user  # installs happen as root


def test_writable_places_are_under_the_tmp_mount() -> None:
    env = " ".join(args for word, args in instructions() if word == "ENV")
    pairs = dict(item.split("=", 1) for item in shlex.split(env))
    for key in ("HOME", "JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):
        assert pairs[key].startswith("/tmp"), key
    assert pairs["PYTHONDONTWRITEBYTECODE"] == "1"  # the root filesystem is read-only
    manifest = {"kind": "Workflow", "spec": {"templates": [
        {"name": "t", "container": {"image": "x"}}]}}
    container = apply_pod_options(manifest, PodOptions())["spec"]["templates"][0]["container"]
    assert {"name": TMP_VOLUME, "mountPath": "/tmp"} in container["volumeMounts"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_copied_files_exist_in_the_build_context() -> None:
    steps = instructions()
    args = dict(a.split("=", 1) for w, a in steps if w == "ARG" and "=" in a)
    for word, rest in steps:
        if word != "COPY":
            continue
        *sources, _ = rest.split()
        for src in sources:
            src = args.get(src.strip("${}"), src) if src.startswith("$") else src
            assert (ROOT / src).exists(), src
    requirements = (ROOT / args["REQUIREMENTS"]).read_text().splitlines()
    assert all(not line.strip() or line.startswith("#") for line in requirements)


def test_the_command_argo_runs_exists() -> None:
    (cmd,) = [args for word, args in instructions() if word == "CMD"]
    assert "nbflow.runner" in cmd
    assert "ENTRYPOINT" not in [w for w, _ in instructions()]  # Argo's command is the program
    out = subprocess.run([sys.executable, "-m", "nbflow.runner", "--help"], capture_output=True,
                         text=True, check=True)
    assert "--template" in out.stdout and "--dir" in out.stdout
