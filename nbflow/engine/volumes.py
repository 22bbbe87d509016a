"""Volumes of a host pod as folders of this machine: ``emptyDir`` (the pod's), claims (a
``PersistentVolumeClaim`` of the home, kept across runs by name; a ``volumeClaimTemplates``
claim of the run), ``configMap`` and ``secret`` (files written for the pod, secrets readable by
the pod only), and ``hostPath`` (only when allowed), with ``subPath`` mounts."""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..argo.objects import ClusterObjects
from ..errors import NbflowError

__all__ = ["HostOptions", "volume_source", "claim_folder"]


@dataclass
class HostOptions:
    """What host pods may use beyond the manifest.

    Parameters
    ----------
    objects : ClusterObjects
        Loaded ConfigMaps, Secrets, claims and templates (``--load``).
    image_commands : dict
        Image -> the command that stands for its entrypoint on this machine
        (``--image-command IMAGE=CMD``).
    allow_host_path : bool
        Whether ``hostPath`` volumes may bind folders of this machine (``--allow-host-path``).
    uid, gid : int, optional
        Who steps run as (default: 1000 when nbflow runs as root, else the user itself).
    home : Path, optional
        nbflow's home: claims live in ``<home>/volumes/<claim>``.
    hidden : list of str
        Folders of this machine a pod must not see (nbflow's home).
    """

    objects: ClusterObjects = field(default_factory=ClusterObjects)
    image_commands: dict[str, list[str]] = field(default_factory=dict)
    allow_host_path: bool = False
    uid: int | None = None
    gid: int | None = None
    home: Path | None = None
    hidden: list[str] = field(default_factory=list)

    @classmethod
    def from_settings(
        cls, settings: dict[str, Any], home: Path | None, uid: int = 1000
    ) -> HostOptions:
        """The options a run recorded (``run.json``: ``load``, ``image_commands``,
        ``allow_host_path``); steps run as ``uid`` when nbflow runs as root."""
        import shlex

        from ..argo.objects import load_objects

        root = os.geteuid() == 0
        return cls(
            objects=load_objects(settings.get("load") or []),
            image_commands={
                image: shlex.split(cmd)
                for image, cmd in (settings.get("image_commands") or {}).items()
            },
            allow_host_path=bool(settings.get("allow_host_path")),
            uid=uid if root else None,
            gid=uid if root else None,
            home=home,
            hidden=[str(Path(home).resolve())] if home is not None else [],
        )

    def image_command(self, image: str) -> list[str] | None:
        """The command given for ``image`` (exactly, or for its name without tag or digest)."""
        for key in (image, image.split("@")[0], _without_tag(image)):
            if key in self.image_commands:
                return list(self.image_commands[key])
        return None


def _without_tag(image: str) -> str:
    name = image.split("@")[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def claim_folder(home: Path | None, run_dir: Path, name: str, template: bool) -> Path:
    """Where claim ``name`` lives: the run's for a ``volumeClaimTemplates`` claim, else the
    home's (an existing claim keeps its files across runs)."""
    if template or home is None:
        return run_dir / "volumes" / name
    return Path(home) / "volumes" / name


def volume_source(
    volume: dict[str, Any],
    *,
    pod_dir: Path,
    run_dir: Path,
    claim_templates: set[str],
    options: HostOptions,
) -> tuple[Path, bool]:
    """The folder (or file tree) of this machine that ``volume`` is, and whether it is
    read-only. ConfigMap and Secret volumes are written into the pod's folder now."""
    name = volume.get("name", "")
    where = f"volume {name!r}"
    if "emptyDir" in volume:
        return pod_dir / "volumes" / name, False
    if "persistentVolumeClaim" in volume:
        claim = volume["persistentVolumeClaim"].get("claimName", "")
        if claim not in options.objects.claims:
            raise NbflowError(
                f"{where}: PersistentVolumeClaim {claim!r} is not loaded: give the file that "
                "defines it with --load FILE"
            )
        ro = bool(volume["persistentVolumeClaim"].get("readOnly"))
        return claim_folder(options.home, run_dir, claim, False), ro
    if "hostPath" in volume:
        path = volume["hostPath"].get("path", "")
        if not options.allow_host_path:
            raise NbflowError(
                f"{where}: hostPath {path} would give the step this machine's folder; "
                "allow it with --allow-host-path (c.NbflowConfig.allow_host_path = True)"
            )
        return Path(path), False
    if "configMap" in volume or "secret" in volume:
        return _key_files(volume, pod_dir / "volumes" / name, options, where), True
    kinds = ", ".join(k for k in volume if k != "name") or "no source"
    if name in claim_templates:
        return claim_folder(options.home, run_dir, name, True), False
    raise NbflowError(f"{where} ({kinds}) cannot be given to a pod on this machine")


def _key_files(volume: dict[str, Any], folder: Path, options: HostOptions, where: str) -> Path:
    """Write the keys of a ConfigMap or Secret volume as files (``items`` picks and renames)."""
    secret = "secret" in volume
    src = volume["secret"] if secret else volume["configMap"]
    name = src.get("secretName") if secret else src.get("name")
    table = options.objects.secrets if secret else options.objects.config_maps
    data = table.get(name or "")
    if data is None:
        if src.get("optional"):
            data = {}
        else:
            kind = "Secret" if secret else "ConfigMap"
            raise NbflowError(f"{where}: {kind} {name!r} is not loaded: give the file that "
                              "defines it with --load FILE")
    items = src.get("items") or [{"key": k, "path": k} for k in data]
    folder.mkdir(parents=True, exist_ok=True)
    for item in items:
        if item["key"] not in data:
            raise NbflowError(f"{where}: no key {item['key']!r} in {name!r}")
        rel = posixpath.normpath(item.get("path") or item["key"])
        if rel.startswith("..") or rel.startswith("/"):
            raise NbflowError(f"{where}: item path {item.get('path')!r} leaves the volume")
        target = folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if secret else 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(data[item["key"]])
    return folder
