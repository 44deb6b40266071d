"""`python -m evopose`: the same as the `evopose` command."""

import sys

from evopose.cli import main

sys.exit(main())
