"""The fused forward/backward pass over tiles of examples, and the parallel drivers.

Legend: n_x features, n_h hidden units, n_y outputs, m examples, T examples per tile,
C chunks, S scratch slots. `plan` is the triple (C, T, S) from planning.plan.
X is (n_x, m), dense in any layout or sparse (columns.py); Y is (n_y, m) in X's dtype.
`cols` is None, or an int64 array of column indices (a mini-batch, or the training part of
a split): the kernels then see the examples X[:, cols], Y[:, cols], gathered a tile at a
time and never copied whole, and m is len(cols). `SW` is the examples' weights as a (1, m)
row in X's dtype (read through cols like Y): each example's loss and output delta are
multiplied by its weight, and means are taken over the weights' sum instead of m
(scikit-learn's sample_weight). An SW with no columns, such as (0, 0), means no weights:
a runtime test, so that weighted and unweighted calls share one compiled kernel.
`code` is the hidden activation's code, `out` the output's (codes.Output). `params` is the tuple
(W1, b1, W2, b2) with W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1), C-contiguous,
and `grads` the tuple (dW1, db1, dW2, db2) of the same shapes.

How the work is split (the source of the bit-for-bit reproducibility):
- The m examples are cut into tiles of T columns, and the tiles into C contiguous
  chunks. C and T depend only on the shapes and dtype (planning.plan).
- Each chunk runs the whole forward and backward pass one tile at a time, on scratch of
  its own (never larger than (n_h, T)), and accumulates unnormalised gradient sums into its
  own slab: dW1s[c], db1s[c], ... Nothing inside the parallel loop writes to an element
  another chunk writes. Scratch comes from slot c, or, when there are fewer slots than
  chunks, from the running thread's slot: a thread runs one chunk at a time.
- The slabs are then reduced in chunk order, c = 0, 1, ..., C-1, parallel over the rows
  being written. The same sums happen in the same order for any number of threads.
"""

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from .config import CACHE_LINE, entry, jit
from .intrinsics import (
    aligned_empty,
    borrowed,
    carve_slots,
    enter_flush_to_zero,
    keep_alive,
    line_stride,
    prefetch,
    restore_fp_mode,
    unit_stride,
    view,
    wide_vectors,
)
from .planning import BLOCK, PARALLEL_UPDATE_MIN
from .activations import activation_forward, identity_forward
from .columns import example_index, is_sparse, n_examples
from .loss import loss_sum, output_forward, output_loss, output_loss_backward
from .products import (
    dense_forward,
    hidden_backward,
    linear_backward_weights,
    linear_backward_weights_tile,
    linear_forward,
    packed_size,
    row_sums_add,
    transpose,
    weights_scratch_size,
)
from .sparse import add_bias, sparse_forward_rows, sparse_weight_sums


@jit(inline="always")
def total_weight(SW, X, cols):
    """What a pass's sums are divided by to make means (float64): the number of examples
    when SW has no columns, else the sum of their weights, in column order."""
    if SW.shape[1] == 0:
        return float(n_examples(X, cols))
    total = 0.0
    sw = SW[0]
    for j in range(n_examples(X, cols)):
        total += sw[example_index(cols, j)]
    return total


@jit(inline="always")
def weigh_tile(L, G, SW, cols, j0, w):
    """Multiply each column j of the loss tile L and the delta tile G (both (n_y, n)) by
    the weight of example j0 + j; w is a (1, n) scratch row. A no-op when SW has no
    columns."""
    if SW.shape[1] > 0:
        load_tile(w, SW, cols, j0)
        scale_columns(L, w[0])
        scale_columns(G, w[0])


@jit
def scale_columns(A, w):
    """A[:, j] *= w[j] for A (r, n), w (n,)."""
    wide_vectors()
    for i in range(A.shape[0]):
        a = A[i]
        for j in range(a.shape[0]):
            a[j] *= w[j]


def prefetch_examples(X, Y, upcoming, c, n_chunks, T):
    """Start fetching the examples that chunk c will read in the next pass: its share (see
    chunk_tiles) of `upcoming`, the next mini-batch's columns. A no-op when upcoming is
    None."""


# A mini-batch's examples are scattered over X, and a tile of them loaded from memory
# waits on one cache miss after another. Asked for one batch ahead, at the end of each
# chunk's pass, they arrive while the slabs are reduced and the parameters updated
# (d8c6641 has the numbers).
@overload(prefetch_examples, inline="always")
def _prefetch_examples(X, Y, upcoming, c, n_chunks, T):
    if isinstance(upcoming, types.NoneType) or isinstance(X, types.BaseTuple):  # sparse: not yet
        return lambda X, Y, upcoming, c, n_chunks, T: None

    def impl(X, Y, upcoming, c, n_chunks, T):
        t0, t1 = chunk_tiles(c, n_chunks, upcoming.shape[0], T)
        for j in range(t0 * T, min(t1 * T, upcoming.shape[0])):
            prefetch_column(X, upcoming[j])
            prefetch_column(Y, upcoming[j])

    return impl


@jit
def prefetch_column(A, j):
    """Prefetch every cache line of A[:, j], A (r, m) in any layout."""
    # Rows per line: several when a column runs down consecutive memory, else one.
    step = max(1, CACHE_LINE // abs(A.strides[0])) if A.strides[0] != 0 else A.shape[0]
    for i in range(0, A.shape[0], step):
        prefetch(A, i, j)


# The workspace's buffers and the slabs, by name. They are plain tuples indexed by these
# constants, not namedtuples: Numba cannot pass a namedtuple into a prange body (its
# parfor lowering fails, and writes through one can be lost: numba issues 5872, 10139).
# Each buffer but W2T_SCRATCH is (n_slots, ≥ rows·T), a slot's row viewed as a (rows, n) tile.
# W1T_SCRATCH is a sparse X's (see sparse.py), empty for a dense one; DW1T_SUMS holds a
# chunk's dW1ᵀ where it keeps its sums transposed (always for a sparse X; see
# planning.transposed_sums), else it is empty.
(X_TILE, XT_TILE, Y_TILE, Z1_TILE, A1_TILE, DZ1_TILE, Z2_TILE, A2_TILE, LOSS_TILE, STATS_TILE, W2T_SCRATCH,
 W1T_SCRATCH, DW1T_SUMS) = range(13)
# dW1 (C, n_h, n_x), db1 (C, n_h, 1), dW2 (C, n_y, n_h), db2 (C, n_y, 1), cost sums (C,).
SLAB_DW1, SLAB_DB1, SLAB_DW2, SLAB_DB2, SLAB_COST = range(5)
# The rows of a tile's softmax column statistics (see loss.py). A NumPy int: a literal 2
# in a view's shape is a type of its own, and compiled intrinsics.view once more.
STATS_ROWS = np.int64(2)


@jit
def workspace(n_slots, n_x, n_h, n_y, T, dtype_like, sparse, transposed):
    """Scratch for each of n_slots slots. Flat rows, so that a tile of any width n <= T (the last
    one may be narrower) is a C-contiguous (rows, n) view of a slot (intrinsics.view), never a
    strided slice. Each slot starts on a cache line (intrinsics.carve_slots), and so, T
    being whole lines wide (planning.tile_width), does every row of a full tile. sparse: X
    is sparse (sparse.py); transposed: the plan's, nonzero where a chunk keeps its dW1
    sums transposed (chunk_gradients).

    No kernel call below writes an array it also reads through another argument (Z1 and
    A1 live in different buffers, and so on). Numba passes every array as its own pointer,
    and where two point at the same memory LLVM's run-time overlap check sends the loop
    down its scalar path, several times slower (c56902d has the numbers).
    """
    # A sparse X has no dense tile; its transposed buffer holds Z1ᵀ and dZ1ᵀ instead.
    S = n_slots
    x_size = 0 if sparse else n_x * T
    # Sums kept transposed pack dZ1ᵀ, not Xᵀ (products.linear_backward_weights_tile).
    if sparse:
        xt_size = T * n_h
    elif transposed:
        xt_size = packed_size(n_h, T, dtype_like)
    else:
        xt_size = weights_scratch_size(n_x, T, dtype_like)
    wt1_rows = n_x if sparse else 0
    sums_rows = n_x if sparse or transposed else 0
    # One allocation, carved: thirteen were a tenth of a tiny problem's forward pass (498e1c8).
    total = S * (line_stride(x_size, dtype_like) + line_stride(xt_size, dtype_like)
                 + 4 * line_stride(n_y * T, dtype_like) + 3 * line_stride(n_h * T, dtype_like)
                 + line_stride(2 * T, dtype_like) + line_stride(sums_rows * n_h, dtype_like))
    total += line_stride(n_h * n_y, dtype_like) + line_stride(wt1_rows * n_h, dtype_like)
    buf = aligned_empty(total, dtype_like)
    xp, at = carve_slots(buf, 0, S, x_size)  # X tile                            (n_x, T)
    xt, at = carve_slots(buf, at, S, xt_size)  # Xᵀ or dZ1ᵀ, packed or not; sparse: (T, n_h)
    yp, at = carve_slots(buf, at, S, n_y * T)  # Y tile                          (n_y, T)
    z, at = carve_slots(buf, at, S, n_h * T)  # Z1 (dense_forward)               (n_h, T)
    h, at = carve_slots(buf, at, S, n_h * T)  # A1                               (n_h, T)
    d, at = carve_slots(buf, at, S, n_h * T)  # dZ1                              (n_h, T)
    o, at = carve_slots(buf, at, S, n_y * T)  # Z2                               (n_y, T)
    g, at = carve_slots(buf, at, S, n_y * T)  # A2 or dZ2                        (n_y, T)
    lo, at = carve_slots(buf, at, S, n_y * T)  # loss per element               (n_y, T)
    cs, at = carve_slots(buf, at, S, 2 * T)  # softmax column stats              (2, T)
    gt1, at = carve_slots(buf, at, S, sums_rows * n_h)  # a chunk's dW1ᵀ sums     (n_x, n_h)
    wt, at = carve_slots(buf, at, 1, n_h * n_y)  # W2ᵀ, shared by every slot (chunk_sums)
    wt1, _ = carve_slots(buf, at, 1, wt1_rows * n_h)  # W1ᵀ, shared, sparse (prepare_first_layer)
    wt, wt1 = view(wt[0], (n_h, n_y)), view(wt1[0], (wt1_rows, n_h))
    return xp, xt, yp, z, h, d, o, g, lo, cs, wt, wt1, gt1  # in the order of X_TILE ... DW1T_SUMS


@jit
def gradient_slabs(n_chunks, params):
    """One unnormalised gradient accumulator per chunk, plus each chunk's cost sum."""
    W1, b1, W2, b2 = params
    # dW1's slabs are the panels' C in dW1 = dZ1·Xᵀ: on a cache line, like the scratch.
    dW1s = view(aligned_empty(n_chunks * W1.size, W1), (n_chunks,) + W1.shape)  # (C, n_h, n_x)
    db1s = np.empty((n_chunks,) + b1.shape, W1.dtype)  # (C, n_h, 1)
    dW2s = np.empty((n_chunks,) + W2.shape, W1.dtype)  # (C, n_y, n_h)
    db2s = np.empty((n_chunks,) + b2.shape, W1.dtype)  # (C, n_y, 1)
    costs = np.empty(n_chunks)  # (C,), float64 for every dtype
    return dW1s, db1s, dW2s, db2s, costs  # in the order of SLAB_DW1 ... SLAB_COST


@jit(inline="always")
def pass_scratch(params, X, plan):
    """Fresh scratch for passes over X's examples under plan (planning.plan): the
    workspace of every slot and the gradient slab of every chunk. Callers borrow from it
    and keep it alive until their last use (intrinsics.borrowed, keep_alive). Inlined
    (config's note on compile time): one call site per pass."""
    W1, _, W2, _ = params
    n_chunks, T, n_slots, transposed = plan
    ws = workspace(n_slots, W1.shape[1], W1.shape[0], W2.shape[0], T, W1, is_sparse(X), transposed)
    return ws, gradient_slabs(n_chunks, params)


@jit
def slot_of(c, n_chunks, n_slots):
    """The scratch slot chunk c uses: its own, or its thread's when slots are fewer (one
    slot: the only thread's, without asking; see on_one_thread)."""
    # All as int64: Numba would unify a uint64 prange index with the thread id as float64.
    if n_slots == n_chunks:
        return np.int64(c)
    if n_slots == 1:
        return np.int64(0)
    return np.int64(numba.get_thread_id())


@jit
def on_one_thread(plan):
    """plan for a serial kernel: one scratch slot, since every chunk runs on the calling
    thread. slot_of then never asks for a thread id, which crashes the process when Numba's
    threading layer has not started (a serial kernel loaded from the cache starts nothing).
    Scratch is overwritten before it is read, so the slots change memory, never results."""
    n_chunks, T, _, transposed = plan
    return n_chunks, T, 1, transposed


@jit
def chunk_tiles(c, n_chunks, m, T):
    """The tiles [t0, t1) of chunk c: C contiguous, near-equal runs of whole tiles."""
    n_tiles = (m + T - 1) // T
    return c * n_tiles // n_chunks, (c + 1) * n_tiles // n_chunks


@jit
def load_tile(Xt, X, cols, j0):
    """Xt = the examples j0 .. j0 + n of X (see cols above) for Xt (r, n), copied into unit
    stride.

    Copying makes every later loop unit-stride whatever X's layout (C, F or a strided
    view); a tile is small next to the n_h·n_x·n multiply-adds that read it.
    """
    wide_vectors()
    # X arrives strided-typed from the entry kernels (config.entry): a row with unit
    # stride (X in C order) is retyped so that its copy compiles to vector loads.
    contiguous_rows = X.strides[1] == X.itemsize
    for q in range(Xt.shape[0]):
        if contiguous_rows:
            copy_columns(Xt[q], unit_stride(X[q]), cols, j0)
        else:
            copy_columns(Xt[q], X[q], cols, j0)


@jit
def copy_columns(xq, x, cols, j0):
    """xq[j] = x[j0 + j] (through cols) for xq (n,): one row of load_tile."""
    wide_vectors()
    # Unsigned column indices into a row view: with signed ones, Numba's select for
    # negative indices turned the loads into gathers (cedbaee; see products._panel).
    j0u = np.uint64(j0)
    for j in range(np.uint64(xq.shape[0])):
        xq[j] = x[example_index(cols, j0u + j)]


@jit
def store_tile(X, Xt, j0):
    """X[:, j0 : j0 + n] = Xt for Xt (r, n): the inverse of load_tile."""
    wide_vectors()
    j0u = np.uint64(j0)
    for q in range(Xt.shape[0]):
        xq, x = Xt[q], X[q]
        for j in range(np.uint64(Xt.shape[1])):
            x[j0u + j] = xq[j]


@jit(inline="always")
def forward_tile(params, X, cols, j0, n, code, ws, s):
    """Forward pass of the n examples from column j0, in scratch slot s.

    Returns the views (Xp, Z, H, O): Xp the X tile (n_x, n) (empty for a sparse X), Z a
    free (n_h, n) buffer (scratch for dense_forward), H = A1 (n_h, n) and O the logits Z2
    (n_y, n). Inlined (config's note on compile time), also into evaluate's prange body:
    no variable here may be set to a constant and then updated.
    """
    W1, b1, W2, b2 = params
    n_h = W1.shape[0]
    n_y = W2.shape[0]
    Z = view(ws[Z1_TILE][s], (n_h, n))
    H = view(ws[A1_TILE][s], (n_h, n))
    O = view(ws[Z2_TILE][s], (n_y, n))
    Xp = first_layer_forward(H, Z, W1, b1, X, cols, j0, code, ws, s)  # A1 = g(W1·X + b1)
    linear_forward(O, W2, H, b2)  # Z2 = W2·A1 + b2
    return Xp, Z, H, O


# The first layer is the only one that reads X: these choose, when compiling, between the
# dense tiles and the sparse kernels (sparse.py) by X's type (columns.py).
# first_layer_forward and first_layer_backward are inlined functions that test
# isinstance, which Numba settles while typing, so that the branch for the other kind is
# never typed. As @overload(inline="always") implementations they were also compiled in
# full, to learn their return types (config's note), and the dense ones link
# dense_forward and the panels: a first fs.train compiled 1.1-1.4 s longer (the commit has
# the numbers). An isinstance makes Numba run a partial type inference over the function
# it is inlined into, which refuses a variable given two different int constants
# (descent._descend's status): prepare_first_layer, inlined there, stays an overload.


def prepare_first_layer(ws, W1, X):
    """Before a pass: W1ᵀ into ws[W1T_SCRATCH] for a sparse X; nothing for a dense one."""


@overload(prepare_first_layer, inline="always")
def _prepare_first_layer(ws, W1, X):
    if isinstance(X, types.BaseTuple):
        return lambda ws, W1, X: transpose(ws[W1T_SCRATCH], W1)
    return lambda ws, W1, X: None


@jit(inline="always")
def first_layer_forward(H, Z, W1, b1, X, cols, j0, code, ws, s):
    """H = g(W1·X + b1) for the tile of H's n examples from j0; Z (n_h, n) is scratch.
    Returns the dense X tile (n_x, n), or an empty view for a sparse X."""
    n_h, n = H.shape
    if isinstance(X, tuple):
        Zt = view(ws[XT_TILE][s], (n, n_h))
        sparse_forward_rows(Zt, ws[W1T_SCRATCH], X, cols, j0)
        transpose(Z, Zt)
        add_bias(Z, b1)
        activation_forward(H, Z, code)
        return view(ws[X_TILE][s], (0, n))
    Xp = view(ws[X_TILE][s], (W1.shape[1], n))
    load_tile(Xp, X, cols, j0)
    dense_forward(H, Z, W1, Xp, b1, code)
    return Xp


@jit(inline="always")
def first_layer_backward(dW1, db1, D, Xp, X, cols, j0, ws, s, transposed):
    """db1 += Σ D; dW1 += D·Xᵀ over the tile (D = dZ1 (n_h, n), Xp forward's X tile). With
    transposed (always, for a sparse X), dW1ᵀ accumulates in ws[DW1T_SUMS][s] instead,
    until first_layer_finish."""
    if isinstance(X, tuple):
        n_h, n = D.shape
        Dt = view(ws[XT_TILE][s], (n, n_h))
        transpose(Dt, D)
        row_sums_add(db1, D)
        sparse_weight_sums(dw1t_sums(dW1, ws, s), Dt, X, cols, j0)
    else:
        sums = dw1t_sums(dW1, ws, s) if transposed else dW1
        linear_backward_weights_tile(sums, db1, D, Xp, ws[XT_TILE][s], transposed)


@jit(inline="always")
def dw1t_sums(dW1, ws, s):
    """Slot s's dW1ᵀ sums, (n_x, n_h) for dW1 (n_h, n_x)."""
    return view(ws[DW1T_SUMS][s], (dW1.shape[1], dW1.shape[0]))


@jit(inline="always")
def first_layer_start(dW1, ws, s, transposed):
    """Before a chunk's tiles: zero the sums that first_layer_backward adds to, dW1 or,
    transposed, slot s's dW1ᵀ."""
    if transposed:
        sums = ws[DW1T_SUMS][s]
        for k in range(sums.shape[0]):
            sums[k] = 0
    else:
        dW1[:, :] = 0


@jit(inline="always")
def first_layer_finish(dW1, ws, s, transposed):
    """After a chunk's tiles: dW1 = the dW1ᵀ sums transposed, where they were kept so."""
    if transposed:
        transpose(dW1, dw1t_sums(dW1, ws, s))


@jit
def chunk_gradients(grads, params, W2T, X, Y, SW, cols, code, out, ws, s, t0, t1, T, transposed):
    """Unnormalised (weighted) gradient sums over tiles t0 .. t1 (of T examples), into a chunk's slab
    grads = (dW1, db1, dW2, db2), which is overwritten, using scratch slot s. W2T is W2ᵀ
    (n_h, n_y). transposed: the plan's (planning.transposed_sums); a sparse X's sums are
    kept transposed in any case.

    Returns the (weighted) cost summed over the chunk's examples and outputs, in float64.
    """
    dW1, db1, dW2, db2 = grads
    n_h, n_x = dW1.shape
    n_y = dW2.shape[0]
    m = n_examples(X, cols)
    fp_mode = enter_flush_to_zero()  # this runs on a worker thread; see intrinsics
    kept_transposed = is_sparse(X) or transposed != 0
    first_layer_start(dW1, ws, s, kept_transposed)
    for grad in grads[1:]:
        grad[:, :] = 0
    cost = 0.0
    for t in range(t0, t1):
        j0 = t * T
        n = min(T, m - j0)
        Xp, Z, H, O = forward_tile(params, X, cols, j0, n, code, ws, s)
        Yt = view(ws[Y_TILE][s], (n_y, n))
        L = view(ws[LOSS_TILE][s], (n_y, n))
        G = view(ws[A2_TILE][s], (n_y, n))
        D = view(ws[DZ1_TILE][s], (n_h, n))
        load_tile(Yt, Y, cols, j0)
        stats = view(ws[STATS_TILE][s], (STATS_ROWS, n))
        output_loss_backward(L, G, O, Yt, out, stats)  # loss; dZ2 = A2 - Y
        weigh_tile(L, G, SW, cols, j0, stats[:1])  # the softmax's stats are spent by now
        cost += loss_sum(L)
        linear_backward_weights(dW2, db2, G, H)  # dW2 += dZ2·A1ᵀ; db2 += Σ dZ2
        hidden_backward(D, W2T, G, H, code)  # dZ1 = (W2ᵀ·dZ2) ∘ g'(A1)
        first_layer_backward(dW1, db1, D, Xp, X, cols, j0, ws, s, kept_transposed)  # dW1 += dZ1·Xᵀ; db1 += Σ dZ1
    first_layer_finish(dW1, ws, s, kept_transposed)
    restore_fp_mode(fp_mode)
    return cost


@jit
def flat(A):
    """A C-contiguous array as one (A.size,) view."""
    return view(A, (A.size,))


@jit
def n_blocks(size):
    """How many blocks of planning.BLOCK values cover `size` values."""
    return (size + BLOCK - 1) // BLOCK


@jit
def block(a, q):
    """Block q of the flat (size,) array a: a[q·BLOCK : (q + 1)·BLOCK], the last shorter."""
    return a[q * BLOCK : min((q + 1) * BLOCK, a.shape[0])]


@jit
def reduce_block(S, q, m):
    """S[0, v] = (Σ_c S[c, v])·(1/m) for the values v of block q, chunks added in order
    c = 0, 1, ... (m = 1 leaves the sums as they are). Shapes: S (C, size), one flat slab a
    row."""
    wide_vectors()
    # A product with 1/m (in float64), not a division by m: within an ulp of it, and a
    # vector division is many times slower (38c8469). products.divide forms its means
    # the same way.
    inv = 1.0 / m
    g = block(S[0], q)
    for c in range(1, S.shape[0]):
        s = block(S[c], q)
        for k in range(g.shape[0]):
            g[k] += s[k]
    for k in range(g.shape[0]):
        g[k] *= inv


@jit
def flat_slabs(S):
    """The slabs S (C, r, k) as (C, r·k): one flat slab a row."""
    return view(S, (S.shape[0], S[0].size))


@jit
def reduce_slabs(S, m):
    """reduce_block over every block of the slabs S (C, r, k), on this thread."""
    S = flat_slabs(S)
    for q in range(n_blocks(S.shape[1])):
        reduce_block(S, q, m)


@jit(inline="always")
def accumulate_gradients(params, X, Y, SW, cols, code, out, ws, slabs, plan, mean=True):
    """The (weighted) mean gradients, left in the first chunk's slab (dW1s[0], db1s[0], dW2s[0],
    db2s[0]); returns the mean cost. With mean=False, the unnormalised sums over the
    examples and the summed cost instead (for fastshallow.distributed, which adds the sums
    of many chunks before dividing once).

    The result stays in the slabs so that training needs no gradient arrays of its own: at
    784-1024-10 in float64 those are 6 MiB, next to NumPy's 393 MiB for the whole step.

    Inlined into each caller (at Numba's IR level), so that its prange loops run in
    parallel in a parallel caller and in order in a serial one: one source for both.
    Training calls its parts itself (chunk_sums, reduce_small_slabs, reduce_dW1_then), to
    update each block of W1 in the loop that reduces it.
    """
    divisor = total_weight(SW, X, cols) if mean else 1  # x·(1/1) is exact: sums stay unrounded
    cost = chunk_sums(params, X, Y, SW, cols, code, out, ws, slabs, plan, None)
    reduce_small_slabs(slabs, divisor)
    reduce_dW1_then(slabs, divisor, np.empty(n_blocks(params[0].size), np.bool_), _no_update, ())
    return cost / divisor


@jit
def _no_update(q):
    """The per-block step of reduce_dW1_then when a pass only wants the gradients."""
    return True


@jit(inline="always")
def reduce_dW1_then(slabs, m, finite, update, args):
    """The reduction of dW1's slabs (reduce_block, chunks in order), each block q followed
    at once by finite[q] = update(*args, q), which finds it in cache: training's update
    of that block of W1. Parallel over the blocks from PARALLEL_UPDATE_MIN values, else on
    this thread. Inlined, as accumulate_gradients. finite (n_blocks(n_h·n_x),) bool."""
    S = flat_slabs(slabs[SLAB_DW1])  # (C, n_h·n_x)
    if S.shape[1] >= PARALLEL_UPDATE_MIN:
        for q in prange(finite.shape[0]):
            reduce_block(S, q, m)
            finite[q] = update(*args, q)
    else:
        for q in range(finite.shape[0]):
            reduce_block(S, q, m)
            finite[q] = update(*args, q)


@jit(inline="always")
def chunk_sums(params, X, Y, SW, cols, code, out, ws, slabs, plan, upcoming):
    """Every chunk's unnormalised gradient sums, each into its own slab (parallel over
    chunks); returns the cost summed over all examples. `upcoming`: None, or the columns
    of the next pass (a mini-batch), which each chunk prefetches when it is done with
    this one. Inlined, as accumulate_gradients."""
    _, T, n_slots, transposed = plan
    costs = slabs[SLAB_COST]
    n_chunks = costs.shape[0]
    m = n_examples(X, cols)
    W2T = ws[W2T_SCRATCH]
    # W2ᵀ (n_h, n_y): small, once per pass, into scratch (an allocation was most of the
    # difference, in a tiny problem's step).
    transpose(W2T, params[2])
    prepare_first_layer(ws, params[0], X)
    for c in prange(n_chunks):
        t0, t1 = chunk_tiles(c, n_chunks, m, T)
        slab = (slabs[SLAB_DW1][c], slabs[SLAB_DB1][c], slabs[SLAB_DW2][c], slabs[SLAB_DB2][c])
        slot = slot_of(c, n_chunks, n_slots)
        costs[c] = chunk_gradients(slab, params, W2T, X, Y, SW, cols, code, out, ws, slot, t0, t1, T, transposed)
        prefetch_examples(X, Y, upcoming, c, n_chunks, T)
    cost = 0.0
    for c in range(n_chunks):
        cost += costs[c]
    return cost


@jit
def reduce_small_slabs(slabs, m):
    """The reduction (reduce_block, chunks in order) of the slabs of db1, dW2 and db2, on
    this thread: they are small. dW1's blocks are left to the caller's parallel loop."""
    reduce_slabs(slabs[SLAB_DB1], m)
    reduce_slabs(slabs[SLAB_DW2], m)
    reduce_slabs(slabs[SLAB_DB2], m)


@jit
def slab_gradients(slabs):
    """The views (dW1, db1, dW2, db2) of the first chunk's slab, where accumulate_gradients
    leaves its result."""
    return slabs[SLAB_DW1][0], slabs[SLAB_DB1][0], slabs[SLAB_DW2][0], slabs[SLAB_DB2][0]


@jit(inline="always")
def _gradients(grads, params, X, Y, SW, cols, code, out, plan, mean):
    params, X, Y, SW = borrowed(params, X, Y, SW)  # not grads: see borrowed
    scratch = pass_scratch(params, X, plan)
    ws, slabs = borrowed(scratch)
    cost = accumulate_gradients(params, X, Y, SW, cols, code, out, ws, slabs, plan, mean)
    dW1, db1, dW2, db2 = slab_gradients(slabs)
    identity_forward(grads[0], dW1)  # copies, in loops: see activations.identity_forward
    identity_forward(grads[1], db1)
    identity_forward(grads[2], dW2)
    identity_forward(grads[3], db2)
    keep_alive(scratch)
    return cost


# What the passes only read, compiled once for any layout of X, Y and SW (config.entry).
gradient_pass = entry("X Y SW cols", any_layout="X Y SW")
forward_pass = entry("X Y cols", any_layout="X Y")

# Each pass comes as a parallel kernel and a serial one: the same inlined body, whose prange
# loops run in order in the serial one, with one scratch slot (on_one_thread), as
# descent.descend_parallel and descend_serial. A small pass takes the serial one
# (engine._serial): a parallel region with one chunk to run still wakes the pool, which
# cost more than the flower problem's whole forward pass.


@gradient_pass
@jit(parallel=True)
def gradients(grads, params, X, Y, SW, cols, code, out, plan):
    """Mean cost and gradients (into grads) of the network on X, Y (weighted by SW)."""
    return _gradients(grads, params, X, Y, SW, cols, code, out, plan, True)


@gradient_pass
@jit
def gradients_serial(grads, params, X, Y, SW, cols, code, out, plan):
    """gradients on the calling thread."""
    return _gradients(grads, params, X, Y, SW, cols, code, out, on_one_thread(plan), True)


@gradient_pass
@jit(parallel=True)
def gradient_sums(grads, params, X, Y, SW, cols, code, out, plan):
    """Unnormalised gradient sums over the examples (into grads) and the summed cost: one
    chunk's share of a gradient that is assembled elsewhere (fastshallow.distributed)."""
    return _gradients(grads, params, X, Y, SW, cols, code, out, plan, False)


@gradient_pass
@jit
def gradient_sums_serial(grads, params, X, Y, SW, cols, code, out, plan):
    """gradient_sums on the calling thread."""
    return _gradients(grads, params, X, Y, SW, cols, code, out, on_one_thread(plan), False)


@jit(inline="always")
def _evaluate(A2, params, X, Y, cols, code, out, plan):
    n_chunks, T, n_slots, _ = plan
    # Tested on the arguments, before they are rebound: a None argument's branch is pruned
    # before typing (evaluate's docstring).
    want_a2, want_cost = A2 is not None, Y is not None
    params, X, Y = borrowed(params, X, Y)  # not A2, an output: see borrowed
    W1 = params[0]
    n_h, n_x = W1.shape
    n_y, m = params[2].shape[0], n_examples(X, cols)
    # No dW1ᵀ sums: a 0 of the plan's type, so that pass_scratch's compiled workspace serves.
    scratch = workspace(n_slots, n_x, n_h, n_y, T, W1, is_sparse(X), np.int64(0))
    ws = borrowed(scratch)
    prepare_first_layer(ws, W1, X)
    sums = np.zeros(n_chunks)  # (C,)
    for c in prange(n_chunks):
        t0, t1 = chunk_tiles(c, n_chunks, m, T)
        slot = slot_of(c, n_chunks, n_slots)
        fp_mode = enter_flush_to_zero()
        for t in range(t0, t1):
            j0 = t * T
            n = min(T, m - j0)
            Xp, Z, H, O = forward_tile(params, X, cols, j0, n, code, ws, slot)
            stats = view(ws[STATS_TILE][slot], (STATS_ROWS, n))
            if want_a2:
                G = view(ws[A2_TILE][slot], (n_y, n))
                output_forward(G, O, out, stats)
                store_tile(A2, G, j0)
            if want_cost:
                Yt = view(ws[Y_TILE][slot], (n_y, n))
                L = view(ws[LOSS_TILE][slot], (n_y, n))
                load_tile(Yt, Y, cols, j0)
                output_loss(L, O, Yt, out, stats)
                sums[c] += loss_sum(L)
        restore_fp_mode(fp_mode)
    total = 0.0
    for c in range(n_chunks):
        total += sums[c]
    keep_alive(scratch)
    return total / m


@forward_pass
@jit(parallel=True)
def evaluate(A2, params, X, Y, cols, code, out, plan):
    """The forward pass over X, for predictions, the cost, or both.

    A2 (n_y, m) = output(W2·g(W1·X + b1) + b2) is written unless A2 is None, output being
    the layer `out` (codes.Output: sigmoid, softmax, identity, the logits, or exp); the
    mean loss against Y (n_y, m) is returned unless Y is None, else 0.0. Numba prunes a None
    argument's branch before typing, so each use compiles only its own code: predictions
    compile in little more than half the time they took with the loss's code (99d3b04).
    """
    return _evaluate(A2, params, X, Y, cols, code, out, plan)


@forward_pass
@jit
def evaluate_serial(A2, params, X, Y, cols, code, out, plan):
    """evaluate on the calling thread."""
    return _evaluate(A2, params, X, Y, cols, code, out, on_one_thread(plan))
