"""``python -m convops``: the command line of :mod:`convops.cli`."""

import sys

from .cli import main

sys.exit(main())
