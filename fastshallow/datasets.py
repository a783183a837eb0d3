"""Built-in data sets, in the column-per-example layout: X (n_x, m), Y (n_y, m)."""

import numpy as np


def load_planar_dataset():
    """The classic two-class "flower": X (2, 400) float64 and Y (1, 400) uint8.

    Generated exactly as the course does it: the legacy Mersenne-Twister stream seeded
    with 1, m = 400, 200 points per class, petal length a = 4. For class j in 0, 1:
        t = linspace(3.12·j, 3.12·(j+1), 200) + 0.2·randn(200)
        r = a·sin(4t) + 0.2·randn(200)
    and each point is (r·sin t, r·cos t) with label j. A private RandomState(1) gives the
    same numbers as np.random.seed(1) without changing NumPy's global random state.
    """
    rng = np.random.RandomState(1)
    per_class, petal = 200, 4
    X = np.empty((2, 2 * per_class))
    Y = np.empty((1, 2 * per_class), dtype=np.uint8)
    for j in range(2):
        cols = slice(per_class * j, per_class * (j + 1))
        t = np.linspace(3.12 * j, 3.12 * (j + 1), per_class) + 0.2 * rng.randn(per_class)
        r = petal * np.sin(4 * t) + 0.2 * rng.randn(per_class)
        X[0, cols] = r * np.sin(t)
        X[1, cols] = r * np.cos(t)
        Y[0, cols] = j
    return X, Y
