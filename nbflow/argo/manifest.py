"""Read and write Argo manifests: deterministic YAML/JSON out, YAML/JSON files in."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from ..errors import ManifestError

__all__ = ["dump", "load", "load_documents", "load_file", "set_parameters", "entry_template"]


_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser when there is one


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
    docs = load_documents(text, where=where)
    if len(docs) != 1:
        raise ManifestError(f"expected one manifest, found {len(docs)}", where)
    return docs[0]


def load_documents(text: str, *, where: str | None = None) -> list[dict[str, Any]]:
    """Parse every document of a (multi-document) YAML or JSON text; empty documents are
    left out, and each of the others must be a manifest (with a ``kind``)."""
    try:
        docs = [d for d in yaml.load_all(text, Loader=_Loader) if d is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = mark.line + 1 if mark else None
        col = mark.column + 1 if mark else None
        raise ManifestError(f"not valid YAML: {exc.problem}", where, line, col) from None
    if not docs or not all(isinstance(d, dict) and "kind" in d for d in docs):
        raise ManifestError("not an Argo manifest (no 'kind')", where)
    return docs


def load_file(path: str | Path, name: str | None = None) -> dict[str, Any]:
    """Read a manifest file; of a multi-document file, its Workflow (the one called ``name``,
    its ``metadata.name`` or ``generateName``, when it holds several)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read {p}: {exc.strerror}") from None
    docs = load_documents(text, where=str(p))
    if len(docs) == 1 and name is None:
        return docs[0]
    flows = [d for d in docs if d.get("kind") == "Workflow"]
    names = [(d.get("metadata") or {}).get("name") or (d.get("metadata") or {}).get(
        "generateName", "") for d in flows]
    if name is not None:
        flows = [d for d, n in zip(flows, names) if n in (name, f"{name}-")]
    if len(flows) != 1:
        found = ", ".join(names) or "none"
        raise ManifestError(
            f"{len(flows) or 'no'} Workflows match (found: {found}); choose one with -w NAME"
            if name is not None or len(flows) > 1
            else f"holds no Workflow to run (found: {found})",
            str(p),
        )
    return flows[0]


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


def entry_template(workflow: dict[str, Any]) -> dict[str, Any]:
    """The template ``spec.entrypoint`` names (``{}`` when there is none)."""
    spec = workflow.get("spec") or {}
    name = spec.get("entrypoint")
    return next((t for t in spec.get("templates") or [] if t.get("name") == name), {})
