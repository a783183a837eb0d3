"""Input checks that scan data, compiled: for a small array, one call instead of NumPy's
two reductions (min, then max) and the Python around them.

value_range(a) returns (lo, hi) of a 2-D array of any real dtype and layout, in float64;
NaN anywhere makes both NaN, and inf shows in lo or hi, so one call answers finiteness
and range (fastshallow.validation.finite_range, which sends large arrays to NumPy: these
loops keep Python's NaN-aware min and max, which do not vectorise, so they run at a
quarter of NumPy's speed over a large array, and at four times it over a small one).

scan_problem checks a whole call's data in one compiled call: the parameters' shapes and
finiteness, X's and Y's shapes, and their ranges where they are small.
"""

import numpy as np

from .config import entry, reduction_jit
from .intrinsics import unit_stride, wide_vectors

# Arrays of up to this many values are scanned here; larger ones by NumPy's vectorised min
# and max (see above), which scan_problem leaves to its caller.
COMPILED_RANGE_MAX = 2**14


@reduction_jit
def _row_range(a, lo, hi):
    """(lo, hi, nan): lo and hi updated with the 1-D array a's minimum and maximum, and
    whether a holds a NaN (v != v), kept apart so that min and max can be vector
    reductions. No flag comes in: a literal False passed in compiled a copy of its own."""
    wide_vectors()
    nan = False
    for j in range(a.shape[0]):
        v = np.float64(a[j])
        lo = min(lo, v)
        hi = max(hi, v)
        nan |= v != v
    return lo, hi, nan


@reduction_jit
def value_range(a):
    """(lo, hi) of the non-empty 2-D array a in float64, walked in memory order; (NaN, NaN)
    if it holds a NaN."""
    lo, hi, nan = np.inf, -np.inf, False
    if a.strides[0] >= a.strides[1]:
        for i in range(a.shape[0]):
            lo, hi, row_nan = _row_range(a[i], lo, hi)
            nan |= row_nan
    else:
        t = a.T
        for i in range(t.shape[0]):
            lo, hi, row_nan = _row_range(t[i], lo, hi)
            nan |= row_nan
    if nan:
        return np.nan, np.nan
    return lo, hi


@reduction_jit
def first_not_finite(arrays):
    """The index of the first of `arrays` (a tuple of C-contiguous arrays of one dtype and
    rank) that holds a NaN or an inf, or -1: a network's four parameters in one call,
    where one call per array cost more than the scan."""
    for i in range(len(arrays)):
        lo, hi, nan = _row_range(arrays[i].reshape(arrays[i].size), np.inf, -np.inf)
        if nan or lo == -np.inf or hi == np.inf:
            return i
    return -1


@reduction_jit
def _any_layout_range(a):
    """value_range(a) for an a typed strided (scan_problem's X and Y), along unit-stride
    rows when a is C- or F-ordered (retyped so that they vectorise), else as it is."""
    lo, hi, nan = np.inf, -np.inf, False
    if a.strides[1] == a.itemsize:
        for i in range(a.shape[0]):
            lo, hi, row_nan = _row_range(unit_stride(a[i]), lo, hi)
            nan |= row_nan
    elif a.strides[0] == a.itemsize:
        t = a.T
        for i in range(t.shape[0]):
            lo, hi, row_nan = _row_range(unit_stride(t[i]), lo, hi)
            nan |= row_nan
    else:
        for i in range(a.shape[0]):
            lo, hi, row_nan = _row_range(a[i], lo, hi)
            nan |= row_nan
    if nan:
        return np.nan, np.nan
    return lo, hi


# scan_problem's verdicts besides a parameter's index: shapes that do not fit (the Python
# checks then say how), or all well.
SHAPES_DIFFER = -2
ALL_FINITE = -1


@entry("X Y", any_layout="X Y")
@reduction_jit
def scan_problem(params, X, Y):
    """One call's data checked in one pass: (verdict, (x_lo, x_hi), (y_lo, y_hi)).

    verdict: SHAPES_DIFFER unless W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1)
    with no size 0, X (n_x, m) with m >= 1, and Y (n_y, m) or with no values (a call
    without targets); else the index of the first parameter holding NaN or inf (as
    first_not_finite), else ALL_FINITE. The ranges are value_range's, of X and of Y (in
    any layout) when they hold at most COMPILED_RANGE_MAX values; a range left to the
    caller (a larger array, or none) comes back empty: (inf, -inf).

    Shapes: params C-contiguous arrays of one dtype; X, Y 2-D.
    """
    W1, b1, W2, b2 = params
    n_h, n_x = W1.shape
    n_y, m = W2.shape[0], X.shape[1]
    fits = (n_h > 0 and n_x > 0 and n_y > 0 and b1.shape[0] == n_h and b1.shape[1] == 1
            and W2.shape[1] == n_h and b2.shape[0] == n_y and b2.shape[1] == 1
            and X.shape[0] == n_x and m > 0 and (Y.size == 0 or (Y.shape[0] == n_y and Y.shape[1] == m)))
    empty = (np.inf, -np.inf)
    if not fits:
        return SHAPES_DIFFER, empty, empty
    bad = first_not_finite(params)
    x = _any_layout_range(X) if X.size <= COMPILED_RANGE_MAX else empty
    y = _any_layout_range(Y) if 0 < Y.size <= COMPILED_RANGE_MAX else empty
    return bad if bad >= 0 else ALL_FINITE, x, y
