"""Input checks run before any compiled code.

Every failure is a ValueError (wrong value or shape) or TypeError (wrong kind of object or
dtype) whose message names the argument, what was expected and what was received. Nothing
here modifies its inputs.
"""

import math
import numbers
import operator

import numpy as np

from .kernels.codes import ACTIVATION_NAMES as ACTIVATIONS
from .kernels.codes import OUTPUT_NAMES as OUTPUTS
from .kernels.checks import SHAPES_DIFFER, first_not_finite, scan_problem, value_range
from .kernels.config import call
from .kernels.codes import Output

PARAM_NAMES = ("W1", "b1", "W2", "b2")
PARAM_LABELS = tuple(f"params[{k!r}]" for k in PARAM_NAMES)  # as messages name them
GRAD_NAMES = tuple("d" + k for k in PARAM_NAMES)  # the gradients' keys: dW1, db1, dW2, db2
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
FLOAT_MAX = {dt: float(np.finfo(dt).max) for dt in FLOAT_DTYPES}  # np.finfo costs a microsecond a call
# Zero-size arrays hold nothing to write or read: one per dtype serves every call, as the
# weights of an unweighted pass, the targets of a scan of a call without any, and the
# state of an optimiser that keeps none.
NOTHING = {dt: np.empty((0, 0), dt) for dt in FLOAT_DTYPES}


# The codes as plain ints, which the kernels take: int() of an enum member, on every call,
# cost more than the lookup.
_ACTIVATION_CODES = {name: int(code) for name, code in ACTIVATIONS.items()}
_OUTPUT_CODES = {name: int(code) for name, code in OUTPUTS.items()}
_SIGMOID, _SOFTMAX = int(Output.SIGMOID), int(Output.SOFTMAX)  # an enum member's lookup costs as much as a test


def activation_code(activation):
    code = _ACTIVATION_CODES.get(activation) if isinstance(activation, str) else None
    if code is None:
        raise ValueError(
            f"activation must be one of {', '.join(map(repr, ACTIVATIONS))}; got {activation!r}"
        )
    return code


def output_code(output, n_y):
    """The output layer's code; softmax needs n_y >= 2 (over one row it is always 1)."""
    code = _OUTPUT_CODES.get(output) if isinstance(output, str) else None
    if code is None:
        raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}; got {output!r}")
    if code == _SOFTMAX and n_y < 2:
        raise ValueError(
            f"output='softmax' needs n_y >= 2 outputs; params['W2'] has n_y = {n_y} "
            "(use output='sigmoid' for a single binary output)"
        )
    return code


def float_dtype(dtype, name="dtype"):
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"{name} must be float32 or float64; got {dtype!r}") from exc
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64; got {dt}")
    return dt


def positive_int(value, name, minimum=1):
    # A plain int skips the abstract-class test below, a third of a microsecond a call.
    if type(value) is not int and (isinstance(value, bool) or not isinstance(value, numbers.Integral)):
        raise TypeError(f"{name} must be an integer; got {type(value).__name__} {value!r}")
    value = operator.index(value)
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return value


# The longest axis an array can have (NumPy's intp).
MAX_AXIS = np.iinfo(np.intp).max


def layer_size(value, name):
    """A layer's size: an integer from 1 to MAX_AXIS (beyond it, NumPy's own error names
    no argument, and the memory check's arithmetic overflows a float)."""
    value = positive_int(value, name)
    if value > MAX_AXIS:
        raise ValueError(f"{name} must be at most {MAX_AXIS}; got an integer of {len(str(value))} digits")
    return value


# The most iterations a call can record: one float64 cost each, in one NumPy array. Whether
# they fit in this machine's memory is checked with the rest of a call's scratch
# (fastshallow._check_memory), from one reading of the free memory.
MAX_ITERATIONS = np.iinfo(np.intp).max // 8


def iteration_count(value, name="num_iterations"):
    """An iteration count from 0 to MAX_ITERATIONS."""
    value = positive_int(value, name, minimum=0)
    if value > MAX_ITERATIONS:
        raise ValueError(
            f"{name} must be at most {MAX_ITERATIONS} (one float64 cost is kept per iteration); got {value}"
        )
    return value


def finite_real(value, name, *, positive=False, low=None, high=None):
    # A plain float skips the abstract-class test, as in positive_int.
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except OverflowError:  # an int or Fraction beyond float64's range
        raise ValueError(f"{name} must be finite; got a number beyond float64's range") from None
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be positive; got {value}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be in [{low}, {high}]; got {value}")
    return value


def finite_range(a, name):
    """(min, max) of a non-empty array, or ValueError naming it if it holds NaN or inf.

    NaN and inf propagate into the minimum or the maximum, so the same numbers answer
    finiteness and range (labels in [0, 1], feature magnitude) for every array the API
    checks."""
    return finite_bounds(*value_bounds(a), name)


def finite_bounds(lo, hi, name):
    """(lo, hi), an array's (min, max) from value_bounds, or ValueError naming the array
    if either is NaN or inf."""
    # math's test, not NumPy's: on a scalar, np.isfinite cost 0.45 µs, a third of this call.
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"{name} contains NaN or inf")
    return lo, hi


def value_bounds(a):
    """(min, max) of a non-empty array as Python floats; NaN in either if it holds a NaN,
    an inf shows.

    A float32 or float64 array of one or two dimensions, in any layout, takes one compiled
    pass (kernels/checks.value_range), faster than NumPy's two at every size; other
    arrays (bool and integer ones among them, whose NumPy scalars the rules could not
    negate), NumPy's min and max."""
    if a.dtype in FLOAT_DTYPES and 0 < a.ndim <= 2:
        return call(value_range, (a if a.ndim == 2 else a.reshape(1, -1),))
    return float(a.min()), float(a.max())


def check_all_finite(arrays, labels):
    """ValueError naming the first of `arrays` (C-contiguous, of one float dtype and rank:
    a network's parameters or gradients) that holds NaN or inf; labels name them."""
    bad = first_not_finite(arrays)  # one compiled scan of them all
    if bad >= 0:
        raise ValueError(f"{labels[bad]} contains NaN or inf")


def as_array(value, name):
    """np.asarray(value), with a message that names the argument when nested lists have
    rows of different lengths (NumPy's own does not say which argument)."""
    try:
        return np.asarray(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be a rectangular array (every row the same length); {exc}") from None


def numeric_array(value, name):
    """value as an array of real numbers: bool, integer, float32 or float64, in this
    machine's byte order (converted if need be); TypeError naming it otherwise."""
    a = as_array(value, name)
    if a.dtype in FLOAT_DTYPES:  # the usual case, which every test below passes
        return a
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers; got dtype {a.dtype}")
    if not a.dtype.isnative:  # such as '>f8' from a file: the same values, in this machine's byte order
        a = a.astype(a.dtype.newbyteorder("="))
    if a.dtype.kind == "f" and a.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{name} must be float32 or float64 (or bool/int); got dtype {a.dtype}")
    return a


def check_params(params, *, update=False, inputs=None):
    """Validate a params dict; return (dtype, (W1, b1, W2, b2)) as the caller's arrays.

    With update=True the arrays will be written in place, so they must be writeable
    float32/float64 ndarrays that share no memory with each other or with the arrays of
    `inputs` ({name: array}, what the update reads, such as X and Y); otherwise anything
    array-like of real numbers is accepted.
    """
    dtype, arrays, _ = checked_params(params, update=update, inputs=inputs)
    return dtype, arrays


def checked_params(params, *, update=False, inputs=None, dtype=None, finite=True):
    """check_params, plus the parameters as the kernels take them: (dtype, arrays, work),
    work the four as C-contiguous arrays of dtype, the caller's own where they already are
    so (a caller that updates them copies them first). dtype: what the call computes in,
    the parameters' own if None (the course computes in float64 whatever theirs).
    finite=False leaves out the test for NaN and inf, for a caller whose result shows
    them (the course's update_parameters) and that calls check_all_finite when it does."""
    own, arrays, work = _checked_params(params, update, inputs, finite)
    if dtype is None or dtype == own:
        return own, arrays, work
    return dtype, arrays, tuple(a.astype(dtype) for a in work)


def named_arrays(d, names, label):
    """The values of the dict d at `names` (a tuple of its keys), in that order: the
    parameters (PARAM_NAMES) or the course's gradients (GRAD_NAMES). TypeError if d is
    not a dict, ValueError naming the keys it lacks; label names d in both."""
    if not hasattr(d, "keys") or not hasattr(d, "__getitem__"):
        raise TypeError(f"{label} must be a dict with keys {', '.join(names)}; got {type(d).__name__}")
    try:
        # An itemgetter, made on every call, still cost a fifth of a generator over names.
        return operator.itemgetter(*names)(d)
    except KeyError:
        missing = [k for k in names if k not in d]
        raise ValueError(
            f"{label} is missing {', '.join(map(repr, missing))}; expected keys "
            f"{', '.join(names)} (got {', '.join(map(repr, d.keys()))})"
        ) from None


def _checked_params(params, update, inputs, finite=True):
    arrays = named_arrays(params, PARAM_NAMES, "params")
    dtype = kernel_form(arrays)  # arrays in kernel form are writeable: updatable as they are
    if dtype is None:
        arrays = tuple(_param_array(a, name, update) for a, name in zip(arrays, PARAM_LABELS))
    _check_param_shapes(arrays)
    if dtype is None:
        dtype = _common_dtype(arrays)
        work = tuple(_kernel_copy(a, dtype) for a in arrays)
    else:
        work = arrays
    if finite:
        check_all_finite(work, PARAM_LABELS)
    if update:
        check_separate(dict(zip(PARAM_LABELS, arrays)) | (inputs or {}))
    return dtype, arrays, work


def kernel_form(arrays):
    """The dtype of four arrays that the kernels can take as they are (writeable,
    C-contiguous 2-D ndarrays of one float dtype, aligned), else None. Most calls pass such
    arrays, and testing for them first spares each its conversion (5aea16c has the numbers).
    An unaligned one (a view into a byte buffer) takes the conversions' path, as it is."""
    dtype = arrays[0].dtype if type(arrays[0]) is np.ndarray else None
    if dtype not in FLOAT_DTYPES:
        return None
    for a in arrays:
        # carray (C-contiguous, aligned and writeable) is one lookup where the two flags
        # that matter were two.
        if type(a) is not np.ndarray or a.dtype != dtype or a.ndim != 2 or not a.flags.carray:
            return None
    return dtype


def _kernel_copy(a, dtype):
    """a as a writeable C-contiguous array of dtype, copied only if it is not one. Numba
    types a read-only array apart from a writeable one: four parameters of both kinds made
    a tuple the kernels could not index (a TypingError). X is never copied, and Y and the
    weights need it only to be converted: the kernels take all three typed read-only and
    strided (kernels/config.entry), so one-scan calls (checked_data) pass them as they are."""
    a = np.ascontiguousarray(a, dtype=dtype)
    return a if a.flags.writeable else a.copy()


def _param_array(a, name, update):
    """One parameter as an array, 2-D; with update, as an array that can be written in place."""
    if update:
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{name} must be a numpy array to be updated in place; got {type(a).__name__}")
        if a.dtype not in FLOAT_DTYPES:
            order = "" if a.dtype.isnative else " in this machine's byte order"
            raise TypeError(f"{name} must be float32 or float64{order} to be updated in place; got dtype {a.dtype}")
        if not a.flags.writeable:
            raise ValueError(f"{name} is read-only; it must be writeable to be updated in place")
    else:
        a = numeric_array(a, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D; got shape {a.shape}")
    return a


def _check_param_shapes(arrays):
    """ValueError unless the four 2-D arrays are W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h)
    and b2 (n_y, 1) with no size 0."""
    W1, b1, W2, b2 = arrays
    n_h, n_x = W1.shape
    n_y = W2.shape[0]
    if not (n_x and n_h and n_y):
        for size, name in ((n_x, "n_x (columns of params['W1'])"), (n_h, "n_h (rows of params['W1'])"),
                           (n_y, "n_y (rows of params['W2'])")):
            if size == 0:
                raise ValueError(f"{name} is 0; every layer needs at least one unit (W1 {W1.shape}, W2 {W2.shape})")
    if b1.shape == (n_h, 1) and W2.shape == (n_y, n_h) and b2.shape == (n_y, 1):
        return
    for k, a, shape in zip(PARAM_NAMES, arrays, ((n_h, n_x), (n_h, 1), (n_y, n_h), (n_y, 1))):
        if a.shape != shape:
            raise ValueError(
                f"params[{k!r}] has shape {a.shape}; expected {shape} given "
                f"W1 {W1.shape} and W2 {W2.shape} (W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1))"
            )


def _common_dtype(arrays):
    """The parameters' one float dtype (float64 if none is a float array); TypeError if
    two differ."""
    dtype = None
    for a in arrays:
        if a.dtype.kind == "f" and a.dtype != dtype:
            if dtype is not None:
                raise TypeError(
                    "params arrays must share one dtype; got "
                    + ", ".join(f"{k} {a.dtype}" for k, a in zip(PARAM_NAMES, arrays))
                )
            dtype = a.dtype
    return dtype or np.dtype(np.float64)


def check_separate(arrays):
    """ValueError naming the first two of `arrays` ({name: array}) that share memory.

    Arrays that are written in place must not overlap each other or what is read: with
    params["W2"] = params["W1"], writing W2 back would overwrite W1. may_share_memory
    compares bounds and is all that most pairs need; an exact check decides the rest
    (strided views that interleave without overlapping), and where it would be too slow,
    the overlap of bounds counts as sharing."""
    if _allocated_apart(arrays.values()):
        return
    named = [(k, a) for k, a in arrays.items() if isinstance(a, np.ndarray)]
    for i, (name_a, a) in enumerate(named):
        for name_b, b in named[i + 1 :]:
            if not np.may_share_memory(a, b):
                continue
            try:
                shared = np.shares_memory(a, b, max_work=10_000)
            except np.exceptions.TooHardError:
                shared = True
            if shared:
                raise ValueError(
                    f"{name_a} and {name_b} share memory; pass separate arrays (for example {name_b}.copy()), "
                    "since one is written while the other is used"
                )


def _allocated_apart(arrays):
    """True if the arrays (None aside) are distinct ndarrays that each own their data:
    allocated apart, they share no memory. That is the common case, and comparing every
    pair cost a tenth of a small step."""
    ids = []
    for a in arrays:
        if a is not None:
            if not (isinstance(a, np.ndarray) and a.flags.owndata):
                return False
            ids.append(id(a))
    return len(set(ids)) == len(ids)


# Features beyond this magnitude saturate every tanh or sigmoid unit at once, so the hidden
# layer's gradient is exactly zero and training silently learns nothing (or W1·X
# overflows). No standardised data comes near it.
MAX_FEATURE = 1e15


def is_sparse(X):
    """True for a SciPy sparse matrix or array (told by its module: SciPy is optional)."""
    return type(X).__module__.startswith("scipy.sparse")


def n_columns(X):
    """The examples in X as check_X returns it: a dense (n_x, m) array or the sparse tuple."""
    return X[2].shape[0] - 1 if isinstance(X, tuple) else X.shape[1]


def check_X(X, n_x, dtype, order="K"):
    """X as an array of `dtype`, (n_x, m), m >= 1, finite and at most MAX_FEATURE in magnitude.
    Layout is kept: C, F or strided views pass through without a copy when the dtype
    already matches; a cast to dtype is laid out in `order` (NumPy's: "K" keeps X's).

    A SciPy sparse X (any format) becomes the kernels' sparse tuple (data, indices,
    indptr) of its CSC form (kernels/columns.py), never a dense array: a CSC X, or the
    transpose of a CSR one, is used as it is when its dtype matches."""
    if type(X) is not np.ndarray or X.dtype != dtype:  # most calls pass X ready, and skip this
        if is_sparse(X):
            return _check_sparse_X(X, n_x, dtype)
        X = numeric_array(X, "X")
    _check_X_shape(X.shape, n_x)
    _check_X_values(X)  # before the cast: a float64 value beyond float32's range would become inf
    return X if X.dtype == dtype else X.astype(dtype, order=order)


def examples_contiguous(X):
    """X (n_x, m), as check_X returns it, for a caller that reads its examples in a
    shuffled order (mini-batches): with each example's features contiguous (F order).
    Read in place from C order, every feature of every example is a cache line of its own
    (d90c976 has the numbers). Copied, unless the copy would take more than half the
    memory available; a sparse X is returned as it is."""
    if isinstance(X, tuple) or X.flags.f_contiguous or memory_short_of(2 * X.nbytes) is not None:
        return X
    return np.asfortranarray(X)


def _check_X_shape(shape, n_x):
    if len(shape) != 2:
        raise ValueError(f"X must be 2-D with shape (n_x, m) = ({n_x}, m); got {len(shape)}-D shape {shape}")
    if shape[0] != n_x:
        raise ValueError(
            f"X has {shape[0]} rows (features) but params['W1'] expects n_x = {n_x}; "
            f"X must be (n_x, m) with one example per column, got shape {shape}"
        )
    if shape[1] == 0:
        raise ValueError(f"X has no examples: shape {shape}; expected (n_x, m) with m >= 1")


def _check_X_values(values):
    """Finiteness and magnitude of X's values (a sparse X's stored ones)."""
    if values.size:
        _check_X_range(*value_bounds(values))


def _check_X_range(lo, hi):
    """The rules for X's values, given their (min, max) from value_bounds."""
    if -MAX_FEATURE <= lo and hi <= MAX_FEATURE:  # all of them met (a NaN fails both tests)
        return
    lo, hi = finite_bounds(lo, hi, "X")
    if max(-lo, hi) > MAX_FEATURE:
        raise ValueError(
            f"X has values up to {max(-lo, hi):.3g} in magnitude (at most {MAX_FEATURE:g} is accepted): "
            "every hidden unit would saturate and learn nothing; standardise X (subtract each "
            "feature's mean, divide by its standard deviation)"
        )


def _check_sparse_X(X, n_x, dtype):
    _check_X_shape(X.shape, n_x)
    if X.dtype.kind not in "biuf" or (X.dtype.kind == "f" and X.dtype not in FLOAT_DTYPES):
        raise TypeError(f"X must hold float32 or float64 (or bool/int) values; got dtype {X.dtype}")
    X = X.tocsc()  # no copy when it is CSC already
    _check_X_values(X.data)  # before the cast, as check_X
    data = X.data if X.data.dtype == dtype else X.data.astype(dtype)
    # One index type for the kernels (each type compiles its own): int32 while it can
    # count every stored value, as SciPy's own choice.
    index = np.int32 if max(X.nnz, X.shape[0]) < 2**31 else np.int64
    return data, X.indices.astype(index, copy=False), X.indptr.astype(index, copy=False)


# The outputs whose targets are values rather than labels in [0, 1].
VALUE_OUTPUTS = frozenset((Output.IDENTITY, Output.EXP))

# How far a softmax target's column sum may be from 1 (one-hot targets sum exactly).
SUM_TOLERANCE = 1e-4


def check_Y(Y, n_y, m, dtype, output=Output.SIGMOID, shape_of=None):
    """Y as a C-contiguous array of `dtype`, (n_y, m): labels in [0, 1] for the sigmoid and
    softmax outputs, each column summing to 1 for the softmax (its delta A - Y assumes
    it); any finite values for the identity output; counts >= 0 for the exp output.
    shape_of: the argument whose shape Y must match, for the message, if not the
    parameters and X."""
    Y = _Y_array(Y, n_y, m, dtype, shape_of)
    _check_Y_values(Y, *value_bounds(Y), dtype, output)
    return _kernel_copy(Y, dtype)


def Y_array(Y, n_y, m, dtype, shape_of=None):
    """check_Y without the test of Y's values, for a caller whose kernel tests them as it
    reads them (the course's compute_cost) and calls check_Y, to say what is wrong, only
    when that test fails."""
    return _kernel_copy(_Y_array(Y, n_y, m, dtype, shape_of), dtype)


def _Y_array(Y, n_y, m, dtype, shape_of):
    """Y as a numeric array of shape (n_y, m), labels of a bool or integer dtype converted
    to `dtype` (exact there)."""
    Y = numeric_array(Y, "Y")
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-D with shape (n_y, m) = ({n_y}, {m}); got {Y.ndim}-D shape {Y.shape}")
    if Y.shape != (n_y, m):
        source = (f"{shape_of}'s shape" if shape_of else
                  f"params['W2'] (n_y = {n_y}) and X (m = {m})")
        raise ValueError(f"Y has shape {Y.shape}; expected (n_y, m) = ({n_y}, {m}) from {source}")
    if Y.dtype.kind != "f":  # labels as bool or int: exact in dtype, and then a compiled scan
        Y = np.ascontiguousarray(Y, dtype=dtype)
    return Y


def _check_Y_values(Y, lo, hi, dtype, output):
    """The rules for Y's values under `output`, given their (min, max) from value_bounds."""
    if 0 <= lo and hi <= 1 and output == _SIGMOID:  # all of them met (a NaN fails both tests)
        return
    lo, hi = finite_bounds(lo, hi, "Y")
    if output in VALUE_OUTPUTS:  # any finite values the dtype holds (counts >= 0 for EXP)
        if output == Output.EXP and lo < 0:
            raise ValueError(f"Y must be >= 0 for output='exp' (the Poisson loss); got values down to {lo}")
        biggest = max(-lo, hi)
        if biggest > FLOAT_MAX[dtype]:
            raise ValueError(f"Y holds values up to {biggest:g} in magnitude, beyond {np.dtype(dtype).name}'s range")
        return
    if lo < 0 or hi > 1:  # labels, which every float dtype holds
        raise ValueError(f"Y must hold labels in [0, 1]; got values from {lo} to {hi}")
    if output == Output.SOFTMAX:
        sums = Y.sum(axis=0, dtype=np.float64)  # (m,)
        worst = int(np.argmax(np.abs(sums - 1)))
        if abs(sums[worst] - 1) > SUM_TOLERANCE:
            raise ValueError(
                f"Y's columns must each sum to 1 for output='softmax' (one-hot or class "
                f"probabilities); column {worst} sums to {sums[worst]}"
            )


def checked_data(params, X, Y, output, *, update=False, dtype=None):
    """checked_params, output_code, check_X and (unless Y is None) check_Y, in that order,
    in one: (dtype, arrays, work, out, X, Y), out the output layer's code. dtype: what the
    call computes in (work, X and Y come in it), the parameters' own if None; the course's
    functions compute in float64 whatever theirs.

    Most calls pass the parameters in kernel form (kernel_form), X as an array of their
    dtype and Y as one too or as integer labels. Then one compiled call
    (kernels/checks.scan_problem) checks every shape and scans every value, and only the
    rules on its results run here. Anything else, or shapes that do not fit, takes the
    checks one by one, which say what is wrong."""
    scan = _scan(params, X, Y, dtype)
    if scan is None:
        dtype, arrays, work = checked_params(params, update=update, inputs={"X": X, "Y": Y}, dtype=dtype)
        W1, _, W2, _ = arrays
        out = output_code(output, W2.shape[0])
        X = check_X(X, W1.shape[1], dtype)
        if Y is not None:
            Y = check_Y(Y, W2.shape[0], n_columns(X), dtype, out)
        return dtype, arrays, work, out, X, Y
    arrays, targets, (verdict, x_range, y_range, apart) = scan
    if verdict >= 0:
        raise ValueError(f"{PARAM_LABELS[verdict]} contains NaN or inf")
    # What the kernels read and write must not overlap (check_separate). The scan saw the
    # targets they read: labels were converted into a new array, their own read done.
    if update and not apart:
        check_separate(dict(zip(PARAM_LABELS, arrays)) | {"X": X, "Y": Y})
    dtype = arrays[0].dtype
    out = output_code(output, arrays[2].shape[0])
    _check_X_range(*x_range)
    if Y is not None:
        _check_Y_values(targets, *y_range, dtype, out)
        Y = targets
    return dtype, arrays, arrays, out, X, Y


def _scan(params, X, Y, dtype=None):
    """(arrays, Y in params' dtype, scan_problem's result) for checked_data's common case
    (params of `dtype` if given), else None."""
    if type(params) is not dict or type(X) is not np.ndarray or X.ndim != 2:
        return None
    arrays = (params.get("W1"), params.get("b1"), params.get("W2"), params.get("b2"))
    own = kernel_form(arrays)
    if own is None or X.dtype != own or (dtype is not None and dtype != own):
        return None
    dtype = own
    if Y is None:
        targets = NOTHING[dtype]  # scan_problem skips a Y without values
    elif type(Y) is not np.ndarray or Y.ndim != 2 or Y.size == 0:
        return None
    elif Y.dtype == dtype:
        targets = Y
    elif Y.dtype.kind in "biu":  # labels: exact in dtype, as check_Y converts them
        targets = np.ascontiguousarray(Y, dtype=dtype)
    else:
        return None
    verdict = call(scan_problem, (arrays, X, targets))
    return None if verdict[0] == SHAPES_DIFFER else (arrays, targets, verdict)


def required_targets(Y):
    """Y, for a call that needs targets (a cost, gradients, training): None, which
    checked_data takes for "no targets" (a forward pass), is refused here."""
    if Y is None:
        raise TypeError("Y must be the targets, an array of shape (n_y, m); got None")
    return Y


def check_weights(weights, m, dtype, name="sample_weight"):
    """The examples' weights as a C-contiguous (m,) array of `dtype`: one finite weight >= 0
    per example, not all zero (each weight multiplies its example's loss and gradient, and
    their sum divides the totals). None passes through."""
    if weights is None:
        return None
    w = numeric_array(weights, name)
    if w.ndim == 0:  # a number: every example weighs the same
        w = np.full(m, w, dtype=dtype)
    if w.ndim != 1 or w.shape[0] != m:
        raise ValueError(f"{name} must have shape ({m},), one weight per example; got shape {w.shape}")
    lo, hi = finite_range(w, name)
    if lo < 0:
        raise ValueError(f"{name} must be >= 0; got values down to {lo}")
    if hi == 0:
        raise ValueError(f"{name} is all zero: at least one example must have a positive weight")
    if float(hi) > FLOAT_MAX[dtype] / m:
        raise ValueError(f"{name} holds values up to {hi:g}: their sum would overflow {np.dtype(dtype).name}")
    return _kernel_copy(w, dtype)


def available_memory():
    """Bytes the kernel says can be allocated without swapping (Linux), or None if unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# Scratch below this many bytes is not checked against the free memory: reading
# /proc/meminfo was a large part of a small call's cost, and so little memory cannot be
# what a machine lacks.
UNCHECKED_SCRATCH = 64 * 2**20


def memory_short_of(n_bytes):
    """The bytes available, if n_bytes exceed them; else None, as when the free memory is
    unknown or n_bytes are below UNCHECKED_SCRATCH (reading it is spared then)."""
    if n_bytes < UNCHECKED_SCRATCH:
        return None
    free = available_memory()
    return free if free is not None and n_bytes > free else None


def check_available(n_bytes, explain, *args):
    """MemoryError before allocating n_bytes, if more than the machine has available (an
    allocation within the kernel's overcommit but beyond the memory is not refused: the
    process is killed when it touches the pages). explain(*args) gives (what, purpose,
    advice) for the message "{what} needs about N GiB {purpose} but only M GiB is
    available: {advice}"; it is called only then, so that a call that fits forms no words."""
    free = memory_short_of(n_bytes)
    if free is not None:
        what, purpose, advice = explain(*args)
        raise MemoryError(
            f"{what} needs about {n_bytes / 2**30:.2f} GiB {purpose} but only {free / 2**30:.2f} GiB is "
            f"available: {advice}"
        )
