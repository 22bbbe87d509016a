"""``python -m nbflow.cli``: the ``nbflow`` command."""

import sys

from . import main

sys.exit(main())
