"""The engine's optimisers and output layers against the NumPy reference.

Every kind of the update family (kernels/descent.py) runs an epoch of mini-batches
through engine.descend and is compared with its twin in fastshallow.reference; every
output layer of the table (kernels/codes.py) is compared with its twin, and its
gradients with finite differences.
"""

import contextlib

import numpy as np
import pytest

import fastshallow as fs
from fastshallow import engine
from fastshallow import reference as ref
from fastshallow.kernels.config import Signature
from helpers import API_CASES, DTYPES, as_float64, assert_close, in_layout, network, numeric_gradients

RULES = {
    "sgd": lambda: engine.sgd(0.05, alpha=0.01),
    "momentum": lambda: engine.sgd(0.05, 0.9, nesterov=False, alpha=0.01),
    "nesterov": lambda: engine.sgd(0.05, 0.9, nesterov=True, alpha=0.01),
    "adam": lambda: engine.adam(0.01, alpha=0.01, t=3),
}
OUTPUTS = [code.name.lower() for code in engine.Output]


def targets(output, n_y, m, seed=1):
    """Targets each output accepts: labels, one-hot columns, real values, counts."""
    rng = np.random.default_rng(seed)
    if output == "softmax":
        return (np.arange(n_y)[:, None] == rng.integers(0, n_y, m)).astype(np.float64)
    if output == "identity":
        return rng.standard_normal((n_y, m)) * 2
    if output == "exp":
        return rng.poisson(2.0, (n_y, m)).astype(np.float64)
    return (rng.random((n_y, m)) < 0.5).astype(np.float64)


def batch_weights(order):
    """Integer weights 0..3 for 300 examples, the last batch of `order` (its 44 columns from
    256) all zero: a batch with nothing to learn from."""
    w = np.random.default_rng(8).integers(0, 4, 300).astype(np.float64)
    w[order[256:]] = 0
    return w


def epoch(rule_name, dtype, output, weighted=False):
    """One epoch of ragged batches (300 = 2·128 + 44) through engine.descend, and the
    reference's epoch from the same start: ((losses, params), (ref losses, ref params)).
    weighted: with batch_weights."""
    n_y = 1 if output == "sigmoid" else 3
    # X F-ordered, as the estimator's X.T is: the kernels this compiles are the estimator's.
    params, X, _ = network(6, 9, n_y, 300, dtype=dtype, seed=2, scale=0.3, layout="F")
    Y = targets(output, n_y, 300)
    order = np.random.default_rng(4).permutation(300).astype(np.int64)
    rule = RULES[rule_name]()
    start = as_float64(params)
    w = batch_weights(order) if weighted else None
    p = engine.prepare(params, X, Y, activation="relu", output=output, update=True, weights=w)
    velocity = tuple(np.zeros_like(a) for a in p.work)
    moments = tuple(np.zeros_like(a) for a in p.work)
    losses = np.empty(3)
    run = engine.descend(p.work, p.X, p.Y, losses, activation=p.activation, output=p.output, rule=rule,
                         the_plan=engine.plan(128, p.work), order=order, batch=128, velocity=velocity,
                         moments=moments, weights=p.weights)
    assert run.status == engine.OK and run.done == 3
    got = dict(zip(("W1", "b1", "W2", "b2"), p.work))
    X64 = np.asarray(X, np.float64)
    if rule_name == "adam":
        zeros = {k: np.zeros_like(v) for k, v in start.items()}
        expected, t = ref.adam_epoch(start, (zeros, {k: v.copy() for k, v in zeros.items()}), X64, Y, order, 128,
                                     rule.lr, rule.beta_1, rule.beta_2, rule.epsilon, rule.alpha, rule.t, "relu", output,
                                     sample_weight=w)
        assert t == rule.t + 3
    else:
        velocity0 = {k: np.zeros_like(v) for k, v in start.items()}
        expected = ref.sgd_epoch(start, velocity0, X64, Y, order, 128, rule.lr, rule.momentum,
                                 rule_name == "nesterov", rule.alpha, "relu", output, sample_weight=w)
    return (losses, got), (expected, start)


@pytest.mark.parametrize("output", OUTPUTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule_name", list(RULES))
def test_every_rule_follows_its_reference_for_an_epoch(rule_name, dtype, output):
    (losses, got), (ref_losses, expected) = epoch(rule_name, dtype, output)
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    assert_close(losses, ref_losses, dtype, "batch losses", rtol=rtol)
    for k in expected:
        assert_close(got[k], expected[k], dtype, k, rtol=rtol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("rule_name", ["nesterov", "adam"])
def test_weighted_epochs_follow_the_reference(rule_name, dtype):
    # Weights 0..3, and a last batch of zero weight, which must change nothing.
    (losses, got), (ref_losses, expected) = epoch(rule_name, dtype, "softmax", weighted=True)
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    assert losses[2] == 0 == ref_losses[2]
    assert_close(losses, ref_losses, dtype, "batch losses", rtol=rtol)
    for k in expected:
        assert_close(got[k], expected[k], dtype, k, rtol=rtol)


@pytest.mark.parametrize("output", OUTPUTS)
def test_weighted_gradients_match_the_reference(output):
    # F-ordered float64 X, as the estimator's lbfgs passes it: the weights are applied to
    # the loss and delta tiles, after X's layout has been copied away (every layout is
    # tested unweighted), and each dtype and layout would compile the pass once more.
    # float32 weights are tested through the epochs above.
    dtype = np.float64
    n_y = 1 if output == "sigmoid" else 3
    params, X, _ = network(5, 7, n_y, 203, dtype=dtype, seed=9, scale=0.3, layout="F")
    Y = targets(output, n_y, 203)
    w = np.random.default_rng(10).random(203) * 3
    w[::7] = 0
    J_ref, g_ref = ref.gradients(as_float64(params), np.asarray(X, np.float64), Y, output=output, sample_weight=w)
    J, grads = fs.gradients(params, X, Y, output=output, sample_weight=w)
    assert_close(J, J_ref, dtype, "weighted cost")
    for k in g_ref:
        assert_close(grads[k], g_ref[k], dtype, k)


@pytest.mark.parametrize("output", OUTPUTS)
def test_integer_weights_equal_repeated_examples(output):
    n_y = 1 if output == "sigmoid" else 3
    params, X, _ = network(4, 6, n_y, 50, seed=11, scale=0.3)
    Y = targets(output, n_y, 50)
    w = np.random.default_rng(12).integers(0, 4, 50)
    J, grads = fs.gradients(params, X, Y, output=output, sample_weight=w)
    J_rep, grads_rep = fs.gradients(params, np.repeat(X, w, axis=1), np.repeat(Y, w, axis=1), output=output)
    assert J == pytest.approx(J_rep, rel=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], grads_rep[k], rtol=1e-10, atol=1e-15, err_msg=k)


def test_weighted_gradients_match_finite_differences():
    params, X, _ = network(3, 4, 2, 37, seed=13, scale=0.3)
    Y = targets("softmax", 2, 37)
    w = np.random.default_rng(14).random(37)
    _, grads = fs.gradients(params, X, Y, activation="tanh", output="softmax", sample_weight=w)
    numeric = numeric_gradients(
        lambda p: fs.gradients(p, X, Y, activation="tanh", output="softmax", sample_weight=w)[0], params
    )
    for k in grads:
        assert_close(grads[k], numeric[k], np.float64, f"{k} vs finite differences", rtol=1e-6)


@pytest.mark.parametrize(
    "weights, message",
    [
        (np.ones(19), r"sample_weight must have shape \(20,\)"),
        (np.ones((20, 1)), r"sample_weight must have shape \(20,\)"),
        (-np.ones(20), "sample_weight must be >= 0"),
        (np.zeros(20), "sample_weight is all zero"),
        (np.full(20, np.nan), "sample_weight contains NaN or inf"),
        (np.array(["a"] * 20), "sample_weight must hold real numbers"),
    ],
)
def test_bad_weights_are_refused_and_change_nothing(weights, message):
    params, X, _ = network(3, 4, 1, 20)
    before = {k: v.copy() for k, v in params.items()}
    Y = targets("sigmoid", 1, 20)
    with pytest.raises((ValueError, TypeError), match=message):
        fs.train(params, X, Y, num_iterations=2, sample_weight=weights)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


@pytest.mark.parametrize("dtype, layout", API_CASES)
@pytest.mark.parametrize("output", ["identity", "exp"])
def test_regression_outputs_match_the_reference(output, dtype, layout):
    params, X, _ = network(5, 7, 2, 203, dtype=dtype, seed=3, scale=0.3, layout=layout)
    Y = targets(output, 2, 203)
    p64, X64 = as_float64(params), np.asarray(X, np.float64)
    assert_close(fs.forward(params, X, output=output), ref.forward(p64, X64, output=output), dtype, "forward")
    assert_close(fs.predict(params, X, output=output), ref.predict(p64, X64, output=output), dtype, "predict")
    J_ref, g_ref = ref.gradients(p64, X64, Y, output=output)
    assert_close(fs.cost(params, X, Y, output=output), J_ref, dtype, "cost")
    J, grads = fs.gradients(params, X, Y, output=output)
    assert_close(J, J_ref, dtype, "gradients' cost")
    for k in g_ref:
        assert_close(grads[k], g_ref[k], dtype, k)


@pytest.mark.parametrize("n_threads", [1, 2])
def test_every_layout_of_x_and_y_shares_one_compiled_kernel_and_gives_the_same_bits(n_threads):
    # kernels/config.entry: X and Y in C or F order, strided or read-only all convert to
    # the one read-only strided signature each pass compiles; a unit-stride row still takes
    # load_tile's vector copy. n_threads 2 on 9000 examples takes the parallel kernels.
    from fastshallow.kernels import descent, step

    params, X, Y = network(6, 16, 2, 9000, seed=9)
    Y = Y.astype(np.float64)
    kernels = (descent.descend_serial, descent.descend_parallel, step.evaluate_serial, step.evaluate,
               step.gradients_serial, step.gradients)
    results, counts = [], []
    for layout in ("C", "F", "strided", "read-only"):
        x, y = in_layout(X, layout.replace("read-only", "C")), in_layout(Y, layout.replace("read-only", "C"))
        if layout == "read-only":
            x.flags.writeable = y.flags.writeable = False
        p = {k: v.copy() for k, v in params.items()}
        costs = fs.train(p, x, y, learning_rate=0.5, num_iterations=3, n_threads=n_threads)
        J, grads = fs.gradients(p, x, y, n_threads=n_threads)
        results.append([costs, fs.forward(p, x, n_threads=n_threads), J, *grads.values(), *p.values()])
        counts.append([len(k.overloads) for k in kernels])
    for layout, result in zip(("F", "strided", "read-only"), results[1:]):
        for a, b in zip(results[0], result):
            np.testing.assert_array_equal(a, b, err_msg=f"X and Y {layout}")
    assert counts[1:] == counts[:1] * 3, "a layout compiled a kernel again"


def test_outputs_and_the_loss_compile_apart_each_without_the_others_code():
    # step._evaluate: engine.outputs passes Y as None and engine.mean_loss A2, and Numba
    # prunes a None argument's branch before typing (had it not, the None would reach
    # code that indexes it, and the compile would fail).
    from numba import types

    from fastshallow.kernels import step

    params, X, Y = network(3, 5, 2, 40, seed=4)
    A2 = fs.forward(params, X, n_threads=1)
    J = fs.cost(params, X, Y, n_threads=1)
    assert_close(A2, ref.forward(params, X), np.float64)
    assert_close(J, ref.cost(params, X, Y), np.float64)
    kinds = {(type(sig[0]), type(sig[3])) for sig in step.evaluate_serial.signatures}
    assert (types.Array, types.NoneType) in kinds, "the outputs' kernel was compiled with a loss"
    assert (types.NoneType, types.Array) in kinds, "the loss's kernel was compiled with outputs"


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_weight_sums_kept_transposed_or_not_give_the_same_bits(dtype):
    # The plan's last entry (planning.transposed_sums) only picks which of two orders of the
    # same sums a chunk keeps dW1 in: gradients, costs and a mini-batch epoch are the same
    # bits either way, on 1 and 2 threads. n_h is over a panel's width (40, a block moved
    # left) and the last tile is 5 examples, narrower than a panel (the row loop).
    from fastshallow.kernels.planning import plan

    params, _, _ = network(100, 40, 3, 10, seed=4)
    params = {k: v.astype(dtype) for k, v in params.items()}
    T = plan(10_000, 100, 40, 3, np.dtype(dtype).itemsize, 2)[1]
    m = 4 * T + 5
    rng = np.random.default_rng(4)
    X = rng.standard_normal((100, m)).astype(dtype)
    Y = targets("softmax", 3, m).astype(dtype)
    base = plan(m, 100, 40, 3, np.dtype(dtype).itemsize, 2)[:3]
    order = rng.permutation(m)
    work = tuple(params.values())
    results = []
    for transposed in (0, 1):
        for n_threads in (1, 2):
            the_plan = base + (transposed,)
            cost, grads = engine.gradients(work, X, Y, activation=engine.Activation.TANH,
                                           output=engine.Output.SOFTMAX, the_plan=the_plan, n_threads=n_threads)
            p = tuple(a.copy() for a in work)
            losses = np.empty(2)
            outcome = engine.descend(p, X, Y, losses, activation=engine.Activation.TANH,
                                     output=engine.Output.SOFTMAX, rule=engine.sgd(0.1), the_plan=the_plan,
                                     n_threads=n_threads, order=order, batch=m // 2 + 1)
            assert outcome.done == 2
            results.append([np.array(cost), *grads, losses, *p])
    for result in results[1:]:
        for a, b in zip(results[0], result):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n_y", [1, 3])
@pytest.mark.parametrize("output", ["identity", "exp"])
def test_regression_gradients_match_finite_differences(output, n_y):
    # The identity output's loss is the squared error averaged over the n_y outputs, while
    # its delta is A2 - Y as scikit-learn's: the gradient is n_y times the loss's. The
    # Poisson loss's delta is its exact derivative.
    params, X, _ = network(3, 4, n_y, 37, seed=5, scale=0.3)
    Y = targets(output, n_y, 37)
    _, grads = fs.gradients(params, X, Y, activation="tanh", output=output)
    factor = n_y if output == "identity" else 1
    numeric = numeric_gradients(lambda p: fs.cost(p, X, Y, activation="tanh", output=output), params)
    for k in grads:
        assert_close(grads[k], factor * numeric[k], np.float64, f"{k} vs finite differences", rtol=1e-6)


def test_regression_targets_are_checked():
    params, X, _ = network(3, 4, 1, 20)
    with pytest.raises(ValueError, match=r"Y must be >= 0 for output='exp'"):
        fs.train(params, X, -np.ones((1, 20)), output="exp", num_iterations=1)
    with pytest.raises(ValueError, match="Y contains NaN or inf"):
        fs.train(params, X, np.full((1, 20), np.inf), output="identity", num_iterations=1)
    p32 = {k: v.astype(np.float32) for k, v in params.items()}
    with pytest.raises(ValueError, match="beyond float32's range"):
        fs.cost(p32, X.astype(np.float32), np.full((1, 20), 1e300), output="identity")
    # Real-valued targets are the identity output's: no [0, 1] check.
    assert np.isfinite(fs.cost(params, X, np.full((1, 20), -7.5), output="identity"))


def test_adam_counts_its_updates_across_calls():
    # Two calls of one step each, the second told of the first (t=1), equal one call of
    # two steps: the bias correction follows the count, not the call.
    params, X, _ = network(4, 5, 1, 64, seed=6)
    Y = targets("sigmoid", 1, 64)
    p = engine.prepare(params, X, Y, update=True)
    state = [tuple(np.zeros_like(a) for a in p.work) for _ in range(2)]
    both = tuple(a.copy() for a in p.work)
    state2 = [tuple(np.zeros_like(a) for a in p.work) for _ in range(2)]
    kw = dict(activation=p.activation, output=p.output, the_plan=p.plan)
    engine.descend(p.work, p.X, p.Y, np.empty(1), rule=engine.adam(0.01), velocity=state[0], moments=state[1], **kw)
    engine.descend(p.work, p.X, p.Y, np.empty(1), rule=engine.adam(0.01, t=1), velocity=state[0],
                   moments=state[1], **kw)
    engine.descend(both, p.X, p.Y, np.empty(2), rule=engine.adam(0.01), velocity=state2[0], moments=state2[1], **kw)
    for a, b in zip(p.work, both):
        np.testing.assert_array_equal(a, b)


def test_gradient_descent_is_sgd_without_momentum_or_penalty():
    # fs.train's rule is made directly, not through sgd (a call cheaper on every fs.step);
    # the kernels must see the same rule, field for field and type for type (a float where
    # an int was would compile the kernels again).
    for learning_rate in (1.2, 3, np.float32(0.5)):
        fast, general = engine.gradient_descent(learning_rate), engine.sgd(learning_rate)
        assert fast == general
        assert [type(v) for v in fast] == [type(v) for v in general]


def test_a_rule_with_state_starts_from_zeros_when_given_none():
    # descend and update_from_sums without velocity or moments give a stateful rule zeros
    # (a first step), not the zero-size stand-in of a rule that keeps none, which the
    # kernels read and wrote out of bounds.
    params, X, _ = network(4, 5, 1, 64, seed=6)
    Y = targets("sigmoid", 1, 64)
    p = engine.prepare(params, X, Y, update=True)
    kw = dict(activation=p.activation, output=p.output, the_plan=p.plan)
    for rule in (engine.adam(0.01), engine.sgd(0.1, momentum=0.9, nesterov=True), engine.sgd(0.1, momentum=0.5)):
        zeros = [tuple(np.zeros_like(a) for a in p.work) for _ in range(2)]
        given, none = (tuple(a.copy() for a in p.work) for _ in range(2))
        run_given = engine.descend(given, p.X, p.Y, np.empty(2), rule=rule, velocity=zeros[0], moments=zeros[1], **kw)
        run_none = engine.descend(none, p.X, p.Y, np.empty(2), rule=rule, **kw)
        assert run_given.status == run_none.status == engine.OK
        for a, b in zip(given, none):
            np.testing.assert_array_equal(a, b)
        _, grads = engine.gradients(p.work, p.X, p.Y, **kw)
        zeros = [tuple(np.zeros_like(a) for a in p.work) for _ in range(2)]
        sums = [tuple(g.copy() for g in grads) for _ in range(2)]  # of 1 example: their mean
        new_given, ok_given = engine.update_from_sums(p.work, sums[0], 1, rule, velocity=zeros[0], moments=zeros[1])
        new_none, ok_none = engine.update_from_sums(p.work, sums[1], 1, rule)
        assert ok_given and ok_none
        for a, b in zip(new_given, new_none):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_regression_training_learns(dtype):
    rng = np.random.default_rng(7)
    X = rng.standard_normal((3, 400)).astype(dtype)
    Y = (X[:1] - 0.5 * X[1:2] ** 2)
    params = fs.init_params(3, 16, 1, seed=0, scale=0.5, dtype=dtype)
    costs = fs.train(params, in_layout(X, "F"), Y, learning_rate=0.1, num_iterations=300, output="identity")
    assert costs[-1] < 0.2 * costs[0]


def sparse_problem(fmt, dtype, n_x=40, m=230, n_y=3, seed=15):
    """A SciPy sparse X (n_x, m) at 10% density in format fmt, its dense twin, a network
    and softmax targets."""
    import scipy.sparse

    X = scipy.sparse.random(n_x, m, density=0.1, random_state=seed, format=fmt, dtype=np.float64)
    params = fs.init_params(n_x, 9, n_y, seed=seed, scale=0.3, dtype=dtype)
    return X.astype(dtype), X.toarray().astype(dtype), params, targets("softmax", n_y, m, seed)


@pytest.mark.parametrize("fmt, dtype", [("csc", np.float64), ("csr", np.float32), ("coo", np.float64)])
def test_sparse_x_gives_the_dense_results(fmt, dtype):
    pytest.importorskip("scipy")
    X, dense, params, Y = sparse_problem(fmt, dtype)
    w = np.random.default_rng(16).random(X.shape[1])
    # float32: the gradients alone (each further call compiles another sparse kernel).
    for kw in ({}, {"sample_weight": w}) if dtype == np.float64 else ({},):
        J, grads = fs.gradients(params, X, Y, activation="relu", output="softmax", **kw)
        J_d, grads_d = fs.gradients(params, dense, Y, activation="relu", output="softmax", **kw)
        assert_close(J, J_d, dtype, "cost")
        for k in grads:
            assert_close(grads[k], grads_d[k], dtype, k)
    if dtype == np.float32:
        return  # float32 training on a sparse X: the estimator's test (test_estimator.py)
    assert_close(fs.forward(params, X, output="softmax"), fs.forward(params, dense, output="softmax"), dtype, "A2")
    p_sparse, p_dense = ({k: v.copy() for k, v in params.items()} for _ in range(2))
    costs = fs.train(p_sparse, X, Y, output="softmax", learning_rate=0.5, num_iterations=20)
    costs_d = fs.train(p_dense, dense, Y, output="softmax", learning_rate=0.5, num_iterations=20)
    assert_close(costs, costs_d, dtype, "costs")
    for k in params:
        assert_close(p_sparse[k], p_dense[k], dtype, k)


def test_sparse_mini_batches_follow_the_reference_with_the_same_bits_on_any_thread_count():
    # An epoch of shuffled mini-batches (index arrays into the sparse columns) with Adam,
    # against reference.adam_epoch on the dense twin; the same bits on 1 and 2 threads.
    pytest.importorskip("scipy")
    X, dense, params, Y = sparse_problem("csc", np.float64, n_x=300, m=3000)
    order = np.random.default_rng(17).permutation(3000).astype(np.int64)
    finals = []
    for n_threads in (2, 1):
        p = engine.prepare(params, X, Y, activation="tanh", output="softmax", update=True)
        state = [tuple(np.zeros_like(a) for a in p.work) for _ in range(2)]
        losses = np.empty(3)
        run = engine.descend(p.work, p.X, p.Y, losses, activation=p.activation, output=p.output,
                             rule=engine.adam(0.01, alpha=0.01), the_plan=engine.plan(1024, p.work), order=order,
                             batch=1024, velocity=state[0], moments=state[1], n_threads=n_threads)
        assert run.status == engine.OK and engine.plan(1024, p.work)[0] > 1
        finals.append(p.work)
    for a, b in zip(*finals):
        np.testing.assert_array_equal(a, b)
    start = as_float64(params)
    zeros = {k: np.zeros_like(v) for k, v in start.items()}
    ref_losses, _ = ref.adam_epoch(start, (zeros, {k: v.copy() for k, v in zeros.items()}), dense, Y, order, 1024,
                                   0.01, alpha=0.01, activation="tanh", output="softmax")
    assert_close(losses, ref_losses, np.float64, "batch losses")
    for k, got in zip(("W1", "b1", "W2", "b2"), p.work):
        assert_close(got, start[k], np.float64, k)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda X: X.T, r"X has 230 rows \(features\) but params\['W1'\] expects n_x = 40"),
        (lambda X: X.multiply(np.nan), "X contains NaN or inf"),
        (lambda X: X * 1e16, "X has values up to"),
        (lambda X: X.astype(np.complex128), "X must hold float32 or float64"),
        (lambda X: X[:, :0], "X has no examples"),
    ],
)
def test_bad_sparse_x_is_refused(change, message):
    pytest.importorskip("scipy")
    X, _, params, Y = sparse_problem("csr", np.float64)
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises((ValueError, TypeError), match=message):
        fs.train(params, change(X), Y, output="softmax", num_iterations=1)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


@pytest.mark.parametrize("n_threads", [1, 2])
@pytest.mark.parametrize("status, stop", [("cost", 1), ("cost", 2), ("cost", 3), ("cost", 4),
                                          ("update", 1), ("update", 2), ("update", 3)])
def test_a_run_that_stops_leaves_the_state_to_keep_in_params(status, stop, n_threads):
    # The steps alternate between params and the kernel's spare buffer; wherever the state
    # to keep ends, it is in params when descend returns (kernels/descent.py, Divergence).
    # Batch `stop` is made to fail: a NaN in its examples makes its loss NaN, and keeps
    # the state before the last update; or its examples at 1e200, after batches of zeros
    # (whose steps move only b2), make an update of learning rate 1e110 overflow, and keep
    # the state it started from. Either way params equal a run of just the steps kept.
    n_x, n_h, batch = 20, 64, 512
    m = batch * 6
    params, X, _ = network(n_x, n_h, 1, m, seed=3)
    Y = targets("sigmoid", 1, m)
    cols = slice(stop * batch, (stop + 1) * batch)
    if status == "cost":
        X[0, cols.start + 5] = np.nan
        rule, kept, expected_status = engine.sgd(0.1), stop - 1, engine.COST_NOT_FINITE
    else:
        X[:, : cols.start] = 0.0
        X[:, cols] *= 1e200
        params["b1"][:] = 0.0  # relu(0) = 0 with derivative 0: W1, b1 and W2 keep still
        rule, kept, expected_status = engine.sgd(1e110), stop, engine.UPDATE_NOT_FINITE
    start = tuple(params[k].copy() for k in ("W1", "b1", "W2", "b2"))
    order = np.arange(m, dtype=np.int64)
    the_plan = engine.plan(batch, start)
    kw = dict(activation=engine.Activation.RELU, output=engine.Output.SIGMOID, rule=rule, the_plan=the_plan,
              n_threads=n_threads, order=order, batch=batch)
    stopped = tuple(a.copy() for a in start)
    run = engine.descend(stopped, X, Y, np.empty(m // batch), **kw)
    assert (run.done, run.status) == (stop, expected_status)
    replay = tuple(a.copy() for a in start)
    assert engine.descend(replay, X, Y, np.empty(kept), **kw).status == engine.OK
    for a, b in zip(stopped, replay):
        np.testing.assert_array_equal(a, b)


class _Kernel:
    """A stand-in for a kernel Entry: records its calls; a call's signature's types are
    its first argument; `compiled` and `cached` hold the types compiled here and in the
    cache."""

    def __init__(self, compiled=(), cached=()):
        self.calls, self.compiled_types, self.cached, self.signatures = 0, set(compiled), set(cached), {}
        self.direct = self  # what config.call runs

    def __call__(self, *args):
        self.calls += 1
        self.compiled_types.add(args[0])

    def signature(self, args):  # one object per signature, as Entry's
        return self.signatures.setdefault(args[0], Signature(args[0]))

    def compiled(self, sig):
        return sig.types in self.compiled_types


def test_a_parallel_kernel_compiles_a_signature_only_once_its_work_pays(monkeypatch):
    # engine._parallel_pays: with n_threads=None, a signature the parallel kernel has
    # neither compiled here nor in the cache waits until one call's work, or the work its
    # calls ran serially, reaches PARALLEL_COMPILE_WORK; an explicit n_threads, or that
    # signature compiled or cached already, takes the threads at once. Another signature
    # (a dtype, the loss after the outputs) counts apart.
    monkeypatch.setattr(engine, "_deferred_work", {})
    monkeypatch.setattr(engine, "holds_current_code", lambda kernel, types: types in kernel.cached)
    monkeypatch.setattr(engine, "thread_count", lambda n: 2 if n is None else n)
    monkeypatch.setattr(engine, "using_threads", lambda n: contextlib.nullcontext())
    params = tuple(np.zeros(s) for s in ((64, 20), (64, 1), (3, 64), (3, 1)))  # 1472 multiply-adds an example
    the_plan = (4, 2496, 2, 0)  # 4 chunks of 10,000 examples: _serial says share
    assert not engine._serial(2, the_plan, params, 10_000, 1472 * 10_000)
    monkeypatch.setattr(engine, "PARALLEL_COMPILE_WORK", 1472 * 10_000 * 5)

    def run(kernels, n_threads=None, passes=1, sig="f8"):
        serial, parallel = kernels
        before = parallel.calls
        engine._run(serial, parallel, n_threads, the_plan, params, 10_000, sig, passes=passes)
        return parallel.calls > before

    fresh = [_Kernel(), _Kernel()]
    # Four calls of one pass each run serially; the fifth brings the work to the threshold.
    assert [run(fresh) for _ in range(5)] == [False] * 4 + [True]
    assert run(fresh) and fresh[0].calls == 4
    # Compiled for float64 only: float32 starts its own count.
    assert [run(fresh, sig="f4") for _ in range(5)] == [False] * 4 + [True]
    for passes, shared in ((4, False), (5, True)):  # one call of that many steps, on fresh kernels
        assert run([_Kernel(), _Kernel()], passes=passes) == shared, passes
    for how in ("n_threads", "compiled", "cached"):
        kernels = [_Kernel(), _Kernel(compiled={"f8"} if how == "compiled" else (),
                                      cached={"f8"} if how == "cached" else ())]
        assert run(kernels, n_threads=2 if how == "n_threads" else None), how
        if how != "n_threads":  # the other signature is neither compiled nor cached
            assert not run(kernels, sig="f4"), how
