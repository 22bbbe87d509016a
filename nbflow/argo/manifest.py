"""Read and write Argo manifests: deterministic YAML/JSON out, YAML/JSON files in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..errors import ManifestError

__all__ = ["dump", "load", "load_file", "set_parameters"]


class _Dumper(yaml.SafeDumper):
    """SafeDumper writing multi-line strings (inlined notebooks) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(manifest: dict[str, Any], fmt: str = "yaml") -> str:
    """Serialise ``manifest`` as ``"yaml"`` or ``"json"``, keeping key order (deterministic)."""
    if fmt == "json":
        return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    if fmt == "yaml":
        return yaml.dump(manifest, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)
    raise ValueError(f"unknown format {fmt!r}: use yaml or json")


def load(text: str, *, where: str | None = None) -> dict[str, Any]:
    """Parse a YAML or JSON manifest; raise :class:`ManifestError` with line and column."""
    try:
        doc = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        raise ManifestError(f"not valid YAML: {exc.problem}", where, line, col) from None
    if not isinstance(doc, dict) or "kind" not in doc:
        raise ManifestError("not an Argo manifest (no 'kind')", where)
    return doc


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a manifest file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read {p}: {exc.strerror}") from None
    return load(text, where=str(p))


def set_parameters(spec: dict[str, Any], values: dict[str, str]) -> None:
    """Set workflow parameters (``argo submit -p``) in ``spec.arguments``, in place.

    Raises :class:`ManifestError` naming a parameter the workflow does not declare.
    """
    declared = {p["name"]: p for p in (spec.get("arguments") or {}).get("parameters") or []}
    for name, value in values.items():
        if name not in declared:
            raise ManifestError(
                f"-p {name}: the workflow has no parameter {name!r} "
                f"(declared: {', '.join(sorted(declared)) or 'none'})"
            )
        declared[name]["value"] = value
