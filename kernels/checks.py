"""Input checks that scan data, compiled, each array in one pass at memory speed.

value_range(a) returns (lo, hi) of a float array (2-D, any layout) in float64; NaN
anywhere makes both NaN, and inf shows in lo or hi, so one call answers finiteness and
range (fastshallow.validation.finite_range). first_not_finite finds a network's first
non-finite parameter. scan_problem checks a whole call's data in one call: the
parameters' shapes and finiteness, X's and Y's shapes, their ranges, and whether any
two of the arrays' memory could overlap.

Floats are compared as integers. A float's bit pattern read as a signed integer of its
width orders like the float for values >= 0 and in reverse for negative ones; flipping
every bit but the sign of a negative one makes it a key that orders like the float for
every value but NaN, -0 just before +0 (intrinsics.float_key). LLVM kept float minimum
and maximum reductions scalar (with NaN checks or without, even under "nnan") and turns
integer ones into vector instructions, so that one pass is faster than NumPy's min and
max at every size (the commit that brought the keys has the numbers). NaN is the one
pattern whose magnitude (the bits but the sign) exceeds inf's, so the largest magnitude
answers finiteness.
"""

import numpy as np
from numba import types
from numba.extending import overload

from .config import entry, jit
from .intrinsics import float_key, key_float, unit_stride, view, wide_vectors


def _bit_constants(a):
    """(inf, least, greatest) for the float dtype of the array a, as integers of its width:
    inf's bit pattern, and the least and the greatest integer."""


@overload(_bit_constants, inline="always")
def _bit_constants_for(a):
    if a.dtype == types.float64:
        c = (np.int64(0x7FF0000000000000), np.int64(-(2**63)), np.int64(2**63 - 1))
    elif a.dtype == types.float32:
        c = (np.int32(0x7F800000), np.int32(-(2**31)), np.int32(2**31 - 1))
    else:
        return None
    return lambda a: c


@jit
def _row_keys(row, lo, hi, top):
    """(lo, hi, top) updated over the 1-D float array row: the least and greatest key and
    the largest magnitude. A row typed C-contiguous vectorises; others run element by
    element."""
    wide_vectors()
    for j in range(row.shape[0]):
        key, magnitude = float_key(row[j])
        lo = min(lo, key)
        hi = max(hi, key)
        top = max(top, magnitude)
    return lo, hi, top


@jit
def _range(a):
    """value_range of the 2-D float array a, any layout: rows (or, for a column-ordered
    a, columns) in memory order, each retyped unit-stride when it is."""
    inf, least, greatest = _bit_constants(a)
    if a.size == 0:
        return np.inf, -np.inf
    lo, hi, top = greatest, least, least  # every magnitude is >= 0 > least
    lines = a if abs(a.strides[0]) >= abs(a.strides[1]) else a.T
    for i in range(lines.shape[0]):
        line = lines[i]
        if line.strides[0] == line.itemsize:
            lo, hi, top = _row_keys(unit_stride(line), lo, hi, top)
        else:
            lo, hi, top = _row_keys(line, lo, hi, top)
    if top > inf:
        return np.nan, np.nan
    return np.float64(key_float(lo, a)), np.float64(key_float(hi, a))


@entry("a", any_layout="a")
@jit
def value_range(a):
    """(lo, hi) of the 2-D float32 or float64 array a (any layout) in float64; (NaN, NaN)
    if it holds a NaN; (inf, -inf), the empty range, if it holds nothing."""
    return _range(a)


@jit(python=True)
def first_not_finite(arrays):
    """The index of the first of `arrays` (a tuple of C-contiguous float arrays of one
    dtype and rank) that holds a NaN or an inf, or -1: a network's four parameters in one
    call, where one call per array cost more than the scan."""
    for i in range(len(arrays)):
        a = view(arrays[i], (arrays[i].size,))
        inf, least, greatest = _bit_constants(a)
        _, _, top = _row_keys(a, greatest, least, least)
        if top >= inf:
            return i
    return -1


# scan_problem's verdicts besides a parameter's index: shapes that do not fit (the Python
# checks then say how), or all well.
SHAPES_DIFFER = -2
ALL_FINITE = -1


@jit
def _extent(a):
    """(first, end): the addresses of a's first byte and one past its last, whatever its
    strides' signs; (0, 0) for an array with no elements, which holds no memory."""
    if a.size == 0:
        return 0, 0
    first = end = np.int64(a.ctypes.data)
    for i in range(a.ndim):
        reach = (a.shape[i] - 1) * a.strides[i]
        if reach < 0:
            first += reach
        else:
            end += reach
    return first, end + a.itemsize


@jit
def _apart(params, X, Y):
    """True when no two of the four parameters, X and Y reach into the same bytes (the
    bounds test of np.may_share_memory, pair by pair): none can share memory then."""
    # Element by element: a tuple assigned to an array's row made Numba compile its
    # shape-error messages, dozens of string-formatting functions (5a7173d).
    first, end = np.empty(6, np.int64), np.empty(6, np.int64)
    for i in range(4):
        first[i], end[i] = _extent(params[i])
    first[4], end[4] = _extent(X)
    first[5], end[5] = _extent(Y)
    for i in range(6):
        for j in range(i):
            if max(first[i], first[j]) < min(end[i], end[j]):
                return False
    return True


@entry("X Y", any_layout="X Y")
@jit
def scan_problem(params, X, Y):
    """One call's data checked in one pass: (verdict, (x_lo, x_hi), (y_lo, y_hi), apart).

    verdict: SHAPES_DIFFER unless W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1)
    with no size 0, X (n_x, m) with m >= 1, and Y (n_y, m) or with no values (a call
    without targets); else the index of the first parameter holding NaN or inf (as
    first_not_finite), else ALL_FINITE. The ranges are value_range's, of X and Y; a Y
    without values has the empty range. apart: no two of the six arrays reach into the
    same bytes (_apart), so none of them can share memory with another; else they might.

    Shapes: params C-contiguous arrays of one float dtype; X, Y 2-D of that dtype.
    """
    W1, b1, W2, b2 = params
    n_h, n_x = W1.shape
    n_y, m = W2.shape[0], X.shape[1]
    fits = (n_h > 0 and n_x > 0 and n_y > 0 and b1.shape[0] == n_h and b1.shape[1] == 1
            and W2.shape[1] == n_h and b2.shape[0] == n_y and b2.shape[1] == 1
            and X.shape[0] == n_x and m > 0 and (Y.size == 0 or (Y.shape[0] == n_y and Y.shape[1] == m)))
    if not fits:
        empty = (np.inf, -np.inf)
        return SHAPES_DIFFER, empty, empty, False
    bad = first_not_finite(params)
    return bad if bad >= 0 else ALL_FINITE, _range(X), _range(Y), _apart(params, X, Y)
