import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

# Compiled kernels make the first example of a test slow; bounded examples keep it fast.
settings.register_profile("fastshallow", deadline=None, max_examples=40)
settings.load_profile("fastshallow")


@pytest.fixture
def flower_csv(tmp_path):
    """The flower data as a CSV with a header x1,x2,label (test_cli, test_hostile)."""
    import numpy as np

    import fastshallow as fs

    X, Y = fs.datasets.load_planar_dataset()
    path = tmp_path / "flower.csv"
    np.savetxt(path, np.column_stack([X.T, Y.T]), delimiter=",", header="x1,x2,label", comments="", fmt="%.6f")
    return path
