"""fastshallow.distributed on a real cluster: a LocalCluster of two worker processes on
loopback, started once for the module.

What is checked: agreement with single-machine training (to rounding; the sums are grouped
by chunk), identical bits across runs, chunks that do not divide m, the row layout,
mini-batches, local steps with averaging, clear errors before any work, a worker killed
mid-training (Dask recomputes; the result is unchanged) and a loss Dask cannot recover
from (ClusterError; params at the last completed iteration).
"""

import os
import signal
import threading

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")

import fastshallow as fs  # noqa: E402
from fastshallow import distributed as fsd  # noqa: E402
import pins  # noqa: E402
from helpers import assert_close  # noqa: E402

# Agreement with single-machine training after many updates: float64 differs by sums
# grouped differently (a few ulps per step), float32 by the same at its precision.
TOL = {np.dtype(np.float64): 1e-10, np.dtype(np.float32): 1e-4}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        silence_logs=50,  # the killed-worker tests make the nanny log errors on purpose
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def problem(n_x=12, n_h=9, n_y=1, m=2003, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_x, m))
    if n_y == 1:
        Y = (X[:1] * X[1:2] + X[2:3] > 0).astype(float)
    else:
        Y = np.eye(n_y)[:, rng.integers(0, n_y, m)]
    params = fs.init_params(n_x, n_h, n_y, seed=seed + 1, scale=0.5, dtype=dtype)
    return params, X, Y


def copy(params):
    return {k: v.copy() for k, v in params.items()}


def assert_params_equal(a, b):
    for k in a:
        assert np.array_equal(a[k], b[k]), f"{k} differs"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("chunk", [2003, 700, 333])  # one chunk; chunks that do not divide m
def test_equals_single_machine_train(client, dtype, chunk):
    params, X, Y = problem(dtype=dtype)
    local = copy(params)
    expected = fs.train(local, X, Y, learning_rate=0.5, num_iterations=25)
    costs = fsd.train(
        params, da.from_array(X, chunks=(4, chunk)), da.from_array(Y, chunks=(1, chunk)),
        learning_rate=0.5, num_iterations=25, client=client,
    )
    assert_close(costs, expected, dtype, "costs", rtol=TOL[np.dtype(dtype)])
    for k in params:
        assert params[k].dtype == dtype
        assert_close(params[k], local[k], dtype, k, rtol=TOL[np.dtype(dtype)])


@pytest.mark.parametrize("layout", ["columns", "rows"])
def test_chunks_of_no_examples_are_left_out(client, layout):
    # A filter leaves chunks of size 0 (after compute_chunk_sizes): they change nothing.
    params, X, Y = problem()
    m = X.shape[1]
    results = []
    for sizes in ((700, m - 700), (0, 700, 0, m - 700, 0)):
        p = copy(params)
        if layout == "columns":
            dX, dY = da.from_array(X, chunks=(4, sizes)), da.from_array(Y, chunks=(1, sizes))
        else:
            dX, dY = da.from_array(X.T, chunks=(sizes, 4)), da.from_array(Y[0], chunks=(sizes,))
        costs = fsd.train(p, dX, dY, learning_rate=0.5, num_iterations=5, client=client, layout=layout)
        results.append((costs, p))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert_params_equal(results[0][1], results[1][1])


def test_rows_layout_softmax_and_relu_match_single_machine(client):
    params, X, Y = problem(n_y=3, m=1500, seed=3)
    local = copy(params)
    expected = fs.train(local, X, Y, learning_rate=0.3, num_iterations=10, activation="relu", output="softmax")
    # The dask-ml layout: examples as rows, chunked along them; features split too, merged.
    costs = fsd.train(
        params, da.from_array(X.T, chunks=(400, 5)), da.from_array(Y.T, chunks=(300, 3)),
        learning_rate=0.3, num_iterations=10, activation="relu", output="softmax", layout="rows",
    )  # client=None: the current client
    assert_close(costs, expected, np.float64, "costs", rtol=TOL[np.dtype(np.float64)])
    for k in params:
        assert_close(params[k], local[k], np.float64, k, rtol=TOL[np.dtype(np.float64)])


@pytest.mark.parametrize("batch_size", [None, 128])
def test_identical_bits_across_runs(client, batch_size):
    params, X, Y = problem()
    Xd, Yd = da.from_array(X, chunks=(12, 500)), da.from_array(Y, chunks=(1, 500))
    runs = []
    for _ in range(2):
        p = copy(params)
        costs = fsd.train(p, Xd, Yd, learning_rate=0.5, num_iterations=12, batch_size=batch_size, seed=7)
        runs.append((p, costs))
    assert np.array_equal(runs[0][1], runs[1][1])
    assert_params_equal(runs[0][0], runs[1][0])


def test_minibatch_steps_match_single_machine_steps(client):
    params, X, Y = problem(m=1000)
    batch, steps, seed = 300, 8, 11
    # The documented batches: a permutation per epoch from default_rng(seed), cut in turn.
    rng = np.random.default_rng(seed)
    local, expected = copy(params), []
    for s in range(steps):
        k = s % 4  # ceil(1000 / 300) batches per epoch, the last of 100
        if k == 0:
            order = rng.permutation(1000)
        cols = order[k * batch : (k + 1) * batch]
        expected.append(fs.step(local, X[:, cols], Y[:, cols], 0.5))
    costs = fsd.train(
        params, da.from_array(X, chunks=(12, 450)), da.from_array(Y, chunks=(1, 450)),
        learning_rate=0.5, num_iterations=steps, batch_size=batch, seed=seed,
    )
    assert_close(costs, expected, np.float64, "costs", rtol=TOL[np.dtype(np.float64)])
    for k in params:
        assert_close(params[k], local[k], np.float64, k, rtol=TOL[np.dtype(np.float64)])


def test_local_steps_with_averaging(client):
    params, X, Y = problem(m=1200)
    chunk, k, rounds = 500, 3, 4
    # The algorithm as documented: k local steps per chunk, then the size-weighted mean.
    state, expected = copy(params), []
    for _ in range(rounds):
        results, cost = [], 0.0
        for j0 in range(0, 1200, chunk):
            p = copy(state)
            c = fs.train(p, X[:, j0 : j0 + chunk], Y[:, j0 : j0 + chunk], learning_rate=0.5, num_iterations=k)
            m_c = min(chunk, 1200 - j0)
            results.append((m_c, p))
            cost += m_c * c[0]
        expected.append(cost / 1200)
        state = {n: sum(m_c * p[n] for m_c, p in results) / 1200 for n in state}
    Xd, Yd = da.from_array(X, chunks=(12, chunk)), da.from_array(Y, chunks=(1, chunk))
    costs = fsd.train(params, Xd, Yd, learning_rate=0.5, num_iterations=k * rounds, sync_every=k)
    assert costs.shape == (rounds,)
    assert_close(costs, expected, np.float64, "costs", rtol=TOL[np.dtype(np.float64)])
    for n in params:
        assert_close(params[n], state[n], np.float64, n, rtol=TOL[np.dtype(np.float64)])
    # k = 1 is gradient descent again, up to rounding.
    p1, local = copy(params), copy(params)
    fsd.train(p1, Xd, Yd, learning_rate=0.5, num_iterations=5, sync_every=1)
    fs.train(local, X, Y, learning_rate=0.5, num_iterations=5)
    for n in params:
        assert_close(p1[n], local[n], np.float64, n, rtol=TOL[np.dtype(np.float64)])


def test_callback_sees_every_iteration(client):
    params, X, Y = problem(m=600)
    seen = []
    costs = fsd.train(
        params, da.from_array(X, chunks=(12, 250)), da.from_array(Y, chunks=(1, 250)),
        learning_rate=0.5, num_iterations=4, callback=lambda i, c: seen.append((i, c)),
    )
    assert seen == list(enumerate(costs))


@pytest.mark.parametrize("fan_in", [2, 8])
def test_the_reduction_gives_the_same_bits_on_the_client_and_on_the_workers(client, monkeypatch, fan_in):
    params, X, Y = problem()
    Xd, Yd = da.from_array(X, chunks=(12, 180)), da.from_array(Y, chunks=(1, 180))  # 12 chunks
    monkeypatch.setattr(fsd, "FAN_IN", fan_in)
    results = []
    for limit in (fsd.CLIENT_REDUCE_BYTES, 0):  # 0: every addition is a task on the cluster
        monkeypatch.setattr(fsd, "CLIENT_REDUCE_BYTES", limit)
        p = copy(params)
        results.append((p, fsd.train(p, Xd, Yd, learning_rate=0.5, num_iterations=4)))
    assert np.array_equal(results[0][1], results[1][1])
    assert_params_equal(results[0][0], results[1][0])


def test_an_error_in_the_callback_propagates_as_itself_with_params_kept(client):
    params, X, Y = problem(m=600)
    Xd, Yd = da.from_array(X, chunks=(12, 250)), da.from_array(Y, chunks=(1, 250))
    start = copy(params)

    def stop_after_two(i, cost):
        if i == 1:
            raise RuntimeError("enough")

    with pytest.raises(RuntimeError, match="enough") as err:
        fsd.train(params, Xd, Yd, learning_rate=0.5, num_iterations=5, callback=stop_after_two)
    assert not isinstance(err.value, fsd.ClusterError)
    fsd.train(start, Xd, Yd, learning_rate=0.5, num_iterations=2)
    assert_params_equal(params, start)


# -- errors: raised before any update, params untouched -----------------------------------


def _bad_calls(X, Y):
    Xd, Yd = da.from_array(X, chunks=(12, 500)), da.from_array(Y, chunks=(1, 500))
    X_nan = X.copy()
    X_nan[3, 1700] = np.nan
    return [
        (TypeError, "dask.array", dict(X=X, Y=Yd)),
        (ValueError, r"shape \(m, n_x\)|layout='rows'", dict(X=Xd.T, Y=Yd)),
        (ValueError, "m = 2003 examples", dict(X=Xd, Y=Yd[:, :2000])),
        (ValueError, r"chunk 3 \(examples 1500 to 1999\).*X", dict(X=da.from_array(X_nan, chunks=(12, 500)), Y=Yd)),
        (ValueError, r"chunk 0 .*Y", dict(X=Xd, Y=Yd * 2)),
        (ValueError, "layout", dict(X=Xd, Y=Yd, layout="cols")),
        (ValueError, "cannot be combined", dict(X=Xd, Y=Yd, sync_every=2, batch_size=10)),
        (ValueError, "multiple of sync_every", dict(X=Xd, Y=Yd, sync_every=3)),
        (TypeError, "callback", dict(X=Xd, Y=Yd, callback=3)),
        (TypeError, "real numbers", dict(X=Xd.astype(str), Y=Yd)),
    ]


@pytest.mark.parametrize("case", range(10))
def test_bad_input_is_rejected_and_params_untouched(client, case):
    params, X, Y = problem()
    error, pattern, kwargs = _bad_calls(X, Y)[case]
    before = copy(params)
    with pytest.raises(error, match=pattern):
        fsd.train(params, learning_rate=0.5, num_iterations=4, **kwargs)
    assert_params_equal(params, before)


@pytest.mark.parametrize("W1_scale, learning_rate, iteration", [(1e150, 1e300, 0), (1e155, 1.0, 1)])
def test_divergence_keeps_the_state_single_machine_train_keeps(client, W1_scale, learning_rate, iteration):
    # The cases of test_errors: relu keeps huge magnitudes. The first makes the first update
    # overflow; in the second iteration 0 is finite and iteration 1's cost overflows, so
    # params go back to the state before the update that led there.
    params, X, Y = problem(n_x=3, n_h=4, m=600)
    params["W1"] = params["W1"] * 2 * W1_scale  # scale 0.5 -> 1.0, as there
    Xd, Yd = da.from_array(X, chunks=(3, 250)), da.from_array(Y, chunks=(1, 250))
    local = copy(params)
    kw = dict(learning_rate=learning_rate, num_iterations=5, activation="relu")
    with pytest.raises(fs.DivergenceError) as single:
        fs.train(local, X, Y, **kw)
    with pytest.raises(fs.DivergenceError, match=f"diverged at iteration {iteration}") as dist:
        fsd.train(params, Xd, Yd, **kw)
    assert dist.value.iteration == single.value.iteration == iteration
    assert dist.value.kept == single.value.kept
    for k in params:
        assert_close(params[k], local[k], np.float64, k, rtol=TOL[np.dtype(np.float64)])


# -- workers lost -------------------------------------------------------------------------


def _kill(client, address):
    """SIGKILL one worker process, as a crash would; its nanny starts a new one."""
    pid = client.run(os.getpid, workers=[address])[address]
    os.kill(pid, signal.SIGKILL)


def test_worker_killed_mid_training_changes_nothing(client):
    params, X, Y = problem(n_x=40, n_h=64, m=20000)
    Xd, Yd = da.from_array(X, chunks=(40, 2500)), da.from_array(Y, chunks=(1, 2500))
    calm = copy(params)
    expected = fsd.train(calm, Xd, Yd, learning_rate=0.5, num_iterations=8)
    victim = sorted(client.scheduler_info()["workers"])[0]

    killed, after_kill = threading.Event(), []

    def kill():
        _kill(client, victim)
        killed.set()

    def kill_soon(i, cost):
        if killed.is_set():
            after_kill.append(i)
        if i == 2:  # during iteration 3's tasks, or between them: either way mid-training
            threading.Timer(0.01, kill).start()

    costs = fsd.train(params, Xd, Yd, learning_rate=0.5, num_iterations=8, callback=kill_soon)
    assert after_kill, "the worker was not killed before training ended"
    # Dask ran the lost tasks again and rebuilt the lost chunks from the source.
    assert np.array_equal(costs, expected)
    assert_params_equal(params, calm)
    client.wait_for_workers(2, timeout=60)


def test_unrecoverable_loss_raises_cluster_error_at_last_iteration(client):
    params, X, Y = problem()
    workers = sorted(client.scheduler_info()["workers"])
    # Data scattered to one worker has no source to recompute it from.
    xs = [X[:, j : j + 500] for j in range(0, 2003, 500)]
    ys = [Y[:, j : j + 500] for j in range(0, 2003, 500)]
    futures = client.scatter(xs + ys, workers=[workers[0]])
    Xd = da.concatenate([da.from_delayed(f, shape=x.shape, dtype=x.dtype) for f, x in zip(futures, xs)], axis=1)
    Yd = da.concatenate([da.from_delayed(f, shape=y.shape, dtype=y.dtype) for f, y in zip(futures[5:], ys)], axis=1)
    start = copy(params)

    def kill_after_second(i, cost):
        if i == 1:
            _kill(client, workers[0])
            while workers[0] in client.scheduler_info()["workers"]:
                threading.Event().wait(0.05)

    with pytest.raises(fsd.ClusterError, match="state after 2 completed") as err:
        fsd.train(params, Xd, Yd, learning_rate=0.5, num_iterations=6, callback=kill_after_second)
    assert err.value.kept == 2 and err.value.costs.shape == (2,)
    del futures
    client.wait_for_workers(2, timeout=60)
    # params hold exactly two iterations' result: the same as a run of two.
    two = copy(start)
    fsd.train(two, da.from_array(X, chunks=(12, 500)), da.from_array(Y, chunks=(1, 500)), learning_rate=0.5, num_iterations=2)
    assert_params_equal(params, two)


# -- the estimator ------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size, solver", [(None, "sgd"), (256, "sgd"), (256, "adam")])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_estimator_fit_on_dask_matches_numpy(client, batch_size, solver, n_classes):
    pytest.importorskip("sklearn")
    from sklearn.datasets import make_classification

    X, y = make_classification(1500, 10, n_classes=n_classes, n_informative=4, random_state=0)
    # batch_size None: one unshuffled batch of all 1500, which Dask sums without index arrays.
    batches = dict(batch_size=1500, shuffle=False) if batch_size is None else dict(batch_size=batch_size)
    kwargs = dict(hidden_layer_sizes=16, solver=solver, learning_rate_init=0.01, max_iter=4, random_state=0,
                  tol=0.0, **batches)
    with pytest.warns(Warning):  # ConvergenceWarning: max_iter is tiny on purpose
        a = fs.ShallowNetClassifier(**kwargs).fit(X, y)
    with pytest.warns(Warning):
        b = fs.ShallowNetClassifier(**kwargs).fit(da.from_array(X, chunks=(400, 10)), da.from_array(y, chunks=400))
    np.testing.assert_array_equal(b.classes_, a.classes_)
    assert b.n_features_in_ == 10 and b.n_iter_ == a.n_iter_ == 4 and b.t_ == a.t_
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    for p, q in zip(b.coefs_ + b.intercepts_, a.coefs_ + a.intercepts_):
        np.testing.assert_allclose(p, q, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    # Prediction on Dask arrays: lazy, block by block on the workers, equal to NumPy's; a
    # block of no rows (a filter leaves them) gives no rows.
    Xd = da.from_array(X, chunks=((600, 0, 900), (5, 5)))
    for method in ("predict", "predict_proba", "predict_log_proba", "decision_function"):
        lazy = getattr(b, method)(Xd)
        assert isinstance(lazy, da.Array), method
        expected = getattr(b, method)(X)
        assert lazy.shape == expected.shape and lazy.dtype == expected.dtype, method
        np.testing.assert_array_equal(lazy.compute(), expected, err_msg=method)


def test_estimator_fit_on_dask_multilabel_matches_numpy(client):
    pytest.importorskip("sklearn")
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(900, 8, n_classes=3, random_state=0)
    kwargs = {"hidden_layer_sizes": 8, "solver": "sgd", "learning_rate_init": 0.01, "max_iter": 3, "random_state": 0,
              "batch_size": 200, "tol": 0.0}
    with pytest.warns(Warning):
        a = fs.ShallowNetClassifier(**kwargs).fit(X, Y)
    with pytest.warns(Warning):
        b = fs.ShallowNetClassifier(**kwargs).fit(da.from_array(X, chunks=(250, 8)), da.from_array(Y, chunks=(250, 2)))
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    lazy = b.predict(da.from_array(X, chunks=(250, 8)))
    assert lazy.shape == (900, 3)
    np.testing.assert_array_equal(lazy.compute(), a.predict(X))


@pytest.mark.parametrize("loss, n_outputs", [("squared_error", 1), ("squared_error", 2), ("poisson", 1)])
def test_regressor_fit_on_dask_matches_numpy(client, loss, n_outputs):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((1200, 6))
    y = np.column_stack([X[:, 0] - X[:, 1] ** 2, X[:, 2]])[:, :n_outputs]
    if loss == "poisson":
        y = rng.poisson(np.exp(0.5 * X[:, :1])).astype(float)
    y = y[:, 0] if n_outputs == 1 else y
    kwargs = dict(loss=loss, hidden_layer_sizes=12, learning_rate_init=0.01, max_iter=3, random_state=0, tol=0.0,
                  batch_size=256)
    with pytest.warns(Warning):
        a = fs.ShallowNetRegressor(**kwargs).fit(X, y)
    yd = da.from_array(y, chunks=(500,) + y.shape[1:])
    with pytest.warns(Warning):
        b = fs.ShallowNetRegressor(**kwargs).fit(da.from_array(X, chunks=(500, 6)), yd)
    assert b.n_iter_ == a.n_iter_ == 3 and b.t_ == a.t_ and b.n_outputs_ == n_outputs
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    for p, q in zip(b.coefs_ + b.intercepts_, a.coefs_ + a.intercepts_):
        np.testing.assert_allclose(p, q, rtol=1e-9, atol=1e-12)
    lazy = b.predict(da.from_array(X, chunks=(500, 6)))
    assert isinstance(lazy, da.Array) and lazy.shape == a.predict(X).shape
    np.testing.assert_array_equal(lazy.compute(), b.predict(X))


def test_regressor_dask_errors(client):
    pytest.importorskip("sklearn")
    X = da.from_array(np.random.default_rng(0).standard_normal((100, 4)), chunks=(40, 4))
    y = da.from_array(np.linspace(-1, 1, 100), chunks=40)
    with pytest.raises(ValueError, match="solver='lbfgs' is not supported with Dask arrays"):
        fs.ShallowNetRegressor(solver="lbfgs").fit(X, y)
    with pytest.raises(ValueError, match=r"chunk 0 \(examples 0 to 39\): Y must be >= 0 for output='exp'"):
        fs.ShallowNetRegressor(loss="poisson").fit(X, y)
    with pytest.raises(ValueError, match="sample_weight is not supported with Dask arrays"):
        fs.ShallowNetRegressor().fit(X, y, sample_weight=np.ones(100))


def test_estimator_dask_errors(client):
    pytest.importorskip("sklearn")
    X = da.from_array(np.random.default_rng(0).standard_normal((100, 4)), chunks=(40, 4))
    y = da.from_array(np.arange(100) % 2, chunks=40)
    with pytest.raises(ValueError, match="early_stopping"):
        fs.ShallowNetClassifier(early_stopping=True).fit(X, y)
    with pytest.raises(TypeError, match="both be Dask arrays"):
        fs.ShallowNetClassifier().fit(X, np.arange(100) % 2)
    with pytest.raises(ValueError, match="only one class"):
        fs.ShallowNetClassifier().fit(X, y * 0)
    # A fitted model meets bad data: the error names the chunk, and the model is unchanged.
    with pytest.warns(Warning):
        model = fs.ShallowNetClassifier(4, max_iter=2).fit(X, y)
    before = model.__dict__.copy()
    coefs = [c.copy() for c in model.coefs_]
    X_nan = X.compute()
    X_nan[50, 1] = np.nan
    with pytest.raises(ValueError, match=r"chunk 1 \(examples 40 to 79\)"):
        model.fit(da.from_array(X_nan, chunks=(40, 4)), y)
    # A label that is not a class, found on the client before the cluster loads any data
    # (a worker would name its chunk).
    with pytest.raises(ValueError, match=r"labels \[5\] that are not among classes_") as info:
        model.partial_fit(X, da.where(y == 0, 5, y))
    assert "chunk" not in str(info.value)
    assert model.__dict__.keys() == before.keys() and model.n_iter_ == 2
    for c, d in zip(model.coefs_, coefs):
        np.testing.assert_array_equal(c, d)


def test_lost_params_are_scattered_again(client, monkeypatch):
    # What a worker killed mid-iteration can do: take the iteration's scattered params
    # with it, so Dask cancels the tasks that needed them ("already forgotten"). The
    # params are on the client: the iteration runs again with them scattered anew.
    from distributed.client import FutureCancelledError

    params, X, Y = problem()
    Xd, Yd = da.from_array(X, chunks=(12, 500)), da.from_array(Y, chunks=(1, 500))
    calm = copy(params)
    expected = fsd.train(calm, Xd, Yd, learning_rate=0.5, num_iterations=4)
    real = fsd.Chunks.gradient_sums
    lost = []

    def forgetful(self, params_future, *args):
        if len(lost) < fsd.RETRIES:  # every retry but the last finds its params gone
            lost.append(params_future.key)
            raise FutureCancelledError(params_future.key, "already forgotten")
        return real(self, params_future, *args)

    monkeypatch.setattr(fsd.Chunks, "gradient_sums", forgetful)
    costs = fsd.train(params, Xd, Yd, learning_rate=0.5, num_iterations=4)
    assert len(set(lost)) == fsd.RETRIES  # a fresh scatter each time
    assert np.array_equal(costs, expected)
    assert_params_equal(params, calm)


def test_a_scatter_to_a_lost_worker_is_made_again_and_nothing_is_broadcast(client, monkeypatch):
    # A worker killed just before an iteration can be sent its params before the scheduler
    # knows it is gone: the scatter fails with an OSError (CommClosedError), and the
    # iteration runs again with a fresh scatter. Never broadcast=True: Dask's replicate,
    # which that runs, can wait for ever on a worker lost during it (dask/distributed
    # issue 5704).
    from distributed.comm import CommClosedError

    params, X, Y = problem()
    Xd, Yd = da.from_array(X, chunks=(12, 500)), da.from_array(Y, chunks=(1, 500))
    calm = copy(params)
    expected = fsd.train(calm, Xd, Yd, learning_rate=0.5, num_iterations=4)
    real = type(client).scatter
    calls = []

    def scatter(self, data, *args, **kwargs):
        calls.append(kwargs)
        if len(calls) == 2:  # the second iteration's first try
            raise CommClosedError("in <TCP (closed)>: Stream is closed")
        return real(self, data, *args, **kwargs)

    monkeypatch.setattr(type(client), "scatter", scatter)
    costs = fsd.train(params, Xd, Yd, learning_rate=0.5, num_iterations=4)
    assert len(calls) == 5 and not any(kw.get("broadcast") for kw in calls)
    assert np.array_equal(costs, expected)
    assert_params_equal(params, calm)


def test_distributed_train_has_the_defaults_of_fs_train():
    import inspect

    ours, theirs = inspect.signature(fsd.train).parameters, inspect.signature(fs.train).parameters
    for name in ("learning_rate", "num_iterations", "activation", "output"):
        assert ours[name].default == theirs[name].default, name


@pytest.mark.parametrize("case", sorted(pins.CLUSTER_CASES))
def test_results_have_the_pinned_bits(client, case):
    # See pins.py: the cluster's results, bit for bit, as recorded by tools/pin_results.py.
    expected = pins.pinned(case)
    assert pins.fingerprint(pins.CLUSTER_CASES[case](client)) == expected
