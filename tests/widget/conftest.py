"""Workflow dicts in Argo's shape, written by hand, for the widget's pure tests."""

from __future__ import annotations

from typing import Any

import pytest

from nbflow.engine.nodes import node_id

RUN = "demo-abcde"


def node(name: str, type_: str, phase: str, **extra: Any) -> dict[str, Any]:
    """A status node named ``<run>.<name>`` (or the root for ``""``)."""
    full = f"{RUN}.{name}" if name else RUN
    out = {
        "id": node_id(RUN, full),
        "name": full,
        "displayName": name or RUN,
        "type": type_,
        "phase": phase,
        "startedAt": "2026-01-01T00:00:00Z",
    }
    out.update(extra)
    return out


def workflow(nodes: list[dict[str, Any]], phase: str = "Running", **status: Any) -> dict:
    """A workflow with tasks extract → [train (retries 3), score.map(3 items)] → report,
    a skipped ``notify`` after ``report``, and an exit handler."""
    tasks = [
        {"name": "extract", "template": "extract"},
        {"name": "train", "template": "train", "depends": "extract"},
        {
            "name": "score",
            "template": "score",
            "depends": "extract.Succeeded",
            "withItems": [0, 1, 2],
        },
        {"name": "report", "template": "report", "dependencies": ["train", "score"]},
        {"name": "notify", "template": "notify", "depends": "report", "when": "false"},
    ]
    templates = [{"name": "main", "dag": {"tasks": tasks}}]
    templates += [{"name": t["name"], "container": {"image": "x"}} for t in tasks]
    templates[2]["retryStrategy"] = {"limit": "3", "backoff": {"duration": "2s"}}
    templates.append({"name": "cleanup", "container": {"image": "x"}})
    return {
        "metadata": {"name": RUN},
        "spec": {"entrypoint": "main", "templates": templates, "onExit": "cleanup"},
        "status": {
            "phase": phase,
            "startedAt": "2026-01-01T00:00:00Z",
            "nodes": {n["id"]: n for n in nodes},
            **status,
        },
    }


@pytest.fixture()
def running_workflow() -> dict[str, Any]:
    """extract done; train waiting to retry after 2 failed attempts; score 1/3 done, 1 failed."""
    attempts = [
        node("train(0)", "Pod", "Failed", finishedAt="2026-01-01T00:00:03Z", message="boom"),
        node("train(1)", "Pod", "Failed", finishedAt="2026-01-01T00:00:07Z", message="boom"),
    ]
    items = [
        node("score(0:0)", "Pod", "Succeeded", finishedAt="2026-01-01T00:00:09Z",
             memoizationStatus={"hit": True, "key": "k", "cacheName": "c"}),
        node("score(1:1)", "Pod", "Failed", finishedAt="2026-01-01T00:00:09Z"),
        node("score(2:2)", "Pod", "Running"),
    ]
    return workflow(
        [
            node("", "DAG", "Running"),
            node("extract", "Pod", "Succeeded", finishedAt="2026-01-01T00:01:05Z"),
            node("train", "Retry", "Running", message="Backoff for 4 seconds",
                 children=[a["id"] for a in attempts]),
            *attempts,
            node("score", "TaskGroup", "Running", children=[i["id"] for i in items]),
            *items,
        ]
    )
