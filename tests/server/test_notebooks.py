"""A notebook's workflows, manifest and lint through the server, read without a kernel."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml


async def test_workflows_with_their_templates_cells(call: Any, notebook: Any) -> None:
    path = notebook("options")
    status, data = await call("GET", "notebooks", "workflows", params={"path": "pipeline.ipynb"})
    assert status == 200
    (wf,) = data["workflows"]

    ids = [c["id"] for c in json.loads(path.read_text())["cells"]]
    assert wf["name"] == "options" and wf["cell"] == 5 and wf["cell_id"] == ids[5]
    assert wf["tasks"] == ["flaky", "score", "report", "fallback"]
    assert wf["templates"] == [
        {"name": name, "cell": i, "cell_id": ids[i]}
        for i, name in enumerate(["flaky", "score", "report", "fallback", "notify"])
    ]
    assert wf["on_exit"] == "notify" and wf["schedule"] is None and wf["parallelism"] is None


async def test_workflows_errors(call: Any, notebook: Any, jp_root_dir: Path) -> None:
    status, data = await call("GET", "notebooks", "workflows")
    assert status == 400
    assert data == {"message": "path must be the notebook's path, relative to the server's root"}
    status, data = await call("GET", "notebooks", "workflows", params={"path": "../x.ipynb"})
    assert status == 403
    status, data = await call("GET", "notebooks", "workflows", params={"path": "nope.ipynb"})
    assert status == 404 and data == {"message": "no such notebook: 'nope.ipynb'"}
    (jp_root_dir / "bad.ipynb").write_text("{not json")
    status, data = await call("GET", "notebooks", "workflows", params={"path": "bad.ipynb"})
    assert status == 400 and data["message"].startswith("cannot read")


async def test_compile_as_nbflow_compile_does(call: Any, notebook: Any) -> None:
    notebook(["%%template a --outputs x\nx = 1", "%%workflow nightly --schedule '0 2 * * *'\na"])
    status, data = await call("POST", "notebooks", "compile", body={"path": "pipeline.ipynb"})
    assert status == 200
    manifest = yaml.safe_load(data["yaml"])
    assert manifest["kind"] == "Workflow" and manifest["metadata"]["generateName"] == "nightly-"
    status, data = await call(
        "POST", "notebooks", "compile", body={"path": "pipeline.ipynb", "kind": "cronworkflow"}
    )
    cron = yaml.safe_load(data["yaml"])
    assert cron["kind"] == "CronWorkflow" and cron["spec"]["schedules"] == ["0 2 * * *"]
    status, data = await call(
        "POST", "notebooks", "compile", body={"path": "pipeline.ipynb", "kind": "pod"}
    )
    assert status == 400 and data["message"].startswith("kind must be one of workflow,")


async def test_lint_problems(call: Any, notebook: Any) -> None:
    notebook(
        [
            "import math\nfactor = 3",
            "%%template a --outputs x\nx = math.sqrt(factor)",
            "%%workflow w\na",
        ]
    )
    status, data = await call("POST", "notebooks", "lint", body={"path": "pipeline.ipynb"})
    assert status == 200
    problems = data["problems"]
    assert [p["level"] for p in problems] == ["warning", "warning"]
    assert {p["where"] for p in problems} == {"cell 2"}
    messages = " ".join(p["message"] for p in problems)
    assert "`math` is defined only in cell 1" in messages and "`factor`" in messages
    notebook("chain", name="ok.ipynb")
    status, data = await call("POST", "notebooks", "lint", body={"path": "ok.ipynb"})
    assert data == {"problems": []}
    status, data = await call(
        "POST", "notebooks", "lint", body={"path": "ok.ipynb", "workflow": "nope"}
    )
    assert data["problems"][0]["level"] == "error"
