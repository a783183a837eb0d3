"""The engine: the one way from Python to the compiled kernels.

Every entry point (the functions of fastshallow, the course module, the estimators, the
CLI, Dask's chunk tasks, `fastshallow bench`) validates its own arguments, then calls here.
Outside this module and the package's core (validation, errors, reference), only the tests
and the asv kernel benchmarks import fastshallow.kernels, to check and time the kernels
themselves.

What it offers, each a thin call that picks the kernel, the plan and the threads:
- prepare(): check a network and its data once; a Problem holds the result;
- descend(): the compiled driver loop (kernels/descent.py) for any Rule: full-batch
  iterations (fs.train, course.nn_model, Dask's local steps) or epochs of mini-batches
  (the estimator, the CLI), with the divergence rollback;
- outputs(), mean_loss(), gradients(): one pass over the examples;
- update(), update_from_sums(): one update from gradients already formed (the course's
  update_parameters, Dask's client);
- layers(), layers_backward(), cross_entropy(): the network on whole matrices (course).

Where to add things: an optimiser is a kind in kernels/descent.py (update_block) and a
Rule constructor here; an activation or output layer is a row of kernels/codes.py.
"""

import functools
from typing import NamedTuple, Optional

import numpy as np

from .threads import max_threads, start_threading_layer, thread_count, using_threads
from .validation import NOTHING, activation_code, check_available, check_weights, checked_data, n_columns
from .kernels import descent as _descent
from .kernels import probe as _probe
from .kernels import step as _step
from .kernels import whole as _whole
from .kernels.codes import ACTIVATION_NAMES, OUTPUT_NAMES, Activation, Output, activation_name
from .kernels.config import call
from .kernels.numba_cache import holds_current_code
from .kernels.planning import PARALLEL_UPDATE_MIN, SERIAL_WORK, param_count
from .kernels.planning import plan as _plan

__all__ = [
    "ACTIVATION_NAMES", "OUTPUT_NAMES", "Activation", "Output", "activation_name",
    "OK", "COST_NOT_FINITE", "UPDATE_NOT_FINITE",
    "Problem", "Outcome", "Rule",
    "prepare", "plan", "check_memory", "check_network_memory", "param_count",
    "gradient_descent", "sgd", "adam", "no_state", "Plateau", "track",
    "descend", "commit", "lbfgs", "outputs", "mean_loss", "gradients", "gradient_step", "update_from_sums", "l2_penalty",
    "layers", "layers_backward", "cross_entropy", "fma_peak", "kernel_cache_folder", "training_kernels_cached",
]

OK, COST_NOT_FINITE, UPDATE_NOT_FINITE = _descent.OK, _descent.COST_NOT_FINITE, _descent.UPDATE_NOT_FINITE
Rule = _descent.Rule


class Problem(NamedTuple):
    """A network and its data, checked and ready for the kernels (prepare)."""

    dtype: np.dtype  # the params' float dtype: all arithmetic runs in it
    arrays: tuple  # the caller's (W1, b1, W2, b2), as passed
    work: tuple  # the kernels' (W1, b1, W2, b2): C-contiguous, in dtype
    X: object  # (n_x, m) in dtype, any layout, or the sparse tuple (kernels/columns.py)
    Y: Optional[np.ndarray]  # (n_y, m) in dtype, or None
    weights: Optional[np.ndarray]  # (m,) in dtype (validation.check_weights), or None
    activation: int  # the hidden activation's code (codes.Activation)
    output: int  # the output layer's code (codes.Output)
    plan: tuple  # (n_chunks, tile, n_slots, transposed): how a pass over the m examples is cut (plan)


class Outcome(NamedTuple):
    """What descend() did; params hold the last accepted state."""

    done: int  # steps completed
    status: int  # OK, or why step `done` stopped the loop (COST_NOT_FINITE, UPDATE_NOT_FINITE)


def plan(m, params, pool_size=None):
    """How a pass over m examples of the network whose (W1, b1, W2, b2) is params is cut:
    (n_chunks, tile, n_slots, transposed), from kernels.planning.plan."""
    W1, W2 = params[0], params[2]
    return _plan(m, W1.shape[1], W1.shape[0], W2.shape[0], W1.dtype.itemsize, pool_size or max_threads())


def prepare(params, X, Y=None, *, activation="tanh", output="sigmoid", update=False, costs=0, weights=None,
            private=True):
    """Validate a params dict, X and (optionally) Y and the examples' weights; return the
    Problem.

    With update=True the kernel-ready params are private copies, so the caller's arrays
    stay untouched until a result is copied back; private=False leaves them the caller's
    own where they need no conversion, for a caller that only reads them until it writes
    a whole result (one step of descend: its kernel's spare buffer, copied back). costs:
    how many float64 costs the call will record, counted in its memory check."""
    code = activation_code(activation)
    dtype, arrays, work, out, X, Y = checked_data(params, X, Y, output, update=update)
    W1, _, W2, _ = arrays
    n_h, n_x = W1.shape
    n_y = W2.shape[0]
    m = n_columns(X)
    weights = check_weights(weights, m, dtype)
    # The plan and the scratch it needs come from one cache; the memory check's words are
    # a module-level function and its arguments, made only if it fails (a10f3bd).
    the_plan, n_bytes = _layout(m, n_x, n_h, n_y, dtype, max_threads(), isinstance(X, tuple))
    check_available(n_bytes + 8 * costs, _scratch_words, n_x, n_h, n_y, m, dtype, costs)
    if update and private:  # after the memory check, which counts these copies
        work = tuple([np.array(w, order="C", copy=True) if w is a else w for w, a in zip(work, arrays)])
    return Problem(dtype, arrays, work, X, Y, weights, code, out, the_plan)


def check_memory(the_plan, n_x, n_h, n_y, m, dtype, costs=0, sparse=False):
    """Fail with MemoryError before allocating, if the call's scratch cannot fit: two sets of
    parameters (descend's params and spare; the gradients and a contiguous copy; the
    estimator's saved params and velocity), one gradient slab per chunk, the tile scratch
    of each slot, the (n_y, m) output, and `costs` float64 costs. A sparse X needs W1ᵀ and
    each slot's dW1ᵀ sums instead of the X tiles (kernels/sparse.py); where the plan keeps
    a dense X's dW1ᵀ sums, they take the place of the packed X tile (n_x·T values for n_h·T)."""
    check_available(_scratch_bytes(the_plan, n_x, n_h, n_y, m, dtype, sparse) + 8 * costs, _scratch_words,
                    n_x, n_h, n_y, m, dtype, costs)


@functools.lru_cache(maxsize=1024)  # pure functions of their arguments, asked on every call
def _layout(m, n_x, n_h, n_y, dtype, pool_size, sparse):
    """(the plan, the scratch bytes its call needs, not counting costs) for prepare."""
    the_plan = _plan(m, n_x, n_h, n_y, dtype.itemsize, pool_size)
    return the_plan, _scratch_bytes(the_plan, n_x, n_h, n_y, m, dtype, sparse)


def _scratch_bytes(the_plan, n_x, n_h, n_y, m, dtype, sparse):
    """The bytes of check_memory's scratch, not counting the costs."""
    n_chunks, tile, n_slots, transposed = the_plan
    if sparse:
        per_tile = (4 * n_h + 4 * n_y + 2) * tile + n_x * n_h
        shared = n_x * n_h
    else:
        packed = n_h if transposed else n_x
        per_tile, shared = (n_x + packed + 3 * n_h + 4 * n_y + 2) * tile + transposed * n_x * n_h, 0
    values = (2 + n_chunks) * param_count(n_x, n_h, n_y) + shared + n_slots * per_tile + n_y * m
    return values * dtype.itemsize


def _scratch_words(n_x, n_h, n_y, m, dtype, costs):
    """check_memory's words for check_available's message."""
    over = f" over {costs} iterations" if costs else ""
    return (f"a network of {n_x}-{n_h}-{n_y} on {m} examples in {dtype.name}{over}",
            "of working memory (parameter copies, gradient slabs, tile scratch and costs)",
            ("use float32, " if dtype == np.float64 else "")
            + "fewer hidden units or fewer examples per call, or free memory first")


def check_network_memory(n_x, n_h, n_y, value_bytes):
    """MemoryError before a network of n_x-n_h-n_y is made, if value_bytes bytes a
    parameter (what its maker holds at once: draws, copies) exceed the memory available."""
    check_available(param_count(n_x, n_h, n_y) * value_bytes, lambda: (
        f"a network of {n_x}-{n_h}-{n_y}", "to make its parameters", "use fewer hidden units, or free memory first"))


# -- rules: the optimisers of descend() --------------------------------------------------


@functools.lru_cache(maxsize=64)  # fs.step and the course's update ask on every call, mostly for one rate
def gradient_descent(learning_rate):
    """Plain gradient descent, P ← P − lr·g: fs.train's rule (sgd's without momentum or
    penalty, made directly)."""
    return Rule(_descent.SGD, float(learning_rate), 0.0, 0.0, 0.0, 0.0, 0.0, 0)


def sgd(learning_rate, momentum=0.0, nesterov=False, alpha=0.0):
    """Stochastic gradient descent with (Nesterov's) momentum and an L2 penalty alpha, as
    scikit-learn's MLP solver="sgd" (the equations are in kernels/descent.py)."""
    if momentum == 0:
        kind = _descent.SGD
    else:
        kind = _descent.NESTEROV if nesterov else _descent.MOMENTUM
    return Rule(kind, float(learning_rate), float(momentum), float(alpha), 0.0, 0.0, 0.0, 0)


def adam(learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8, alpha=0.0, t=0):
    """Adam with an L2 penalty alpha, as scikit-learn's MLP solver="adam"; t is how many
    updates it has made before (its bias correction counts them)."""
    return Rule(_descent.ADAM, float(learning_rate), 0.0, float(alpha), float(beta_1), float(beta_2),
                float(epsilon), int(t))


def _state(params, velocity, moments, rule):
    """(velocity, moments) for the kernels: each as given, or if None, zeros in params'
    shapes where the rule keeps that state (a first step's), else no_state(params). The
    kernels index a rule's state like the parameters, unchecked: a zero-size stand-in for
    state a rule keeps was read and written out of bounds."""
    if velocity is None:
        velocity = no_state(params) if rule.kind == _descent.SGD else tuple(np.zeros_like(a) for a in params)
    if moments is None:
        moments = tuple(np.zeros_like(a) for a in params) if rule.kind == _descent.ADAM else no_state(params)
    return velocity, moments


_NO_STATE = {dt: (empty,) * 4 for dt, empty in NOTHING.items()}  # see validation.NOTHING


def no_state(params):
    """The optimiser state of a rule that keeps none: zero-size arrays of params' dtype."""
    return _NO_STATE[params[0].dtype]


# -- the driver loop ---------------------------------------------------------------------


def commit(targets, sources):
    """Copy the four arrays sources into targets (the caller's params) in one compiled call,
    so that no signal can leave them half-copied; nothing to do when sources are targets
    (prepare's work where the caller's arrays serve the kernels as they are)."""
    if sources is not targets:
        _descent.copy_params(tuple(targets), tuple(sources))


def descend(params, X, Y, losses, *, activation, output, rule, the_plan, n_threads=None,
            order=None, batch=0, velocity=None, moments=None, weights=None):
    """Run len(losses) steps of `rule` (kernels/descent.py) on the C-contiguous params
    tuple, losses[k] getting step k's loss before its update; returns the Outcome, params
    holding the last accepted state (the kernel's spare buffer never leaves it).

    order None: every step is a full pass over X (n_x, m). Else an int64 array of columns:
    step k takes order[k·batch : (k+1)·batch], and the_plan must be made for `batch`
    examples. velocity, moments: the rule's state (velocity for MOMENTUM and NESTEROV,
    both for ADAM), updated in place; weights: None or the examples' weights (m,) in
    params' dtype (validation.check_weights), indexed like X's columns.
    Runs on the calling thread when n_threads is 1 or the steps are too small to share
    (_serial); the bits are the same either way."""
    velocity, moments = _state(params, velocity, moments, rule)
    m = n_columns(X) if order is None else min(batch, order.shape[0])
    done, status = _run(
        _descent.descend_serial, _descent.descend_parallel, n_threads, the_plan, params, m,
        params, velocity, moments, X, Y, _row(weights, params[0].dtype), order, batch, int(activation), int(output),
        tuple(rule), losses, the_plan, passes=losses.shape[0],
    )
    return Outcome(done, status)


def _row(weights, dtype):
    """The kernels' form of the examples' weights, in `dtype`: a (1, m) view of the (m,)
    array, or for None an array with no columns, which the kernels read as no weights (so
    weighted and unweighted calls share their compiled kernels)."""
    return NOTHING[dtype] if weights is None else weights.reshape(1, -1)


def _run(serial, parallel, n_threads, the_plan, params, m, *args, passes=1):
    """serial(*args) or parallel(*args), for `passes` steps or passes of m examples each:
    the serial kernel, with no thread setting to make (it starts no threads), where
    _serial says so, or where n_threads is None and the parallel one has neither compiled
    the signature args need nor yet paid for its compile (_parallel_pays); else the
    parallel one within using_threads(n_threads). A bad n_threads is an error either way."""
    n = thread_count(n_threads)
    n_h, n_x = params[0].shape
    work = n_h * (n_x + params[2].shape[0]) * m  # multiply-adds of one forward pass
    if not _serial(n, the_plan, params, m, work) and (
            n_threads is not None or _parallel_pays(parallel, args, work * passes)):
        with using_threads(n):
            return call(parallel, args)
    start_threading_layer()
    return call(serial, args)


def _serial(n_threads, the_plan, params, m, work):
    """True when a step or a pass of m examples (`work` multiply-adds, n_h·(n_x + n_y)·m)
    should run on the calling thread: one thread, or a pass under SERIAL_WORK multiply-adds
    (launching a parallel region costs more than such a step), or nothing to share (one
    chunk, and W1 too small for its update to be split: step.reduce_dW1_then), or one
    tile: its one chunk runs on one core whatever the update does, and W1 updated by two
    cores then crosses between them for the next tile (at 784-128-10 in batches of 32,
    0.87x as fast on 2 threads as on 1)."""
    if n_threads == 1 or work < SERIAL_WORK:
        return True
    n_chunks, tile, _, _ = the_plan
    return n_chunks == 1 and (params[0].size < PARALLEL_UPDATE_MIN or m <= tile)


# A parallel kernel takes longer to compile than its serial twin, and on a small problem
# the second core never wins that back: a first ShallowNetClassifier fit and predict on
# scikit-learn's digits compiled for 50.7 s, against 30.2 s on the serial kernels alone
# (the commit has the numbers). So, for n_threads=None, a signature the parallel kernel
# has neither compiled in this process nor in Numba's cache compiles only once a call's
# work, or the work of the calls it ran on one thread until then, reaches
# PARALLEL_COMPILE_WORK multiply-adds of forward passes, n_h·(n_x + n_y) per example and
# pass (2·10¹⁰ is some seconds of serial steps at mnist's size). Each signature counts
# apart: another dtype, a sparse X, or the loss where the outputs were compiled (they are
# specialisations of one kernel: step._evaluate) is another compile; X's layouts share
# one (config.entry). Either kernel gives the same bits. An explicit n_threads asks for
# the threads: the parallel kernel compiles at once.
PARALLEL_COMPILE_WORK = 2 * 10**10
_deferred_work = {}  # (parallel kernel, signature): the work its calls have run serially so far


def _parallel_pays(parallel, args, work):
    """True if a call of `work` multiply-adds (its forward passes') should run on the
    parallel kernel rather than on the calling thread, by the rule above: the signature
    args need is compiled in this process, or cached, or its compile now pays."""
    sig = parallel.signature(args)
    if parallel.compiled(sig):
        return True
    key = parallel, sig
    if key not in _deferred_work:  # its first call here: cached from an earlier process?
        _deferred_work[key] = 0
        if holds_current_code(parallel, sig.types):
            return True
    work += _deferred_work[key]
    if work >= PARALLEL_COMPILE_WORK:
        return True
    _deferred_work[key] = work
    return False


def lbfgs(params, X, Y, *, activation, output, the_plan, max_iter, max_fun, tol, alpha=0.0, weights=None,
          n_threads=None, callback=None):
    """L-BFGS-B (scipy.optimize.minimize, which needs SciPy: the sklearn extra) over the
    flat parameters, from params (a tuple, not changed). Each evaluation is one compiled
    pass (gradients() into views of one flat buffer) plus the L2 term alpha/(2b)·‖W‖², b the
    examples or their weights' sum, as scikit-learn's MLP. max_iter, max_fun and tol are
    scipy's maxiter, maxfun and gtol; callback, called after each iteration with scipy's
    OptimizeResult (its one parameter must be named intermediate_result, as scipy
    requires), may raise StopIteration to stop early. Returns (params, the scipy result): the parameters as a
    tuple of views of one flat buffer in params' dtype, holding result.x."""
    from scipy.optimize import minimize

    flat = np.concatenate([a.ravel() for a in params])
    grad_flat = np.empty_like(flat)
    views, grad_views, start = [], [], 0
    for a in params:
        views.append(flat[start : start + a.size].reshape(a.shape))
        grad_views.append(grad_flat[start : start + a.size].reshape(a.shape))
        start += a.size
    views, grad_views = tuple(views), tuple(grad_views)
    b = n_columns(X) if weights is None else float(weights.sum(dtype=np.float64))

    def loss_and_gradient(x):
        flat[...] = x  # into the views' buffer, in params' dtype
        cost, _ = gradients(views, X, Y, activation=activation, output=output, the_plan=the_plan,
                            n_threads=n_threads, into=grad_views, weights=weights)
        if alpha > 0:
            cost += l2_penalty(views, alpha, b)
            grad_views[0][...] += (alpha / b) * views[0]
            grad_views[2][...] += (alpha / b) * views[2]
        return cost, grad_flat.astype(np.float64, copy=False)

    result = minimize(loss_and_gradient, flat.astype(np.float64), method="L-BFGS-B", jac=True, callback=callback,
                      options={"maxfun": max_fun, "maxiter": max_iter, "gtol": tol})
    flat[...] = result.x
    return views, result


# -- early stopping ----------------------------------------------------------------------


class Plateau(NamedTuple):
    """Early stopping's record: the best value so far, and how many checks in a row have
    not improved on it by the tolerance."""

    best: float
    stalled: int


def track(record, value, tol, higher_is_better):
    """(the new record, True if value is the best so far) after one check of `value` (a
    validation score, or a loss). A check that does not beat the best by at least tol
    counts as stalled, as scikit-learn's MLPs count it; the best is any strict
    improvement. Stop once record.stalled exceeds the patience."""
    if higher_is_better:
        stalled = record.stalled + 1 if value < record.best + tol else 0
        improved = value > record.best
    else:
        stalled = record.stalled + 1 if value > record.best - tol else 0
        improved = value < record.best
    return Plateau(value if improved else record.best, stalled), improved


# -- one pass ----------------------------------------------------------------------------


def outputs(params, X, *, activation, output, the_plan, cols=None, n_threads=None):
    """The output layer `output` (codes.Output; IDENTITY gives the logits) on X's examples
    (cols: None for all, or int64 column indices); shape (n_y, m)."""
    n_y = params[2].shape[0]
    m = n_columns(X) if cols is None else cols.shape[0]
    A2 = np.empty((n_y, m), params[0].dtype)
    _run(_step.evaluate_serial, _step.evaluate, n_threads, the_plan, params, m,
         A2, params, X, None, cols, int(activation), int(output), the_plan)
    return A2


def mean_loss(params, X, Y, *, activation, output, the_plan, n_threads=None):
    """The loss of `output` against Y, averaged over the examples (a Python float)."""
    return float(_run(_step.evaluate_serial, _step.evaluate, n_threads, the_plan, params, Y.shape[1],
                      None, params, X, Y, None, int(activation), int(output), the_plan))


def gradients(params, X, Y, *, activation, output, the_plan, cols=None, n_threads=None, mean=True, into=None,
              weights=None):
    """(cost, grads): the mean cost and mean gradients (a tuple in params' shapes), or with
    mean=False the unnormalised sums over the examples (Dask's chunks). into: arrays to
    write the gradients to (views of one flat buffer, for L-BFGS), else new ones. weights:
    as descend's; the means are then over their sum."""
    grads = tuple(map(np.empty_like, params)) if into is None else into
    if mean:
        serial, parallel = _step.gradients_serial, _step.gradients
    else:
        serial, parallel = _step.gradient_sums_serial, _step.gradient_sums
    m = n_columns(X) if cols is None else cols.shape[0]
    cost = _run(serial, parallel, n_threads, the_plan, params, m,
                grads, params, X, Y, _row(weights, params[0].dtype), cols, int(activation), int(output), the_plan)
    return cost, grads


def gradient_step(params, grads, learning_rate):
    """(new params, True if all are finite): P − learning_rate·G for each parameter, into
    new arrays, on this thread; params and grads C-contiguous arrays of one dtype, in
    matching shapes. params are not changed."""
    new, ok = _descent.gradient_step(params, grads, learning_rate)
    return new, bool(ok)


def update_from_sums(params, sums, b, rule, velocity=None, moments=None):
    """The rule's (rule.t + 1)-th update of params, from the gradient's sums over b
    examples (which become their mean in place; b also scales the L2 penalty), on this
    thread: Dask's client, whose workers return sums. params are not changed, the state
    (velocity, moments) is. Returns (new params, True if all are finite)."""
    new = tuple(map(np.empty_like, params))
    ok = _descent.update_from_sums(new, params, *_state(params, velocity, moments, rule), sums, b, tuple(rule))
    return new, bool(ok)


def l2_penalty(params, alpha, b):
    """The L2 term of a b-example batch's loss, alpha/(2b)·(ΣW1² + ΣW2²), as descend adds it."""
    return float(_descent.l2_penalty(params[0], params[2], alpha, b))


# -- whole matrices (the course API) -----------------------------------------------------


def layers(params, X, activation):
    """(Z1, A1, Z2, A2) of a sigmoid-output network on C-contiguous X, as whole matrices."""
    n_h, n_y, m = params[0].shape[0], params[2].shape[0], X.shape[1]
    dt = params[0].dtype
    Z1, A1 = np.empty((n_h, m), dt), np.empty((n_h, m), dt)
    Z2, A2 = np.empty((n_y, m), dt), np.empty((n_y, m), dt)
    _whole.forward(Z1, A1, Z2, A2, params, X, int(activation))
    return Z1, A1, Z2, A2


def layers_backward(params, A1, A2, X, Y, activation):
    """The mean gradients (a tuple in params' shapes) from layers()' A1 and A2."""
    grads = tuple(map(np.empty_like, params))
    _whole.backward(grads, params, A1, A2, X, Y, int(activation))
    return grads


def cross_entropy(A2, Y):
    """(binary cross-entropy of probabilities A2 against Y (n_y, m), averaged over m;
    whether every value of both lies in [0, 1], without which the cost means nothing)."""
    cost, in_range = _whole.bce_from_probabilities(A2, Y)
    return float(cost), bool(in_range)


# -- the machine -------------------------------------------------------------------------


def fma_peak(out, rounds, s, t):
    """kernels.probe.fma_peak: independent vector FMAs on every thread (fastshallow bench)."""
    _probe.fma_peak(out, rounds, s, t)


def fma_flops(rounds, threads, dtype):
    """The floating-point operations of one fma_peak call."""
    return 2 * threads * rounds * _probe.ACCUMULATORS * _probe.lanes(dtype)


def training_kernels_cached():
    """True if Numba's cache holds a training driver compiled from the kernels' current
    sources, so that a first fs.train loads rather than compiles (the CLI's notice)."""
    return any(holds_current_code(k) for k in (_descent.descend_serial, _descent.descend_parallel))


def kernel_cache_folder():
    """The folder beside the kernels' sources where Numba caches them by default."""
    import os

    from . import kernels

    return os.path.join(os.path.dirname(kernels.__file__), "__pycache__")
