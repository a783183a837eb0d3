"""Results pinned bit for bit, so that a refactoring can show it changed no bit.

Each case trains through one public entry point and returns its outputs; fingerprint()
is the SHA-256 of their bytes. tools/pin_results.py records the fingerprints of the
current code in tests/pinned_results.json, keyed by the machine (the host CPU LLVM
compiles for, and the Numba version: another vector width or compiler may round
differently, see README "Threads and dtype"). test_pinned.py compares against them.

The cases use the shapes, dtypes and options the rest of the suite already compiles, so
they add no compile time.
"""

import hashlib
import json
import os

import numpy as np

import fastshallow as fs
from helpers import network

PINS = os.path.join(os.path.dirname(__file__), "pinned_results.json")


def machine_key():
    """The CPU the kernels are compiled for (NUMBA_CPU_NAME and NUMBA_CPU_FEATURES when set,
    else this machine's) and the Numba version: what decides the bits."""
    import llvmlite.binding as llvm
    import numba

    import hashlib

    name = numba.config.CPU_NAME if numba.config.CPU_NAME not in (None, "host") else llvm.get_host_cpu_name()
    features = numba.config.CPU_FEATURES
    tag = f" features {hashlib.sha1(features.encode()).hexdigest()[:10]}" if features else ""
    return f"{name}{tag} numba {numba.__version__}"


def fingerprint(arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _params(p):
    return [p[k] for k in ("W1", "b1", "W2", "b2")]


def train_flower(dtype):
    X, Y = fs.datasets.load_planar_dataset()
    p = fs.init_params(2, 4, 1, seed=0, dtype=dtype)
    costs = fs.train(p, X.astype(dtype), Y, learning_rate=1.2, num_iterations=300)
    return [costs, *_params(p)]


def train_parallel():
    p, X, Y = network(20, 64, 1, 20_000)
    costs = fs.train(p, X, Y, learning_rate=0.1, num_iterations=5)
    return [costs, *_params(p)]


def train_softmax_relu():
    p, X, _ = network(10, 16, 3, 3000)
    labels = np.random.default_rng(1).integers(0, 3, 3000)
    Y = np.eye(3)[:, labels]
    costs = fs.train(p, X, Y, learning_rate=0.5, num_iterations=20, activation="relu", output="softmax")
    return [costs, *_params(p)]


def gradients():
    p, X, Y = network(20, 64, 1, 2000)
    cost, grads = fs.gradients(p, X, Y)
    return [np.array(cost), *grads.values(), fs.forward(p, X)]


def estimator():
    from fastshallow import ShallowNetClassifier

    rng = np.random.default_rng(0)
    X = rng.standard_normal((600, 10))
    y = np.argmax(X[:, :3], axis=1)
    model = ShallowNetClassifier(16, solver="sgd", learning_rate_init=0.01, max_iter=5, tol=0.0, random_state=0).fit(X, y)
    return [np.array(model.loss_curve_), *model.coefs_, *model.intercepts_, model.predict_proba(X)]


def estimator_plain_sgd():
    """No momentum, full batches over the training part of an early-stopping split (450 of
    the 500 rows, unshuffled), and a binary target in float32: the estimator's other update
    and column paths."""
    from fastshallow import ShallowNetClassifier

    rng = np.random.default_rng(2)
    X = rng.standard_normal((500, 6))
    y = X[:, 0] + X[:, 1] > 0
    model = ShallowNetClassifier(
        8, solver="sgd", max_iter=4, tol=0.0, momentum=0.0, batch_size=450, shuffle=False, early_stopping=True,
        n_iter_no_change=50, dtype="float32", random_state=1, learning_rate_init=0.1,
    ).fit(X, y)
    return [np.array(model.loss_curve_), *model.coefs_, *model.intercepts_, model.predict_proba(X)]


def estimator_classical_momentum():
    """Momentum without Nesterov, batches that do not divide the examples, warm start."""
    from fastshallow import ShallowNetClassifier

    rng = np.random.default_rng(3)
    X = rng.standard_normal((450, 5))
    y = (X[:, :2].sum(axis=1) > 0).astype(int)
    model = ShallowNetClassifier(7, solver="sgd", learning_rate_init=0.01, max_iter=3, tol=0.0,
                                 nesterovs_momentum=False, batch_size=128, warm_start=True, random_state=2, alpha=0.01)
    model.fit(X, y).fit(X, y)
    return [np.array(model.loss_curve_), *model.coefs_, *model.intercepts_]


def course():
    """The course functions one by one (forward, backward, update), then nn_model."""
    from fastshallow import course as nn

    X, Y = fs.datasets.load_planar_dataset()
    p = nn.initialize_parameters(2, 4, 1)
    A2, cache = nn.forward_propagation(X, p)
    grads = nn.backward_propagation(p, cache, X, Y)
    p = nn.update_parameters(p, grads, learning_rate=1.2)
    trained = nn.nn_model(X, Y, 4, num_iterations=50)
    return [A2, np.array(nn.compute_cost(A2, Y)), *grads.values(), *_params(p), *_params(trained)]


def dask_train(client):
    """fastshallow.distributed.train over a cluster: full batch, then mini-batches."""
    import dask.array as da

    from fastshallow import distributed as fsd

    p, X, Y = network(12, 9, 1, 2003)
    Xd, Yd = da.from_array(X, chunks=(12, 500)), da.from_array(Y, chunks=(1, 500))
    full = fsd.train(p, Xd, Yd, learning_rate=0.5, num_iterations=4, client=client)
    mini = fsd.train(p, Xd, Yd, learning_rate=0.5, num_iterations=4, batch_size=300, seed=0, client=client)
    return [full, mini, *_params(p)]


def dask_estimator(client):
    """ShallowNetClassifier.fit on Dask arrays: each epoch's batches summed on the cluster."""
    import dask.array as da

    from fastshallow import ShallowNetClassifier

    rng = np.random.default_rng(4)
    X = rng.standard_normal((700, 6))
    y = (X[:, 0] > 0).astype(int)
    Xd, yd = da.from_array(X, chunks=(250, 6)), da.from_array(y, chunks=250)
    model = ShallowNetClassifier(5, solver="sgd", learning_rate_init=0.01, max_iter=2, tol=0.0, batch_size=200,
                                 random_state=0).fit(Xd, yd)
    return [np.array(model.loss_curve_), *model.coefs_, *model.intercepts_]


# Cases that need a Dask client, called as case(client) (test_distributed.py runs them).
CLUSTER_CASES = {"dask_train": dask_train, "dask_estimator": dask_estimator}

CASES = {
    "train_flower_float64": lambda: train_flower(np.float64),
    "train_flower_float32": lambda: train_flower(np.float32),
    "train_parallel": train_parallel,
    "train_softmax_relu": train_softmax_relu,
    "gradients": gradients,
    "estimator": estimator,
    "estimator_plain_sgd": estimator_plain_sgd,
    "estimator_classical_momentum": estimator_classical_momentum,
    "course": course,
}


def pinned(case):
    """The fingerprint recorded for case on this machine; skips the calling test when
    there is none (another CPU or Numba version: nothing to compare with)."""
    import pytest

    with open(PINS) as f:
        found = json.load(f).get(machine_key(), {})
    if case not in found:
        pytest.skip(f"no fingerprint of {case} recorded for {machine_key()!r}: run tools/pin_results.py at a "
                    "commit whose results you trust")
    return found[case]
