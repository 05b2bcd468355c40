"""``python -m minipad``: the command line (see minipad/cli.py).

One BLAS thread per Python thread: training splits each batch over two Python threads
(minipad/parallel.py), each running its own matrix products. Measured on 2 cores, that is 1.7-1.9 times
faster than one thread, and 1.4 times faster than OpenBLAS's own two threads, which also collapse when
another program takes a core. The variables must be set before NumPy is imported; a value the user has
set is kept.
"""
import os

for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import sys  # noqa: E402

from .cli import main  # noqa: E402

sys.exit(main())
