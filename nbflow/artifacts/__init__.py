"""The artifact store: files and folders under one fsspec URL, never visible half-written.

:class:`ArtifactStore` is the one interface; behind it, one small backend per kind of store
(:mod:`.local` folders, any other fsspec filesystem in :mod:`.generic`, S3 in :mod:`.s3`),
chosen by the URL's scheme.
"""

from __future__ import annotations

from ..storage_errors import ArtifactNotFound, RetryPolicy
from .store import ArtifactStore, is_object_store

__all__ = ["ArtifactStore", "ArtifactNotFound", "RetryPolicy", "is_object_store"]
