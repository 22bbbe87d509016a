"""Save and load step values as artifact directories, choosing the format by the value's type."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import tempfile
import threading
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import MarshalError, NbflowError
from .formats import BUILT_IN, Unsupported, is_jsonable
from .vocab import META_FILE

__all__ = [
    "Unsupported",
    "register",
    "save",
    "load",
    "load_fan_in",
    "load_input",
    "to_parameter",
    "is_jsonable",
    "PARAMETER_MAX_BYTES",
    "ENTRY_POINT_GROUP",
]

PARAMETER_MAX_BYTES = 64 * 1024
ENTRY_POINT_GROUP = "nbflow.serializers"

SaveFn = Callable[[Any, Path], None]
LoadFn = Callable[[Path], Any]


@dataclass(frozen=True)
class _Serializer:
    accepts: Callable[[Any], bool]
    format: str
    save: SaveFn


_serializers: list[_Serializer] = []
_loaders: dict[str, LoadFn] = {}
_plugins_loaded = False
_plugins_lock = threading.RLock()  # re-entrant: a plugin may save or load while installing


def register(
    predicate_or_type: type | tuple[type, ...] | Callable[[Any], bool],
    format_name: str,
    save_fn: SaveFn,
    load_fn: LoadFn,
    *,
    first: bool = False,
) -> None:
    """Add a serialiser to the registry.

    Parameters
    ----------
    predicate_or_type : type, tuple of types or callable
        Values it handles: instances of the type(s), or values for which the callable is true.
        A predicate should not import heavy modules: check ``sys.modules`` first.
    format_name : str
        Name recorded in the artifact's ``nbflow.json``; registering a name again replaces it.
    save_fn : callable
        ``save_fn(value, directory)`` writes files into the (existing, empty) ``directory``.
        It may raise :class:`Unsupported` to let the next serialiser try.
    load_fn : callable
        ``load_fn(directory)`` returns the value saved there.
    first : bool
        Try it before every other serialiser; by default it goes just before pickle,
        which stays the last resort.
    """
    accepts: Callable[[Any], bool]
    if isinstance(predicate_or_type, (type, tuple)):
        types = predicate_or_type
        accepts = lambda value: isinstance(value, types)  # noqa: E731
    else:
        accepts = predicate_or_type
    entry = _Serializer(accepts, format_name, save_fn)
    _serializers[:] = [s for s in _serializers if s.format != format_name]
    if first:
        _serializers.insert(0, entry)
    else:
        last = [i for i, s in enumerate(_serializers) if s.format == "pickle"]
        _serializers.insert(last[0] if last else len(_serializers), entry)
    _loaders[format_name] = load_fn


def _load_plugins() -> None:
    """Run the ``nbflow.serializers`` entry points once; each is a callable calling register()."""
    global _plugins_loaded
    with _plugins_lock:
        if _plugins_loaded:
            return
        _plugins_loaded = True
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            try:
                ep.load()()
            except Exception as exc:  # a broken plugin must not break every step
                warnings.warn(
                    f"nbflow serialiser plugin {ep.name!r} ({ep.value}) failed to load: {exc}",
                    RuntimeWarning,
                    stacklevel=2,
                )


# ----------------------------------------------------------------------------- save / load


def _type_name(value: Any) -> str:
    cls = type(value)
    return f"{cls.__module__}.{cls.__qualname__}"


def _describe(value: Any, name: str, template: str | None) -> str:
    kind = type(value).__name__
    article = "an" if kind[:1].lower() in "aeiou" else "a"
    where = f" of template {template!r}" if template else ""
    return f"output {name!r}{where} ({article} {kind})"


def save(value: Any, directory: Path, *, name: str, template: str | None = None) -> str:
    """Save ``value`` as the artifact directory ``directory``; return the format used.

    The files are written into a temporary sibling directory that is then renamed into
    place, so a reader never sees a half-written artifact; an existing artifact is replaced.
    ``nbflow.json`` inside records ``{"format": ..., "type": "<module>.<qualname>"}``.

    Formats, tried in order: ``json`` (JSON-able values; tuples come back as lists),
    ``npy`` (numpy arrays without objects), ``parquet`` (pandas DataFrames, with pyarrow),
    ``parquet-series`` (pandas Series), ``path`` (a :class:`pathlib.Path` to a file or
    folder: the file or folder is copied), then ``pickle`` as the last resort.

    Raises
    ------
    MarshalError
        When no serialiser can save the value; the message names ``name``, the value's
        type and ``template``.
    """
    _load_plugins()
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", suffix=".tmp", dir=directory.parent))
    tmp.chmod(0o755)  # mkdtemp makes it owner-only; the artifact must be readable by the copier
    try:
        fmt = _write(value, tmp, name, template)
        meta = {"format": fmt, "type": _type_name(value)}
        (tmp / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
        _replace_dir(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return fmt


def _write(value: Any, tmp: Path, name: str, template: str | None) -> str:
    for ser in list(_serializers):
        try:
            if not ser.accepts(value):
                continue
            ser.save(value, tmp)
        except Unsupported:
            shutil.rmtree(tmp)
            tmp.mkdir()
            continue
        except MarshalError:
            raise
        except Exception as exc:
            what = _describe(value, name, template)
            raise MarshalError(f"{what} cannot be saved: {exc or type(exc).__name__}") from exc
        return ser.format
    raise MarshalError(
        f"{_describe(value, name, template)} cannot be saved: no serialiser accepts it"
    )


def _replace_dir(new: Path, target: Path) -> None:
    if not target.exists():
        os.rename(new, target)
        return
    old = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(target, old)
    os.rename(new, target)
    shutil.rmtree(old, ignore_errors=True)


def load(directory: Path) -> Any:
    """Load the value saved by :func:`save` in ``directory``.

    Raises
    ------
    MarshalError
        When ``directory`` is not an artifact, its format is unknown, or loading fails.
    """
    _load_plugins()
    directory = Path(directory)
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        fmt = meta["format"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MarshalError(
            f"{directory} is not an nbflow artifact (no readable {META_FILE})"
        ) from exc
    loader = _loaders.get(fmt)
    if loader is None:
        raise MarshalError(
            f"artifact {directory} has format {fmt!r}, which no installed "
            "serialiser reads (is the package that wrote it installed here?)"
        )
    try:
        return loader(directory)
    except NbflowError:
        raise
    except Exception as exc:
        raise MarshalError(
            f"cannot load artifact {directory} (format {fmt!r}, a "
            f"{meta.get('type', '?')}): {type(exc).__name__}: {exc}"
        ) from exc


_INDEX = re.compile(r"[0-9]+")


def load_fan_in(directory: Path, name: str) -> list[Any]:
    """Load the items of a fan-in directory: ``<i>/<name>/`` for each item index ``i``.

    Only all-digit sub-directories count, in numeric order; other entries are ignored.
    """
    directory = Path(directory)
    indexes = sorted(
        int(p.name) for p in directory.iterdir() if p.is_dir() and _INDEX.fullmatch(p.name)
    )
    items = []
    for i in indexes:
        item = directory / str(i) / name
        if not item.is_dir():
            raise MarshalError(
                f"item {i} of fan-in input {name!r} has no artifact {name!r} (expected {item})"
            )
        items.append(load(item))
    return items


def load_input(directory: Path, name: str) -> Any:
    """Load an input directory: a single artifact, or a fan-in of a mapped task's items."""
    directory = Path(directory)
    if (directory / META_FILE).is_file():
        return load(directory)
    entries = list(directory.iterdir())
    if not entries or any(p.is_dir() and _INDEX.fullmatch(p.name) for p in entries):
        return load_fan_in(directory, name)
    raise MarshalError(
        f"input {name!r} at {directory} is neither an nbflow artifact "
        f"(no {META_FILE}) nor a fan-in of numbered items"
    )


def to_parameter(value: Any) -> str | None:
    """Compact JSON text of ``value`` when it is JSON-able and at most 64 KiB, else None."""
    if not is_jsonable(value):
        return None
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text.encode("utf-8")) <= PARAMETER_MAX_BYTES else None


for _accepts, _name, _save, _load in BUILT_IN:
    register(_accepts, _name, _save, _load)
