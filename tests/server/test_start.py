"""Running a notebook's workflow through the server, without a kernel, and what it refuses."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


async def test_post_runs_with_parameters(
    call: Any, notebook: Any, until: Any, run_phase: Any
) -> None:
    notebook("chain")
    status, data = await call(
        "POST", "runs", body={"notebook": "pipeline.ipynb", "parameters": {"scale": "2.5"}}
    )
    assert status == 201 and data["id"].startswith("chain-")
    run_id = data["id"]
    await until(lambda: _done(run_phase, run_id), "the run to end")
    assert await run_phase(run_id) == (
        "Succeeded",
        {"first": "Succeeded", "second": "Succeeded", "third": "Succeeded"},
    )
    _, outputs = await call("GET", "runs", run_id, "tasks", "second", "outputs")
    assert outputs["outputs"]["y"]["preview"]["text"] == "10.0"  # sqrt(16) * 2.5

    async def listed() -> Any:
        _, data = await call("GET", "runs", params={"notebook": "pipeline.ipynb"})
        return data["runs"] and not data["runs"][0]["live"] and data["runs"][0]

    summary = await until(listed, "the list to show the run's end")
    assert summary["id"] == run_id and summary["notebook"] == "pipeline.ipynb"
    assert summary["phase"] == "Succeeded" and summary["progress"] == "3/3"


async def test_post_runs_picks_a_workflow_and_takes_json_values(
    call: Any, notebook: Any, jp_root_dir: Path, until: Any, run_phase: Any
) -> None:
    notebook("failing", name="sub/two.ipynb")
    status, data = await call(
        "POST", "runs", body={"notebook": "sub/two.ipynb", "workflow": "tolerant"}
    )
    assert status == 201 and data["id"].startswith("tolerant-")
    await until(lambda: _done(run_phase, data["id"]), "the run to end")
    phase, nodes = await run_phase(data["id"])
    assert nodes == {"boom": "Failed", "tail": "Succeeded", "ok": "Succeeded"}
    notebook("chain", name="chain.ipynb")
    status, data = await call(
        "POST", "runs", body={"notebook": "chain.ipynb", "parameters": {"scale": 3}}
    )
    assert status == 201
    await until(lambda: _done(run_phase, data["id"]), "the run to end")
    _, outputs = await call("GET", "runs", data["id"], "tasks", "second", "outputs")
    assert outputs["outputs"]["y"]["preview"]["text"] == "12.0"


async def test_post_runs_refuses_paths_outside_the_root(
    call: Any, notebook: Any, jp_root_dir: Path, tmp_path: Path
) -> None:
    outside = notebook("chain", name="../outside.ipynb")
    assert outside.resolve().parent == jp_root_dir.parent
    status, data = await call("POST", "runs", body={"notebook": "../outside.ipynb"})
    assert status == 403
    assert data == {"message": "'../outside.ipynb' is outside the server's root directory"}
    status, _ = await call("POST", "runs", body={"notebook": "sub/../../outside.ipynb"})
    assert status == 403
    os.symlink(outside, jp_root_dir / "link.ipynb")
    status, data = await call("POST", "runs", body={"notebook": "link.ipynb"})
    assert status == 403 and "outside the server's root directory" in data["message"]
    status, data = await call("POST", "runs", body={"notebook": str(outside)})
    assert status == 404  # an absolute path is read from the root too: no such file there
    assert not (tmp_path / "nbflow-home" / "runs").exists()


async def test_post_runs_bad_input_is_one_clear_line(
    call: Any, notebook: Any, jp_root_dir: Path
) -> None:
    status, data = await call("POST", "runs", body={})
    assert status == 400 and data == {"message": "notebook must be a non-empty string"}
    status, data = await call("POST", "runs", body={"notebook": "missing.ipynb"})
    assert status == 404 and data == {"message": "no such notebook: 'missing.ipynb'"}
    notebook("failing")
    status, data = await call("POST", "runs", body={"notebook": "pipeline.ipynb"})
    assert status == 400
    assert data["message"] == (
        "several workflows are defined (failing, tolerant): name the one to use"
    )
    status, data = await call(
        "POST", "runs", body={"notebook": "pipeline.ipynb", "workflow": "nope"}
    )
    assert status == 400 and data["message"] == "no workflow 'nope' (defined: failing, tolerant)"
    notebook(["%%template a\nx = 1", "%%workflow w\na >> b"], name="broken.ipynb")
    status, data = await call("POST", "runs", body={"notebook": "broken.ipynb"})
    assert status == 400
    assert data["message"] == (
        "workflow w (cell 2), line 2, column 6: unknown template 'b' (defined: a)"
    )
    (jp_root_dir / "plain.txt").write_text("hello")
    status, data = await call("POST", "runs", body={"notebook": "plain.txt"})
    assert data == {"message": f"{jp_root_dir / 'plain.txt'}: expected a notebook (.ipynb)"}
    status, data = await call(
        "POST", "runs", body={"notebook": "pipeline.ipynb", "parameters": ["x"]}
    )
    assert status == 400 and data == {"message": "parameters must be an object of name: value"}
    status, data = await call("POST", "runs", body=["not", "an", "object"])
    assert status == 400 and data == {"message": "the request body must be a JSON object"}


async def _done(run_phase: Any, run_id: str) -> bool:
    phase, _ = await run_phase(run_id)
    return phase in ("Succeeded", "Failed", "Error")


async def test_runs_take_the_fork_server_warmed_when_the_notebook_was_opened(
    call: Any, notebook: Any, jp_serverapp: Any, until: Any, run_phase: Any
) -> None:
    warm = jp_serverapp.web_app.settings["nbflow_service"].warm
    notebook("chain")
    status, _ = await call("GET", "notebooks", "workflows", params={"path": "pipeline.ipynb"})
    assert status == 200
    (kind,) = await until(warm.kinds, "a fork server warming up for the notebook")
    spare = warm.spare(kind)
    assert spare is not None and kind.local_dirs == (str(jp_root_dir_of(jp_serverapp)),)
    _, started = await call("POST", "runs", body={"notebook": "pipeline.ipynb"})
    await until(lambda: _done(run_phase, started["id"]), "the run to end")
    assert (await run_phase(started["id"]))[0] == "Succeeded"
    assert not spare.alive()  # the run's engine took it (and closed it at the end)
    assert warm.kinds() == [kind] and warm.spare(kind) not in (None, spare)


def jp_root_dir_of(serverapp: Any) -> Path:
    return Path(serverapp.root_dir).resolve()
