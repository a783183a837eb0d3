import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Compiled kernels make the first example of a test slow; bounded examples keep it fast.
settings.register_profile("fastshallow", deadline=None, max_examples=40)
settings.load_profile("fastshallow")

# The parallel kernels compile as soon as a test reaches them, as with an explicit
# n_threads: with the default deferral (engine.PARALLEL_COMPILE_WORK) most of the tests
# that share work among threads would compile the serial twin first, and then the
# parallel one for another test; on a fresh cache the suite took 38 s longer (341 s ->
# 379 s on 2 cores). Either kernel gives the same bits; the deferral has its own test
# (test_engine.py), and the tests that run fastshallow in a subprocess keep it.
from fastshallow import engine  # noqa: E402

engine.PARALLEL_COMPILE_WORK = 0


@pytest.fixture
def flower_csv(tmp_path):
    """The flower data as a CSV with a header x1,x2,label (test_cli, test_hostile)."""
    import numpy as np

    import fastshallow as fs

    X, Y = fs.datasets.load_planar_dataset()
    path = tmp_path / "flower.csv"
    np.savetxt(path, np.column_stack([X.T, Y.T]), delimiter=",", header="x1,x2,label", comments="", fmt="%.6f")
    return path
