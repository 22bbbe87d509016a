"""The built-in formats of step values: JSON, numpy's ``.npy``, Parquet, a file or folder, pickle.

Each is a pair of functions, ``save(value, directory)`` and ``load(directory)``, with the test of
the values it takes; :mod:`nbflow.marshal` registers them in this order (the first that takes a
value saves it).
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import pickle
import shutil
import sys
from pathlib import Path
from typing import Any

from .errors import MarshalError, NbflowError

__all__ = ["Unsupported", "is_jsonable", "unpickle", "PICKLE", "BUILT_IN"]

PICKLE = "pickle"  # the format name of the last resort


class Unsupported(NbflowError):
    """Raised by a save function to pass the value on to the next serialiser in the registry."""


# ----------------------------------------------------------------------------- JSON

_SCALARS = (str, int, bool, type(None))


def is_jsonable(value: Any) -> bool:
    """Whether ``value`` is made only of None, bool, int, finite float, str, list, tuple
    and dicts with str keys (exact types, so subclasses such as numpy scalars are not)."""
    try:
        return _jsonable(value)
    except RecursionError:
        return False


def _jsonable(value: Any) -> bool:
    kind = type(value)
    if kind in _SCALARS:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind in (list, tuple):
        return all(_jsonable(v) for v in value)
    if kind is dict:
        return all(type(k) is str and _jsonable(v) for k, v in value.items())
    return False


def _save_json(value: Any, directory: Path) -> None:
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    (directory / "data.json").write_text(text, encoding="utf-8")


def _load_json(directory: Path) -> Any:
    return json.loads((directory / "data.json").read_text(encoding="utf-8"))


# ----------------------------------------------------------------------------- numpy, pandas


def _is_ndarray(value: Any) -> bool:
    if "numpy" not in sys.modules or not type(value).__module__.startswith("numpy"):
        return False
    import numpy as np

    return type(value) is np.ndarray  # subclasses (matrix, masked) keep their type via pickle


def _save_npy(value: Any, directory: Path) -> None:
    import numpy as np

    if value.dtype.hasobject:
        raise Unsupported("object arrays need pickle")
    np.save(directory / "data.npy", value, allow_pickle=False)


def _load_npy(directory: Path) -> Any:
    import numpy as np

    return np.load(directory / "data.npy", allow_pickle=False)


def _pandas_type(value: Any, kind: str) -> bool:
    if "pandas" not in sys.modules or not type(value).__module__.startswith("pandas"):
        return False
    import pandas as pd

    return type(value) is getattr(pd, kind) and importlib.util.find_spec("pyarrow") is not None


def _to_parquet(frame: Any, path: Path) -> None:
    from pyarrow.lib import ArrowException

    try:
        frame.to_parquet(path, engine="pyarrow")
    except (ArrowException, ValueError, TypeError, NotImplementedError) as exc:
        raise Unsupported(str(exc)) from exc


def _save_frame(value: Any, directory: Path) -> None:
    _to_parquet(value, directory / "data.parquet")


def _load_frame(directory: Path) -> Any:
    import pandas as pd

    return pd.read_parquet(directory / "data.parquet", engine="pyarrow")


def _save_series(value: Any, directory: Path) -> None:
    if not is_jsonable(value.name) or isinstance(value.name, tuple):
        raise Unsupported("the Series name is not JSON-able")
    (directory / "series.json").write_text(json.dumps({"name": value.name}), encoding="utf-8")
    _to_parquet(value.to_frame(name="values"), directory / "data.parquet")


def _load_series(directory: Path) -> Any:
    name = json.loads((directory / "series.json").read_text(encoding="utf-8"))["name"]
    return _load_frame(directory).iloc[:, 0].rename(name)


# ----------------------------------------------------------------------------- paths, pickle


def _save_path(value: Path, directory: Path) -> None:
    src = value.absolute()
    if not src.exists():
        raise FileNotFoundError(f"{str(value)!r} does not exist (cwd: {os.getcwd()})")
    files = directory / "files"
    files.mkdir()
    target = files / (src.resolve().name or "root")
    if src.is_dir():
        shutil.copytree(src, target)
    else:
        shutil.copy2(src, target)


def _load_path(directory: Path) -> Path:
    entries = sorted((directory / "files").iterdir())
    if len(entries) != 1:
        raise MarshalError(f"artifact {directory} should hold exactly one entry under files/")
    return entries[0].absolute()


def _save_pickle(value: Any, directory: Path) -> None:
    try:
        with open(directory / "data.pkl", "wb") as f:
            pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL)
    except (OSError, MemoryError):
        raise
    except Exception as exc:
        raise TypeError(
            f"pickle failed ({exc}); return a JSON-able value, a DataFrame, an "
            "ndarray, a Path or a picklable object, or register a serialiser "
            "with nbflow.marshal.register"
        ) from exc


def _load_pickle(directory: Path) -> Any:
    """Never used to load: :func:`nbflow.marshal.load` unpickles only verified bytes."""
    raise MarshalError(f"refusing to unpickle {directory} without checking its digest")


def unpickle(data: bytes, directory: Path) -> Any:
    """The value pickled in ``data`` (the checked content of ``directory``'s ``data.pkl``)."""
    try:
        return pickle.loads(data)
    except (AttributeError, ModuleNotFoundError) as exc:
        raise MarshalError(
            f"cannot unpickle artifact {directory}: {exc} (define its class in a "
            "module or a %%setup cell so every step can import it)"
        ) from exc


# (takes the value?, format name, save, load), in the order they are tried; pickle comes last.
BUILT_IN = (
    (is_jsonable, "json", _save_json, _load_json),
    (_is_ndarray, "npy", _save_npy, _load_npy),
    (lambda v: _pandas_type(v, "DataFrame"), "parquet", _save_frame, _load_frame),
    (lambda v: _pandas_type(v, "Series"), "parquet-series", _save_series, _load_series),
    (lambda v: isinstance(v, Path), "path", _save_path, _load_path),
    (lambda v: True, PICKLE, _save_pickle, _load_pickle),
)
