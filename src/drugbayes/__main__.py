"""``python -m drugbayes`` = the ``drugbayes`` command."""

import sys

from .cli import main

sys.exit(main())
