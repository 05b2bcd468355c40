"""``python -m minipad``: the command line (minipad/cli/), after two process-wide settings.

One BLAS thread per process: training splits each batch over two processes (minipad/parallel.py), each
running its own matrix products on a core of its own; OpenBLAS's own two threads gain little on our small
products, and collapse when another program takes a core (worker processes inherit this setting). The
variables must be set before NumPy is imported; a value the user has set is kept.

Freed memory kept for reuse (minipad/malloc.py): without it glibc returns each step's activations to the
system and page-faults them back in the next step, 1.3-1.6 times slower on a 2-core virtual machine.
"""
import os

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import sys  # noqa: E402

from .malloc import keep_freed_memory  # noqa: E402

keep_freed_memory()

from .cli import main  # noqa: E402

sys.exit(main())
