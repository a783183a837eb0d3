"""Compile every parallel kernel afresh, into an empty cache, with Numba's
NumbaPerformanceWarning an error; prints "compiled" and exits 0 when none was raised.

Numba runs a prange loop serially, with only that warning at compile time, when its body
can leave the loop early (a raise inlined into it, say). The test suite makes the warning
an error, but a kernel it loads from the cache was compiled earlier, perhaps outside the
suite, so tests/test_threads.py checks only the kernels it compiled itself. This script
checks them all; CI runs it (.ci/run):
    python tools/check_parallel_loops.py
"""

import atexit
import os
import shutil
import tempfile
import warnings

_CACHE = tempfile.mkdtemp(prefix="fastshallow-check-")
atexit.register(shutil.rmtree, _CACHE, ignore_errors=True)
os.environ["NUMBA_CACHE_DIR"] = _CACHE  # before Numba is imported

import numpy as np  # noqa: E402
from numba.core.errors import NumbaPerformanceWarning  # noqa: E402

import fastshallow as fs  # noqa: E402
from fastshallow import ShallowNetClassifier  # noqa: E402


def main():
    warnings.simplefilter("error", NumbaPerformanceWarning)
    warnings.filterwarnings("ignore", message=".*max_iter.*")  # the ConvergenceWarning of max_iter=1
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 600))
    Y = (rng.random((1, 600)) < 0.5).astype(np.uint8)
    p = fs.init_params(50, 100, 1, seed=0)
    fs.forward(p, X)  # step.evaluate, the outputs
    fs.cost(p, X, Y)  # ... and the loss, compiled apart
    fs.gradients(p, X, Y)  # step.gradients
    fs.train(p, X, Y, num_iterations=2)  # descent.descend_parallel, full batch
    ShallowNetClassifier(100, batch_size=200, max_iter=1, n_threads=2).fit(X.T, Y[0])  # ... and mini-batches
    print("compiled")


if __name__ == "__main__":
    main()
