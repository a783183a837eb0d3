"""The whole gradient-descent loop in one compiled call.

Legend: n_x features, n_h hidden units, n_y outputs, m examples. `params` and `spare` are
tuples (W1, b1, W2, b2) of C-contiguous arrays with the network's shapes; see step.py.

Divergence. Two parameter sets alternate: `cur`, the state the iteration starts from, and
`prev`, the one before it. An iteration is accepted only if its cost is finite and the
updated parameters are all finite; the update is written into `prev`'s buffer only after
the cost of `cur` has been checked. So when iteration i fails, the last state whose
parameters and cost were both finite is still in memory:
- cost of iteration i not finite -> the state before iteration i-1's update (prev), or the
  untouched input if i == 0;
- update of iteration i not finite -> the state iteration i started from (cur).
"""

import numpy as np

from ._config import borrowed, jit, keep_alive, wide_vectors
from .step import (
    block,
    chunk_sums,
    flat,
    n_blocks,
    n_examples,
    on_one_thread,
    pass_scratch,
    reduce_dW1_then,
    reduce_small_slabs,
    slab_gradients,
)

OK = 0
COST_NOT_FINITE = 1
UPDATE_NOT_FINITE = 2


# The finiteness test of the updates below is an AND of comparisons, one test at the end
# instead of a branch per element. An AND reduction vectorises; a float sum (such as
# adding v·0, which inf and NaN turn into NaN) does not without "reassoc", and that
# would also free LLVM to reorder the update itself: the loop stayed scalar.


@jit
def update_block(new, P, G, lr, q):
    """new = P - lr·G over block q (step.block) of the flat (size,) arrays new, P and G;
    True if every new value is finite."""
    wide_vectors()
    n, p, g = block(new, q), block(P, q), block(G, q)
    inf = p.dtype.type(np.inf)
    finite = True
    for k in range(p.shape[0]):
        v = p[k] - lr * g[k]
        n[k] = v
        finite &= abs(v) < inf  # False for inf and NaN
    return finite


@jit
def update(new, P, G, lr):
    """new = P - lr·G for C-contiguous (r, k) arrays, on this thread; True if every new
    value is finite."""
    new, P, G = flat(new), flat(P), flat(G)
    finite = True
    for q in range(n_blocks(P.shape[0])):
        finite &= update_block(new, P, G, lr, q)
    return finite


@jit(inline="always")
def _train_loop(params, spare, X, Y, cols, code, out, lr, costs, plan):
    """Run len(costs) iterations. costs[i] gets the cost before iteration i's update.

    Returns (iterations completed, status, True if the final state is in `params`
    rather than `spare`).
    """
    # Every array below is borrowed (_config.borrowed): the arguments, held by the caller
    # for the whole call, and the scratch, held until keep_alive.
    params, spare, X, Y = borrowed(params, spare, X, Y)
    W1 = params[0]
    lr = W1.dtype.type(lr)
    _, T, n_slots = plan
    scratch = pass_scratch(params, plan)
    ws, slabs = borrowed(scratch)  # scratch is kept alive below
    grads = slab_gradients(slabs)  # where each pass leaves the mean gradients
    dW1 = flat(grads[0])
    m = n_examples(X, cols)
    first_ok = np.empty(n_blocks(W1.size), np.bool_)  # block q of W1 stayed finite
    cur, prev = params, spare
    cur_is_params = True
    for it in range(costs.shape[0]):
        cost = chunk_sums(cur, X, Y, cols, code, out, ws, slabs, T, n_slots, None) / m
        costs[it] = cost
        if not np.isfinite(cost):
            if it == 0:
                return it, COST_NOT_FINITE, cur_is_params
            return it, COST_NOT_FINITE, not cur_is_params
        # The mean gradients (step.accumulate_gradients' reduction), each block of dW1
        # reduced in the loop that updates it: one parallel loop, not two.
        reduce_small_slabs(slabs, m)
        reduce_dW1_then(slabs, m, first_ok, update_block, (flat(prev[0]), flat(cur[0]), dW1, lr))
        ok = first_ok.all()
        ok &= update(prev[1], cur[1], grads[1], lr)
        ok &= update(prev[2], cur[2], grads[2], lr)
        ok &= update(prev[3], cur[3], grads[3], lr)
        if not ok:
            return it, UPDATE_NOT_FINITE, cur_is_params
        cur, prev = prev, cur
        cur_is_params = not cur_is_params
    keep_alive(scratch)  # until here: an early return leaves ws and slabs unused
    return costs.shape[0], OK, cur_is_params


@jit(parallel=True)
def train_parallel(params, spare, X, Y, cols, code, out, lr, costs, plan):
    """_train_loop with its chunk and row loops spread over Numba's threads."""
    return _train_loop(params, spare, X, Y, cols, code, out, lr, costs, plan)


@jit
def train_serial(params, spare, X, Y, cols, code, out, lr, costs, plan):
    """_train_loop on the calling thread: the same arithmetic, with no parallel region
    to launch, which dominates an iteration of a tiny problem."""
    return _train_loop(params, spare, X, Y, cols, code, out, lr, costs, on_one_thread(plan))
