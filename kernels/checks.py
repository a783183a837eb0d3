"""Input checks that scan data, compiled: for a small array, one call instead of NumPy's
two reductions (min, then max) and the Python around them.

value_range(a) returns (lo, hi) of a 2-D array of any real dtype and layout, in float64;
NaN anywhere makes both NaN, and inf shows in lo or hi, so one call answers finiteness
and range (fastshallow.validation.finite_range, which sends large arrays to NumPy: these
loops keep Python's NaN-aware min and max, which do not vectorise, so they run at a
quarter of NumPy's speed over a large array, and at four times it over a small one).
"""

import numpy as np

from .config import reduction_jit
from .intrinsics import wide_vectors


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
