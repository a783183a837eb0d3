"""Mini-batch fits at the mnist network's size, 1 thread against all, and MLPClassifier.

ShallowNetClassifier and MLPClassifier with the same settings (784-128-10, solver "sgd",
learning rate 0.01, 5 epochs, tol 0) on 16,000 synthetic examples, for each batch size
given. Medians of --repeat fits, each after a warm-up fit and followed by half a second of
idleness (OpenBLAS's threads spin on after a product). Prints one line per batch size.
--order F passes X F-ordered, as NumPy makes a pandas DataFrame's values.

    python benchmarks/minibatch.py --batch 32 200 1000 [--order F]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from fastshallow.bench import warm_up_threads
from fastshallow.estimator import ShallowNetClassifier


def median_fit(model, X, y, repeat):
    warm = clone(model)  # compiles, and warms the caches
    if isinstance(warm, ShallowNetClassifier):
        warm.set_params(n_threads=warm_up_threads(warm.n_threads))
    warm.fit(X[:2000], y[:2000])
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - start)
        time.sleep(0.5)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 200, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--order", choices=["C", "F"], default="C", help="X's memory order (default C)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y = make_classification(16000, 784, n_informative=100, n_classes=10, random_state=0)
    X = np.asarray(X, order=args.order)
    for batch in args.batch:
        settings = dict(hidden_layer_sizes=(128,), solver="sgd", batch_size=batch, max_iter=5, tol=0,
                        random_state=0, learning_rate_init=0.01)
        one = median_fit(ShallowNetClassifier(**settings, n_threads=1), X, y, args.repeat)
        every = median_fit(ShallowNetClassifier(**settings), X, y, args.repeat)
        mlp = median_fit(MLPClassifier(**settings), X, y, args.repeat)
        print(f"batch {batch}: fastshallow 1 thread {one:.3f} s, all threads {every:.3f} s ({one / every:.2f}x), "
              f"MLPClassifier {mlp:.3f} s ({mlp / every:.2f}x)")


if __name__ == "__main__":
    main()
