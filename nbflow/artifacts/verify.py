"""Read artifacts only as their producers recorded them: digests checked before anything is used."""

from __future__ import annotations

import tempfile
from pathlib import Path

from ..digest import check_artifact
from ..errors import IntegrityError
from ..storage_errors import ArtifactNotFound
from .store import ArtifactStore

__all__ = ["verify_stored", "fetch_verified"]


def fetch_verified(store: ArtifactStore, key: str, digest: str, target: Path, what: str) -> Path:
    """Download ``key`` to ``target`` and check it against ``digest``; return ``target``.

    Raises
    ------
    IntegrityError
        The artifact is gone, or differs from ``digest`` (``what`` names it in the message).
    StorageError
        The store could not be read (endpoint down, access denied).
    """
    try:
        store.download(key, target)
    except ArtifactNotFound:
        raise IntegrityError(f"{what} is missing") from None
    check_artifact(target, digest, what)
    return target


def verify_stored(store: ArtifactStore, key: str, digest: str, what: str) -> None:
    """Check the artifact at ``key`` against ``digest`` where it is: in place in a local store,
    else through a temporary download (nothing is kept).

    Raises
    ------
    IntegrityError
        The artifact is gone or differs from ``digest``.
    """
    local = store.local_path(key)
    if local is not None:
        check_artifact(local, digest, what)
        return
    with tempfile.TemporaryDirectory(prefix="nbflow-verify-") as tmp:
        fetch_verified(store, key, digest, Path(tmp) / "artifact", what)
