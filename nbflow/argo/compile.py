"""Compile a pipeline model into an Argo ``Workflow`` manifest (a plain, deterministic dict).

:func:`to_manifest` is the one compile pipeline: :func:`translate` (templates, the DAG, artifact
keys), then :func:`shape_for_argo` (DAGs over Argo's 200 tasks nested, ``continueOn`` in a
``depends`` DAG rewritten to ``dependencies``). A manifest edited after translating (the cached
steps a cluster submission leaves out) goes through :func:`shape_for_argo` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SpecError
from ..model import OutputRef, Task, Workflow
from ..model.check import check, producer, resolve_inputs
from ..model.values import k8s_name
from ..vocab import API_VERSION, LABEL_WORKFLOW, STEP_KEY
from .container import container_template
from .limits import dependencies_for_continue_on
from .literal import encode_value
from .when import translate_when

ENTRYPOINT = "main"
ITEM_INDEX = "_i"

__all__ = [
    "CompileOptions",
    "to_manifest",
    "translate",
    "shape_for_argo",
    "ENTRYPOINT",
    "ITEM_INDEX",
]


@dataclass(frozen=True)
class CompileOptions:
    """Knobs of the compiler.

    Parameters
    ----------
    image : str
        Image of templates that name none.
    base_dir : Path, optional
        Folder relative ``--notebook`` paths are read from.
    """

    image: str = "python:3.11-slim"
    base_dir: Path | None = None


def to_manifest(workflow: Workflow, options: CompileOptions | None = None) -> dict[str, Any]:
    """The Argo ``Workflow`` manifest of ``workflow``, ready for the local engine or a cluster:
    :func:`translate`, then :func:`shape_for_argo`."""
    return shape_for_argo(translate(workflow, options))


def shape_for_argo(manifest: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``manifest`` that Argo's limits accept: DAGs of more than 200 tasks nested
    (:mod:`.nesting`), and DAGs that mix ``continueOn`` with ``depends`` written with
    ``dependencies``, which Argo accepts and which means the same."""
    from .nesting import nest_large_dags

    return dependencies_for_continue_on(nest_large_dags(manifest))


def translate(workflow: Workflow, options: CompileOptions | None = None) -> dict[str, Any]:
    """The manifest of ``workflow`` as one flat DAG (see :func:`to_manifest`).

    Every template becomes a container template running ``python -m nbflow.runner`` on its
    step notebook; tasks become a DAG template named ``main``; mapped tasks use
    ``withItems``; data moves as key-only S3 artifacts of the artifact repository, laid
    out as ``<workflow>/<run>/<task>[/<item>]/<name>/``.
    """
    options = options or CompileOptions()
    check(workflow)
    if k8s_name(ENTRYPOINT) in {k8s_name(t) for t in workflow.templates}:
        raise SpecError(
            f"the template name {ENTRYPOINT!r} is reserved for the DAG; rename it", workflow.where
        )
    producers = resolve_inputs(workflow)
    used = {t.template for t in workflow.tasks} | (
        {workflow.on_exit} if workflow.on_exit else set()
    )
    templates = [
        container_template(
            workflow.templates[name], workflow.setup, image=options.image, base_dir=options.base_dir
        )
        for name in sorted(used)
    ]
    spec: dict[str, Any] = {"entrypoint": ENTRYPOINT}
    wf_params = workflow_parameters(workflow)
    if wf_params:
        spec["arguments"] = {
            "parameters": [
                {"name": k, "value": encode_value(v)} for k, v in sorted(wf_params.items())
            ]
        }
    if workflow.parallelism:
        spec["parallelism"] = workflow.parallelism
    if workflow.on_exit:
        spec["onExit"] = k8s_name(workflow.on_exit) + "-exit"
        templates.append(_exit_template(workflow, wf_params))
    spec["volumes"] = [{"name": "nbflow", "emptyDir": {}}]
    dag = {"tasks": [_dag_task(workflow, task, producers, wf_params) for task in workflow.tasks]}
    spec["templates"] = [{"name": ENTRYPOINT, "dag": dag}, *templates]
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {
            "generateName": workflow.name + "-",
            "labels": {LABEL_WORKFLOW: workflow.name},
        },
        "spec": spec,
    }


def workflow_parameters(workflow: Workflow) -> dict[str, Any]:
    """Parameters declared at workflow level: the run-time ``-p`` values, plus every template
    parameter name whose default is the same in all templates of the workflow."""
    defaults: dict[str, list[Any]] = {}
    for tmpl in workflow.templates.values():
        for name, value in tmpl.parameters.items():
            defaults.setdefault(name, []).append(value)
    out = {n: vs[0] for n, vs in defaults.items() if all(v == vs[0] for v in vs)}
    out.update(workflow.parameters)
    return out


def _key_prefix(workflow: Workflow, task: str) -> str:
    return f"{workflow.name}/{{{{workflow.name}}}}/{k8s_name(task)}"


def _dag_task(
    workflow: Workflow, task: Task, producers: dict[tuple[str, str], str], wf_params: dict[str, Any]
) -> dict[str, Any]:
    tmpl = workflow.templates[task.template]
    key = _key_prefix(workflow, task.name)
    if task.map_items:
        key += f"/{{{{item.{ITEM_INDEX}}}}}"
    params = [{"name": STEP_KEY, "value": key}]
    for name in sorted(tmpl.parameters):
        value = _argument(task, name, wf_params)
        if value is not None:
            params.append({"name": name, "value": value})
    out: dict[str, Any] = {"name": k8s_name(task.name), "template": k8s_name(task.template)}
    if task.depends:
        out["depends"] = " && ".join(k8s_name(d) for d in task.depends)
    artifacts = [_input_artifact(workflow, task, name, producers) for name in tmpl.inputs]
    out["arguments"] = {"parameters": params, **({"artifacts": artifacts} if artifacts else {})}
    if task.map_items:
        out["withItems"] = _items(task.map_items)
    if task.when:
        out["when"] = translate_when(task.when, lambda ref: _when_ref(workflow, task, ref))
    if task.continue_on_fail:
        out["continueOn"] = {"failed": True, "error": True}
    return out


def _argument(task: Task, name: str, wf_params: dict[str, Any]) -> str | None:
    if name in task.arguments:
        return encode_value(task.arguments[name])
    if task.map_items and name in task.map_items:
        return f"{{{{item.{name}}}}}"
    if name in wf_params:
        return f"{{{{workflow.parameters.{name}}}}}"
    return None


def _items(map_items: dict[str, Any]) -> list[dict[str, Any]]:
    names = sorted(map_items)
    rows = zip(*(list(map_items[n]) for n in names))
    return [
        {ITEM_INDEX: i, **{n: _item_value(v) for n, v in zip(names, row)}}
        for i, row in enumerate(rows)
    ]


def _item_value(value: Any) -> Any:
    # Argo substitutes a string item raw (no quotes): wrap strings (and null) in JSON so that
    # the runner reads every value back with json.loads and "1" stays a string.
    if value is None or isinstance(value, str):
        return encode_value(value)
    return value


def _input_artifact(
    workflow: Workflow, task: Task, name: str, producers: dict[tuple[str, str], str]
) -> dict[str, Any]:
    source = workflow.task(producers[(task.name, name)])
    if source.map_items:
        # Fan-in: read the key prefix holding every item's outputs, in item order.
        return {"name": name, "s3": {"key": _key_prefix(workflow, source.name) + "/"}}
    return {
        "name": name,
        "from": f"{{{{tasks.{k8s_name(source.name)}.outputs.artifacts.{name}}}}}",
    }


def _when_ref(workflow: Workflow, task: Task, ref: OutputRef) -> str:
    source = workflow.task(producer(workflow, task, ref))
    if source.map_items:
        raise SpecError(
            f"task {task.name!r}: .when() cannot use {ref}, an output of the mapped "
            f"task {source.name!r}",
            workflow.where,
            task.line,
            task.col,
        )
    return f"tasks['{k8s_name(source.name)}'].outputs.parameters['{ref.name}']"


def _exit_template(workflow: Workflow, wf_params: dict[str, Any]) -> dict[str, Any]:
    assert workflow.on_exit is not None
    tmpl = workflow.templates[workflow.on_exit]
    params = [{"name": STEP_KEY, "value": _key_prefix(workflow, "on-exit")}]
    params += [
        {"name": p, "value": f"{{{{workflow.parameters.{p}}}}}"}
        for p in sorted(tmpl.parameters)
        if p in wf_params
    ]
    if tmpl.inputs:
        raise SpecError(f"--on-exit template {tmpl.name!r} cannot declare --inputs", workflow.where)
    task = {
        "name": k8s_name(tmpl.name),
        "template": k8s_name(tmpl.name),
        "arguments": {"parameters": params},
    }
    return {"name": k8s_name(tmpl.name) + "-exit", "dag": {"tasks": [task]}}
