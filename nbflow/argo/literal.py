"""Parameter values as the JSON text that travels through Argo, where they stay data.

Argo (and the local engine, as Argo) substitutes ``{{...}}`` and evaluates ``{{=...}}`` in every
string of a template, task arguments included, and refuses a ``{{`` it cannot close. A value
holding such text must not become a tag: in the JSON text, ``{{`` is written ``\\u007b\\u007b``,
which JSON reads back as ``{{`` while no template engine sees a tag. Only string contents can
hold ``{{`` in compact JSON (an object never directly opens an object), so the text stays valid
JSON, and the runner's ``json.loads`` gives the value back byte for byte.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["encode_value", "OPEN_TAG", "ESCAPED_OPEN"]

OPEN_TAG = "{{"
ESCAPED_OPEN = "\\u007b\\u007b"


def encode_value(value: Any) -> str:
    """The JSON text of ``value`` (compact, sorted keys), with no ``{{`` left in it."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True).replace(OPEN_TAG, ESCAPED_OPEN)
