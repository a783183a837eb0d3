"""Shared test helpers: memory layouts, dtype-aware tolerances, comparisons that report
the largest difference, and small random networks."""

import numpy as np

import fastshallow as fs
from fastshallow.engine import Activation

DTYPES = (np.float64, np.float32)
LAYOUTS = ("C", "F", "strided")
# (dtype, layout) of X for tests of the whole API. Every layout and read-only X share one
# compile of each kernel (kernels/config.entry; test_engine checks it), so all of them.
API_CASES = tuple((dtype, layout) for dtype in DTYPES for layout in LAYOUTS)
# Every hidden activation of the one table (kernels/codes.py), by its canonical name.
ACTIVATIONS = tuple(code.name.lower() for code in Activation)

# Relative tolerances against the float64-exact reference (scaled by the largest |value|).
# float32 sums over hundreds of terms lose a few digits; float64 keeps about twelve.
RTOL = {np.dtype(np.float64): 1e-11, np.dtype(np.float32): 2e-4}


def in_layout(a, layout):
    """The same values as a, laid out C-contiguous, F-contiguous, or as a strided view."""
    if layout == "C":
        return np.ascontiguousarray(a)
    if layout == "F":
        return np.asfortranarray(a)
    if layout == "strided":
        # Every other column of a twice-as-wide buffer, rows reversed: no unit stride anywhere.
        big = np.zeros((a.shape[0], 2 * a.shape[1]), a.dtype)
        big[::-1, ::2] = a
        view = big[::-1, ::2]
        return view
    raise ValueError(layout)


def assert_close(comp, ref, dtype, what="", rtol=None):
    """comp ≈ ref within the dtype's tolerance, relative to the largest |ref|."""
    comp = np.asarray(comp, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert comp.shape == ref.shape, f"{what}: shape {comp.shape} != reference {ref.shape}"
    tol = (rtol if rtol is not None else RTOL[np.dtype(dtype)]) * max(1.0, float(np.max(np.abs(ref), initial=0)))
    diff = np.abs(comp - ref)
    worst = float(np.max(diff, initial=0))
    if not worst <= tol:  # also fails on NaN
        at = np.unravel_index(np.nanargmax(diff), diff.shape) if diff.size else ()
        raise AssertionError(
            f"{what}: largest difference {worst:.3e} at {at} (comp {comp[at]!r}, ref {ref[at]!r}) "
            f"exceeds {tol:.3e} [{np.dtype(dtype).name}]"
        )


def network(n_x, n_h, n_y, m, dtype=np.float64, seed=0, scale=0.5, layout="C"):
    """(params, X, Y): random params of a useful size, X in the given layout, 0/1 labels."""
    rng = np.random.default_rng(seed)
    params = fs.init_params(n_x, n_h, n_y, seed=rng, scale=scale, dtype=dtype)
    params["b1"][:] = rng.standard_normal((n_h, 1)) * 0.1
    params["b2"][:] = rng.standard_normal((n_y, 1)) * 0.1
    X = in_layout(rng.standard_normal((n_x, m)).astype(dtype), layout)
    Y = (rng.random((n_y, m)) < 0.5).astype(np.uint8)
    return params, X, Y


def numeric_gradients(cost, params, h=1e-6):
    """Central differences of cost(params) (a float) with respect to every parameter:
    a dict {"dW1": ..., ...} of arrays of the parameters' shapes."""
    grads = {}
    for k in params:
        numeric = np.zeros_like(params[k], dtype=np.float64)
        for idx in np.ndindex(params[k].shape):
            plus, minus = {q: v.copy() for q, v in params.items()}, {q: v.copy() for q, v in params.items()}
            plus[k][idx] += h
            minus[k][idx] -= h
            numeric[idx] = (cost(plus) - cost(minus)) / (2 * h)
        grads["d" + k] = numeric
    return grads


def as_float64(params):
    return {k: np.array(v, dtype=np.float64) for k, v in params.items()}
