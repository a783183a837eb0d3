"""Gradient-based training in one compiled call: the update family and the driver loop.

Legend as in step.py. `params` is a tuple (W1, b1, W2, b2) of C-contiguous arrays of
the network's shapes, and so is each buffer of optimiser state (`velocity`:
zero-size arrays when the rule keeps none). `rule` holds the optimiser's kind and
hyperparameters in Rule's order; the kernels unpack it, and engine passes it as a plain
tuple, which Numba's dispatcher types 0.6 µs faster than the namedtuple.

The update family. With g the mean gradient of a step's b examples and decay = alpha/b
on the weights (0 on the biases), the L2 penalty's gradient (scikit-learn's MLP
equations, so that the two can be compared setting for setting):

    g'  = g + decay·P
    SGD       P ← P − lr·g'
    MOMENTUM  V ← μ·V − lr·g';  P ← P + V
    NESTEROV  V ← μ·V − lr·g';  P ← P + μ·V − lr·g'
    ADAM      V ← β1·V + (1 − β1)·g';  S ← β2·S + (1 − β2)·g'²;  P ← P − lr_t·V / (√S + ε)
              lr_t = lr·√(1 − β2^t) / (1 − β1^t) at the t-th update (t counts from 1)

V is `velocity` (Adam's first moment), S is `moments` (Adam's second moment, zero-size
for the other kinds). A new optimiser is one more kind: a branch of update_block, its
hyperparameters in Rule, its state beside these two.

The driver. Step k trains on the examples `step_columns(order, k, batch)` (weighted by SW,
a (1, m) row, or no columns for none; see step.py): every column of X when order is None
(full-batch gradient descent), else order[k·batch : (k+1)·batch], the last batch shorter
(an epoch of mini-batches). One plan (chunks, tile, slots), made for the widest step,
serves every step: a shorter batch leaves trailing chunks empty, and sums follow step.py's
fixed order, so the bits never depend on threads.

Divergence. The parameters alternate between two buffers, params and a spare one the
driver allocates: `cur`, the state a step starts from, and `prev`, the one before it. A
step's update is written into prev's buffer only after cur's loss has been checked, and
is accepted only if every new parameter is finite. So when step k fails, the last state
whose parameters and loss were both finite is still in memory:
- loss of step k not finite -> the state before the last update (prev), or the
  untouched input if no step has updated yet;
- update of step k not finite -> the state step k started from (cur).
Whichever buffer holds the state to keep, it is in params when the driver returns.
Optimiser state is updated in place and is not rolled back: callers that keep it (the
estimator) restore their own copy.
"""

from collections import namedtuple

import numpy as np
from numba import types
from numba.extending import overload

from .config import entry, jit, reduction_jit
from .activations import identity_forward
from .intrinsics import borrowed, keep_alive, wide_vectors
from .products import divide
from .step import (
    block,
    chunk_sums,
    flat,
    n_blocks,
    on_one_thread,
    pass_scratch,
    reduce_dW1_then,
    reduce_small_slabs,
    slab_gradients,
    total_weight,
)

# Optimiser kinds (Rule.kind).
SGD = 0
MOMENTUM = 1
NESTEROV = 2
ADAM = 3

# Outcomes of a call: every step done, or the step that stopped it and why.
OK = 0
COST_NOT_FINITE = 1
UPDATE_NOT_FINITE = 2

# kind: one of the kinds above; lr the step size; momentum μ (MOMENTUM, NESTEROV); alpha
# the L2 penalty's strength (0: none); beta_1, beta_2, epsilon and t, the updates Adam
# has made before this call. Floats are cast to the params' dtype inside the kernels.
Rule = namedtuple("Rule", ["kind", "lr", "momentum", "alpha", "beta_1", "beta_2", "epsilon", "t"])


@jit
def hyper(rule, dt, t):
    """The rule's step hyperparameters in the params' dtype dt, for its t-th update (t
    from 1): (lr, μ or β1, β2, ε); Adam's lr is bias-corrected in float64 first."""
    kind, lr, momentum, _, beta_1, beta_2, epsilon, _ = rule
    if kind == ADAM:
        lr_t = lr * np.sqrt(1.0 - beta_2**t) / (1.0 - beta_1**t)
        return dt(lr_t), dt(beta_1), dt(beta_2), dt(epsilon)
    return dt(lr), dt(momentum), dt(0), dt(0)


# The finiteness test below is an AND of comparisons, one test at the end instead of a
# branch per element. An AND reduction vectorises; a float sum (such as adding v·0, which
# inf and NaN turn into NaN) does not without "reassoc", and that would also free LLVM to
# reorder the update itself.


@jit
def update_block(N, P, V, S, G, kind, lr, h1, h2, h3, decay, q):
    """The rule's update of block q (step.block) of the flat (size,) arrays: new
    parameters into N from P and the mean gradient G, the state V (and S, for ADAM) in
    place. (lr, h1, h2, h3) = hyper(...) and decay, in P's dtype: h1 is the momentum, or
    Adam's β1 beside its β2 and ε. Scalars, not a tuple: a tuple cannot enter a prange
    region (step.reduce_dW1_then). N and P are distinct buffers (see step.workspace on
    aliasing). True if every new parameter is finite."""
    wide_vectors()
    n, p, g = block(N, q), block(P, q), block(G, q)
    inf = p.dtype.type(np.inf)
    momentum = h1
    finite = True
    if kind == ADAM:
        return adam_block(N, P, V, S, G, lr, h1, h2, h3, decay, q)
    if kind == SGD:
        for k in range(p.shape[0]):
            new = p[k] - lr * (g[k] + decay * p[k])
            n[k] = new
            finite &= abs(new) < inf  # False for inf and NaN
    else:
        v = block(V, q)
        nesterov = kind == NESTEROV
        for k in range(p.shape[0]):
            gk = g[k] + decay * p[k]
            vk = momentum * v[k] - lr * gk
            v[k] = vk
            new = p[k] + (momentum * vk - lr * gk if nesterov else vk)
            n[k] = new
            finite &= abs(new) < inf
    return finite


@jit
def adam_block(N, P, V, S, G, lr, b1, b2, eps, decay, q):
    """update_block's ADAM branch, a function of its own so that the common kinds'
    loops stay small. lr is the bias-corrected lr_t."""
    wide_vectors()
    n, p, g, v, s = block(N, q), block(P, q), block(G, q), block(V, q), block(S, q)
    one = p.dtype.type(1)
    inf = p.dtype.type(np.inf)
    finite = True
    for k in range(p.shape[0]):
        gk = g[k] + decay * p[k]
        vk = b1 * v[k] + (one - b1) * gk
        sk = b2 * s[k] + (one - b2) * (gk * gk)
        v[k] = vk
        s[k] = sk
        new = p[k] - lr * vk / (np.sqrt(sk) + eps)
        n[k] = new
        finite &= abs(new) < inf
    return finite


@jit
def update_array(N, P, V, S, G, kind, h, decay):
    """update_block over every block of the C-contiguous (r, k) arrays, on this thread;
    h = hyper(...)."""
    N, P, V, S, G = flat(N), flat(P), flat(V), flat(S), flat(G)
    finite = True
    for q in range(n_blocks(P.shape[0])):
        finite &= update_block(N, P, V, S, G, kind, h[0], h[1], h[2], h[3], decay, q)
    return finite


@jit
def update(new, params, velocity, moments, grads, rule, b):
    """The rule's next update (its rule.t + 1-th) of every parameter on this thread, from
    the mean gradients `grads` of b examples (b scales the L2 penalty). Tuples as in the
    legend. True if every new parameter is finite."""
    dt = params[0].dtype.type
    kind, _, _, alpha, _, _, _, t = rule
    h = hyper(rule, dt, t + 1)
    decay, zero = dt(alpha / b), dt(0)
    ok = update_array(new[0], params[0], velocity[0], moments[0], grads[0], kind, h, decay)
    ok &= update_array(new[1], params[1], velocity[1], moments[1], grads[1], kind, h, zero)
    ok &= update_array(new[2], params[2], velocity[2], moments[2], grads[2], kind, h, decay)
    ok &= update_array(new[3], params[3], velocity[3], moments[3], grads[3], kind, h, zero)
    return ok


@jit(python=True)
def gradient_step(params, grads, lr):
    """(new params, True if every one is finite): P − lr·G for each parameter, into new
    arrays, on this thread; `update` for an SGD rule with no penalty and no state. Three
    arguments rather than update's seven: for the course's update_parameters on the
    flower problem, the dispatch of update's twenty arrays cost more than the update (the
    commit has the numbers)."""
    none = np.empty((0, 0), params[0].dtype)
    no_state = (none, none, none, none)
    new = (np.empty_like(params[0]), np.empty_like(params[1]), np.empty_like(params[2]), np.empty_like(params[3]))
    ok = update(new, params, no_state, no_state, grads, (SGD, lr, 0.0, 0.0, 0.0, 0.0, 0.0, 0), 1)
    return new, ok


@jit(python=True)
def update_from_sums(new, params, velocity, moments, sums, b, rule):
    """update from the gradient's sums over b examples, which become their mean in place
    (as step.reduce_block forms means, so sums assembled elsewhere round the same): for
    fastshallow.distributed, whose workers return sums and whose client updates once."""
    for s in sums:
        divide(s, b)
    return update(new, params, velocity, moments, sums, rule, b)


@jit(python=True)
def copy_params(targets, sources):
    """targets[k] = sources[k] for the four arrays, in one compiled call: Python cannot
    deliver a signal between two of the copies, so the targets hold one whole state."""
    identity_forward(targets[0], sources[0])
    identity_forward(targets[1], sources[1])
    identity_forward(targets[2], sources[2])
    identity_forward(targets[3], sources[3])


@reduction_jit
def sum_of_squares(W):
    """Σ W², in float64 whatever W's dtype. Shapes: W (r, k), C-contiguous.

    A reduction (see config.REDUCTION_FASTMATH): summed in one strict order it could not
    use vector accumulators, and took a noticeable share of a small network's batch."""
    wide_vectors()
    w = flat(W)
    total = 0.0
    for k in range(w.shape[0]):
        total += np.float64(w[k]) * np.float64(w[k])
    return total


@jit(python=True)
def l2_penalty(W1, W2, alpha, b):
    """The L2 term of a batch of b examples' loss, alpha/(2b)·(ΣW1² + ΣW2²), in float64."""
    return 0.5 * alpha * (sum_of_squares(W1) + sum_of_squares(W2)) / b


def step_columns(order, k, batch):
    """The columns of step k: None (every example) when order is None, else its batch."""


def next_columns(order, k, batch):
    """The columns of step k + 1, for prefetching: None when order is None (every step
    reads all of X), else the next batch (empty after the last)."""


# Resolved when compiling, from order's type: full batch has no index arrays at all.
@overload(step_columns, inline="always")
def _step_columns(order, k, batch):
    if isinstance(order, types.NoneType):
        return lambda order, k, batch: None
    return lambda order, k, batch: order[k * batch : min((k + 1) * batch, order.shape[0])]


@overload(next_columns, inline="always")
def _next_columns(order, k, batch):
    if isinstance(order, types.NoneType):
        return lambda order, k, batch: None
    return lambda order, k, batch: order[min((k + 1) * batch, order.shape[0]) : min((k + 2) * batch, order.shape[0])]


@jit(inline="always")
def _descend(params, velocity, moments, X, Y, SW, order, batch, code, out, rule, losses, plan):
    """Run len(losses) steps; losses[k] gets step k's loss (the mean loss over its
    examples, plus the L2 term when rule.alpha > 0) before its update, which is the
    rule's (rule.t + k + 1)-th. With weights, means are over the batch's total weight b,
    which also scales the L2 term (alpha/b, as scikit-learn's); a batch whose weights are
    all zero has nothing to learn from: its loss is 0 and its step leaves every parameter
    and the optimiser's state as they are (it still counts in rule.t).

    Returns (steps completed, status), params holding the state to keep (the module's
    note on divergence): the steps alternate between params and a spare buffer allocated
    here, and a state left in the spare is copied back before the return, so the caller
    has one buffer to read and, when params are its own arrays, nothing to copy."""
    # Every array below is borrowed (intrinsics.borrowed): the arguments, held by the
    # caller for the whole call, and the scratch and spare, held until keep_alive.
    params, velocity, moments, X, Y, SW = borrowed(params, velocity, moments, X, Y, SW)
    own_spare = (np.empty_like(params[0]), np.empty_like(params[1]), np.empty_like(params[2]),
                 np.empty_like(params[3]))
    spare = borrowed(own_spare)
    W1 = params[0]
    dt = W1.dtype.type
    kind, _, _, alpha, _, _, _, t = rule
    zero = dt(0)
    scratch = pass_scratch(params, X, plan)
    ws, slabs = borrowed(scratch)
    grads = slab_gradients(slabs)  # where each pass leaves the mean gradients
    dW1, V1, S1 = flat(grads[0]), flat(velocity[0]), flat(moments[0])
    first_ok = np.empty(n_blocks(W1.size), np.bool_)  # block q of W1 stayed finite
    cur, prev = params, spare
    cur_is_params = True
    updated = False  # prev holds a state only once an update has been made
    done, status = losses.shape[0], OK
    for k in range(losses.shape[0]):
        cols = step_columns(order, k, batch)
        b = total_weight(SW, X, cols)
        if b == 0:
            losses[k] = 0.0
            continue
        loss = chunk_sums(cur, X, Y, SW, cols, code, out, ws, slabs, plan, next_columns(order, k, batch)) / b
        if alpha > 0:
            loss += l2_penalty(cur[0], cur[2], alpha, b)
        losses[k] = loss
        if not np.isfinite(loss):
            done, status = k, COST_NOT_FINITE
            if updated:  # the state to keep is prev's
                cur_is_params = not cur_is_params
            break
        h = hyper(rule, dt, t + k + 1)
        decay = dt(alpha / b)
        # The mean gradients (step.accumulate_gradients' reduction), each block of dW1
        # reduced in the loop that updates it: one parallel loop, not two.
        reduce_small_slabs(slabs, b)
        args = (flat(prev[0]), flat(cur[0]), V1, S1, dW1, kind, h[0], h[1], h[2], h[3], decay)
        reduce_dW1_then(slabs, b, first_ok, update_block, args)
        ok = first_ok.all()
        ok &= update_array(prev[1], cur[1], velocity[1], moments[1], grads[1], kind, h, zero)
        ok &= update_array(prev[2], cur[2], velocity[2], moments[2], grads[2], kind, h, decay)
        ok &= update_array(prev[3], cur[3], velocity[3], moments[3], grads[3], kind, h, zero)
        if not ok:
            done, status = k, UPDATE_NOT_FINITE  # the state to keep is cur's
            break
        cur, prev = prev, cur
        cur_is_params = not cur_is_params
        updated = True
    if not cur_is_params:
        copy_params(params, spare)
    keep_alive(scratch)
    keep_alive(own_spare)
    return done, status


# What the drivers only read, compiled once for any layout of X, Y and SW (config.entry).
descent_driver = entry("X Y SW order", any_layout="X Y SW")


@descent_driver
@jit(parallel=True)
def descend_parallel(params, velocity, moments, X, Y, SW, order, batch, code, out, rule, losses, plan):
    """_descend with its chunk and block loops spread over Numba's threads."""
    return _descend(params, velocity, moments, X, Y, SW, order, batch, code, out, rule, losses, plan)


@descent_driver
@jit
def descend_serial(params, velocity, moments, X, Y, SW, order, batch, code, out, rule, losses, plan):
    """_descend on the calling thread: the same arithmetic, with no parallel region to
    launch, which dominates a step of a tiny problem."""
    return _descend(params, velocity, moments, X, Y, SW, order, batch, code, out, rule, losses,
                    on_one_thread(plan))
