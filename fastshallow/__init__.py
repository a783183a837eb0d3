"""fastshallow: train a one-hidden-layer network as fast as a CPU allows.

Layout is column-per-example: X is (n_x, m), Y is (n_y, m). Parameters are a dict with
W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1), as in the classic NumPy course code.

    Z1 = W1·X + b1,  A1 = g(Z1)        g = tanh (default), sigmoid, relu or identity
    Z2 = W2·A1 + b2, A2 = sigmoid(Z2)  binary cross-entropy, summed over outputs
                  or A2 = softmax(Z2)  categorical cross-entropy (output="softmax")

Computation runs in the params' dtype (float32 or float64). X and Y of another dtype are
converted once per call; X of the same dtype is used as it is, in any memory layout.
Every function validates its input before entering compiled code; see README.md.
"""

import numpy as np

from . import datasets, engine, reference
from .threads import deferred_interrupt, max_threads, no_hold, select_threading_layer
from .validation import GRAD_NAMES, finite_real, float_dtype, iteration_count, layer_size, n_columns, required_targets
from ._version import __version__
from .errors import DivergenceError, iterations_diverged

select_threading_layer()  # before anything launches a parallel kernel; see threads.py

# fs.train holds Ctrl-C back over its kernel and copy-back only from this many multiply-adds
# (iterations · n_h·(n_x + n_y)·m): about a millisecond of work, which a user can wait for.
INTERRUPTIBLE_WORK = 2**22
# predict's results, bools viewed as their 0s and 1s: a view given the dtype object, not
# np.uint8, skips the lookup of its descriptor (a tenth of a microsecond of a 10 µs call).
_LABELS = np.dtype(np.uint8)

__all__ = [
    "DivergenceError",
    "ShallowNetClassifier",
    "ShallowNetRegressor",
    "plot_costs",
    "plot_decision_boundary",
    "__version__",
    "cost",
    "datasets",
    "forward",
    "gradients",
    "init_params",
    "load_model",
    "save_model",
    "max_threads",
    "predict",
    "reference",
    "step",
    "train",
]


def save_model(path, model, *, overwrite=False, **details):
    """Write a model file atomically (see fastshallow.model_file).

    model is a model_file.Model, or a params dict with details such as activation=,
    classes=, feature_names=, target_name=, mean= and scale=. An existing file is replaced
    only with overwrite=True."""
    from .model_file import Model
    from .model_file import save_model as save

    if not isinstance(model, Model):
        model = Model(params=model, **details)
    elif details:
        raise TypeError("pass details only with a params dict, not with a Model")
    return save(path, model, overwrite=overwrite)


def load_model(path):
    """Read and check a model file; returns a model_file.Model (params, activation, ...)."""
    from .model_file import load_model as load

    return load(path)


def plot_decision_boundary(predict_fn, X, Y, ax=None):
    """Shade the plane by predict_fn's class; see fastshallow.plotting (needs matplotlib)."""
    from .plotting import plot_decision_boundary as plot

    return plot(predict_fn, X, Y, ax=ax)


def plot_costs(costs, ax=None):
    """The cost curve on a log scale; see fastshallow.plotting (needs matplotlib)."""
    from .plotting import plot_costs as plot

    return plot(costs, ax=ax)


def init_params(n_x, n_h, n_y, *, seed=None, scale=0.01, dtype=np.float64):
    """A new params dict: W1, W2 standard normal × scale, b1, b2 zeros.

    seed: None, an int, a numpy.random.Generator or a legacy numpy.random.RandomState.
    W1 is drawn before W2. The draws are made in float64 and then cast, so the same seed
    gives the same network, rounded, in float32.
    """
    n_x, n_h, n_y = (layer_size(v, k) for v, k in ((n_x, "n_x"), (n_h, "n_h"), (n_y, "n_y")))
    scale = finite_real(scale, "scale")
    dt = float_dtype(dtype)
    engine.check_network_memory(n_x, n_h, n_y, 8 + dt.itemsize)  # the float64 draws, then the params in dt
    rng = seed if isinstance(seed, (np.random.Generator, np.random.RandomState)) else None
    if rng is None:
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(
                f"seed must be None, an int, a numpy Generator or RandomState; got {type(seed).__name__}"
            )
        if seed is not None and seed < 0:
            raise ValueError(f"seed must be a non-negative integer; got {seed}")
        rng = np.random.default_rng(seed)
    W1 = rng.standard_normal((n_h, n_x))
    W1 *= scale  # in place: one float64 array at a time
    W2 = rng.standard_normal((n_y, n_h))
    W2 *= scale
    return {
        "W1": W1.astype(dt, copy=False),
        "b1": np.zeros((n_h, 1), dt),
        "W2": W2.astype(dt, copy=False),
        "b2": np.zeros((n_y, 1), dt),
    }


def __getattr__(name):
    # The estimator needs scikit-learn, an optional extra: imported on first use only.
    if name in ("ShallowNetClassifier", "ShallowNetRegressor"):
        from . import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'fastshallow' has no attribute {name!r}")


def forward(params, X, *, activation="tanh", output="sigmoid", n_threads=None):
    """The network's output A2 = sigmoid(Z2) (or softmax(Z2), each column), shape (n_y, m),
    in the params' dtype."""
    p = engine.prepare(params, X, activation=activation, output=output)
    return engine.outputs(p.work, p.X, activation=p.activation, output=p.output, the_plan=p.plan, n_threads=n_threads)


def predict(params, X, threshold=0.5, *, activation="tanh", output="sigmoid", n_threads=None):
    """Predictions, shape (n_y, m). Sigmoid output: 1 where A2 > threshold (uint8).
    Softmax output: one-hot, 1 at each column's most probable row (uint8; threshold
    unused). Identity and exp outputs (regression): A2 itself, the predicted values."""
    threshold = finite_real(threshold, "threshold", low=0.0, high=1.0)
    A2 = forward(params, X, activation=activation, output=output, n_threads=n_threads)
    if output in ("identity", "exp"):
        return A2
    # A bool array viewed as uint8 is its 0s and 1s, without a copy.
    if output == "softmax":
        return (np.arange(A2.shape[0])[:, None] == A2.argmax(axis=0)).view(_LABELS)
    return (A2 > threshold).view(_LABELS)


def cost(params, X, Y, *, activation="tanh", output="sigmoid", n_threads=None):
    """The output's loss averaged over the m examples: binary cross-entropy summed over the
    n_y outputs, categorical cross-entropy for output="softmax", the squared error halved
    and averaged over the outputs for "identity", the Poisson loss for "exp".

    Computed from the logits Z2, so it stays finite when A2 rounds to 0 or 1."""
    p = engine.prepare(params, X, required_targets(Y), activation=activation, output=output)
    return engine.mean_loss(p.work, p.X, p.Y, activation=p.activation, output=p.output, the_plan=p.plan,
                            n_threads=n_threads)


def gradients(params, X, Y, *, activation="tanh", output="sigmoid", n_threads=None, sample_weight=None):
    """(cost, grads): grads has dW1, db1, dW2, db2, each the shape and dtype of its parameter.

    sample_weight: None, or one weight >= 0 per example (m,): each example's loss and
    gradient count that many times, and the means are over the weights' sum, so integer
    weights give what repeating the columns would."""
    p = engine.prepare(params, X, required_targets(Y), activation=activation, output=output, weights=sample_weight)
    J, grads = engine.gradients(p.work, p.X, p.Y, activation=p.activation, output=p.output, the_plan=p.plan,
                                n_threads=n_threads, weights=p.weights)
    return J, dict(zip(GRAD_NAMES, grads))


def train(
    params,
    X,
    Y,
    *,
    learning_rate=1.2,
    num_iterations=10000,
    activation="tanh",
    output="sigmoid",
    n_threads=None,
    sample_weight=None,
):
    """Gradient descent for num_iterations iterations, updating params in place.
    sample_weight: as gradients'.

    Returns a float64 array with the cost at every iteration, each taken before that
    iteration's update. The whole loop runs in compiled code (engine.descend), on the
    calling thread for n_threads=1, a problem too small to share, or, with n_threads=None,
    a parallel kernel that has not yet paid for its compile (README, Threads and dtype);
    both paths give identical bits.

    If an iteration's cost or update is not finite, training stops, params keep the last
    state whose parameters and cost were both finite, and DivergenceError says where.

    A Ctrl-C cannot stop compiled code; one that arrives meanwhile is raised when the call
    has finished and params hold its result (never a half-copied state), as a
    KeyboardInterrupt whose ``costs`` attribute has the costs of every iteration run. A
    call too short to wait for (under INTERRUPTIBLE_WORK multiply-adds in all) does not
    hold Ctrl-C back: it is raised as soon as the kernel returns, with params holding
    either the state before the call or after it, whole (the copy-back is one compiled
    call), and no costs.
    """
    learning_rate = finite_real(learning_rate, "learning_rate", positive=True)
    num_iterations = iteration_count(num_iterations)
    # One iteration reads params until its update, which descend's kernel writes to its
    # spare buffer and copies back whole: no private copy needed.
    p = engine.prepare(params, X, required_targets(Y), activation=activation, output=output, update=True,
                       costs=num_iterations, weights=sample_weight, private=num_iterations > 1)
    costs = np.empty(num_iterations)
    if num_iterations == 0:
        return costs
    n_h, n_x = p.work[0].shape
    work = num_iterations * n_h * (n_x + p.work[2].shape[0]) * n_columns(p.X)
    # Swapping the SIGINT handler in and out was a large share of a short call.
    with deferred_interrupt() if work >= INTERRUPTIBLE_WORK else no_hold as ctrl_c:
        run = engine.descend(p.work, p.X, p.Y, costs, activation=p.activation, output=p.output,
                             rule=engine.gradient_descent(learning_rate), the_plan=p.plan, n_threads=n_threads,
                             weights=p.weights)
        engine.commit(p.arrays, p.work)

    def interrupt():
        # Every iteration ran and params hold the result; the caller still asked to stop.
        exc = KeyboardInterrupt(f"train interrupted; params hold the state after {run.done} iteration(s)")
        exc.costs = costs[: run.done].copy()
        return exc

    ctrl_c.deliver(interrupt)
    if run.status != engine.OK:
        raise iterations_diverged(run.done, run.status, costs, learning_rate)
    return costs


def step(params, X, Y, learning_rate, *, activation="tanh", output="sigmoid", n_threads=None, sample_weight=None):
    """One gradient-descent step, updating params in place; returns the cost before it."""
    costs = train(
        params,
        X,
        Y,
        learning_rate=learning_rate,
        num_iterations=1,
        activation=activation,
        output=output,
        n_threads=n_threads,
        sample_weight=sample_weight,
    )
    return float(costs[0])
