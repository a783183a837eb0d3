"""Built-in data sets, in the column-per-example layout: X (n_x, m), Y (n_y, m)."""

import numpy as np

from .validation import positive_int


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


def load_extra_datasets(n_samples=200, seed=None):
    """The assignment's extra data sets, each as (X (2, n), Y (1, n)) column-per-example:

    noisy_circles       make_circles(factor=0.5, noise=0.3)
    noisy_moons         make_moons(noise=0.2)
    blobs               make_blobs(n_features=2, centers=6, random_state=5); labels 0..5,
                        which the assignment takes mod 2
    gaussian_quantiles  make_gaussian_quantiles(cov=0.5, n_features=2, n_classes=2)

    returned in that order. Needs scikit-learn (pip install '.[sklearn]'). The
    circles, moons and quantiles are unseeded in the assignment; seed makes them repeatable.
    """
    try:
        from sklearn import datasets as skd
    except ImportError as exc:
        raise ImportError(
            "load_extra_datasets needs scikit-learn: pip install '.[sklearn]' in a fastshallow checkout "
            "(or pip install scikit-learn)"
        ) from exc
    # Checked here, where the message can name them (gaussian quantiles need two samples).
    n_samples = positive_int(n_samples, "n_samples", minimum=2)
    seed = None if seed is None else positive_int(seed, "seed", minimum=0)
    rng = np.random.RandomState(seed) if seed is not None else None
    made = (
        skd.make_circles(n_samples=n_samples, factor=0.5, noise=0.3, random_state=rng),
        skd.make_moons(n_samples=n_samples, noise=0.2, random_state=rng),
        skd.make_blobs(n_samples=n_samples, random_state=5, n_features=2, centers=6),
        skd.make_gaussian_quantiles(cov=0.5, n_samples=n_samples, n_features=2, n_classes=2, random_state=rng),
    )
    return tuple((X.T.copy(), Y.reshape(1, -1).astype(np.uint8)) for X, Y in made)
