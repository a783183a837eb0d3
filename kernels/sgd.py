"""Mini-batch stochastic gradient descent with momentum and L2 regularisation: one epoch per
compiled call, for fastshallow.ShallowNetClassifier.

Legend as in step.py. `order` is an int64 array of example indices (columns of X and Y):
the epoch visits them in batches order[0:B], order[B:2B], ..., the last one shorter. For a
batch of b examples, with g the mean gradient of its loss (as step.accumulate_gradients):

    loss = mean loss + alpha/(2b)·(ΣW1² + ΣW2²)     the L2 penalty, on weights only
    gW   = g + (alpha/b)·W,   gb = g                 its gradient
    V    ← μ·V − lr·g                                velocity (momentum μ)
    P    ← P + V,  or  P + μ·V − lr·g                classical, or Nesterov's momentum

These are the equations of scikit-learn's MLPClassifier with solver="sgd", so that the two
can be compared setting for setting. With μ = 0 the update is P ← P − lr·g, rounded
exactly as train.py rounds it.

Determinism. One plan (chunks, tile, slots) serves every batch of the epoch: it is made
for the batch size B, which does not depend on threads, and the shorter last batch simply
leaves trailing chunks empty. Sums then follow step.py's fixed order.
"""

import numpy as np

from ._config import borrowed, jit, keep_alive, reduction_jit, wide_vectors
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
)
from .train import COST_NOT_FINITE, OK, UPDATE_NOT_FINITE


@reduction_jit
def sum_of_squares(W):
    """Σ W², in float64 whatever W's dtype. Shapes: W (r, k), C-contiguous.

    A reduction (see _config.REDUCTION_FASTMATH): summed in one strict order it could not
    use vector accumulators, and it took 5 µs of every 200-example batch of a 50-100-1
    network."""
    wide_vectors()
    w = flat(W)
    total = 0.0
    for k in range(w.shape[0]):
        total += np.float64(w[k]) * np.float64(w[k])
    return total


@jit
def sgd_block(P, V, G, lr, momentum, decay, nesterov, q):
    """The update above on block q (step.block) of the flat (size,) arrays P and V, in
    place, G the mean gradient and decay alpha/b (0 for biases). Returns True if every new
    parameter is finite. lr, momentum and decay are in P's dtype.
    """
    wide_vectors()
    p, v, g = block(P, q), block(V, q), block(G, q)
    inf = p.dtype.type(np.inf)
    finite = True  # an AND of comparisons, which vectorises; see train.py
    if momentum == 0:
        # The velocity stays 0; the update is the seed's P - lr·g.
        for k in range(p.shape[0]):
            new = p[k] - lr * (g[k] + decay * p[k])
            p[k] = new
            finite &= abs(new) < inf
    else:
        for k in range(p.shape[0]):
            gk = g[k] + decay * p[k]
            vk = momentum * v[k] - lr * gk
            v[k] = vk
            new = p[k] + (momentum * vk - lr * gk if nesterov else vk)
            p[k] = new
            finite &= abs(new) < inf
    return finite


@jit
def sgd(P, V, G, lr, momentum, decay, nesterov):
    """sgd_block over every block of the C-contiguous (r, k) arrays P, V and G, on this
    thread. Returns True if every new parameter is finite."""
    P, V, G = flat(P), flat(V), flat(G)
    ok = True
    for q in range(n_blocks(P.shape[0])):
        ok &= sgd_block(P, V, G, lr, momentum, decay, nesterov, q)
    return ok


@jit
def l2_penalty(W1, W2, alpha, b):
    """The L2 term of a batch of b examples' loss, alpha/(2b)·(ΣW1² + ΣW2²), in float64."""
    return 0.5 * alpha * (sum_of_squares(W1) + sum_of_squares(W2)) / b


@jit
def descend_array(P, V, S, b, lr, momentum, decay, nesterov):
    """P, V updated in place from S, the gradient's sums over b examples (overwritten with
    their mean S / b). Returns True if every new parameter is finite. Shapes: P, V, S (r, k)."""
    divide(S, b)  # as step.reduce_block forms means, so a sum assembled elsewhere rounds the same
    return sgd(P, V, S, lr, momentum, decay, nesterov)


@jit
def descend(params, velocity, sums, b, lr, momentum, nesterov, alpha):
    """One update, as in _epoch, from the gradient sums over a batch of b examples (which
    become the mean gradient in place). For fastshallow.distributed, whose workers return
    sums and whose client updates once. Returns True if every new parameter is finite."""
    dt = params[0].dtype.type
    lr, momentum, decay, zero = dt(lr), dt(momentum), dt(alpha / b), dt(0)
    ok = descend_array(params[0], velocity[0], sums[0], b, lr, momentum, decay, nesterov)
    ok &= descend_array(params[1], velocity[1], sums[1], b, lr, momentum, zero, nesterov)
    ok &= descend_array(params[2], velocity[2], sums[2], b, lr, momentum, decay, nesterov)
    ok &= descend_array(params[3], velocity[3], sums[3], b, lr, momentum, zero, nesterov)
    return ok


@jit(inline="always")
def _epoch(params, velocity, X, Y, order, batch, code, out, lr, momentum, nesterov, alpha, losses, plan):
    """Run the epoch's len(losses) batches; losses[k] gets batch k's loss before its update.

    Returns (batches completed, status): status OK, or train.COST_NOT_FINITE or
    train.UPDATE_NOT_FINITE for batch `completed`, after which params are partly updated
    (the caller keeps the epoch's starting state and restores it).
    """
    # Every array below is borrowed (_config.borrowed): the arguments, held by the caller
    # for the whole call, and the scratch, held until keep_alive.
    params, velocity, X, Y, order = borrowed(params, velocity, X, Y, order)
    W1, b1, W2, b2 = params
    dt = W1.dtype.type
    lr, momentum = dt(lr), dt(momentum)
    _, T, n_slots = plan
    scratch = pass_scratch(params, plan)
    ws, slabs = borrowed(scratch)
    grads = slab_gradients(slabs)  # where each pass leaves the mean gradients
    first_ok = np.empty(n_blocks(W1.size), np.bool_)  # block q of W1 stayed finite
    W1f, V1f, dW1 = flat(W1), flat(velocity[0]), flat(grads[0])
    n = order.shape[0]
    zero = dt(0)
    for k in range(losses.shape[0]):
        cols = order[k * batch : min((k + 1) * batch, n)]
        upcoming = order[min((k + 1) * batch, n) : min((k + 2) * batch, n)]  # empty at the end
        b = cols.shape[0]
        loss = chunk_sums(params, X, Y, cols, code, out, ws, slabs, T, n_slots, upcoming) / b
        if alpha > 0:
            loss += l2_penalty(W1, W2, alpha, b)
        losses[k] = loss
        if not np.isfinite(loss):
            return k, COST_NOT_FINITE
        decay = dt(alpha / b)
        # The mean gradients as in train.py: each block of dW1 reduced where it is used.
        reduce_small_slabs(slabs, b)
        reduce_dW1_then(slabs, b, first_ok, sgd_block, (W1f, V1f, dW1, lr, momentum, decay, nesterov))
        ok = first_ok.all()
        ok &= sgd(b1, velocity[1], grads[1], lr, momentum, zero, nesterov)
        ok &= sgd(W2, velocity[2], grads[2], lr, momentum, decay, nesterov)
        ok &= sgd(b2, velocity[3], grads[3], lr, momentum, zero, nesterov)
        if not ok:
            return k, UPDATE_NOT_FINITE
    keep_alive(scratch)  # until here: an early return leaves ws and slabs unused
    return losses.shape[0], OK


@jit(parallel=True)
def epoch_parallel(params, velocity, X, Y, order, batch, code, out, lr, momentum, nesterov, alpha, losses, plan):
    """_epoch with its chunk and row loops spread over Numba's threads."""
    return _epoch(params, velocity, X, Y, order, batch, code, out, lr, momentum, nesterov, alpha, losses, plan)


@jit
def epoch_serial(params, velocity, X, Y, order, batch, code, out, lr, momentum, nesterov, alpha, losses, plan):
    """_epoch on the calling thread, for batches that make a single chunk."""
    one_slot = on_one_thread(plan)
    return _epoch(params, velocity, X, Y, order, batch, code, out, lr, momentum, nesterov, alpha, losses, one_slot)
