"""The objects a cluster would hold for a workflow, read from files: ConfigMaps, Secrets,
PersistentVolumeClaims, WorkflowTemplates and ClusterWorkflowTemplates (``nbflow run --load``).

Upstream's e2e suite applies every such object of ``examples/`` before it submits the examples;
``--load`` gives the local engine the same view. Secret values are kept in memory only: they
reach a step's environment or files, never a run record, a manifest or a log.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ManifestError
from .manifest import load_documents

__all__ = ["ClusterObjects", "load_objects", "LOADABLE_KINDS"]

#: The kinds ``--load`` reads; documents of other kinds are passed over.
LOADABLE_KINDS = frozenset(
    {"ConfigMap", "Secret", "PersistentVolumeClaim", "WorkflowTemplate", "ClusterWorkflowTemplate"}
)
_SUFFIXES = (".yaml", ".yml", ".json")
HOW = "give the file that defines it with --load FILE (or c.NbflowConfig.load)"


@dataclass
class ClusterObjects:
    """Named objects by kind, as a namespace (and the cluster scope) would hold them."""

    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    claims: set[str] = field(default_factory=set)
    workflow_templates: dict[str, dict[str, Any]] = field(default_factory=dict)
    cluster_templates: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, doc: dict[str, Any], where: str) -> bool:
        """Take ``doc`` in if it is of a loadable kind; return whether it was."""
        kind = doc.get("kind")
        if kind not in LOADABLE_KINDS:
            return False
        name = (doc.get("metadata") or {}).get("name")
        if not name:
            raise ManifestError(f"a {kind} without metadata.name", where)
        if kind == "ConfigMap":
            self.config_maps[name] = {k: str(v) for k, v in (doc.get("data") or {}).items()}
        elif kind == "Secret":
            self.secrets[name] = _secret_data(doc, where)
        elif kind == "PersistentVolumeClaim":
            self.claims.add(name)
        elif kind == "WorkflowTemplate":
            self.workflow_templates[name] = doc
        else:
            self.cluster_templates[name] = doc
        return True

    def config_map_key(self, ref: dict[str, Any], where: str) -> str | None:
        """The value of a ``configMapKeyRef`` (``None`` when optional and missing)."""
        return self._key("ConfigMap", self.config_maps, ref, where)

    def secret_key(self, ref: dict[str, Any], where: str) -> str | None:
        """The value of a ``secretKeyRef`` (``None`` when optional and missing)."""
        return self._key("Secret", self.secrets, ref, where)

    def _key(
        self, kind: str, table: dict[str, dict[str, str]], ref: dict[str, Any], where: str
    ) -> str | None:
        name, key = ref.get("name", ""), ref.get("key", "")
        data = table.get(name)
        if data is not None and key in data:
            return data[key]
        if ref.get("optional"):
            return None
        if data is None:
            raise ManifestError(f"{kind} {name!r} is not loaded: {HOW}", where)
        raise ManifestError(f"{kind} {name!r} has no key {key!r}", where)

    def template(self, ref: dict[str, Any], where: str) -> dict[str, Any]:
        """The (Cluster)WorkflowTemplate a ``templateRef`` / ``workflowTemplateRef`` names."""
        name = ref.get("name", "")
        cluster = bool(ref.get("clusterScope"))
        table = self.cluster_templates if cluster else self.workflow_templates
        kind = "ClusterWorkflowTemplate" if cluster else "WorkflowTemplate"
        if name not in table:
            raise ManifestError(f"{kind} {name!r} is not loaded: {HOW}", where)
        return table[name]


def _secret_data(doc: dict[str, Any], where: str) -> dict[str, str]:
    out = {}
    for key, value in (doc.get("data") or {}).items():
        try:
            out[key] = base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ManifestError(f"Secret key {key!r} is not base64 text", where) from None
    out.update({k: str(v) for k, v in (doc.get("stringData") or {}).items()})
    return out


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
    if not path.exists():
        raise ManifestError(f"--load {path}: no such file or folder")
    return [path]


def load_objects(
    paths: Iterable[str | Path], objects: ClusterObjects | None = None
) -> ClusterObjects:
    """Read the loadable objects of YAML/JSON files, multi-document files and folders.

    In a folder, files that do not parse as YAML, and documents of other kinds, are passed
    over (as ``kubectl apply`` of upstream's examples would); a file named on its own must
    parse.
    """
    out = objects if objects is not None else ClusterObjects()
    for given in paths:
        root = Path(given)
        for path in _files(root):
            try:
                text = path.read_text(encoding="utf-8")
                if path != root and not any(kind in text for kind in LOADABLE_KINDS):
                    continue  # a folder's other files need not be parsed
                docs = load_documents(text, where=str(path))
            except (ManifestError, UnicodeDecodeError, OSError):
                if path == root:
                    raise
                continue
            for doc in docs:
                out.add(doc, str(path))
    return out
