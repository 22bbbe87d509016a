"""The container template of one nbflow template: a papermill step run by ``nbflow.runner``."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..model import Template
from ..model.values import format_duration, k8s_name
from ..vocab import (
    ATTEMPT_ENV,
    CACHE_ANNOTATION,
    CODE_ANNOTATION,
    EXECUTED_NOTEBOOK,
    RUNNER_MODULE,
    STEP_DIR,
    STEP_KEY,
    STEP_NOTEBOOK,
)
from .literal import encode_value

__all__ = ["container_template", "runs_nbflow"]


def container_template(
    template: Template, setup: Sequence[str], *, image: str, base_dir: Path | None
) -> dict[str, Any]:
    """Return the Argo container template that runs ``template`` as a papermill step.

    The step notebook travels inlined as a ``raw`` input artifact; parameters are container
    arguments (never a shell line); inputs and outputs are key-only S3 artifacts under the
    key the DAG task passes in ``nbflow-key``.
    """
    from ..notebook.step import build_step_notebook

    notebook = build_step_notebook(template, setup, base_dir=base_dir)
    key = f"{{{{inputs.parameters.{STEP_KEY}}}}}"
    params: list[dict[str, Any]] = [{"name": STEP_KEY}]
    params += [
        {"name": n, "default": encode_value(v)} for n, v in sorted(template.parameters.items())
    ]
    data = json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False)
    if "{{" in data:
        # Argo substitutes {{...}} everywhere in a template, raw artifact data included: ship
        # user code that contains braces as base64 (the runner decodes it).
        data = base64.b64encode(data.encode("utf-8")).decode("ascii")
    in_artifacts: list[dict[str, Any]] = [
        {"name": STEP_NOTEBOOK, "path": f"{STEP_DIR}/step.ipynb", "raw": {"data": data}},
    ]
    in_artifacts += [{"name": n, "path": f"{STEP_DIR}/inputs/{n}"} for n in template.inputs]
    out_artifacts = [_output(n, f"{STEP_DIR}/outputs/{n}", f"{key}/{n}/") for n in template.outputs]
    notebook_key = f"{key}/notebook.ipynb"
    if template.retry is not None:
        notebook_key = (
            f"{key}/attempt-{{{{retries}}}}/notebook.ipynb"  # keep every attempt's notebook
        )
    out_artifacts.append(_output(EXECUTED_NOTEBOOK, f"{STEP_DIR}/notebook.ipynb", notebook_key))
    args = ["--dir", STEP_DIR, "--template", template.name]
    for n in sorted(template.parameters):
        args += ["-p", n, f"{{{{inputs.parameters.{n}}}}}"]
    container: dict[str, Any] = {
        "image": template.image or image,
        "command": ["python", "-m", RUNNER_MODULE],
        "args": args,
        "volumeMounts": [{"name": "nbflow", "mountPath": STEP_DIR}],
    }
    if template.retry is not None:
        container["env"] = [{"name": ATTEMPT_ENV, "value": "{{retries}}"}]
    resources = _resources(template)
    if resources:
        container["resources"] = resources
    out: dict[str, Any] = {
        "name": k8s_name(template.name),
        "inputs": {"parameters": params, "artifacts": in_artifacts},
        "outputs": {"artifacts": out_artifacts},
        "container": container,
    }
    if template.outputs:
        out["outputs"]["parameters"] = [
            {"name": n, "valueFrom": {"path": f"{STEP_DIR}/parameters/{n}", "default": ""}}
            for n in template.outputs
        ]
    if template.retry is not None:
        out["retryStrategy"] = _retry(template)
    if template.timeout_s is not None:
        out["activeDeadlineSeconds"] = str(int(template.timeout_s))
    code = hashlib.sha256(f"{container['image']}\n{data}".encode()).hexdigest()
    annotations = {CODE_ANNOTATION: code}
    if not template.cache:
        annotations[CACHE_ANNOTATION] = "false"
    out["metadata"] = {"annotations": annotations}
    return out


def runs_nbflow(template: dict[str, Any]) -> bool:
    """Whether ``template`` is an nbflow step (its container runs ``python -m nbflow.runner``)."""
    cmd = list((template.get("container") or {}).get("command") or [])
    return (
        len(cmd) == 3
        and Path(cmd[0]).name.startswith("python")
        and cmd[1:] == ["-m", RUNNER_MODULE]
    )


def _output(name: str, path: str, key: str) -> dict[str, Any]:
    # optional: a failed step has no outputs, and must still keep its executed notebook.
    return {
        "name": name,
        "path": path,
        "optional": True,
        "archive": {"none": {}},
        "s3": {"key": key},
    }


def _resources(template: Template) -> dict[str, Any]:
    requests = {
        k: v
        for k, v in (("cpu", template.resources.cpu), ("memory", template.resources.memory))
        if v
    }
    if not requests:
        return {}
    limits = {"memory": requests["memory"]} if "memory" in requests else {}
    return {"requests": requests, **({"limits": limits} if limits else {})}


def _retry(template: Template) -> dict[str, Any]:
    retry = template.retry
    assert retry is not None
    out: dict[str, Any] = {"limit": str(retry.limit), "retryPolicy": retry.policy}
    if retry.backoff_s is not None:
        backoff: dict[str, Any] = {"duration": format_duration(retry.backoff_s)}
        if retry.factor is not None:
            backoff["factor"] = str(retry.factor)
        if retry.max_backoff_s is not None:
            backoff["cap"] = format_duration(retry.max_backoff_s)
        out["backoff"] = backoff
    return out
