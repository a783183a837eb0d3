"""ShallowNetClassifier and ShallowNetRegressor against scikit-learn's MLPClassifier and
MLPRegressor, and the NumPy reference.

    python benchmarks/mlp_comparison.py [--repeat 3] [--threads N]

Two tables. The first: the drop-in swap with scikit-learn's default settings (solver
"adam", batch_size "auto"), the same parameters given to both libraries, for the
classifier and the regressor; held-out accuracy or R². The second, below:

the same network and optimiser on each data set: one hidden layer, relu, solver "sgd" with
a constant learning rate, Nesterov's momentum 0.9, alpha 1e-4, batches of 200, and a fixed
number of epochs (tol=0, so no run stops early). The NumPy reference runs the same epochs
with fastshallow.reference.sgd_epoch. Accuracy is on a stratified held-out quarter; times
are medians of interleaved repetitions of the whole fit. Not an asv benchmark (no time_
functions): a one-off table for the README and the closing notes.
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import LabelBinarizer, StandardScaler

from fastshallow import ShallowNetClassifier, ShallowNetRegressor, reference
from fastshallow.bench import warm_up_threads
from fastshallow.estimator import _initial_params

# Seconds of idleness before each timed fit. OpenBLAS's worker threads keep spinning for a
# while after the last BLAS call (the reference's and MLPClassifier's matrix products), and
# a fit that starts then shares both cores with them.
QUIET = 0.5

SETTINGS = {"learning_rate": 0.01, "momentum": 0.9, "alpha": 1e-4, "batch_size": 200}


def synthetic():
    return make_classification(
        n_samples=100_000, n_features=50, n_informative=30, n_classes=2, random_state=0
    )


# name -> (loader, hidden units, epochs)
DATASETS = {
    "breast_cancer": (lambda: load_breast_cancer(return_X_y=True), 100, 200),
    "digits": (lambda: load_digits(return_X_y=True), 100, 100),
    "synthetic 100,000 x 50": (synthetic, 100, 10),
}


def fit_ours(X, y, n_hidden, epochs, n_threads):
    return ShallowNetClassifier(
        hidden_layer_sizes=(n_hidden,), solver="sgd", learning_rate_init=SETTINGS["learning_rate"],
        momentum=SETTINGS["momentum"], alpha=SETTINGS["alpha"], batch_size=SETTINGS["batch_size"],
        max_iter=epochs, tol=0.0, random_state=0, n_threads=n_threads,
    ).fit(X, y)


def fit_mlp(X, y, n_hidden, epochs):
    return MLPClassifier(
        hidden_layer_sizes=(n_hidden,), activation="relu", solver="sgd", learning_rate="constant",
        learning_rate_init=SETTINGS["learning_rate"], momentum=SETTINGS["momentum"],
        nesterovs_momentum=True, alpha=SETTINGS["alpha"], batch_size=SETTINGS["batch_size"],
        max_iter=epochs, tol=0.0, n_iter_no_change=10**6, random_state=0,
    ).fit(X, y)


def fit_reference(X, y, n_hidden, epochs):
    """The same epochs in plain NumPy; returns a predict function."""
    binarizer = LabelBinarizer().fit(y)
    Y = binarizer.transform(y).T.astype(np.float64)  # (n_y, m)
    output = "softmax" if Y.shape[0] > 1 else "sigmoid"
    rng = np.random.RandomState(0)
    params = _initial_params(X.shape[1], n_hidden, Y.shape[0], "relu", rng, np.float64)
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    XT = X.T
    for _ in range(epochs):
        order = rng.permutation(X.shape[0])
        reference.sgd_epoch(
            params, velocity, XT, Y, order, SETTINGS["batch_size"], SETTINGS["learning_rate"],
            SETTINGS["momentum"], True, SETTINGS["alpha"], "relu", output,
        )

    def predict(X_new):
        A2 = reference.forward(params, X_new.T, "relu", output)
        return binarizer.classes_[A2.argmax(axis=0) if output == "softmax" else (A2[0] > 0.5).astype(int)]

    return predict


def synthetic_regression():
    X, y = make_regression(n_samples=100_000, n_features=50, n_informative=30, noise=10.0, random_state=0)
    return X, y / y.std()


# name -> (loader, fastshallow's estimator, scikit-learn's, epochs): scikit-learn's defaults
# otherwise (100 hidden units, adam, batches of min(200, n)), tol=0 so no run stops early.
DROP_IN = {
    "digits, classifier": (lambda: load_digits(return_X_y=True), ShallowNetClassifier, MLPClassifier, 100),
    "synthetic 100,000 x 50, classifier": (synthetic, ShallowNetClassifier, MLPClassifier, 10),
    "synthetic 100,000 x 50, regressor": (synthetic_regression, ShallowNetRegressor, MLPRegressor, 10),
}


def drop_in_table(repeat, threads):
    """The default-settings table: the same get_params() for both libraries."""
    print("| data | epochs | held-out score: fastshallow / scikit-learn | fit: fastshallow | scikit-learn | speed-up |")
    print("|---|---|---|---|---|---|")
    for name, (load, ours, theirs, epochs) in DROP_IN.items():
        X, y = load()
        stratify = y if ours is ShallowNetClassifier else None
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=stratify, random_state=0)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        settings = dict(max_iter=epochs, tol=0.0, n_iter_no_change=10**6, random_state=0)
        warm = ours(**settings, n_threads=warm_up_threads(threads)).set_params(max_iter=1)
        warm.fit(X_train[:400], y_train[:400])  # compile
        times, scores = {"ours": [], "theirs": []}, {}
        for _ in range(repeat):
            for key, make in (("ours", lambda: ours(**settings, n_threads=threads)), ("theirs", lambda: theirs(**settings))):
                time.sleep(QUIET)
                start = time.perf_counter()
                model = make().fit(X_train, y_train)
                times[key].append(time.perf_counter() - start)
                scores[key] = model.score(X_test, y_test)
        ours_t, theirs_t = float(np.median(times["ours"])), float(np.median(times["theirs"]))
        print(f"| {name} | {epochs} | {scores['ours']:.4f} / {scores['theirs']:.4f} | {ours_t:.3f} s | "
              f"{theirs_t:.3f} s | {theirs_t / ours_t:.1f}x |", flush=True)
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="ShallowNetClassifier's n_threads")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    drop_in_table(args.repeat, args.threads)
    print("| data | epochs | accuracy: fastshallow / MLPClassifier / reference | fit time: fastshallow | "
          "MLPClassifier | NumPy reference | speed-up vs MLP | vs reference |")
    print("|---|---|---|---|---|---|---|---|")
    for name, (load, n_hidden, epochs) in DATASETS.items():
        X, y = load()
        X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        fit_ours(X_train[:400], y_train[:400], n_hidden, 1, warm_up_threads(args.threads))  # compile outside the timing
        times = {"ours": [], "mlp": [], "ref": []}
        for _ in range(args.repeat):
            for key, fit in (
                ("ours", lambda: fit_ours(X_train, y_train, n_hidden, epochs, args.threads)),
                ("mlp", lambda: fit_mlp(X_train, y_train, n_hidden, epochs)),
                ("ref", lambda: fit_reference(X_train, y_train, n_hidden, epochs)),
            ):
                time.sleep(QUIET)
                start = time.perf_counter()
                model = fit()
                times[key].append(time.perf_counter() - start)
                predict = model if key == "ref" else model.predict
                accuracy = np.mean(predict(X_test) == y_test)
                times[key + " accuracy"] = accuracy
        med = {k: float(np.median(v)) for k, v in times.items() if "accuracy" not in k}
        print(
            f"| {name} | {epochs} | {times['ours accuracy']:.4f} / {times['mlp accuracy']:.4f} / "
            f"{times['ref accuracy']:.4f} | {med['ours']:.3f} s | {med['mlp']:.3f} s | {med['ref']:.3f} s | "
            f"{med['mlp'] / med['ours']:.1f}x | {med['ref'] / med['ours']:.1f}x |",
            flush=True,
        )


if __name__ == "__main__":
    main()
