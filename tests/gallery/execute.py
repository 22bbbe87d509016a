"""Execute one notebook with nbclient in a fresh ``python3`` kernel: ``execute.py IN OUT``.

The kernel works in the current directory and inherits this process's environment (its
``NBFLOW_HOME``). Exits 1 with the failing cell's error when a cell fails.
"""

from __future__ import annotations

import sys

# nbformat's validator pulls in rfc3987_syntax, 2-3 s of CPU per process, for URI formats that
# notebooks never use (jupyter_server#1559).
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[assignment]


def main(source: str, target: str) -> int:
    import os

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(source, as_version=4)
    client = NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": os.getcwd()}}
    )
    try:
        client.execute()
    except CellExecutionError as exc:
        print(str(exc)[-4000:], file=sys.stderr)
        return 1
    finally:
        nbformat.write(nb, target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
