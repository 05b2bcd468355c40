"""``python -m minipad``: the command line (see minipad/cli.py)."""
import sys

from .cli import main

sys.exit(main())
