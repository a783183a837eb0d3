"""Bad input raises ValueError or TypeError naming the argument and what was expected,
before any compiled code runs, and leaves params exactly as they were."""

import warnings

import numpy as np
import pytest

import fastshallow as fs
from helpers import network


@pytest.fixture
def net():
    return network(3, 4, 2, 50)


def _expect(exc, match, fn, params, *args, **kwargs):
    before = {k: np.array(v, copy=True) for k, v in params.items()} if isinstance(params, dict) else None
    with pytest.raises(exc, match=match):
        fn(params, *args, **kwargs)
    if before is not None:
        for k, v in before.items():
            if k in params:
                np.testing.assert_array_equal(params[k], v, err_msg=f"{k} changed by a failed call")


TRAIN = dict(learning_rate=0.1, num_iterations=3)


def test_mismatched_m(net):
    params, X, Y = net
    _expect(ValueError, r"Y has shape \(2, 49\); expected \(n_y, m\) = \(2, 50\)", fs.train, params, X, Y[:, :49], **TRAIN)


def test_missing_key(net):
    params, X, Y = net
    del params["b2"]
    _expect(ValueError, r"params is missing 'b2'; expected keys W1, b1, W2, b2", fs.train, params, X, Y, **TRAIN)


@pytest.mark.parametrize(
    "key, shape, pattern",
    [
        ("W1", (4, 2), r"X has 3 rows \(features\) but params\['W1'\] expects n_x = 2"),
        ("b1", (4,), r"params\['b1'\] must be 2-D; got shape \(4,\)"),
        ("b1", (5, 1), r"params\['b1'\] has shape \(5, 1\); expected \(4, 1\)"),
        ("W2", (2, 5), r"params\['W2'\] has shape \(2, 5\); expected \(2, 4\)"),
        ("b2", (1, 2), r"params\['b2'\] has shape \(1, 2\); expected \(2, 1\)"),
    ],
)
def test_wrong_param_shape(net, key, shape, pattern):
    params, X, Y = net
    params[key] = np.zeros(shape)
    _expect(ValueError, pattern, fs.train, params, X, Y, **TRAIN)


def test_params_not_a_dict(net):
    _, X, _ = net
    _expect(TypeError, r"params must be a dict with keys W1, b1, W2, b2; got list", fs.forward, [1, 2], X)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["X", "Y", "W1", "b2"])
def test_nan_or_inf(net, where, bad):
    params, X, Y = net
    Y = Y.astype(float)
    if where == "X":
        X[1, 7] = bad
        name = "X"
    elif where == "Y":
        Y[0, 3] = bad
        name = "Y"
    else:
        params[where][0, 0] = bad
        name = rf"params\['{where}'\]"
        for fn in (fs.forward, fs.cost):
            with pytest.raises(ValueError, match=rf"{name} contains NaN or inf"):
                fn(params, X) if fn is fs.forward else fn(params, X, Y)
        return
    _expect(ValueError, rf"{name} contains NaN or inf", fs.train, params, X, Y, **TRAIN)
    _expect(ValueError, rf"{name} contains NaN or inf", fs.gradients, params, X, Y)


@pytest.mark.parametrize("bad", [-0.5, 2, 1.0001])
def test_labels_outside_unit_interval(net, bad):
    params, X, Y = net
    Y = Y.astype(float)
    Y[1, 4] = bad
    _expect(ValueError, r"Y must hold labels in \[0, 1\]; got values from", fs.train, params, X, Y, **TRAIN)


def test_no_examples(net):
    params, X, Y = net
    _expect(ValueError, r"X has no examples: shape \(3, 0\)", fs.train, params, X[:, :0], Y[:, :0], **TRAIN)


@pytest.mark.parametrize("lr", [0.0, -1.0, np.nan, np.inf])
def test_bad_learning_rate(net, lr):
    params, X, Y = net
    _expect(ValueError, r"learning_rate must be (positive|finite)", fs.train, params, X, Y, learning_rate=lr)
    _expect(ValueError, r"learning_rate must be (positive|finite)", fs.step, params, X, Y, lr)


def test_learning_rate_of_wrong_type(net):
    params, X, Y = net
    _expect(TypeError, r"learning_rate must be a real number; got str", fs.train, params, X, Y, learning_rate="0.1")


def test_unknown_activation(net):
    params, X, Y = net
    _expect(ValueError, r"activation must be one of 'tanh', 'sigmoid', 'logistic', 'relu', 'identity'; got 'softmax'", fs.train, params, X, Y, activation="softmax")


@pytest.mark.parametrize("shape", [(3,), (3, 50, 1)])
def test_X_not_2d(net, shape):
    params, X, Y = net
    _expect(ValueError, rf"X must be 2-D with shape \(n_x, m\) = \(3, m\); got {len(shape)}-D", fs.forward, params, np.zeros(shape))


@pytest.mark.parametrize("dtype", [object, complex, np.float16, "U3"])
def test_unsupported_X_dtype(net, dtype):
    params, X, Y = net
    _expect(TypeError, r"X must (be float32 or float64|hold real numbers)", fs.train, params, X.astype(dtype), Y, **TRAIN)


def test_unsupported_param_dtype(net):
    params, X, Y = net
    params["W1"] = params["W1"].astype(np.float16)
    _expect(TypeError, r"params\['W1'\] must be float32 or float64 to be updated in place; got dtype float16", fs.train, params, X, Y, **TRAIN)
    _expect(TypeError, r"params\['W1'\] must be float32 or float64", fs.forward, params, X)


def test_ragged_lists_name_the_argument(net):
    """Nested lists whose rows differ in length: NumPy's error does not say which argument
    it was; fastshallow's does."""
    params, X, Y = net
    ragged = [[1.0, 2.0, 3.0], [1.0, 2.0]]
    _expect(ValueError, r"^X must be a rectangular array \(every row the same length\)", fs.forward, params, ragged)
    _expect(ValueError, r"^Y must be a rectangular array", fs.cost, params, X, ragged)
    _expect(ValueError, r"^sample_weight must be a rectangular array", fs.gradients, params, X, Y, sample_weight=ragged)
    with pytest.raises(ValueError, match=r"^params\['W1'\] must be a rectangular array"):
        fs.forward({**params, "W1": ragged}, X)


def test_other_byte_order_is_converted(net):
    """A float64 or float32 in the other byte order (as read from some files) is that
    dtype: inputs that are only read are converted, with the same results; parameters to
    be updated in place cannot be, and the error says why."""
    params, X, Y = net
    swapped = {k: v.astype(v.dtype.newbyteorder("S")) for k, v in params.items()}
    X_swapped, Y_swapped = X.astype(swapped["W1"].dtype), Y.astype(swapped["W1"].dtype)
    assert not X_swapped.dtype.isnative
    np.testing.assert_array_equal(fs.forward(swapped, X_swapped), fs.forward(params, X))
    assert fs.cost(params, X_swapped, Y_swapped) == fs.cost(params, X, Y)
    weights = np.ones(X.shape[1], X_swapped.dtype)
    assert fs.gradients(params, X, Y, sample_weight=weights)[0] == fs.gradients(params, X, Y)[0]
    _expect(TypeError, r"params\['W1'\] must be float32 or float64 in this machine's byte order to be updated "
            r"in place; got dtype [<>]f8", fs.train, swapped, X, Y, **TRAIN)


def test_mixed_param_dtypes(net):
    params, X, Y = net
    params["W2"] = params["W2"].astype(np.float32)
    _expect(TypeError, r"params arrays must share one dtype; got W1 float64, b1 float64, W2 float32", fs.train, params, X, Y, **TRAIN)


def test_train_needs_writeable_arrays(net):
    params, X, Y = net
    params["W1"].flags.writeable = False
    _expect(ValueError, r"params\['W1'\] is read-only", fs.train, params, X, Y, **TRAIN)
    params["W1"] = params["W1"].tolist()
    _expect(TypeError, r"params\['W1'\] must be a numpy array to be updated in place; got list", fs.train, params, X, Y, **TRAIN)


@pytest.mark.parametrize("n", [0, -1, 10**6])
def test_bad_thread_count(net, n):
    params, X, Y = net
    _expect(ValueError, r"n_threads must be", fs.train, params, X, Y, n_threads=n, **TRAIN)


def test_bad_iteration_count(net):
    params, X, Y = net
    _expect(ValueError, r"num_iterations must be >= 0; got -1", fs.train, params, X, Y, learning_rate=0.1, num_iterations=-1)
    _expect(TypeError, r"num_iterations must be an integer; got float", fs.train, params, X, Y, learning_rate=0.1, num_iterations=2.5)


def test_bad_init_arguments():
    with pytest.raises(ValueError, match=r"n_h must be >= 1; got 0"):
        fs.init_params(2, 0, 1)
    with pytest.raises(TypeError, match=r"dtype must be float32 or float64; got float16"):
        fs.init_params(2, 3, 1, dtype=np.float16)
    with pytest.raises(TypeError, match=r"seed must be None, an int"):
        fs.init_params(2, 3, 1, seed="seven")


def test_bad_threshold(net):
    params, X, _ = net
    with pytest.raises(ValueError, match=r"threshold must be in \[0.0, 1.0\]; got 1.5"):
        fs.predict(params, X, 1.5)


def test_divergence_stops_and_keeps_the_last_finite_state():
    # Huge weights and a huge learning rate: with relu (no saturation) A1 ~ 1e150, so
    # dW2 ~ 1e150, and 1e300 · dW2 overflows in the very first update.
    params, X, Y = network(3, 4, 1, 50, scale=1.0)
    params["W1"] *= 1e150
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(fs.DivergenceError, match=r"training diverged at iteration 0: the update made a parameter non-finite") as info:
        fs.train(params, X, Y, learning_rate=1e300, num_iterations=10, activation="relu")
    assert info.value.iteration == 0 and info.value.kept == 0
    assert info.value.costs.shape == (1,) and np.isfinite(info.value.costs).all()
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_a_diverging_step_leaves_the_callers_arrays_as_they_were():
    # fs.step reads the caller's arrays in place (no private copy: engine.prepare's
    # private=False) and writes its update to the kernel's spare buffer, copied back only
    # when it is whole and finite.
    params, X, Y = network(3, 4, 1, 50, scale=1.0)
    params["W1"] *= 1e150
    arrays = dict(params)
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(fs.DivergenceError, match=r"at iteration 0: the update made a parameter non-finite"):
        fs.step(params, X, Y, 1e300, activation="relu")
    for k in params:
        assert params[k] is arrays[k]
        np.testing.assert_array_equal(params[k], before[k])
    fs.step(params, X, Y, 1e-160, activation="relu")
    assert all(params[k] is arrays[k] for k in params)
    assert not all(np.array_equal(params[k], before[k]) for k in params)


def _replay(params, X, Y, n, **kw):
    """The params and costs after n plain iterations from the given start."""
    p = {k: v.copy() for k, v in params.items()}
    costs = fs.train(p, X, Y, num_iterations=n, **kw) if n else np.empty(0)
    return p, costs


def test_divergence_of_the_cost_rolls_back_to_the_last_finite_state():
    # relu keeps the magnitudes: iteration 0 is finite (A1 ~ 1e155, Z2 ~ 1e155), its update
    # makes W2 ~ 1e155, and iteration 1's Z2 = W2·A1 overflows, so its cost is not finite.
    # The params must be the state before the update that led there.
    params, X, Y = network(2, 3, 1, 40, scale=1.0)
    params["W1"] *= 1e155
    kw = dict(learning_rate=1.0, activation="relu")
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(fs.DivergenceError, match=r"training diverged at iteration 1: the cost was (inf|nan)") as info:
        fs.train(params, X, Y, num_iterations=10, **kw)
    err = info.value
    assert "Try a smaller learning_rate (was 1.0)" in str(err)
    assert (err.iteration, err.kept) == (1, 0)
    expected_params, _ = _replay(before, X, Y, err.kept, **kw)
    _, expected_costs = _replay(before, X, Y, err.iteration, **kw)
    np.testing.assert_array_equal(err.costs, expected_costs)
    for k in params:
        np.testing.assert_array_equal(params[k], expected_params[k])


def test_divergence_of_the_cost_at_the_first_iteration_changes_nothing():
    params, X, Y = network(2, 3, 1, 40, scale=1.0)
    params["W1"] *= 1e200
    params["W2"] *= 1e200  # Z2 = W2·relu(W1·X) overflows at once
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(fs.DivergenceError, match=r"at iteration 0: the cost was") as info:
        fs.train(params, X, Y, learning_rate=0.1, num_iterations=10, activation="relu")
    assert info.value.kept == 0 and info.value.costs.shape == (0,)
    # No update of this call came before: its learning rate is not offered as the cause.
    assert "The parameters passed in give this cost before any update" in str(info.value)
    assert "Try a smaller" not in str(info.value)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_huge_features_are_rejected_with_advice_to_standardise(dtype):
    params, X, Y = network(3, 4, 1, 50, dtype=dtype)
    X = X * dtype(1e30)
    for call in (lambda: fs.train(params, X, Y, num_iterations=3), lambda: fs.forward(params, X),
                 lambda: fs.gradients(params, X, Y)):
        with pytest.raises(ValueError, match=r"X has values up to [0-9.]+e\+30 in magnitude .* standardise X"):
            call()


def test_features_beyond_float32_are_judged_before_the_cast_to_float32():
    """A float64 X for float32 parameters is checked before it is cast: 1e300 is a huge
    feature, not the inf the cast makes of it (and the cast must not warn). Dense and
    sparse X alike; bool and integer X keep working."""
    sparse = pytest.importorskip("scipy.sparse")
    params, X, _ = network(3, 4, 1, 20, dtype=np.float32)
    X = X.astype(np.float64)
    X[1, 2] = 1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for bad in (X, sparse.csr_matrix(X)):
            with pytest.raises(ValueError, match=r"X has values up to 1e\+300 in magnitude .* standardise X"):
                fs.forward(params, bad)
        labels = X > 0
        for good, same in ((labels, labels.astype(np.float32)), (labels.astype(np.int8) - 1, labels - np.float32(1)),
                           (sparse.csr_matrix(labels), sparse.csr_matrix(labels.astype(np.float32)))):
            np.testing.assert_array_equal(fs.forward(params, good), fs.forward(params, same))


def test_softmax_needs_two_outputs_and_targets_whose_columns_sum_to_one():
    params, X, Y = network(3, 4, 1, 20)
    with pytest.raises(ValueError, match=r"output='softmax' needs n_y >= 2.*n_y = 1"):
        fs.cost(params, X, Y, output="softmax")
    params, X, _ = network(3, 4, 3, 20)
    Y = np.zeros((3, 20))
    Y[0, :] = 1
    Y[1, 7] = 1  # column 7 holds two classes
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(ValueError, match=r"columns must each sum to 1.*column 7 sums to 2"):
        fs.train(params, X, Y, output="softmax")
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])
    with pytest.raises(ValueError, match=r"output must be one of 'sigmoid', 'softmax', 'identity', 'exp'; got 'linear'"):
        fs.forward(params, X, output="linear")


def test_divergence_and_cluster_errors_share_one_base_and_pickle_whole():
    import pickle

    from fastshallow.errors import ClusterError, TrainingStopped

    params, X, Y = network(3, 4, 1, 50, scale=1.0)
    params["W1"] *= 1e150  # as above: the first update overflows
    with pytest.raises(fs.DivergenceError) as info:
        fs.train(params, X, Y, learning_rate=1e300, num_iterations=10, activation="relu")
    err = info.value
    assert isinstance(err, TrainingStopped) and issubclass(ClusterError, TrainingStopped)
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is fs.DivergenceError and str(back) == str(err)
    assert (back.iteration, back.kept) == (err.iteration, err.kept)
    np.testing.assert_array_equal(back.costs, err.costs)
