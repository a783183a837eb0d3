"""The public API equals the NumPy reference on a grid of shapes, dtypes, layouts and
activations; gradients equal central finite differences; a 20-step trajectory matches."""

import numpy as np
import pytest

import fastshallow as fs
from fastshallow import reference as ref
from fastshallow.kernels.products import TRANSPOSE_MIN_K
from helpers import ACTIVATIONS, API_CASES, DTYPES, as_float64, assert_close, network, numeric_gradients

# (n_x, n_h, n_y, m): the flower problem; m = 1 with n_h = 1; n_y = 3 with m not divisible
# by the tile or by any thread count; two chunks (of 1,024-wide tiles) with a ragged last
# tile; n_x past
# TRANSPOSE_MIN_K, so dW1 = dZ1·Xᵀ takes the transposed-tile path; a large m with 16 chunks.
SHAPES = [(2, 4, 1, 400), (3, 1, 1, 1), (5, 7, 3, 130), (4, 6, 2, 2500), (TRANSPOSE_MIN_K + 3, 9, 2, 300)]
LARGE = (3, 5, 2, 20_011)


def ids(v):
    return np.dtype(v).name if isinstance(v, type) else str(v)



@pytest.mark.parametrize("dtype, layout", API_CASES, ids=ids)
@pytest.mark.parametrize("shape", SHAPES + [LARGE], ids=ids)
def test_forward_cost_gradients_match_reference(shape, dtype, layout):
    params, X, Y = network(*shape, dtype=dtype, layout=layout)
    p64, X64 = as_float64(params), np.asarray(X, np.float64)
    A2 = fs.forward(params, X)
    assert A2.dtype == dtype and A2.shape == (shape[2], shape[3])
    assert_close(A2, ref.forward(p64, X64), dtype, "forward")
    J = fs.cost(params, X, Y)
    J_ref, g_ref = ref.gradients(p64, X64, Y)
    assert isinstance(J, float)
    assert_close(J, J_ref, dtype, "cost")
    J2, grads = fs.gradients(params, X, Y)
    assert_close(J2, J_ref, dtype, "gradients' cost")
    for k in g_ref:
        assert grads[k].dtype == dtype and grads[k].shape == g_ref[k].shape
        assert_close(grads[k], g_ref[k], dtype, k)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_every_activation_matches_reference(activation, dtype):
    params, X, Y = network(4, 6, 2, 200, dtype=dtype, scale=1.0)
    p64 = as_float64(params)
    X64 = X.astype(np.float64)
    assert_close(fs.forward(params, X, activation=activation), ref.forward(p64, X64, activation), dtype, "forward")
    J, grads = fs.gradients(params, X, Y, activation=activation)
    J_ref, g_ref = ref.gradients(p64, X64, Y, activation)
    assert_close(J, J_ref, dtype, "cost")
    for k in g_ref:
        assert_close(grads[k], g_ref[k], dtype, f"{activation} {k}")


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(activation):
    params, X, Y = network(3, 4, 2, 37, seed=3, scale=1.0)
    # Keep relu away from its kink, where a finite difference is not a derivative.
    if activation == "relu":
        Z1 = params["W1"] @ X + params["b1"]
        assert np.min(np.abs(Z1)) > 1e-4
    _, grads = fs.gradients(params, X, Y, activation=activation)
    numeric = numeric_gradients(lambda p: fs.cost(p, X, Y, activation=activation), params)
    for k in grads:
        assert_close(grads[k], numeric[k], np.float64, f"{k} vs finite differences", rtol=1e-6)


@pytest.mark.parametrize("dtype, layout", API_CASES, ids=ids)
def test_twenty_step_trajectory_matches_reference(dtype, layout):
    params, X, Y = network(4, 6, 2, 300, dtype=dtype, layout=layout)
    expected = as_float64(params)
    costs = fs.train(params, X, Y, learning_rate=0.5, num_iterations=20)
    ref_costs = ref.train(expected, np.asarray(X, np.float64), Y, learning_rate=0.5, num_iterations=20)
    assert costs.dtype == np.float64 and costs.shape == (20,)
    assert_close(costs, ref_costs, dtype, "costs", rtol=10 * fs_rtol(dtype))
    for k in expected:
        assert params[k].dtype == dtype
        assert_close(params[k], expected[k], dtype, k, rtol=10 * fs_rtol(dtype))


def fs_rtol(dtype):
    from helpers import RTOL

    return RTOL[np.dtype(dtype)]


def test_step_returns_cost_before_update_and_equals_one_train_iteration():
    params, X, Y = network(4, 6, 2, 300)
    again = {k: v.copy() for k, v in params.items()}
    J_before = fs.cost(params, X, Y)
    J = fs.step(params, X, Y, 0.5)
    assert J == pytest.approx(J_before, rel=1e-12)
    costs = fs.train(again, X, Y, learning_rate=0.5, num_iterations=1)
    assert costs[0] == J
    for k in params:
        np.testing.assert_array_equal(params[k], again[k])


def test_train_updates_the_callers_arrays_in_place():
    params, X, Y = network(2, 4, 1, 100)
    arrays = {k: v for k, v in params.items()}
    before = {k: v.copy() for k, v in params.items()}
    fs.train(params, X, Y, learning_rate=0.5, num_iterations=5)
    for k in params:
        assert params[k] is arrays[k]
        assert not np.array_equal(params[k], before[k])


def _read_only(a):
    a = a.copy()
    a.flags.writeable = False
    return a


def _unaligned(a):
    """A C-contiguous copy of a whose data starts one byte past an aligned address."""
    raw = np.zeros(a.nbytes + 1, np.uint8)
    out = raw[1:].view(a.dtype).reshape(a.shape)
    out[...] = a
    assert not out.flags.aligned and out.flags.c_contiguous
    return out


PARAM_FORMS = {
    "F": np.asfortranarray,
    "unaligned": _unaligned,
    "strided": lambda a: np.repeat(a, 2, axis=1)[:, ::2],
    "list": lambda a: a.tolist(),
    "read-only": _read_only,
    "subclass": np.asmatrix,
}


@pytest.mark.parametrize("form", PARAM_FORMS)
def test_params_in_any_form_give_the_bits_of_c_contiguous_ones(form):
    # C-contiguous arrays of one float dtype go to the kernels as they are; every other
    # form is converted first (validation.checked_params). Both paths must agree.
    params, X, Y = network(3, 5, 2, 150)
    other = dict(params, W1=PARAM_FORMS[form](params["W1"]), b2=PARAM_FORMS[form](params["b2"]))
    assert np.array_equal(fs.forward(other, X), fs.forward(params, X))
    J, grads = fs.gradients(other, X, Y)
    J_c, grads_c = fs.gradients(params, X, Y)
    assert J == J_c and all(np.array_equal(grads[k], grads_c[k]) for k in grads_c)


def test_train_updates_arrays_that_are_not_c_contiguous_in_place():
    params, X, Y = network(3, 5, 2, 150)
    strided = {k: np.repeat(v, 2, axis=1)[:, ::2] for k, v in params.items()}
    # F-ordered weights; a contiguous (n, 1) bias is C-ordered too, so the biases are strided.
    fortran = {k: np.asfortranarray(v) if k[0] == "W" else np.repeat(v, 2, axis=1)[:, ::2] for k, v in params.items()}
    assert not any(fortran[k].flags.c_contiguous or strided[k].flags.c_contiguous for k in params)
    costs = fs.train(params, X, Y, learning_rate=0.5, num_iterations=3)
    for other in (fortran, strided):
        W1 = other["W1"]
        assert np.array_equal(fs.train(other, X, Y, learning_rate=0.5, num_iterations=3), costs)
        assert other["W1"] is W1
        assert all(np.array_equal(other[k], params[k]) for k in params)


def test_read_only_targets_and_weights_or_none_reuse_the_compiled_kernels():
    # Numba types a read-only array apart from a writeable one; the kernels take Y and the
    # weights typed read-only (kernels/config.entry), so a read-only one compiles nothing.
    # No weights is an array with no columns to them, so that compiles nothing either,
    # and weights of 1 give the unweighted bits (a product with 1 and a sum of ones are
    # exact).
    from numba.core import event

    params, X, Y = network(3, 5, 2, 150)
    Y = Y.astype(np.float64)
    weights = np.linspace(0.5, 1.5, 150)
    J, grads = fs.gradients(params, X, Y, sample_weight=weights)
    Y_ro, weights_ro = _read_only(Y), _read_only(weights)
    with event.install_recorder("numba:compile") as compiles:
        J_ro, grads_ro = fs.gradients(params, X, Y_ro, sample_weight=weights_ro)
        J_none, grads_none = fs.gradients(params, X, Y)
    assert not compiles.buffer
    assert J_ro == J and all(np.array_equal(grads_ro[k], grads[k]) for k in grads)
    J_ones, grads_ones = fs.gradients(params, X, Y, sample_weight=np.ones(150))
    assert J_ones == J_none and all(np.array_equal(grads_ones[k], grads_none[k]) for k in grads)
    assert J_none != J


def test_serial_and_parallel_paths_give_identical_bits():
    # n_threads=1 takes the serial loop; the default takes the parallel one when the
    # problem is large enough. The arithmetic is the same source, in the same order.
    params, X, Y = network(20, 64, 1, 3000)
    other = {k: v.copy() for k, v in params.items()}
    c1 = fs.train(params, X, Y, learning_rate=0.5, num_iterations=5, n_threads=1)
    c2 = fs.train(other, X, Y, learning_rate=0.5, num_iterations=5)
    np.testing.assert_array_equal(c1, c2)
    for k in params:
        np.testing.assert_array_equal(params[k], other[k])


@pytest.mark.parametrize("y_dtype", [bool, np.uint8, np.int64, np.float32, np.float64], ids=ids)
def test_labels_may_be_bool_int_or_float(y_dtype):
    params, X, Y = network(3, 4, 1, 50)
    assert fs.cost(params, X, Y.astype(y_dtype)) == fs.cost(params, X, Y.astype(np.float64))


def test_soft_labels_in_the_unit_interval_are_accepted():
    params, X, _ = network(3, 4, 1, 50)
    Y = np.full((1, 50), 0.25)
    assert_close(fs.cost(params, X, Y), ref.cost(params, X, Y), np.float64, "cost")


def test_float32_stays_float32():
    params, X, Y = network(3, 4, 2, 70, dtype=np.float32)
    assert fs.forward(params, X).dtype == np.float32
    _, grads = fs.gradients(params, X, Y)
    assert {g.dtype for g in grads.values()} == {np.dtype(np.float32)}
    fs.train(params, X, Y, learning_rate=0.1, num_iterations=2)
    assert {p.dtype for p in params.values()} == {np.dtype(np.float32)}


def test_predict_thresholds_forward():
    params, X, _ = network(3, 4, 2, 70)
    A2 = fs.forward(params, X)
    for threshold in (0.5, 0.3):
        P = fs.predict(params, X, threshold)
        assert P.shape == A2.shape and P.dtype == np.uint8
        np.testing.assert_array_equal(P, (A2 > threshold).astype(np.uint8))


@pytest.mark.parametrize("layer", ["W1", "W2"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_saturated_network_keeps_a_finite_cost_and_gradients(layer, activation):
    params, X, Y = network(3, 4, 1, 100, scale=1.0)
    params[layer] *= 1e4  # |Z| in the thousands: tanh is ±1, A2 exactly 0 or 1
    J, grads = fs.gradients(params, X, Y, activation=activation)
    assert np.isfinite(J) and all(np.isfinite(g).all() for g in grads.values())
    J_ref, g_ref = ref.gradients(params, X, Y, activation)
    assert_close(J, J_ref, np.float64, "saturated cost", rtol=1e-9)
    for k in g_ref:
        assert_close(grads[k], g_ref[k], np.float64, k, rtol=1e-9)


def test_init_params_shapes_dtypes_and_seeding():
    p = fs.init_params(3, 5, 2, seed=7)
    assert {k: v.shape for k, v in p.items()} == {"W1": (5, 3), "b1": (5, 1), "W2": (2, 5), "b2": (2, 1)}
    assert not p["b1"].any() and not p["b2"].any()
    again = fs.init_params(3, 5, 2, seed=np.random.default_rng(7))
    np.testing.assert_array_equal(p["W1"], again["W1"])
    p32 = fs.init_params(3, 5, 2, seed=7, dtype=np.float32)
    assert p32["W1"].dtype == np.float32
    np.testing.assert_array_equal(p32["W1"], p["W1"].astype(np.float32))
    # W1 is drawn before W2, both standard normal × scale.
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(p["W1"], rng.standard_normal((5, 3)) * 0.01)
    np.testing.assert_array_equal(p["W2"], rng.standard_normal((2, 5)) * 0.01)


def test_zero_iterations_return_no_costs_and_change_nothing():
    params, X, Y = network(2, 3, 1, 10)
    before = {k: v.copy() for k, v in params.items()}
    assert fs.train(params, X, Y, num_iterations=0).shape == (0,)
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_kernels_leave_the_callers_floating_point_mode_alone():
    # The kernels flush subnormals to zero (MXCSR FTZ/DAZ) while they run, on every
    # thread, and must restore the mode: afterwards a subnormal still survives arithmetic
    # here, on the thread that also ran a share of the chunks.
    params, X, Y = network(20, 64, 1, 5000)
    fs.gradients(params, X, Y)
    fs.train(params, X, Y, learning_rate=0.1, num_iterations=2)
    fs.forward(params, X)
    tiny = np.array([1e-310])
    assert (tiny * 1.5)[0] > 0 and (tiny / 3)[0] > 0


def test_subnormal_hidden_layers_give_the_reference_result_to_within_the_smallest_normal():
    params, X, Y = network(20, 16, 1, 500)
    params["W1"] *= np.finfo(np.float64).tiny / 64 / np.abs(params["W1"] @ X).max()
    J, grads = fs.gradients(params, X, Y)
    J_ref, g_ref = ref.gradients(params, X, Y)
    assert_close(J, J_ref, np.float64, "cost")
    for k in g_ref:
        assert_close(grads[k], g_ref[k], np.float64, k)


# -- the softmax output (categorical cross-entropy) ------------------------------------


def softmax_network(n_x, n_h, n_y, m, dtype=np.float64, layout="C", seed=0):
    """network(...) with one-hot labels: one class per column."""
    params, X, _ = network(n_x, n_h, n_y, m, dtype=dtype, layout=layout, seed=seed, scale=1.0)
    labels = np.random.default_rng(seed + 1).integers(0, n_y, m)
    return params, X, (np.arange(n_y)[:, None] == labels).astype(np.uint8)


@pytest.mark.parametrize("dtype, layout", API_CASES, ids=ids)
@pytest.mark.parametrize("shape", [s for s in SHAPES + [LARGE] if s[2] >= 2], ids=ids)
def test_softmax_output_matches_reference(shape, dtype, layout):
    params, X, Y = softmax_network(*shape, dtype=dtype, layout=layout)
    p64, X64 = as_float64(params), np.asarray(X, np.float64)
    A2 = fs.forward(params, X, output="softmax")
    assert A2.dtype == dtype
    assert_close(A2, ref.forward(p64, X64, output="softmax"), dtype, "forward")
    assert_close(A2.sum(axis=0), np.ones(shape[3]), dtype, "columns sum to 1")
    J_ref, g_ref = ref.gradients(p64, X64, Y, output="softmax")
    assert_close(fs.cost(params, X, Y, output="softmax"), J_ref, dtype, "cost")
    J, grads = fs.gradients(params, X, Y, output="softmax")
    assert_close(J, J_ref, dtype, "gradients' cost")
    for k in g_ref:
        assert_close(grads[k], g_ref[k], dtype, k)
    np.testing.assert_array_equal(
        fs.predict(params, X, output="softmax"), ref.predict(p64, X64, output="softmax")
    )


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_softmax_gradients_match_finite_differences(activation):
    params, X, Y = softmax_network(3, 4, 3, 37, seed=5)
    if activation == "relu":
        assert np.min(np.abs(params["W1"] @ X + params["b1"])) > 1e-4
    _, grads = fs.gradients(params, X, Y, activation=activation, output="softmax")
    numeric = numeric_gradients(lambda p: fs.cost(p, X, Y, activation=activation, output="softmax"), params)
    for k in grads:
        assert_close(grads[k], numeric[k], np.float64, f"{k} vs finite differences", rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES, ids=ids)
def test_softmax_training_follows_the_reference_and_learns(dtype):
    params, X, Y = softmax_network(4, 6, 3, 500, dtype=dtype)
    Y = (np.arange(3)[:, None] == np.argmax(X[:3], axis=0)).astype(np.uint8)  # a learnable rule
    expected = as_float64(params)
    costs = fs.train(params, X, Y, learning_rate=0.5, num_iterations=30, output="softmax")
    ref_costs = ref.train(expected, np.asarray(X, np.float64), Y, 0.5, 30, output="softmax")
    assert_close(costs, ref_costs, dtype, "costs", rtol=10 * fs_rtol(dtype))
    for k in expected:
        assert_close(params[k], expected[k], dtype, k, rtol=10 * fs_rtol(dtype))
    assert costs[-1] < 0.7 * costs[0]


def test_softmax_serial_and_parallel_paths_give_identical_bits():
    params, X, Y = softmax_network(20, 64, 4, 3000)
    other = {k: v.copy() for k, v in params.items()}
    c1 = fs.train(params, X, Y, learning_rate=0.5, num_iterations=3, output="softmax", n_threads=1)
    c2 = fs.train(other, X, Y, learning_rate=0.5, num_iterations=3, output="softmax")
    np.testing.assert_array_equal(c1, c2)
    for k in params:
        np.testing.assert_array_equal(params[k], other[k])
