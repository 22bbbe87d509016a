"""Tests of nbflow.notebook.step: step notebooks for cell and whole-notebook templates."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from nbflow import marshal
from nbflow.errors import SpecError
from nbflow.model import Template
from nbflow.notebook.step import build_step_notebook

HANDOFF = "import nbflow.handoff as _nbflow_handoff"


def ids(nb: dict) -> list[str]:
    return [c["id"] for c in nb["cells"]]


def validate(nb: dict) -> None:
    nbformat.validate(nbformat.from_dict(json.loads(json.dumps(nb))))


def test_cell_template_cells_in_order():
    template = Template(
        "featurize",
        source="feats = [r * shard for r in raw]\n%time _ = 1",
        inputs=("raw", "lookup"),
        outputs=("feats", "n"),
        parameters={"shard": 0, "label": "a'b", "alpha": 0.5},
    )
    nb = build_step_notebook(template, ["import math\n", "\n\nTAU = 2 * math.pi\n"])
    validate(nb)
    assert ids(nb) == [
        "nbflow-parameters",
        "nbflow-inputs",
        "nbflow-setup",
        "nbflow-template",
        "nbflow-outputs",
    ]
    params, inputs, setup, code, outputs = nb["cells"]
    assert params["metadata"]["tags"] == ["parameters", "nbflow-parameters"]
    assert params["source"] == 'alpha = 0.5\nlabel = "a\'b"\nshard = 0'
    assert inputs["source"] == (
        f'{HANDOFF}\nraw = _nbflow_handoff.load_input("raw")\n'
        'lookup = _nbflow_handoff.load_input("lookup")'
    )
    assert setup["source"] == "import math\n\nTAU = 2 * math.pi"
    assert code["source"] == template.source
    save = '_nbflow_handoff.save_outputs(globals(), ["feats", "n"])'
    assert outputs["source"] == f"{HANDOFF}\n{save}"
    for cell in nb["cells"][1:]:
        assert cell["metadata"]["tags"] == [cell["id"]]
    for cell in nb["cells"]:
        assert cell["cell_type"] == "code"
        assert cell["outputs"] == [] and cell["execution_count"] is None


def test_notebook_metadata_and_format():
    nb = build_step_notebook(Template("t", source="x = 1"))
    assert nb["nbformat"] == 4 and nb["nbformat_minor"] == 5
    assert nb["metadata"] == {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    }


def test_minimal_cell_template_has_only_its_code():
    nb = build_step_notebook(Template("t", source="print(1)"), ["   \n"])
    validate(nb)
    assert ids(nb) == ["nbflow-template"]
    assert nb["cells"][0]["source"] == "print(1)"


def test_build_is_deterministic():
    template = Template("t", source="y = x", inputs=("x",), outputs=("y",), parameters={"k": [1]})
    first = build_step_notebook(template, ["a = 1"])
    assert json.dumps(first) == json.dumps(build_step_notebook(template, ["a = 1"]))
    first["metadata"]["kernelspec"]["name"] = "changed"
    assert build_step_notebook(template)["metadata"]["kernelspec"]["name"] == "python3"


# ----------------------------------------------------------------------------- whole notebooks


def write_notebook(path: Path, cells: list[dict], nbformat_minor: int = 5) -> Path:
    path.write_text(
        json.dumps(
            {
                "cells": cells,
                "metadata": {"kernelspec": {"name": "other"}},
                "nbformat": 4,
                "nbformat_minor": nbformat_minor,
            }
        )
    )
    return path


def code(source, tags=(), **extra):
    cell = {
        "cell_type": "code",
        "execution_count": 7,
        "metadata": {"tags": list(tags)},
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "old\n"}],
        "source": source,
    }
    cell.update(extra)
    return cell


def test_notebook_template_keeps_cells_and_puts_inputs_after_parameters(tmp_path):
    write_notebook(
        tmp_path / "report.ipynb",
        [
            {"cell_type": "markdown", "metadata": {}, "source": ["# Report\n", "text"]},
            code(
                "threshold = 0.5",
                tags=["parameters"],
                metadata={"tags": ["parameters"], "execution": {"a": 1}},
            ),
            code(["html = render(model)\n", "!echo done"]),
            {"cell_type": "raw", "metadata": {}, "source": "raw text"},
        ],
        nbformat_minor=4,
    )
    template = Template(
        "report",
        notebook="report.ipynb",
        inputs=("model",),
        outputs=("html",),
        parameters={"threshold": 0.5},
    )
    nb = build_step_notebook(template, ["import never_added"], base_dir=tmp_path)
    validate(nb)
    assert ids(nb) == ["cell-0", "cell-1", "nbflow-inputs", "cell-2", "cell-3", "nbflow-outputs"]
    cells = nb["cells"]
    assert cells[0] == {
        "cell_type": "markdown",
        "id": "cell-0",
        "metadata": {},
        "source": "# Report\ntext",
    }
    assert cells[1]["metadata"] == {"tags": ["parameters"]}
    assert cells[2]["source"] == f'{HANDOFF}\nmodel = _nbflow_handoff.load_input("model")'
    assert cells[3]["source"] == "html = render(model)\n!echo done"
    assert cells[5]["source"] == f'{HANDOFF}\n_nbflow_handoff.save_outputs(globals(), ["html"])'
    for cell in cells:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [] and cell["execution_count"] is None
    assert not any("never_added" in c["source"] for c in cells)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_notebook_template_without_parameters_cell_gets_inputs_first(tmp_path):
    write_notebook(tmp_path / "nb.ipynb", [code("print(x)")])
    nb = build_step_notebook(Template("t", notebook="nb.ipynb", inputs=("x",)), base_dir=tmp_path)
    validate(nb)
    assert ids(nb) == ["nbflow-inputs", "cell-0"]


def test_notebook_template_relative_to_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    write_notebook(tmp_path / "nb.ipynb", [code("a = 1")])
    assert ids(build_step_notebook(Template("t", notebook="nb.ipynb"))) == ["cell-0"]


def test_nbformat_3_notebook_is_converted(tmp_path):
    (tmp_path / "old.ipynb").write_text(
        json.dumps(
            {
                "nbformat": 3,
                "nbformat_minor": 0,
                "metadata": {},
                "worksheets": [
                    {
                        "cells": [
                            {
                                "cell_type": "code",
                                "input": "x = 1",
                                "language": "python",
                                "outputs": [],
                                "prompt_number": 3,
                                "metadata": {},
                            },
                        ]
                    }
                ],
            }
        )
    )
    nb = build_step_notebook(Template("t", notebook="old.ipynb", outputs=("x",)), base_dir=tmp_path)
    validate(nb)
    assert ids(nb) == ["cell-0", "nbflow-outputs"]
    assert nb["cells"][0]["source"] == "x = 1"
    assert nb["cells"][0]["execution_count"] is None


def test_missing_notebook_is_a_spec_error(tmp_path):
    message = r"^template 'report': cannot read notebook .*missing\.ipynb"
    with pytest.raises(SpecError, match=message):
        build_step_notebook(Template("report", notebook="missing.ipynb"), base_dir=tmp_path)


@pytest.mark.parametrize("text", ["{not json", '{"nbformat": 4}', '{"cells": [{"source": ""}]}'])
def test_invalid_notebook_is_a_spec_error(tmp_path, text):
    (tmp_path / "bad.ipynb").write_text(text)
    with pytest.raises(SpecError, match=r"^template 't': .*bad\.ipynb'? is not a .*notebook"):
        build_step_notebook(Template("t", notebook="bad.ipynb"), base_dir=tmp_path)


# ----------------------------------------------------------------------------- execution


@pytest.mark.kernel
def test_step_notebook_runs_under_papermill(tmp_path, monkeypatch):
    import papermill

    step = tmp_path / "nbflow"
    marshal.save(pd.DataFrame({"v": [1, 2, 3]}), step / "inputs" / "raw", name="raw")
    for i in range(2):
        marshal.save(i + 1, step / "inputs" / "shard" / str(i) / "shard", name="shard")
    monkeypatch.setenv("NBFLOW_STEP_DIR", str(step))
    monkeypatch.setenv("NBFLOW_TEMPLATE", "train")
    template = Template(
        "train",
        source=(
            "here = %pwd\n"
            "total = int(raw['v'].sum()) * scale + sum(shard)\n"
            "frame = raw.assign(w=raw['v'] * OFFSET)\n"
            "nbflow.output('note', f'{label}:{total}')"
        ),
        inputs=("raw", "shard"),
        outputs=("total", "frame", "note"),
        parameters={"scale": 1, "label": "default"},
    )
    nb = build_step_notebook(template, ["import nbflow", "OFFSET = 10"])
    (tmp_path / "step.ipynb").write_text(json.dumps(nb))
    papermill.execute_notebook(
        str(tmp_path / "step.ipynb"),
        str(tmp_path / "out.ipynb"),
        parameters={"scale": 3},
        kernel_name="python3",
        cwd=str(tmp_path),
        progress_bar=False,
    )
    assert marshal.load(step / "outputs" / "total") == 6 * 3 + 3
    assert (step / "parameters" / "total").read_text() == "21"
    assert (step / "parameters" / "note").read_text() == '"default:21"'
    frame = marshal.load(step / "outputs" / "frame")
    pd.testing.assert_frame_equal(frame, pd.DataFrame({"v": [1, 2, 3], "w": [10, 20, 30]}))
    assert not (step / "parameters" / "frame").exists()
    executed = json.loads((tmp_path / "out.ipynb").read_text())
    tags = [c["metadata"].get("tags", []) for c in executed["cells"]]
    assert tags[1] == ["injected-parameters"]  # papermill put it after the parameters cell
