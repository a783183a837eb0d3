"""Hostile input: every public function, given random shapes, dtypes (int8, uint64,
float16, bool, ...), layouts, NaN/inf patterns and random params dicts, either returns a
finite, correct result or raises ValueError or TypeError. Nothing else, and never NaN in
returned params. Also: a call whose scratch cannot fit fails up front with MemoryError."""

from unittest import mock

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import fastshallow as fs
from fastshallow import reference as ref
from fastshallow import validation
from helpers import ACTIVATIONS, API_CASES, in_layout

HOSTILE_DTYPES = [np.int8, np.uint64, np.float16, np.bool_, np.complex64, object]
SPECIAL = [np.nan, np.inf, -np.inf, 1e30]
MUTATIONS = ["missing key", "wrong shape", "param dtype", "X dtype", "Y dtype", "special in X",
             "special in Y", "special in param", "label range", "1-D X", "3-D X", "no examples",
             "learning rate", "activation", "huge features", "int X", "bool Y"]


@st.composite
def calls(draw):
    """A valid call, then zero to two hostile changes (zero often, so successes are common)."""
    n_x, n_h, n_y = (draw(st.integers(1, 4)) for _ in range(3))
    m = draw(st.integers(1, 70))
    dtype, layout = draw(st.sampled_from(API_CASES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    params = {k: rng.uniform(-2, 2, shape).astype(dtype)
              for k, shape in {"W1": (n_h, n_x), "b1": (n_h, 1), "W2": (n_y, n_h), "b2": (n_y, 1)}.items()}
    X = in_layout(rng.uniform(-3, 3, (n_x, m)).astype(dtype), layout)
    Y = (rng.random((n_y, m)) < 0.5).astype(draw(st.sampled_from([np.uint8, np.float64, np.bool_])))
    lr, activation = draw(st.sampled_from([0.01, 0.5])), draw(st.sampled_from(ACTIVATIONS))
    changes = draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)) if draw(st.booleans()) else []
    key = draw(st.sampled_from(list(params)))
    for change in changes:
        if change == "missing key":
            params.pop(key, None)
        elif change == "wrong shape" and key in params:
            params[key] = np.zeros((params[key].shape[0] + 1, 1), dtype)
        elif change == "param dtype" and key in params:
            with np.errstate(all="ignore"):
                # From float64 each time: object -> uint64 would go through Python ints.
                params[key] = np.asarray(params[key], np.float64).astype(draw(st.sampled_from(HOSTILE_DTYPES)))
        elif change == "X dtype":
            with np.errstate(all="ignore"):
                X = np.asarray(X, np.float64).astype(draw(st.sampled_from(HOSTILE_DTYPES)))
        elif change == "Y dtype":
            Y = np.asarray(Y, np.float64).astype(draw(st.sampled_from(HOSTILE_DTYPES)))
        elif change == "special in X" and X.dtype.kind == "f" and X.ndim == 2 and X.size:
            X = np.array(X)
            X[draw(st.integers(0, X.shape[0] - 1)), 0] = draw(st.sampled_from(SPECIAL))
        elif change == "special in Y" and Y.size:
            Y = Y.astype(np.float64)
            Y[0, 0] = draw(st.sampled_from(SPECIAL))
        elif change == "special in param" and key in params and params[key].dtype.kind == "f":
            params[key][0, 0] = draw(st.sampled_from(SPECIAL))
        elif change == "label range" and Y.size:
            Y = Y.astype(np.float64)
            Y[0, -1] = draw(st.sampled_from([-1.0, 2.0, 1.5]))
        elif change == "1-D X" and X.ndim == 2:
            X = np.asarray(X)[0]
        elif change == "3-D X" and X.ndim == 2:
            X = np.asarray(X)[..., None]
        elif change == "no examples" and X.ndim == 2:
            X, Y = np.asarray(X)[:, :0], Y[:, :0]
        elif change == "learning rate":
            lr = draw(st.sampled_from([0.0, -1.0, np.nan, np.inf, 1e300]))
        elif change == "activation":
            activation = draw(st.sampled_from(["softmax", "", None, 3]))
        elif change == "huge features" and X.dtype.kind == "f":
            X = np.asarray(X, dtype=np.float64) * 1e300
        elif change == "int X":
            with np.errstate(all="ignore"):
                X = np.round(np.asarray(X, np.float64)).astype(np.int64)
        elif change == "bool Y":
            Y = Y.astype(bool)
    fn = draw(st.sampled_from(["forward", "predict", "cost", "gradients", "step", "train"]))
    return fn, params, X, Y, lr, activation


def _call(fn, params, X, Y, lr, activation):
    kw = dict(activation=activation)
    if fn == "forward":
        return fs.forward(params, X, **kw)
    if fn == "predict":
        return fs.predict(params, X, **kw)
    if fn == "cost":
        return fs.cost(params, X, Y, **kw)
    if fn == "gradients":
        return fs.gradients(params, X, Y, **kw)
    if fn == "step":
        return fs.step(params, X, Y, lr, **kw)
    return fs.train(params, X, Y, learning_rate=lr, num_iterations=3, **kw)


@settings(max_examples=300)
@given(calls())
def test_every_public_function_returns_a_finite_result_or_a_value_or_type_error(call):
    fn, params, X, Y, lr, activation = call
    before = {k: v.copy() for k, v in params.items()}
    try:
        result = _call(fn, params, X, Y, lr, activation)
    except (ValueError, TypeError) as exc:
        event(f"{fn}: {type(exc).__name__}")
        # A failed call changes nothing (a DivergenceError keeps the last finite state,
        # which is finite by construction).
        if not isinstance(exc, fs.DivergenceError):
            for k, v in before.items():
                if v.dtype == object:  # the same objects: NumPy's comparison has NaN unequal to itself there
                    assert all(a is b for a, b in zip(params[k].ravel(), v.ravel())), f"{k} changed by a failed {fn}"
                else:
                    np.testing.assert_array_equal(params[k], v, err_msg=f"{k} changed by a failed {fn}")
        else:
            assert all(np.isfinite(v).all() for v in params.values())
        return
    event(f"{fn}: returned")
    # It succeeded: then the inputs were valid, and the result is finite and right.
    values = result[1].values() if fn == "gradients" else [np.asarray(result)]
    for v in values:
        assert np.all(np.isfinite(v))
    for v in params.values():
        assert np.all(np.isfinite(v)), "NaN or inf in returned params"
    if fn in ("forward", "cost"):
        p64 = {k: np.asarray(v, np.float64) for k, v in params.items()}
        expected = ref.forward(p64, np.asarray(X, np.float64), activation) if fn == "forward" else ref.cost(
            p64, np.asarray(X, np.float64), np.asarray(Y, np.float64), activation)
        with np.errstate(all="ignore"):
            np.testing.assert_allclose(np.asarray(result, np.float64), expected, rtol=2e-3, atol=1e-5)


def test_scratch_beyond_available_memory_fails_before_allocating(monkeypatch):
    from fastshallow import validation

    params, X, Y = fs.init_params(3, 4, 1, seed=0), np.zeros((3, 10)), np.zeros((1, 10))
    before = {k: v.copy() for k, v in params.items()}
    monkeypatch.setattr(validation, "available_memory", lambda: 1000)  # bytes
    monkeypatch.setattr(validation, "UNCHECKED_SCRATCH", 0)  # check even this small a call
    for call in (lambda: fs.train(params, X, Y), lambda: fs.forward(params, X), lambda: fs.gradients(params, X, Y)):
        with pytest.raises(MemoryError, match=r"needs about .* GiB of working memory .* only 0.00 GiB is available"):
            call()
    for k in params:
        np.testing.assert_array_equal(params[k], before[k])


def test_small_calls_do_not_read_the_free_memory(monkeypatch):
    # Reading /proc/meminfo was a large share of a small call; under UNCHECKED_SCRATCH
    # bytes of scratch it is not read at all.
    from fastshallow import validation

    def unreadable():
        raise AssertionError("available_memory was read")

    monkeypatch.setattr(validation, "available_memory", unreadable)
    params, X, Y = fs.init_params(3, 4, 1, seed=0), np.zeros((3, 10)), np.zeros((1, 10))
    fs.train(params, X, Y, num_iterations=2)
    fs.forward(params, X)


def _checked(params, X, Y, output, update):
    """checked_data's verdict in a comparable form: the error, or the dtype, the output's
    code and every array returned (values and shapes; layouts may differ)."""
    try:
        dtype, arrays, work, out, Xc, Yc = validation.checked_data(params, X, Y, output, update=update)
    except (ValueError, TypeError) as exc:
        return type(exc), str(exc)
    return dtype, out, [(a.shape, a.tobytes()) for a in (*arrays, *work, np.ascontiguousarray(Xc))], (
        None if Yc is None else (Yc.dtype, Yc.shape, np.ascontiguousarray(Yc).tobytes()))


@settings(max_examples=300)
@given(calls(), st.sampled_from(["sigmoid", "softmax", "identity", "exp"]), st.booleans(), st.booleans())
def test_the_one_scan_accepts_and_rejects_as_the_checks_one_by_one(call, output, with_Y, update):
    # validation.checked_data takes one compiled scan (kernels/checks.scan_problem) for
    # the common case, and the checks one by one otherwise: the verdicts must not differ.
    _, params, X, Y, _, _ = call
    Y = Y if with_Y else None
    fast = _checked(params, X, Y, output, update)
    event("one scan" if validation._scan(params, X, Y) is not None else "one by one")
    with mock.patch.object(validation, "_scan", lambda *args: None):
        assert fast == _checked(params, X, Y, output, update)


def test_a_call_in_kernel_form_takes_the_one_scan():
    # So that the test above compares the two paths, not one with itself.
    rng = np.random.default_rng(0)
    for dtype, layout in API_CASES:
        params = fs.init_params(3, 4, 2, seed=0, dtype=dtype)
        X = in_layout(rng.standard_normal((3, 50)).astype(dtype), layout)
        Y = (rng.random((2, 50)) < 0.5).astype(np.uint8)
        assert validation._scan(params, X, Y) is not None, (dtype, layout)
        assert validation._scan(params, X, None) is not None, (dtype, layout)
