"""`python -m noisylabels` = the `noisylabels` command."""

import sys

from .cli import main

sys.exit(main())
