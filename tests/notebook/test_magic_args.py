"""Tests of the magic argument parsers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nbflow.errors import SpecError
from nbflow.model import Resources, Retry
from nbflow.notebook.magic_args import (
    WorkflowOptions,
    parse_notebook_template,
    parse_setup,
    parse_template,
    parse_workflow_options,
    split_line,
)

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def test_template_full_line() -> None:
    line = (
        "extract --outputs raw --retries 5 --backoff 2s --backoff-factor 2 --max-backoff 10m "
        "--timeout 1h --cpu 500m --image python:3.12"
    )
    template, no_run = parse_template(line, "raw = 1\n", cell=3)
    assert no_run is False
    assert template.name == "extract"
    assert template.source == "raw = 1\n"
    assert template.cell == 3
    assert template.outputs == ("raw",)
    assert template.retry == Retry(
        limit=5, policy="Always", backoff_s=2.0, factor=2, max_backoff_s=600.0
    )
    assert template.timeout_s == 3600.0
    assert template.resources == Resources(cpu="500m", memory=None)
    assert template.image == "python:3.12"


def test_template_inputs_params_and_no_run() -> None:
    line = (
        "featurize --inputs raw,extra --inputs more --outputs feats --param shard=0 "
        "-p label=train -p xs=[1,2] --memory 2Gi --no-run"
    )
    template, no_run = parse_template(line, "")
    assert no_run is True
    assert template.inputs == ("raw", "extra", "more")
    assert template.parameters == {"shard": 0, "label": "train", "xs": [1, 2]}
    assert template.resources.memory == "2Gi"
    assert template.retry is None


def test_retry_policy_is_normalised() -> None:
    template, _ = parse_template("t --retries 0 --retry-policy onerror", "")
    assert template.retry == Retry(limit=0, policy="OnError")


def test_trailing_comment_is_ignored() -> None:
    assert split_line('a --p "x # y"  # a comment') == ["a", "--p", "x # y"]
    template, _ = parse_template("t --outputs y  # the y", "")
    assert template.outputs == ("y",)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("t --retries x", "--retries: expected an integer, got 'x'"),
        ("t --retries -1", "--retries: must be at least 0, got -1"),
        ("t --foo", "unrecognized argument --foo"),
        ("t u", "unrecognized argument u"),
        ("", "missing NAME after %%template"),
        ("t --retries", "--retries: expected one argument"),
        ("t --backoff 2s", "--backoff needs --retries"),
        ("t --retry-policy Always", "--retry-policy needs --retries"),
        ("t --retries 2 --backoff-factor 2", "--backoff-factor needs --backoff"),
        (
            "t --retries 2 --backoff 1s --backoff-factor 0",
            "--backoff-factor: must be at least 1, got 0",
        ),
        (
            "t --retries 2 --retry-policy Sometimes",
            "--retry-policy: expected one of Always, OnFailure, OnError, OnTransientError, "
            "got 'Sometimes'",
        ),
        (
            "t --retries 1 --backoff 2x",
            "--backoff: expected a duration such as 30s, 10m or 2h, got '2x'",
        ),
        ("t --timeout 0", "--timeout: must be longer than 0, got '0'"),
        (
            "t --memory 2GB",
            "--memory: expected a Kubernetes quantity such as 2Gi, 500m or 1.5, got '2GB'",
        ),
        ("t --inputs 1a", "--inputs: '1a' is not a valid Python name"),
        ("t --outputs a,a", "--outputs: 'a' is listed twice"),
        ("t --param shard", "--param: expected NAME=VALUE, got 'shard'"),
        ("t --inputs x --param x=1", "--param x: 'x' is also listed in --inputs"),
        ("my-step", "template name 'my-step' is not a valid Python name"),
        ("t --outputs class", "--outputs: 'class' is not a valid Python name"),
        ("t --param lambda=1", "--param: 'lambda' is not a valid Python name"),
        ("t --image ''", "--image: expected an image name, got ''"),
        ('t --param "x=1', "cannot split the magic line: No closing quotation"),
        ("t --retri 2", "unrecognized argument --retri"),
    ],
)
def test_template_errors(line: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_template(line, "")
    assert info.value.message == message


def _notebook(path: Path, params_source: str | None) -> None:
    cells = [
        {
            "cell_type": "code",
            "metadata": {},
            "source": "print(1)",
            "outputs": [],
            "execution_count": None,
        }
    ]
    if params_source is not None:
        cells.insert(
            0,
            {
                "cell_type": "code",
                "metadata": {"tags": ["parameters"]},
                "source": params_source,
                "outputs": [],
                "execution_count": None,
            },
        )
    path.write_text(
        json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    )


def test_notebook_template_reads_parameters_cell() -> None:
    template = parse_notebook_template(
        "report --notebook extract_report.ipynb --outputs summary --param title=Weekly --retries 2",
        base_dir=NOTEBOOKS,
        cell=7,
    )
    assert template.notebook == "extract_report.ipynb"
    assert template.source == ""
    assert template.outputs == ("summary",)
    assert template.parameters == {"threshold": 0.9, "title": "Weekly"}
    assert template.retry == Retry(limit=2)
    assert template.cell == 7


def test_notebook_template_path_kept_as_written(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _notebook(tmp_path / "sub" / "nb.ipynb", "a = b = -1\nc: int = 3\nd, e = 1, 2")
    template = parse_notebook_template("nb --notebook sub/nb.ipynb", base_dir=str(tmp_path))
    assert template.notebook == "sub/nb.ipynb"
    assert template.parameters == {"a": -1, "b": -1, "c": 3}


def test_notebook_without_parameters_cell_takes_any_param(tmp_path: Path) -> None:
    _notebook(tmp_path / "nb.ipynb", None)
    template = parse_notebook_template("nb --notebook nb.ipynb -p n=3", base_dir=tmp_path)
    assert template.parameters == {"n": 3}


def test_non_literal_default_needs_override(tmp_path: Path) -> None:
    _notebook(tmp_path / "nb.ipynb", "import os\nn = 1\nurl = os.environ['URL']")
    with pytest.raises(SpecError) as info:
        parse_notebook_template("nb --notebook nb.ipynb", base_dir=tmp_path)
    assert info.value.message == (
        "nb.ipynb, parameters cell line 3: the default of 'url' is not a literal "
        "(os.environ['URL']); give it a literal value or set it with --param url=..."
    )
    template = parse_notebook_template(
        "nb --notebook nb.ipynb --param url=s3://x", base_dir=tmp_path
    )
    assert template.parameters == {"n": 1, "url": "s3://x"}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("nb", "%template: --notebook PATH is required (use %%template for a cell)"),
        (
            "nb --notebook nb.ipynb --param m=1",
            "--param m: nb.ipynb has no parameter 'm' (its parameters: n)",
        ),
        ("nb --notebook nb.ipynb --no-run", "unrecognized argument --no-run"),
    ],
)
def test_notebook_template_errors(tmp_path: Path, line: str, message: str) -> None:
    _notebook(tmp_path / "nb.ipynb", "n = 1")
    with pytest.raises(SpecError) as info:
        parse_notebook_template(line, base_dir=tmp_path)
    assert info.value.message == message


def test_notebook_template_missing_or_broken_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"no such notebook.*missing\.ipynb"):
        parse_notebook_template("nb --notebook missing.ipynb", base_dir=tmp_path)
    (tmp_path / "bad.ipynb").write_text("{not json")
    with pytest.raises(SpecError, match=r"cannot read .*bad\.ipynb"):
        parse_notebook_template("nb --notebook bad.ipynb", base_dir=tmp_path)
    _notebook(tmp_path / "syntax.ipynb", "n = (")
    with pytest.raises(SpecError, match=r"syntax\.ipynb, parameters cell line 1"):
        parse_notebook_template("nb --notebook syntax.ipynb", base_dir=tmp_path)


def test_setup() -> None:
    assert parse_setup("") is None
    assert parse_setup("imports") == "imports"
    with pytest.raises(SpecError, match="unrecognized argument b"):
        parse_setup("a b")


def test_workflow_options() -> None:
    opts = parse_workflow_options('nightly --parallelism 4 --on-exit notify --schedule "0 2 * * *"')
    assert opts == WorkflowOptions("nightly", parallelism=4, on_exit="notify", schedule="0 2 * * *")
    assert parse_workflow_options("w --schedule @daily").schedule == "@daily"
    assert parse_workflow_options("w --schedule '@every 5m'").schedule == "@every 5m"
    assert parse_workflow_options("w") == WorkflowOptions("w")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("w --parallelism 0", "--parallelism: must be at least 1, got 0"),
        ("w --parallelism two", "--parallelism: expected an integer, got 'two'"),
        (
            "w --schedule '0 2 * *'",
            "--schedule: expected 5 cron fields (minute hour day month "
            "weekday), got 4 in '0 2 * *'",
        ),
        (
            "w --schedule @sometimes",
            "--schedule: unknown macro '@sometimes' (use one of @yearly, "
            "@annually, @monthly, @weekly, @daily, @midnight, @hourly or "
            "@every DURATION)",
        ),
        ("w --schedule '0 2 * * {}'", "--schedule: invalid cron field '{}' in '0 2 * * {}'"),
        ("w --on-exit no-tify", "--on-exit: 'no-tify' is not a valid template name"),
        ("", "missing NAME after %%workflow"),
    ],
)
def test_workflow_option_errors(line: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_workflow_options(line)
    assert info.value.message == message
