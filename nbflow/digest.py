"""Content digests of artifacts, and the check of a step's inputs against their producers' digests.

A producer records the sha256 of each output it writes (the ``nbflow-digests`` output parameter);
whoever reads an artifact later checks what it finds against that record, which lives in the
run's trusted state (the run record in the home, or the Workflow's status on a cluster), never in
the artifact store. Standard library only: the step's side imports it.

A step's *expectation* (``expect.json`` in its folder) says, for each input, which task produced
it, under which key, and its digest (or, for the fan-in of a mapped task, the digest of each
item): ``{"x": {"task": "a", "key": "w/r/a/x/", "digest": "..."}, "xs": {"task": "m", "key":
"w/r/m/", "items": {"0": "...", "1": "..."}}}``.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import IntegrityError
from .vocab import DIGESTS_FILE, EXPECT_FILE

__all__ = [
    "digest_path",
    "digest_files",
    "check_artifact",
    "verify_inputs",
    "verify_input",
    "check_inputs",
    "from_manifest",
    "record_digests",
    "read_expectation",
    "short",
]

_INDEX = re.compile(r"[0-9]+")
_BLOCK = 1 << 20


def _files(path: Path) -> list[Path]:
    return [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())


def _name(file: Path, root: Path) -> bytes:
    return str(file.relative_to(root) if file != root else "").encode() + b"\0"


def digest_path(path: Path) -> str:
    """sha256 of a file, or of a folder's relative paths and file contents in sorted order."""
    h = hashlib.sha256()
    for file in _files(path):
        h.update(_name(file, path))
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(_BLOCK), b""):
                h.update(block)
    return h.hexdigest()


def digest_files(path: Path) -> tuple[str, dict[str, bytes]]:
    """:func:`digest_path` of ``path``, and the bytes it hashed, read once.

    What is then loaded from the returned bytes is exactly what was checked, however the files
    change afterwards (for formats that run code when loaded: pickle).
    """
    h = hashlib.sha256()
    contents = {}
    for file in _files(path):
        data = file.read_bytes()
        h.update(_name(file, path))
        h.update(data)
        contents[file.relative_to(path).as_posix() if file != path else ""] = data
    return h.hexdigest(), contents


def short(digest: str) -> str:
    """The first 12 hex digits of a digest, for messages."""
    return digest[:12]


def check_artifact(local: Path, expected: str, what: str) -> None:
    """Raise :class:`IntegrityError` unless ``local`` (file or folder) has digest ``expected``.

    ``what`` names the artifact in the message: its producer task and key.
    """
    if not local.exists():
        raise IntegrityError(f"{what} is missing")
    found = digest_path(local)
    if found != expected:
        raise IntegrityError(
            f"{what} changed after it was written (sha256 {short(found)}..., "
            f"its producer recorded {short(expected)}...)"
        )


def read_expectation(step_dir: Path) -> dict[str, Any] | None:
    """The expectation of the step in ``step_dir``, or ``None`` when it has none."""
    path = Path(step_dir) / EXPECT_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise IntegrityError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else None


def verify_inputs(inputs: Path, expectation: dict[str, Any]) -> None:
    """Check the staged inputs under ``inputs`` (``inputs/<name>``) against ``expectation``.

    A fan-in keeps exactly the items its producer recorded: an item folder of the key prefix
    that no item of the run wrote (left by an earlier attempt, or planted) is removed, so that
    the step never reads it.

    Raises
    ------
    IntegrityError
        One line naming the input, its producer task, the key and what differed.
    """
    for name, expect in sorted(expectation.items()):
        verify_input(Path(inputs) / name, name, expect)


def verify_input(local: Path, name: str, expect: dict[str, Any]) -> None:
    """Check one staged input ``local`` against its expectation (see :func:`verify_inputs`)."""
    task, key = expect.get("task", "?"), expect.get("key", "?")
    if "items" in expect:
        _verify_items(local, name, task, key, expect["items"], expect.get("count"))
    elif expect.get("digest"):
        what = f"input {name!r}: artifact {key} of task {task!r}"
        check_artifact(local, str(expect["digest"]), what)


def _verify_items(
    local: Path, name: str, task: str, key: str, items: dict[str, str | None], count: int | None
) -> None:
    present = {p.name for p in _numbered(local)}
    count = count if count is not None else max((int(i) + 1 for i in items), default=0)
    for index in map(str, range(count)):
        what = f"input {name!r}: item {index} of mapped task {task!r} ({key}{index}/{name}/)"
        digest = items.get(index)
        if digest is None:
            raise IntegrityError(f"{what} was never recorded (the item did not succeed)")
        if index not in present:
            raise IntegrityError(f"{what} is missing")
        check_artifact(local / index / name, digest, what)
    for extra in present - set(map(str, range(count))):
        shutil.rmtree(local / extra)


def from_manifest(text: str) -> dict[str, Any]:
    """The expectation the compiled manifest passes a step (``--expect``): for each input,
    its producer task, key, and the producer's ``nbflow-digests`` output (a mapped producer's:
    the list of its items', as Argo aggregates them), turned into :func:`verify_inputs`' form.
    An input whose digests could not be passed (``null``) is left out: it is not checked."""
    try:
        given = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise IntegrityError(f"the step's expectation is not JSON ({exc})") from None
    out: dict[str, Any] = {}
    for name, entry in (given if isinstance(given, dict) else {}).items():
        head = {"task": entry.get("task", "?"), "key": entry.get("key", "?")}
        if isinstance(entry.get("digests"), dict) and entry["digests"].get(name):
            out[name] = {**head, "digest": entry["digests"][name]}
        elif isinstance(entry.get("items"), list):
            found = [_as_dict(i).get(name) for i in entry["items"]]
            items = {str(i): d for i, d in enumerate(found)}
            out[name] = {**head, "items": items, "count": len(found)}
    return out


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return {}
    return value if isinstance(value, dict) else {}


def _numbered(folder: Path) -> Iterable[Path]:
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_dir() and _INDEX.fullmatch(p.name)]


def check_inputs(step_dir: Path, given: str = "") -> None:
    """Check the inputs of the step in ``step_dir`` against its expectation.

    The expectation is ``expect.json`` in the step's folder (the local engine writes it from
    its run record), completed by ``given``, the ``--expect`` text of the compiled manifest
    (on a cluster, the only one). The whole of it is then left in ``expect.json``, where the
    step's own loads find the digests of pickles.

    Raises
    ------
    IntegrityError
        An input is missing or differs from what its producer recorded.
    """
    expectation = {**from_manifest(given), **(read_expectation(step_dir) or {})}
    if expectation:
        verify_inputs(Path(step_dir) / "inputs", expectation)
        path = Path(step_dir) / EXPECT_FILE
        path.write_text(json.dumps(expectation), encoding="utf-8")


def record_digests(step_dir: Path) -> dict[str, str]:
    """Digest each output the step saved (``outputs/<name>``) into its ``nbflow-digests`` file."""
    outputs = Path(step_dir) / "outputs"
    found = {}
    if outputs.is_dir():
        for path in sorted(outputs.iterdir()):
            if not path.name.startswith("."):
                found[path.name] = digest_path(path)
    target = Path(step_dir) / DIGESTS_FILE
    target.write_text(json.dumps(found, sort_keys=True), encoding="utf-8")
    return found
