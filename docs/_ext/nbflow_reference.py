"""Sphinx extension: reference pages generated from nbflow's own argument parsers and traits.

At ``builder-inited`` it writes ``reference/cli.md`` (every ``nbflow`` command, from
``nbflow.cli._parser()``), ``reference/magics.md`` (``%%template``, ``%template``, ``%%setup``,
``%%workflow`` and every ``%nbflow`` command, from the parsers the magics use) and
``reference/config.md`` (every configurable trait, from the classes themselves), so that the
reference cannot drift from the code. ``python docs/_ext/nbflow_reference.py OUTDIR`` writes
them without Sphinx.
"""

from __future__ import annotations

import argparse
import inspect
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

GENERATED = ("cli.md", "magics.md", "config.md")
WIDTH = "96"  # argparse wraps help at $COLUMNS


def walk(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
    tuple[tuple[str, ...], argparse.ArgumentParser, str]
]:
    """Every (sub)command of ``parser``, depth first: its words, its parser, its one-line help."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (*path, name), sub, helps.get(name, "")
                yield from walk(sub, (*path, name))


def _help(parser: argparse.ArgumentParser) -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return parser.format_help().rstrip()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _block(text: str) -> str:
    return f"```text\n{text}\n```\n"


def cli_page() -> str:
    """``reference/cli.md``: the ``nbflow`` command and every subcommand."""
    from nbflow.cli import _parser

    root = _parser()
    out = [
        "# Command line\n",
        "Generated from the argument parsers of `nbflow` (`nbflow.cli`): what `nbflow "
        "COMMAND --help` prints. Global options (`--home`, `--artifact-root`, ...) go before "
        "or after the command.\n",
        "## nbflow\n",
        _block(_help(root)),
    ]
    for words, parser, text in walk(root):
        name = " ".join(("nbflow", *words))
        out.append(f"{'#' * min(len(words) + 1, 4)} {name}\n")
        if text:
            out.append(f"{text[0].upper()}{text[1:]}.\n")
        out.append(_block(_help(parser)))
    return "\n".join(out)


def magic_parsers() -> list[tuple[str, argparse.ArgumentParser, str]]:
    """Every magic: its name, its parser, the docstring of the method behind it."""
    from nbflow.magics import NbflowMagics
    from nbflow.magics.commands import COMMANDS, nbflow_parser
    from nbflow.notebook import magic_args as m

    doc = {name: inspect.getdoc(getattr(NbflowMagics, name)) or "" for name in
           ("template", "setup", "workflow", "nbflow")}
    out = [
        ("%%template", m.template_parser(), doc["template"]),
        ("%template", m.notebook_template_parser(), ""),
        ("%%setup", m.setup_parser(), doc["setup"]),
        ("%%workflow", m.workflow_parser(), doc["workflow"]),
    ]
    out += [(f"%nbflow {c}", nbflow_parser(c), "") for c in COMMANDS]
    return out


def magics_page() -> str:
    """``reference/magics.md``: every magic, from the parsers the magics use."""
    from nbflow.magics import NbflowMagics

    out = [
        "# Magics\n",
        "`%load_ext nbflow` registers these. Generated from the argument parsers the magics "
        "parse their lines with (`nbflow.notebook.magic_args`, `nbflow.magics.commands`); "
        "the workflow language of `%%workflow` cells is described in "
        "[Concepts](../concepts.md).\n",
        "## %nbflow\n",
        _escape(inspect.getdoc(NbflowMagics.nbflow) or "") + "\n",
    ]
    for name, parser, doc in magic_parsers():
        out.append(f"## `{name}`\n")
        if doc:
            out.append(_escape(doc) + "\n")
        out.append(_block(_help(parser)))
    return "\n".join(out)


def _escape(text: str) -> str:
    """A docstring as Markdown: double back-quotes become single ones."""
    return text.replace("``", "`")


def config_classes() -> list[type]:
    from nbflow.cluster.options import ClusterConfig
    from nbflow.config import NbflowConfig
    from nbflow.notify.config import NotifyConfig

    return [NbflowConfig, ClusterConfig, NotifyConfig]


def config_page() -> str:
    """``reference/config.md``: every configurable trait, its type, default and help."""
    out = [
        "# Configuration\n",
        "Set these in `nbflow_config.py` (or `nbflow_config.json`) in the Jupyter config path "
        "(`jupyter --paths`), e.g. `c.NbflowConfig.artifact_root = \"s3://bucket/prefix\"`. "
        "Generated from the traitlets classes themselves.\n",
    ]
    for cls in config_classes():
        out.append(f"## {cls.__name__}\n")
        out.append(_escape(inspect.getdoc(cls) or "") + "\n")
        for name, trait in sorted(cls.class_traits(config=True).items()):
            default = trait.default_value_repr()
            out.append(f"### `c.{cls.__name__}.{name}`\n")
            out.append(f"{type(trait).__name__}, default `{default}`.\n")
            out.append(_escape(trait.help or "").replace("<", "&lt;") + "\n")
    return "\n".join(out)


def generate(outdir: Path) -> list[Path]:
    """Write the generated pages into ``outdir``; only files whose text changed are written
    (Sphinx then rereads only those)."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, page in zip(GENERATED, (cli_page(), magics_page(), config_page())):
        path = outdir / name
        if not path.exists() or path.read_text() != page:
            path.write_text(page)
        written.append(path)
    return written


SCREENSHOTS = {  # what the browser tests leave in test-output/, and what each shows
    "labextension/lab-run-from-sidebar.png": "The Pipelines sidebar, and the run view of a run "
    "started from it (JupyterLab).",
    "labextension/lab-node-details.png": "A node's details in the run view: phase, parameters, "
    "outputs, log tail, the failing cell's traceback.",
    "labextension/lab-cell-badges.png": "Cell badges: the phase of each template's task in the "
    "notebook's latest run.",
    "labextension/lab-executed-notebook.png": "An executed step notebook, opened read-only.",
    "labextension/lab-failed-notification.png": "The notification of a failed run.",
    "labextension/notebook7-notebook-run-view.png": "The run view beside a notebook in "
    "Notebook 7.",
    "binder/etl-graph.png": "The live graph of the ETL tutorial's run: a fan-out, its fan-in, "
    "a quality gate.",
    "binder/etl.png": "The ETL tutorial run in JupyterLab, as on Binder (.ci/binder-check).",
    "binder/ml.png": "The ML tutorial run in JupyterLab, as on Binder (.ci/binder-check).",
}


def screenshots_page(srcdir: Path, shots: Path) -> str:
    """``screenshots.md``: the screenshots the browser tests took (copied into ``_static``);
    the page says how to make them when there are none."""
    target = srcdir / "_static" / "screenshots"
    target.mkdir(parents=True, exist_ok=True)
    out = [
        "# Screenshots\n",
        "Taken by the browser tests (`pytest tests/labextension`, `.ci/binder-check`) on a real "
        "JupyterLab in Chromium, and copied here when the documentation is built, so they show "
        "the current code.\n",
    ]
    found = 0
    for name, caption in SCREENSHOTS.items():
        source = shots / name
        if source.is_file():
            flat = name.replace("/", "-")
            shutil.copy2(source, target / flat)
            figure = f"_static/screenshots/{flat}\n:width: 100%\n\n{caption}"
            out.append(f"```{{figure}} {figure}\n```\n")
            found += 1
    if not found:
        out.append("No screenshots yet: run the browser tests first, then build again.\n")
    return "\n".join(out)


def _on_builder_inited(app: Any) -> None:
    srcdir = Path(app.srcdir)
    generate(srcdir / "reference")
    page = screenshots_page(srcdir, srcdir.parent / "test-output")
    path = srcdir / "screenshots.md"
    if not path.exists() or path.read_text() != page:
        path.write_text(page)


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    for p in generate(Path(sys.argv[1])):
        print(p)
