"""``python -m spikescope ...``: the same as the ``spikescope`` console script."""

import sys

from .cli import main

sys.exit(main())
