"""The README and the CLI agree: every ``nbflow`` command line the README prints is accepted.

Each command line of the README's code blocks (and inline code that starts with ``nbflow``) is
read as a synopsis: optional ``[...]`` parts are given, each ``a|b`` alternative is tried,
``UPPERCASE`` placeholders get sample values, then the real parser of ``nbflow`` parses it.
Commands that run offline are also run for real against the test notebooks.
"""

from __future__ import annotations

import itertools
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"
NOTEBOOK = Path(__file__).parents[1] / "notebooks" / "quickstart.ipynb"
SAMPLES = {"N": "3", "D": "7", "SECONDS": "60", "...": None}


def command_lines() -> dict[str, bool]:
    """``nbflow ...`` lines of the README: those of its fenced code blocks (``True``: whole
    command lines), then its inline code spans (``False``: they may leave arguments out, as in
    "`nbflow run --no-cache` runs everything")."""
    text = README.read_text(encoding="utf-8")
    lines: dict[str, bool] = {}
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for ln in joined.splitlines():
            if ln.strip().startswith("nbflow "):
                lines[ln.strip()] = True
    outside = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`(nbflow [^`]+)`", outside):
        span = " ".join(span.split())
        if "..." not in span[:-3]:  # "nbflow schedule ... --backend argo" names no command
            lines.setdefault(span, False)
    return lines


def parts(line: str) -> list[tuple[bool, list[list[str]]]]:
    """The synopsis as ``(optional, tokens)`` parts; each token is its alternatives."""
    line = re.split(r"\s#\s|\s\|\s", line)[0]  # a comment, or a pipe into another command
    out: list[tuple[bool, list[list[str]]]] = []
    optional = False
    for token in shlex.split(line.replace("[", " [ ").replace("]", " ] "))[1:]:
        if token in ("[", "]"):
            optional = token == "["
            if optional:
                out.append((True, []))
            continue
        value = SAMPLES.get(token, token)
        if value is None:
            continue
        alts = value.split("|") if "|" in value and "=" not in value else [value]
        if optional:
            out[-1][1].append(alts)
        else:
            out.append((False, [alts]))
    return out


def variants(line: str) -> list[tuple[list[str], set[tuple[int, str]]]]:
    """Every argument list the synopsis stands for (optional parts given or not, each
    alternative), with the (part, alternative) pairs it uses."""
    synopsis = parts(line)
    out = []
    optional = [i for i, (opt, _) in enumerate(synopsis) if opt]
    for given in itertools.product([True, False], repeat=len(optional)):
        chosen = {i for i, g in zip(optional, given) if g}
        used = [(i, toks) for i, (opt, toks) in enumerate(synopsis) if not opt or i in chosen]
        flat = [(i, alts) for i, toks in used for alts in toks]
        for combo in itertools.product(*(alts for _, alts in flat)):
            out.append((list(combo), {(i, a) for (i, _), a in zip(flat, combo)}))
    return out


WHOLE = command_lines()
LINES = list(WHOLE)


def test_the_readme_prints_the_commands_it_should() -> None:
    text = " ".join(LINES)
    for command in ("run", "compile", "status", "logs", "resume", "gc", "delete", "submit", "k8s"):
        assert f"nbflow {command}" in text
    assert "nbflow run nb.ipynb --artifact-root s3://bucket/prefix" in LINES


@pytest.mark.parametrize("line", LINES)
def test_every_readme_command_line_parses(line: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Every optional part and every alternative of the synopsis is accepted in some
    reading of it, and the line as a whole (each part given) in at least one."""
    from nbflow.cli import _parser

    covered: set[tuple[int, str]] = set()
    errors = []
    for argv, used in variants(line):
        if argv and argv[0].startswith("--") and not any(not a.startswith("-") for a in argv[::2]):
            argv = [*argv, "list"]  # "nbflow --home DIR ... <any command>"
        try:
            _parser().parse_args(argv)
        except SystemExit:
            error = capsys.readouterr().err.strip().splitlines()[-1]
            if not WHOLE[line] and "the following arguments are required" in error:
                covered |= used  # prose naming a command and some of its options
            else:
                errors.append(f"nbflow {' '.join(argv)}: {error}")
            continue
        covered |= used
    wanted = {(i, a) for i, (_, toks) in enumerate(parts(line)) for alts in toks for a in alts}
    missing = sorted(wanted - covered)
    assert not missing, f"README {line!r}: {missing[0][1]!r} is never accepted: {errors[:3]}"


def nbflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "nbflow.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=600)


@pytest.mark.kernel
def test_readme_commands_run_against_a_notebook(nbflow_home: Path, tmp_path: Path) -> None:
    """The README's local commands, with their options where it writes them, for real."""
    arts = tmp_path / "arts"
    run = nbflow("run", str(NOTEBOOK), "--artifact-root", arts.as_uri(), "-o", "json", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert any(arts.rglob("nbflow.json"))  # the option after the command was honoured
    out = tmp_path / "wf.yaml"
    assert nbflow("compile", str(NOTEBOOK), "-o", str(out), cwd=tmp_path).returncode == 0
    assert nbflow("lint", str(NOTEBOOK), cwd=tmp_path).returncode == 0
    for args in (["status", "-o", "yaml"], ["logs", "-", "fit"], ["list"],
                 ["gc", "--keep-last", "5", "--dry-run"], ["--home", str(nbflow_home), "list"],
                 ["list", "--home", str(nbflow_home)]):
        proc = nbflow(*args, cwd=tmp_path)
        assert proc.returncode == 0, (args, proc.stderr)
