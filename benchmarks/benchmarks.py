"""asv suite: every hot path of fastshallow, each beside a twin that times the NumPy
reference on the same inputs.

Sizes come from fastshallow.bench.GRID, the table `fastshallow bench` and the tests use.
setup() always compiles (or loads from the cache) on a small input of the same dtype and
layout first, so compilation never lands in a timing.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

import fastshallow as fs
from fastshallow import reference
from fastshallow.bench import BATCH_POINTS, DTYPES, GRID, LEARNING_RATE, POINTS, make_problem, warm_up, warm_up_threads
from fastshallow.kernels import activations, loss, products
from fastshallow.kernels import plan

SIZES = [p.name for p in GRID]


class _Problem:
    """A grid point's params and data, with the kernels warmed up."""

    params = (SIZES, list(DTYPES))
    param_names = ["size", "dtype"]
    timeout = 600

    def setup(self, size, dtype):
        self.point = POINTS[size]
        self.net, self.X, self.Y = make_problem(self.point, dtype)
        self.ref_net = {k: v.copy() for k, v in self.net.items()}
        self.Yf = self.Y.astype(dtype)  # the reference takes labels in the compute dtype
        warm_up(self.point, dtype)


class Step(_Problem):
    """One gradient-descent step through the public API, validation included."""

    def time_step(self, size, dtype):
        fs.step(self.net, self.X, self.Y, LEARNING_RATE)

    def time_step_reference(self, size, dtype):
        reference.step(self.ref_net, self.X, self.Yf, LEARNING_RATE)


class Train(_Problem):
    """The compiled loop: point.iterations iterations (all 10,000 for tiny) per call."""

    def time_train(self, size, dtype):
        fs.train(self.net, self.X, self.Y, learning_rate=LEARNING_RATE, num_iterations=self.point.iterations)

    def time_train_reference(self, size, dtype):
        reference.train(self.ref_net, self.X, self.Yf, learning_rate=LEARNING_RATE, num_iterations=self.point.iterations)


class Gradients(_Problem):
    def time_gradients(self, size, dtype):
        fs.gradients(self.net, self.X, self.Y)

    def time_gradients_reference(self, size, dtype):
        reference.gradients(self.ref_net, self.X, self.Yf)


class Memory(_Problem):
    """Peak resident memory of a process that runs one training step (asv measures the
    whole process: data and compiled code included, the same for both twins)."""

    def peakmem_train(self, size, dtype):
        fs.train(self.net, self.X, self.Y, learning_rate=LEARNING_RATE, num_iterations=1)

    def peakmem_train_reference(self, size, dtype):
        reference.train(self.ref_net, self.X, self.Yf, learning_rate=LEARNING_RATE, num_iterations=1)


class Throughput(_Problem):
    """GFLOP/s of a training step, counted as 4·n_h·n_x·m + 6·n_y·n_h·m per step."""

    unit = "GFLOP/s"

    def _gflops(self, run):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
        return self.point.flops_per_step * self.point.iterations / float(np.median(times)) / 1e9

    def track_gflops(self, size, dtype):
        return self._gflops(lambda: fs.train(self.net, self.X, self.Y, learning_rate=LEARNING_RATE,
                                             num_iterations=self.point.iterations))

    def track_gflops_reference(self, size, dtype):
        return self._gflops(lambda: reference.train(self.ref_net, self.X, self.Yf, learning_rate=LEARNING_RATE,
                                                    num_iterations=self.point.iterations))


class Kernels:
    """The kernels one tile of the fused step calls, on that tile's shapes: (n_h, T)
    hidden tiles and (n_y, T) output tiles, T the point's tile width."""

    params = (SIZES, list(DTYPES))
    param_names = ["size", "dtype"]

    def setup(self, size, dtype):
        p = POINTS[size]
        rng = np.random.default_rng(0)
        _, T, _, self.transposed = plan(p.m, p.n_x, p.n_h, p.n_y, np.dtype(dtype).itemsize, 1)
        T = min(T, p.m)

        def r(*shape):
            return rng.standard_normal(shape).astype(dtype)

        self.W1, self.b1, self.W2 = r(p.n_h, p.n_x), r(p.n_h, 1), r(p.n_y, p.n_h)
        self.Xp = r(p.n_x, T)
        # dW1's product as the step forms it: its sums kept transposed or not (the plan's),
        # over its scratch
        if self.transposed:
            self.sums = np.zeros((p.n_x, p.n_h), dtype)
            self.xt = np.empty(products.packed_size(p.n_h, T, self.W1), dtype)
        else:
            self.sums = np.zeros((p.n_h, p.n_x), dtype)
            self.xt = np.empty(products.weights_scratch_size(p.n_x, T, self.W1), dtype)
        self.Z, self.A, self.D = r(p.n_h, T), np.tanh(r(p.n_h, T)), r(p.n_h, T)
        self.out = np.empty((p.n_h, T), dtype)
        self.db1 = np.zeros((p.n_h, 1), dtype)
        self.W2T, self.G = np.ascontiguousarray(self.W2.T), r(p.n_y, T)
        self.O, self.L, self.Yt = r(p.n_y, T), np.empty((p.n_y, T), dtype), (r(p.n_y, T) > 0).astype(dtype)
        # numba compilation: every kernel once, on these same dtypes and layouts
        for name in dir(self):
            if name.startswith("time_"):
                getattr(self, name)(size, dtype)

    def time_linear_forward(self, size, dtype):
        products.linear_forward(self.out, self.W1, self.Xp, self.b1)

    def time_linear_forward_reference(self, size, dtype):
        reference.linear_forward(self.W1, self.Xp, self.b1)

    def time_linear_backward_weights(self, size, dtype):
        # the step's choice of product, with the tile's transpose or packing when it takes one
        products.linear_backward_weights_tile(self.sums, self.db1, self.D, self.Xp, self.xt, self.transposed)

    def time_linear_backward_weights_reference(self, size, dtype):
        reference.linear_backward_weights(self.D, self.Xp)

    def time_linear_backward_input(self, size, dtype):
        products.linear_backward_input(self.out, self.W2T, self.G)

    def time_row_sums(self, size, dtype):
        products.row_sums_add(self.db1, self.D)

    def time_row_sums_reference(self, size, dtype):
        reference.row_sums(self.D)

    def time_tanh_forward(self, size, dtype):
        activations.tanh_forward(self.out, self.Z)

    def time_tanh_forward_reference(self, size, dtype):
        reference.tanh_forward(self.Z)

    def time_tanh_backward(self, size, dtype):
        activations.tanh_backward(self.out, self.D, self.A)

    def time_sigmoid_forward(self, size, dtype):
        activations.sigmoid_forward(self.out, self.Z)

    def time_sigmoid_forward_reference(self, size, dtype):
        reference.sigmoid_forward(self.Z)

    def time_relu_forward(self, size, dtype):
        activations.relu_forward(self.out, self.Z)

    def time_bce_forward_backward(self, size, dtype):
        loss.bce_forward_backward(self.L, self.G, self.O, self.Yt)


_FIRST_CALL = (
    "import fastshallow as fs\n"
    "X, Y = fs.datasets.load_planar_dataset()\n"
    "p = fs.init_params(2, 4, 1, seed=0)\n"
    "fs.train(p, X, Y, num_iterations=1)\n"
    "fs.predict(p, X)\n"
)


class ColdStart:
    """Import plus the demo's first calls (train, predict) in a fresh process: with an
    empty NUMBA_CACHE_DIR (everything compiles) and with a warm one (everything loads)."""

    timeout = 600
    number = 1
    repeat = (1, 3, 300.0)
    warmup_time = 0

    def setup_cache(self):
        warm = tempfile.mkdtemp(prefix="fastshallow-asv-cache-")
        subprocess.run([sys.executable, "-c", _FIRST_CALL], check=True, env=dict(os.environ, NUMBA_CACHE_DIR=warm))
        return warm

    def timeraw_import_and_first_call_empty_cache(self, warm):
        setup = "import os, tempfile\nos.environ['NUMBA_CACHE_DIR'] = tempfile.mkdtemp()"
        return _FIRST_CALL, setup

    def timeraw_import_and_first_call_warm_cache(self, warm):
        return _FIRST_CALL, f"import os\nos.environ['NUMBA_CACHE_DIR'] = {warm!r}"


class Denormals:
    """The gradients pass at the small point with subnormal hidden pre-activations (W1
    scaled so that |W1·X| is below the smallest normal number) against the same pass on
    normal values. Subnormal arithmetic can be many times slower on x86; the target is at
    most 2x (compare the two timings of one run)."""

    params = (list(DTYPES),)
    param_names = ["dtype"]

    def setup(self, dtype):
        point = POINTS["small"]
        self.net, self.X, self.Y = make_problem(point, dtype)
        warm_up(point, dtype)
        Z1 = self.net["W1"] @ self.X
        shrink = np.finfo(dtype).tiny / 64 / float(np.abs(Z1).max())
        self.sub = {k: v.copy() for k, v in self.net.items()}
        self.sub["W1"] = (self.net["W1"].astype(np.float64) * shrink).astype(dtype)
        assert 0 < np.abs(self.sub["W1"] @ self.X).max() < np.finfo(dtype).tiny

    def time_gradients_normal(self, dtype):
        fs.gradients(self.net, self.X, self.Y)

    def time_gradients_subnormal(self, dtype):
        fs.gradients(self.sub, self.X, self.Y)


class Estimator:
    """ShallowNetClassifier.fit: 3 epochs of 200-example mini-batch SGD on 20,000 × 50
    standardised examples (binary and 4 classes), beside MLPClassifier and the NumPy
    reference (reference.sgd_epoch) with the same settings. Full runs and accuracies:
    benchmarks/mlp_comparison.py."""

    params = (["binary", "multiclass"], list(DTYPES))
    param_names = ["target", "dtype"]
    timeout = 600
    EPOCHS = 3

    def setup(self, target, dtype):
        from sklearn.datasets import make_classification
        from sklearn.preprocessing import LabelBinarizer

        n_classes = 2 if target == "binary" else 4
        X, y = make_classification(
            n_samples=20_000, n_features=50, n_informative=30, n_classes=n_classes, random_state=0
        )
        self.X = ((X - X.mean(axis=0)) / X.std(axis=0)).astype(dtype)
        self.y = y
        self.dtype = dtype
        self.Y = LabelBinarizer().fit_transform(y).T.astype(np.float64)  # (n_y, m)
        self.output = "softmax" if n_classes > 2 else "sigmoid"
        self._fit(1, n_threads=warm_up_threads())  # compile, or load from the cache

    def _fit(self, epochs, n_threads=None):
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fs.ShallowNetClassifier(solver="sgd", learning_rate_init=0.01, max_iter=epochs, tol=0.0, random_state=0,
                                    dtype=self.dtype, n_threads=n_threads).fit(self.X, self.y)

    def time_fit(self, target, dtype):
        self._fit(self.EPOCHS)

    def time_fit_mlpclassifier(self, target, dtype):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            MLPClassifier(
                hidden_layer_sizes=(100,), solver="sgd", learning_rate_init=0.01, batch_size=200,
                max_iter=self.EPOCHS, tol=0.0, random_state=0,
            ).fit(self.X, self.y)

    def time_fit_reference(self, target, dtype):
        rng = np.random.RandomState(0)
        X = self.X.astype(np.float64).T
        params = fs.init_params(50, 100, self.Y.shape[0], seed=rng, scale=0.1)
        velocity = {k: np.zeros_like(v) for k, v in params.items()}
        for _ in range(self.EPOCHS):
            order = rng.permutation(X.shape[1])
            reference.sgd_epoch(params, velocity, X, self.Y, order, 200, 0.01, 0.9, True, 1e-4, "relu", self.output)


class PerCall:
    """The cost of one call from Python on the flower problem (bench.per_call_cases): fs.step,
    fs.gradients, fs.forward, fs.predict and one iteration of the course's four functions,
    beside their NumPy reference twins. Guards the Python path against creeping back."""

    params = (["step", "gradients", "forward", "predict", "course iteration"],)
    param_names = ["call"]

    def setup(self, call):
        from fastshallow.bench import per_call_cases

        self.ours, self.theirs = per_call_cases()[call]
        self.ours()  # compile, or load from the cache
        self.theirs()

    def time_call(self, call):
        self.ours()

    def time_call_reference(self, call):
        self.theirs()


class MiniBatchEpoch:
    """One epoch of SGD in batches of 200 at the mnist network (bench.BATCH_POINTS), through
    engine.descend as the estimators' fit runs it, beside the NumPy reference's epoch; all
    threads. The implementations are `fastshallow bench`'s."""

    params = ([p.name for p in BATCH_POINTS], list(DTYPES))
    param_names = ["size", "dtype"]
    timeout = 600

    def setup(self, size, dtype):
        from fastshallow.bench import FastShallow, NumPyReference

        self.ours = FastShallow(POINTS[size], dtype, None)  # compiles, or loads from the cache
        self.theirs = NumPyReference(POINTS[size], dtype, None)

    def time_epoch(self, size, dtype):
        self.ours.run()

    def time_epoch_reference(self, size, dtype):
        self.theirs.run()


class SparseInput:
    """One epoch of ShallowNetClassifier (adam, batches of 200, 100 hidden units, 10
    classes) on a 20,000 × 5,000 X at 1% and 30% density: the sparse kernels on the CSR
    matrix beside the dense kernels on the same X densified, and MLPClassifier on the
    CSR matrix. The sparse path should win well below 30%, where the two cross."""

    params = ([0.01, 0.3],)
    param_names = ["density"]
    timeout = 900

    def setup(self, density):
        import scipy.sparse

        self.X = scipy.sparse.random(20_000, 5_000, density=density, random_state=1, format="csr")
        self.dense = self.X.toarray()
        self.y = np.random.default_rng(0).integers(0, 10, 20_000)
        self._fit(fs.ShallowNetClassifier, self.X[:400], self.y[:400])  # compile, or load from the cache
        self._fit(fs.ShallowNetClassifier, self.dense[:400], self.y[:400])

    def _fit(self, estimator, X, y):
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator(hidden_layer_sizes=100, max_iter=1, random_state=0).fit(X, y)

    def time_epoch_sparse(self, density):
        self._fit(fs.ShallowNetClassifier, self.X, self.y)

    def time_epoch_densified(self, density):
        self._fit(fs.ShallowNetClassifier, self.dense, self.y)

    def time_epoch_mlpclassifier_sparse(self, density):
        from sklearn.neural_network import MLPClassifier

        self._fit(MLPClassifier, self.X, self.y)


class Distributed:
    """fastshallow.distributed.train on a LocalCluster of 2 worker processes (1 thread
    each) beside fastshallow.train in this process, at the mnist network on 20,000
    examples in chunks of 5,000, and the per-iteration cost of the cluster on a problem
    whose arithmetic is negligible (2 chunks of 64 examples). The data is persisted on the
    workers before timing; each timed call also validates and persists its chunks once.
    The full-size run (m = 200,000, a memory-limited run): benchmarks/dask_scaling.py."""

    timeout = 600
    ITERATIONS = 3

    def setup(self):
        from distributed import Client, LocalCluster

        from fastshallow import distributed as fsd

        self.fsd = fsd
        # Logs below CRITICAL are silenced: closing the cluster can race a worker's
        # heartbeat, which then logs an ERROR with a traceback (seen once in CI's quick
        # run). A real failure still raises, and asv reports the benchmark as failed.
        self.cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None, silence_logs=50
        )
        self.client = Client(self.cluster)
        from .dask_scaling import dataset

        self.Xd, self.Yd = (a.persist() for a in dataset(20_000, chunk=5_000))  # made on the workers
        self.X, self.Y = self.Xd.compute(), self.Yd.compute()
        self.tiny = (self.Xd[:, :128].rechunk((784, 64)).persist(), self.Yd[:, :128].rechunk((10, 64)).persist())
        self.params = fs.init_params(784, 128, 10, seed=0)
        self._cluster(self.Xd, self.Yd, 1)  # compile on the workers, or load from the cache
        fs.train(self._copy(), self.X, self.Y, num_iterations=1)

    def teardown(self):
        self.client.close()
        self.cluster.close()

    def _copy(self):
        return {k: v.copy() for k, v in self.params.items()}

    def _cluster(self, X, Y, iterations):
        self.fsd.train(self._copy(), X, Y, learning_rate=0.1, num_iterations=iterations, client=self.client)

    def time_train_cluster(self):
        self._cluster(self.Xd, self.Yd, self.ITERATIONS)

    def time_train_single_process(self):
        fs.train(self._copy(), self.X, self.Y, learning_rate=0.1, num_iterations=self.ITERATIONS)

    def time_train_cluster_overhead(self):
        self._cluster(*self.tiny, self.ITERATIONS)
