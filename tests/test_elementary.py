"""The vectorisable exp, tanh, sigmoid, log1p and log agree with NumPy to a few ulp."""

import numpy as np
import pytest
from numba import njit

from fastshallow.kernels import elementary as em


@njit(cache=True)
def _apply(out, x, which):
    for i in range(x.shape[0]):
        if which == 0:
            out[i] = em.exp(x[i])
        elif which == 1:
            out[i] = em.tanh(x[i])
        elif which == 2:
            out[i] = em.sigmoid(x[i])
        elif which == 3:
            out[i] = em.log1p(x[i])
        else:
            out[i] = em.log(x[i])


def _sigmoid(x):
    return np.where(x >= 0, 1 / (1 + np.exp(-x)), np.exp(x) / (1 + np.exp(x)))


# (code, NumPy twin evaluated in float64, input range, max ulp allowed). log1p's range is
# its polynomial's interval; log's reaches both ways past loss.log_sum_exp's [1, n_y].
FUNCTIONS = {
    "exp": (0, np.exp, (-80.0, 80.0), 2),
    "tanh": (1, np.tanh, (-12.0, 12.0), 4),
    "sigmoid": (2, _sigmoid, (-80.0, 80.0), 4),
    "log1p": (3, np.log1p, (-0.5, 1.0), 4),
    "log": (4, np.log, (1e-3, 1e4), 4),
}
# Values where the reductions change branch (ln2/2 for exp; √½, √2 and powers of two for
# log), and tiny arguments, where relative precision is easiest to lose.
SPECIAL = [
    0.0, 1e-30, -1e-30, 1e-8, -1e-8, 1e-3, -1e-3, 0.34657359, -0.34657359, 0.5, 1.0,
    1.0 - 1e-7, 1.0 + 1e-7, 0.70710678, 0.70710679, 1.41421356, 1.41421357, 2.0, 10.0, 1024.0,
]  # fmt: skip


def _max_ulp(name, dtype):
    code, twin, (lo, hi), _ = FUNCTIONS[name]
    x = np.random.default_rng(0).uniform(lo, hi, 200_000)
    special = np.array([s for s in SPECIAL if lo <= s <= hi] + [lo, hi])
    x = np.concatenate([special, x]).astype(dtype)
    out = np.empty_like(x)
    _apply(out, x, code)
    assert out.dtype == dtype
    exact = twin(x.astype(np.float64))
    ulp = np.spacing(np.abs(exact).astype(dtype)).astype(np.float64)
    keep = np.abs(exact) >= np.finfo(dtype).tiny  # ulps are meaningless among subnormals
    err = np.abs(out.astype(np.float64) - exact)[keep] / ulp[keep]
    return float(err.max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_elementary_functions_are_within_a_few_ulp(name, dtype):
    worst = _max_ulp(name, dtype)
    assert worst <= FUNCTIONS[name][3], f"{name} [{np.dtype(dtype).name}]: max error {worst:.2f} ulp"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_exp_is_accurate_out_to_its_clamps(dtype):
    # The range reduction builds 2**n from n's bits (elementary._round_with_power), which
    # holds only while 2**n is a normal number: n from -1021 to 1023 (float64), -126 to
    # 127 (float32). The clamps keep n there; these inputs reach both ends.
    edges = {
        np.float64: [-708.0, -707.5, -700.0, 700.0, 708.5, 709.0],
        np.float32: [-87.0, -86.5, -80.0, 80.0, 87.5, 88.0],
    }
    x = np.array(edges[dtype], dtype)
    out = np.empty_like(x)
    _apply(out, x, 0)
    exact = np.exp(x.astype(np.float64))
    ulp = np.spacing(exact.astype(dtype)).astype(np.float64)
    assert np.all(np.abs(out - exact) / ulp <= FUNCTIONS["exp"][3]), (out, exact)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturation_gives_exact_limits(dtype):
    x = np.array([-1e4, -800.0, -100.0, 100.0, 800.0, 1e4], dtype)
    t, s = np.empty_like(x), np.empty_like(x)
    _apply(t, x, 1)
    _apply(s, x, 2)
    np.testing.assert_array_equal(t, np.sign(x))
    assert np.all(s[x > 0] == 1) and np.all((s[x < 0] >= 0) & (s[x < 0] < 1e-30))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("code", [0, 1, 2, 3, 4])
def test_nan_propagates(code, dtype):
    # A NaN that came out of an overflowing product must reach the cost, where divergence is
    # detected; a clamp that turned it into a number would hide it.
    x = np.array([np.nan], dtype)
    out = np.zeros_like(x)
    _apply(out, x, code)
    assert np.isnan(out[0])
