"""When pickle may be used: the trust model of the one format that runs code when it is read.

Loading a pickle runs whatever code it names, so a pickle is loaded only from bytes whose digest
matches the one the step that wrote it recorded in the run's trusted state (the run record, or
the Workflow's status): someone who can write the artifact store, but not the run records,
cannot have their own pickle loaded. ``c.NbflowConfig.allow_pickle = False`` (in a step:
``$NBFLOW_ALLOW_PICKLE=false``) turns pickle off entirely: outputs that would need it must have
a registered format, and no pickle is ever loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .digest import digest_files, short
from .errors import IntegrityError, MarshalError
from .vocab import ALLOW_PICKLE_ENV

__all__ = ["ALLOW_PICKLE_ENV", "pickle_allowed", "load_verified_pickle", "refused_save"]

_OFF = {"0", "false", "no", "off"}
_SETTING = "c.NbflowConfig.allow_pickle = False"


def pickle_allowed(allow: bool | None = None) -> bool:
    """``allow`` when given, else what ``$NBFLOW_ALLOW_PICKLE`` says (default: allowed)."""
    if allow is not None:
        return allow
    return os.environ.get(ALLOW_PICKLE_ENV, "").strip().lower() not in _OFF


def refused_save(what: str) -> MarshalError:
    """The error for an output that only pickle could save, with pickle turned off."""
    return MarshalError(
        f"{what} needs a registered format: pickle is turned off ({_SETTING}); return a "
        "JSON-able value, an ndarray, a DataFrame or a Path, or register a format with "
        "nbflow.marshal.register"
    )


def load_verified_pickle(directory: Path, digest: str | None, allow: bool | None) -> Any:
    """Unpickle the artifact ``directory`` if, and only if, its content has ``digest``.

    The files are read once, hashed, and the value is loaded from those very bytes.

    Raises
    ------
    MarshalError
        Pickle is turned off, or no digest was recorded for the artifact.
    IntegrityError
        The artifact differs from what its producer recorded.
    """
    from .formats import unpickle

    if not pickle_allowed(allow):
        raise MarshalError(
            f"artifact {directory} is a pickle, and pickle is turned off ({_SETTING})"
        )
    if not digest:
        raise MarshalError(
            f"refusing to unpickle {directory}: no digest of it is recorded by the run that "
            "wrote it (a pickle is only loaded once its content is checked)"
        )
    found, files = digest_files(directory)
    if found != digest:
        raise IntegrityError(
            f"refusing to unpickle {directory}: it changed after it was written (sha256 "
            f"{short(found)}..., its producer recorded {short(digest)}...)"
        )
    if "data.pkl" not in files:
        raise MarshalError(f"artifact {directory} has no data.pkl")
    return unpickle(files["data.pkl"], directory)
