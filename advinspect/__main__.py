"""`python -m advinspect` is the `advinspect` command."""

import sys

from advinspect.cli import main

sys.exit(main())
