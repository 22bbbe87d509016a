"""Conformance of the local engine on Argo's own examples: run each one, compare with Argo.

Every Workflow file of upstream's ``examples/`` folder (CI has it at ``../shared/argo/examples``
beside the repository; nothing of it is copied here) runs as a user would run it::

    nbflow run FILE --host-exec --load EXAMPLES -o json

in a fresh home, several at once, each with a time limit. The table says, per file: its
``workflows.argoproj.io/no-test`` label, what Argo gives (``expected``), what nbflow gave
(``got``), the seconds it took and why it differs. Below it: the share of the files upstream's
e2e suite expects to succeed (the unlabeled ones) that end correctly, and how many final records
still hold a Running or Pending node (there should be none).

What Argo gives comes from ``conformance-expect.yaml`` beside this script: a phase other than
Succeeded, outputs the run must print, files that are refused for a reason no single machine
can meet, and files whose sleeps ``--max-sleep`` may shorten (without changing what Argo would
do). Unlabeled files are expected to succeed, as upstream's suite expects.

``conformance-baseline.txt`` lists the files that ended correctly; ``--check`` exits 1 when one
of them no longer does (a regression), ``--update-baseline`` rewrites it::

    python benchmarks/conformance.py                        # everything, table on stdout
    python benchmarks/conformance.py --max-sleep 2 --check  # what CI runs (a few minutes)
    python benchmarks/conformance.py loops-param-result.yaml dag-targets.yaml
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXPECT_FILE = HERE / "conformance-expect.yaml"
BASELINE_FILE = HERE / "conformance-baseline.txt"
BIN = HERE / "conformance-bin"
# What stands for the entrypoint of images the examples run without a command (--image-command).
IMAGE_COMMANDS = {
    "argoproj/argosay": str(BIN / "argosay"),
    "nginx": str(BIN / "nginx"),
    "influxdb": str(BIN / "influxd"),
}
NO_TEST = "workflows.argoproj.io/no-test"
REFUSED = "refused"  # nbflow refused the file before running anything (exit 2, one line)
UNFINISHED = ("Running", "Pending")


@dataclass
class Case:
    """One Workflow file and what Argo gives for it."""

    path: Path
    rel: str
    label: str
    expected: list[str]
    checks: dict[str, dict[str, str]] = field(default_factory=dict)
    shorten: bool = False
    refuse: str = ""
    nightly: str = ""  # why the file runs only in the nightly run (longer than a minute)


@dataclass
class Outcome:
    """What nbflow gave for one case."""

    rel: str
    label: str
    expected: str
    got: str
    seconds: float
    reason: str
    correct: bool
    unfinished: int = 0
    shortened: bool = False


# ------------------------------------------------------------------ cases


def default_examples() -> Path:
    """``$ARGO_EXAMPLES``, else ``shared/argo/examples`` beside the repository (CI's layout) or
    beside one of its parent folders (a git worktree's)."""
    if os.environ.get("ARGO_EXAMPLES"):
        return Path(os.environ["ARGO_EXAMPLES"])
    for parent in REPO.parents:
        candidate = parent / "shared" / "argo" / "examples"
        if candidate.is_dir():
            return candidate
    return REPO.parent / "shared" / "argo" / "examples"


def workflow_docs(path: Path) -> list[dict[str, Any]]:
    """The Workflow documents of a YAML file (none when it does not parse)."""
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (yaml.YAMLError, UnicodeDecodeError):
        return []
    return [d for d in docs if isinstance(d, dict) and d.get("kind") == "Workflow"]


def cases(examples: Path, expect: dict[str, Any]) -> list[Case]:
    """Every Workflow file under ``examples``, with its expectation."""
    out = []
    for path in sorted(examples.rglob("*.yaml")):
        docs = workflow_docs(path)
        if not docs:
            continue
        rel = path.relative_to(examples).as_posix()
        labels = (docs[0].get("metadata") or {}).get("labels") or {}
        label = str(labels.get(NO_TEST, ""))
        spec = expect.get(rel) or {}
        expected = spec.get("phase") or (
            ["Succeeded", REFUSED] if label == "environment" else ["Succeeded"]
        )
        out.append(
            Case(
                path=path,
                rel=rel,
                label=label,
                expected=[expected] if isinstance(expected, str) else list(expected),
                checks=spec.get("outputs") or {},
                shorten=bool(spec.get("shorten")),
                refuse=spec.get("refuse", ""),
                nightly=spec.get("nightly", ""),
            )
        )
    return out


# ------------------------------------------------------------------ shortening sleeps

_SLEEP = re.compile(r"\b(sleep\s+)(\d+(?:\.\d+)?)(s?)\b")


def shorten_sleeps(text: str, max_s: float) -> str:
    """``sleep N`` (N seconds) in the file's text becomes ``sleep max_s`` when N is longer."""

    def repl(m: re.Match[str]) -> str:
        if float(m.group(2)) <= max_s:
            return m.group(0)
        return f"{m.group(1)}{max_s:g}{m.group(3)}"

    return _SLEEP.sub(repl, text)


# ------------------------------------------------------------------ running


def nbflow_options() -> set[str]:
    """The options ``nbflow run`` knows (so that older versions can be measured too)."""
    proc = subprocess.run(
        [sys.executable, "-m", "nbflow.cli", "run", "--help"], capture_output=True, text=True
    )
    return set(re.findall(r"--[a-z][a-z-]+", proc.stdout))


def run_case(case: Case, args: argparse.Namespace, options: set[str]) -> Outcome:
    """Run one file in a fresh home and compare what it gives with what Argo gives."""
    with tempfile.TemporaryDirectory(prefix="nbflow-conf-") as tmp:
        source = case.path
        shortened = False
        if case.shorten and args.max_sleep is not None:
            text = case.path.read_text(encoding="utf-8")
            short = shorten_sleeps(text, args.max_sleep)
            if short != text:
                source = Path(tmp) / case.path.name
                source.write_text(short, encoding="utf-8")
                shortened = True
        command = [sys.executable, "-m", "nbflow.cli", "run", str(source), "-o", "json"]
        command += ["--host-exec"]
        if "--load" in options:
            command += ["--load", str(args.examples)]
        if "--image-command" in options:
            for image, entry in IMAGE_COMMANDS.items():
                command += ["--image-command", f"{image}={entry}"]
        env = {**os.environ, "NBFLOW_HOME": str(Path(tmp) / "home")}
        # the images' programs: stand-ins first, then the host's (cowsay is in /usr/games)
        env["PATH"] = os.pathsep.join([str(BIN), env.get("PATH", ""), "/usr/games"])
        env.pop("NBFLOW_ARTIFACT_ROOT", None)
        start = time.monotonic()
        proc = subprocess.Popen(
            command,
            cwd=tmp,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            stdout, stderr = proc.communicate(timeout=args.timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            stdout, stderr = proc.communicate()
            timed_out = True
        seconds = time.monotonic() - start
    if args.records is not None and stdout.strip():
        target = args.records / (case.rel.replace("/", "__") + ".json")
        target.write_text(stdout, encoding="utf-8")
    outcome = judge(case, proc.returncode, stdout, stderr, timed_out)
    outcome.seconds = seconds
    outcome.shortened = shortened
    return outcome


def judge(case: Case, code: int, stdout: str, stderr: str, timed_out: bool) -> Outcome:
    """Compare one run's end with what Argo gives."""
    expected = "|".join(case.expected)
    row = Outcome(case.rel, case.label, expected, "", 0.0, "", False)
    if timed_out:
        row.got, row.reason = "timeout", "killed at the time limit"
        return row
    try:
        wf = json.loads(stdout) if stdout.strip() else None
    except ValueError:
        wf = None
    if wf is None:
        last = [line for line in stderr.strip().splitlines() if line.strip()]
        row.got = REFUSED if code == 2 and len(last) <= 2 else f"crash({code})"
        row.reason = last[-1][:200] if last else ""
        row.correct = row.got == REFUSED and REFUSED in case.expected and case.refuse in row.reason
        return row
    status = wf.get("status") or {}
    nodes = list((status.get("nodes") or {}).values())
    row.got = status.get("phase", "")
    row.unfinished = sum(1 for n in nodes if n.get("phase") in UNFINISHED)
    row.reason = _first_failure(nodes) or status.get("message", "")
    wrong = _check_outputs(case.checks, nodes)
    if wrong:
        row.reason = wrong
    row.correct = row.got in case.expected and not wrong and row.unfinished == 0
    if row.unfinished and not row.reason:
        row.reason = f"{row.unfinished} node(s) left Running/Pending"
    return row


def _first_failure(nodes: list[dict[str, Any]]) -> str:
    for n in nodes:
        message = str(n.get("message") or "")
        if n.get("phase") in ("Failed", "Error") and message and not message.startswith("child "):
            return f"{n['displayName']}: {message}"[:200]
    return ""


def _check_outputs(checks: dict[str, dict[str, str]], nodes: list[dict[str, Any]]) -> str:
    """Why the nodes' outputs differ from Argo's (empty when they agree).

    ``checks`` maps a node's display name (a glob: a single pod's node is named after the run)
    to ``{"result": text}`` (exact), ``{"result~": regex}``, ``{"parameters.NAME": text}``,
    ``{"artifacts.NAME": "present"}`` or ``{"phase": phase}``; ``{"absent": true}`` says no
    such node may exist.
    """
    for name, want in checks.items():
        node = next((n for n in nodes if fnmatch.fnmatchcase(n.get("displayName", ""), name)),
                    None)
        if want.get("absent"):
            if node is not None:
                return f"{name} ran; Argo does not run it"
            continue
        if node is None:
            return f"no node {name!r}"
        for key, value in want.items():
            got = _value(node, key.rstrip("~"))
            ok = (
                got is not None and re.search(str(value), got) is not None
                if key.endswith("~")
                else got == str(value)
            )
            if not ok:
                return f"{name}: {key.rstrip('~')} is {got!r}, Argo gives {value!r}"
    return ""


def _value(node: dict[str, Any], key: str) -> str | None:
    outputs = node.get("outputs") or {}
    if key == "phase":
        return str(node.get("phase"))
    if key == "result":
        return outputs.get("result")
    kind, _, name = key.partition(".")
    for item in outputs.get(kind) or []:
        if item.get("name") == name:
            return str(item.get("value")) if kind == "parameters" else "present"
    return None


# ------------------------------------------------------------------ report


def table(rows: list[Outcome]) -> str:
    """The table: file | label | expected | got | seconds | reason."""
    head = ("file", "label", "expected", "got", "seconds", "reason")
    lines = [head]
    for r in rows:
        mark = "" if r.correct else "✗ "
        secs = f"{r.seconds:.1f}" + ("*" if r.shortened else "")
        lines.append((r.rel, r.label or "-", r.expected, mark + r.got, secs, r.reason))
    widths = [max(len(line[i]) for line in lines) for i in range(5)]
    return "\n".join(
        " | ".join(cell.ljust(w) for cell, w in zip(line[:5], widths)) + " | " + line[5]
        for line in lines
    )


def summary(rows: list[Outcome]) -> str:
    """Share correct of the unlabeled files, of all files, and records left unfinished."""
    unlabeled = [r for r in rows if not r.label]
    good = sum(r.correct for r in unlabeled)
    left = [r for r in rows if r.unfinished]
    lines = [
        f"unlabeled files correct: {good} of {len(unlabeled)}"
        + (f" ({100 * good / len(unlabeled):.0f}%)" if unlabeled else ""),
        f"all files correct: {sum(r.correct for r in rows)} of {len(rows)}",
        f"final records with Running/Pending nodes: {len(left)} "
        f"({sum(r.unfinished for r in left)} nodes)",
    ]
    short = [r.rel for r in rows if r.shortened]
    if short:
        lines.append("sleeps shortened (*): " + ", ".join(short))
    return "\n".join(lines)


def read_baseline(path: Path) -> list[str]:
    """The files that ended correctly before (one per line; ``#`` starts a comment)."""
    if not path.is_file():
        return []
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("only", nargs="*", help="files (or globs) to run, relative to --examples")
    parser.add_argument("--examples", type=Path, default=default_examples())
    parser.add_argument("--jobs", type=int, default=2 * (os.cpu_count() or 1))
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds per file")
    parser.add_argument(
        "--max-sleep",
        type=float,
        help="shorten 'sleep N' longer than this (seconds) in the files the expectations "
        "allow (their rows are marked *)",
    )
    parser.add_argument("--unlabeled", action="store_true", help="only unlabeled files")
    parser.add_argument(
        "--nightly", action="store_true", help="also the files that run longer than a minute"
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if a baseline file regresses")
    parser.add_argument("--update-baseline", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    parser.add_argument("--records", type=Path, help="keep each run's final Workflow here")
    args = parser.parse_args(argv)
    if not args.examples.is_dir():
        print(f"conformance: no examples folder at {args.examples}", file=sys.stderr)
        return 2
    args.examples = args.examples.resolve()
    if args.records is not None:
        args.records.mkdir(parents=True, exist_ok=True)
    expect = yaml.safe_load(EXPECT_FILE.read_text(encoding="utf-8")) or {}
    todo = cases(args.examples, expect)
    if args.only:
        todo = [c for c in todo if any(fnmatch.fnmatch(c.rel, pat) for pat in args.only)]
    if args.unlabeled:
        todo = [c for c in todo if not c.label]
    later = [c for c in todo if c.nightly and not args.nightly and not args.only]
    todo = [c for c in todo if c not in later]
    options = nbflow_options()
    start = time.monotonic()
    slow_first = sorted(todo, key=lambda c: c.label != "duration")
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(lambda c: run_case(c, args, options), slow_first))
    rows.sort(key=lambda r: r.rel)
    print(table(rows))
    print()
    print(summary(rows))
    print(f"wall time: {time.monotonic() - start:.0f} s with {args.jobs} jobs")
    if later:
        print("left for the nightly run (--nightly): " + ", ".join(
            f"{c.rel} ({c.nightly})" for c in later))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    passing = sorted(r.rel for r in rows if r.correct)
    if args.update_baseline:
        BASELINE_FILE.write_text(
            "# Example files (relative to the examples folder) that end as Argo ends them.\n"
            "# Rewritten by: python benchmarks/conformance.py --update-baseline\n"
            + "".join(f"{p}\n" for p in passing)
        )
    if args.check:
        ran = {r.rel: r for r in rows}
        lost = [p for p in read_baseline(BASELINE_FILE) if p in ran and not ran[p].correct]
        if lost:
            print("regressions (passed before): " + ", ".join(lost), file=sys.stderr)
        unfinished = [r.rel for r in rows if r.unfinished]
        if unfinished:
            print("final records with Running/Pending nodes: " + ", ".join(unfinished),
                  file=sys.stderr)
        if lost or unfinished:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
