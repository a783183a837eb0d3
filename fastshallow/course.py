"""A drop-in, compiled backend for the classic "Planar data classification with one hidden
layer" assignment.

    from fastshallow import course as nn

Every graded function keeps its name, argument order and defaults, and returns the same
types (NumPy arrays, Python floats), so code written against the assignment runs
unchanged. Array work runs on fastshallow's compiled kernels, and nn_model runs its whole
loop in compiled code. The hidden layer is tanh, as in the assignment.

Inputs may be lists or arrays; Y may be bool, uint8 or float. Bad input raises the same
ValueError / TypeError as the core API.
"""

import numpy as np

from . import engine
from .validation import (
    GRAD_NAMES,
    PARAM_LABELS,
    PARAM_NAMES,
    as_array,
    check_all_finite,
    check_X,
    check_Y,
    checked_data,
    checked_params,
    finite_real,
    iteration_count,
    kernel_form,
    layer_size,
    named_arrays,
    numeric_array,
    positive_int,
    required_targets,
    value_bounds,
    Y_array,
)

__all__ = [
    "layer_sizes",
    "initialize_parameters",
    "forward_propagation",
    "compute_cost",
    "backward_propagation",
    "update_parameters",
    "nn_model",
    "predict",
]

_F64 = np.dtype(np.float64)
_GRAD_LABELS = tuple(f"grads[{k!r}]" for k in GRAD_NAMES)


def _as_2d(value, name):
    a = as_array(value, name)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, m); got shape {a.shape}")
    return a


def layer_sizes(X, Y):
    """(n_x, n_h, n_y) = (rows of X, 4, rows of Y)."""
    X, Y = _as_2d(X, "X"), _as_2d(Y, "Y")
    return X.shape[0], 4, Y.shape[0]


def initialize_parameters(n_x, n_h, n_y, seed=2):
    """W1 = randn(n_h, n_x)·0.01 then W2 = randn(n_y, n_h)·0.01 from NumPy's legacy global
    generator; b1, b2 zeros.

    seed=2 reseeds the global generator first, as the classic assignment does; seed=None
    draws from its current state, as the newer version does (after nn_model's seed 3).
    """
    n_x, n_h, n_y = (layer_size(v, k) for v, k in ((n_x, "n_x"), (n_h, "n_h"), (n_y, "n_y")))
    engine.check_network_memory(n_x, n_h, n_y, 16)  # each weight drawn, then scaled: two float64 arrays
    if seed is not None:
        np.random.seed(seed)
    W1 = np.random.randn(n_h, n_x) * 0.01
    W2 = np.random.randn(n_y, n_h) * 0.01
    return {"W1": W1, "b1": np.zeros((n_h, 1)), "W2": W2, "b2": np.zeros((n_y, 1))}


def _network(parameters, X, Y=None):
    """The validated parameters as the kernels' float64 tuple, and X and Y (or None) as
    C-contiguous float64 arrays, for the whole-matrix kernels."""
    _, _, work, _, X, Y = checked_data(parameters, X, Y, "sigmoid", dtype=_F64)
    return work, np.ascontiguousarray(X), None if Y is None else np.ascontiguousarray(Y)


def forward_propagation(X, parameters):
    """(A2, cache): A2 (n_y, m) and cache with Z1, A1 (n_h, m), Z2, A2 (n_y, m)."""
    work, X, _ = _network(parameters, X)
    Z1, A1, Z2, A2 = engine.layers(work, X, engine.Activation.TANH)
    return A2, {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def compute_cost(A2, Y, parameters=None):
    """Cross-entropy cost of A2 against Y, averaged over the m examples, as a Python float.

    `parameters` is accepted and ignored, as older versions of the assignment pass it."""
    A2 = _as_2d(A2, "A2")
    if A2.dtype.kind not in "biuf" or A2.size == 0:
        raise (TypeError if A2.dtype.kind not in "biuf" else ValueError)(
            f"A2 must be a non-empty array of probabilities; got dtype {A2.dtype}, shape {A2.shape}"
        )
    A2 = np.ascontiguousarray(A2, dtype=_F64)
    Y = Y_array(required_targets(Y), A2.shape[0], A2.shape[1], _F64, shape_of="A2")
    cost, in_range = engine.cross_entropy(A2, Y)
    if not in_range:  # one compiled call tested both; now say which, A2 first
        lo, hi = value_bounds(A2)
        if not (0 <= lo and hi <= 1):  # NaN fails both
            raise ValueError(f"A2 must hold probabilities in [0, 1]; got values from {lo} to {hi}")
        check_Y(Y, A2.shape[0], A2.shape[1], _F64, shape_of="A2")
    return cost


def backward_propagation(parameters, cache, X, Y):
    """grads with dW1 (n_h, n_x), db1 (n_h, 1), dW2 (n_y, n_h), db2 (n_y, 1)."""
    work, X, Y = _network(parameters, X, required_targets(Y))
    n_h, n_y, m = work[0].shape[0], work[2].shape[0], X.shape[1]
    A1 = _cached(cache, "A1", (n_h, m))
    A2 = _cached(cache, "A2", (n_y, m))
    grads = engine.layers_backward(work, A1, A2, X, Y, engine.Activation.TANH)
    return dict(zip(GRAD_NAMES, grads))


def _cached(cache, key, shape):
    if not hasattr(cache, "keys") or key not in cache:
        raise ValueError(f"cache must be the dict forward_propagation returned, with {key!r}; got {type(cache).__name__}")
    a = np.ascontiguousarray(numeric_array(cache[key], f"cache[{key!r}]"), dtype=_F64)
    if a.shape != shape:
        raise ValueError(f"cache[{key!r}] has shape {a.shape}; expected {shape} for these parameters and X")
    return a


def update_parameters(parameters, grads, learning_rate=1.2):
    """A new params dict, P - learning_rate·dP for each parameter; the inputs are not changed."""
    learning_rate = finite_real(learning_rate, "learning_rate", positive=True)
    # float64 whatever the parameters' dtype; their NaN and inf are looked for below.
    work = checked_params(parameters, dtype=_F64, finite=False)[2]
    gradients = _gradient_arrays(grads, work)
    new, finite = engine.gradient_step(work, gradients, learning_rate)
    # A NaN or inf in a parameter or a gradient shows in the result, so only then are
    # they scanned, parameters first, to name it. Finite ones that overflow return inf, as
    # NumPy's would.
    if not finite:
        check_all_finite(work, PARAM_LABELS)
        check_all_finite(gradients, _GRAD_LABELS)
    return dict(zip(PARAM_NAMES, new))


def _gradient_arrays(grads, work):
    """grads' four arrays as C-contiguous float64 arrays in the shapes of the parameters
    `work`: the caller's own where they already are (backward_propagation's are)."""
    gradients = named_arrays(grads, GRAD_NAMES, "grads")
    form = kernel_form(gradients)  # None or a dtype; and None == dtype("float64") in NumPy
    g1, g2, g3, g4 = gradients
    w1, w2, w3, w4 = work
    # Compared one by one: a generator over the pairs cost more than the rest of the test.
    if (form is not None and form == _F64 and g1.shape == w1.shape and g2.shape == w2.shape
            and g3.shape == w3.shape and g4.shape == w4.shape):
        return gradients
    converted = []
    # The labels made once (_GRAD_LABELS), not formed on every call (f725b4b).
    for k, g, g_label, a in zip(PARAM_NAMES, gradients, _GRAD_LABELS, work):
        g = np.ascontiguousarray(numeric_array(g, g_label), dtype=_F64)
        if g.shape != a.shape:
            raise ValueError(f"{g_label} has shape {g.shape}; expected {a.shape} to match parameters['{k}']")
        converted.append(g)
    return tuple(converted)


def nn_model(X, Y, n_h, num_iterations=10000, print_cost=False):
    """Train the assignment's network (tanh, learning rate 1.2) and return its parameters.

    Seeds the legacy generator with 3 and calls initialize_parameters (which, by default,
    reseeds with 2, as the classic version does). The loop runs in compiled code; with
    print_cost, "Cost after iteration i: c" is printed every 1000 iterations, c being the
    cost before that iteration's update.
    """
    from . import train  # the package's train(); imported here as the package imports last

    X = check_X(X, _as_2d(X, "X").shape[0], _F64)
    n_x, _, n_y = layer_sizes(X, Y)
    num_iterations = iteration_count(num_iterations)
    np.random.seed(3)
    parameters = initialize_parameters(n_x, positive_int(n_h, "n_h"), n_y)
    costs = train(parameters, X, Y, learning_rate=1.2, num_iterations=num_iterations)
    if print_cost:
        for i in range(0, num_iterations, 1000):
            print("Cost after iteration %i: %f" % (i, costs[i]))
    return parameters


def predict(parameters, X):
    """Boolean predictions A2 > 0.5, shape (n_y, m) ((1, m) in the assignment), as the
    assignment returns them: True/False count as 1/0 in arithmetic."""
    A2, _ = forward_propagation(X, parameters)
    return A2 > 0.5
