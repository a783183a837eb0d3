"""Matrix products and axis-1 sums on C-contiguous tiles.

Legend: n_x features, n_h hidden units, n_y outputs, T examples in a tile.

    linear_forward              Z  = W·X + b      Z (r, T), W (r, k), X (k, T), b (r, 1)
    linear_backward_weights     dW += dZ·Xᵀ       dW (r, k), dZ (r, T), X (k, T)
                                db += Σ_cols dZ   db (r, 1)
    linear_backward_weights_tile  the same, by the faster product for k, over Xᵀ
                                packed (pack_transposed) for register panels
                                (or dWᵀ += X·dZᵀ over dZᵀ packed: the same sums
                                kept transposed)
    linear_backward_input       dX = Wᵀ·dZ        dX (k, T), WT (k, r), dZ (r, T)

Two loop shapes do all the work:

- matmul_add, C += A·B, in register panels: PANEL_HEIGHT rows of C, four vectors wide
  with AVX-512 (6 × 32 in float64, 6 × 64 in float32: 24 vector accumulators; a C
  narrower than that, two) and two with AVX2 (6 × 8 and 6 × 16: 12), stay in registers
  over the whole inner dimension. Each step loads the panel's vectors of a row of B and
  broadcasts a column of A's rows (AVX-512: four loads and 6 broadcasts for 24 FMAs),
  and nothing is summed across lanes. This is the hot path:
  W1·X and dZ1·Xᵀ (2·n_h·n_x·T flops each), and every other product into a tile.
- matmul_nt_add, C += A·Bᵀ: a dot product over the contiguous rows of A and B for each
  element, for a 4 × 4 block of C at once. For dW2 = dZ2·A1ᵀ (n_y rows, small), and for
  dW1 when n_x is narrower than a panel.

matmul_add sums each element in the order k = 0, 1, 2, ...; matmul_nt_add in an order
fixed by the compiled loop (see intrinsics.REDUCTION_FASTMATH). Neither depends on the data
or the thread.
"""

import numpy as np
from numba import carray
from numba.extending import overload

from .config import PANEL_HEIGHT, PANEL_ROWS, PANEL_VECTORS, WIDE_PANEL_VECTORS, jit, reduction_jit
from .intrinsics import panel_width, stack_panel, vector_add_row, vector_sweep, vectors_width, view, wide_vectors
from .activations import IDENTITY, activation_derivative_times, activation_forward, bias_activation_forward

# From this many inputs, dW1 = dZ1·Xᵀ runs in panels over a transposed copy of the X tile
# (linear_backward_weights_tile); below it, a panel would be mostly padding and the dot
# products over T win.
TRANSPOSE_MIN_K = 32

# Register panels sweep C one block of columns at a time (every row panel, then the next
# block) while A fits in this many bytes, and one row panel at a time (every block of
# columns) once A is larger. The first order reads all of A once per block of columns,
# the second all of B once per row panel: whichever is re-read should be the one that
# stays in cache. At mnist and wide, A is W1 (784 KiB and 6.1 MiB in float64) or the
# dZ1 tile, and sweeping A once per block of columns drew it from L2 or L3 each time: row
# panel by row panel was faster at mnist and wide in both dtypes. Up to 32 KiB, A stays in
# L1 in either order, and the first order was as fast or faster (d4374ab has the numbers).
ROW_PANELS_FIRST_BYTES = 2**15


@reduction_jit
def _dots_4x4(C, A, B, i, q):
    """C[i:i+4, q:q+4] += A[i:i+4]·B[q:q+4]ᵀ."""
    wide_vectors()
    a0, a1, a2, a3 = A[i], A[i + 1], A[i + 2], A[i + 3]
    b0, b1, b2, b3 = B[q], B[q + 1], B[q + 2], B[q + 3]
    zero = A.dtype.type(0)
    s00 = s01 = s02 = s03 = s10 = s11 = s12 = s13 = zero
    s20 = s21 = s22 = s23 = s30 = s31 = s32 = s33 = zero
    for j in range(a0.shape[0]):
        x0, x1, x2, x3 = b0[j], b1[j], b2[j], b3[j]
        y = a0[j]
        s00 += y * x0
        s01 += y * x1
        s02 += y * x2
        s03 += y * x3
        y = a1[j]
        s10 += y * x0
        s11 += y * x1
        s12 += y * x2
        s13 += y * x3
        y = a2[j]
        s20 += y * x0
        s21 += y * x1
        s22 += y * x2
        s23 += y * x3
        y = a3[j]
        s30 += y * x0
        s31 += y * x1
        s32 += y * x2
        s33 += y * x3
    c = C[i]
    c[q], c[q + 1], c[q + 2], c[q + 3] = c[q] + s00, c[q + 1] + s01, c[q + 2] + s02, c[q + 3] + s03
    c = C[i + 1]
    c[q], c[q + 1], c[q + 2], c[q + 3] = c[q] + s10, c[q + 1] + s11, c[q + 2] + s12, c[q + 3] + s13
    c = C[i + 2]
    c[q], c[q + 1], c[q + 2], c[q + 3] = c[q] + s20, c[q + 1] + s21, c[q + 2] + s22, c[q + 3] + s23
    c = C[i + 3]
    c[q], c[q + 1], c[q + 2], c[q + 3] = c[q] + s30, c[q + 1] + s31, c[q + 2] + s32, c[q + 3] + s33


@reduction_jit
def _dots_1x4(C, A, B, i, q):
    """C[i, q:q+4] += A[i]·B[q:q+4]ᵀ (the rows left over below a multiple of 4)."""
    wide_vectors()
    a = A[i]
    b0, b1, b2, b3 = B[q], B[q + 1], B[q + 2], B[q + 3]
    zero = A.dtype.type(0)
    s0 = s1 = s2 = s3 = zero
    for j in range(a.shape[0]):
        y = a[j]
        s0 += y * b0[j]
        s1 += y * b1[j]
        s2 += y * b2[j]
        s3 += y * b3[j]
    c = C[i]
    c[q], c[q + 1], c[q + 2], c[q + 3] = c[q] + s0, c[q + 1] + s1, c[q + 2] + s2, c[q + 3] + s3


@reduction_jit
def dot(a, b):
    """Σ a[j]·b[j]. Shapes: a, b (n,)."""
    wide_vectors()
    s = a.dtype.type(0)
    for j in range(a.shape[0]):
        s += a[j] * b[j]
    return s


@reduction_jit
def row_sum(a):
    """Σ a[j]. Shapes: a (n,)."""
    wide_vectors()
    s = a.dtype.type(0)
    for j in range(a.shape[0]):
        s += a[j]
    return s


@jit
def matmul_nt_add(C, A, B):
    """C += A·Bᵀ. Shapes: C (r, k), A (r, n), B (k, n); all C-contiguous."""
    r, k = C.shape
    r4, k4 = r - r % 4, k - k % 4
    for i in range(0, r4, 4):
        for q in range(0, k4, 4):
            _dots_4x4(C, A, B, i, q)
    for i in range(r4, r):
        for q in range(0, k4, 4):
            _dots_1x4(C, A, B, i, q)
    for i in range(r):
        for q in range(k4, k):
            C[i, q] += dot(A[i], B[q])


def _sweep(acc, A, B, i, j0, vectors):
    """acc[q] += A[i + q, k]·B[k, j0 : j0 + w] for k = 0, 1, ... in order, for each row q
    of acc (rows past A's last read its last row): a register panel's inner loop, w =
    vectors_width(A, vectors). Shapes: acc (rows, w) accumulators, A (r, p), B (p, n).

    Resolved when compiling (the overload below): intrinsics.vector_sweep for C-ordered A
    and B, else a loop; inlined into _panel, where acc lives: accumulators must stay in
    the function that holds the loop to stay in registers (intrinsics.stack_panel)."""


def _panel_columns(B, j0, skip, w):
    """The (B', j) that _sweep reads a panel's w columns from, starting at j0: B and j0
    themselves, or, for B packed (pack_transposed; 3-D), the panel's block (j0 + skip) // w
    and 0, skip being the panel's columns that belong to the block before it (_panels)."""


@overload(_panel_columns, inline="always")
def _panel_columns_for(B, j0, skip, w):
    if B.ndim == 3:
        # An int64 zero, not a literal one: the same compiled sweep as unpacked operands'.
        return lambda B, j0, skip, w: (B[(j0 + skip) // w], np.int64(0))
    return lambda B, j0, skip, w: (B, j0)


def _sweep_rows(acc, A, B, i, j0, vectors):
    # Any panel, for operands vector_sweep does not take (the twin tests' F-ordered and
    # strided layouts; the kernels' own tiles are C-ordered).
    h, w = acc.shape
    last = A.shape[0] - 1
    # Unsigned column indices: Numba wraps negative indices, and that per-element select
    # turns the loads of B into gathers.
    j0u, wu = np.uint64(j0), np.uint64(w)
    for k in range(A.shape[1]):
        b = B[k]
        for q in range(h):
            y, s = A[min(i + q, last), k], acc[q]
            for j in range(wu):
                s[j] += y * b[j0u + j]


@overload(_sweep, inline="always")
def _sweep_for(acc, A, B, i, j0, vectors):
    if A.layout == "C" and B.layout == "C":
        # LLVM leaves plain loops of these panels short of the FMA units (scalar FMAs on
        # stack slots, or spills); the intrinsic writes its vectors out.
        return lambda acc, A, B, i, j0, vectors: vector_sweep(acc, A, B, i, j0, vectors)
    return _sweep_rows


def _add_row(c, j0, s, vectors):
    """c[j0 : j0 + w] += s[:w], w = vectors_width(c, vectors): one row of a register
    panel's sums added into C. Resolved when compiling: intrinsics.vector_add_row for
    C-ordered rows, else a loop (the twin tests' F-ordered and strided C). Shapes: c (n,),
    s (>= w,)."""


def _add_row_loop(c, j0, s, vectors):
    j0u, wu = np.uint64(j0), np.uint64(vectors_width(c, vectors))  # unsigned: see _sweep_rows
    for j in range(wu):
        c[j0u + j] += s[j]


@overload(_add_row, inline="always")
def _add_row_for(c, j0, s, vectors):
    if c.layout == "C" and s.layout == "C":
        return lambda c, j0, s, vectors: vector_add_row(c, j0, s, vectors)
    return _add_row_loop


@jit
def _panel(C, A, B, i, j0, skip, bias, code, vectors):
    """C[i:i+h, j0+skip:j0+w] += (A[i:i+h]·B[:, j0:j0+w])[:, skip:], h = PANEL_HEIGHT
    rows and w = vectors_width(A, vectors) columns (vectors a literal int: each width is
    a compiled panel of its own): one register panel. Rows past C's last are computed
    from its last row and dropped.

    With a bias (r, 1) instead of None, the panel finishes a layer instead:
    C[i:i+h, j0:j0+w] = g(bias + A·B), g the activation `code` (dense_forward), or no
    activation for code IDENTITY (linear_forward).

    Shapes: C (r, n), A (r, p), B (p, n), with j0 + w <= n; or B packed (pack_transposed),
    (ceil(n / w), p, w).
    """
    wide_vectors()
    w = vectors_width(A, vectors)
    h = PANEL_HEIGHT
    acc = carray(stack_panel(A), (h, w))
    for q in range(h):
        s = acc[q]
        for j in range(w):
            s[j] = 0
    Bw, jw = _panel_columns(B, j0, skip, w)
    _sweep(acc, A, Bw, i, jw, vectors)
    last = C.shape[0] - 1
    if bias is not None:
        # Overwriting the previous panel's `skip` columns writes the values it wrote: the
        # same sums, in the same order.
        for q in range(min(h, last + 1 - i)):
            bias_activation_forward(C[i + q, j0 : j0 + w], acc[q], bias[i + q, 0], code)
        return
    # The first `skip` columns belong to the previous panel: add zeros there, so that every
    # row adds whole vectors.
    for q in range(h):
        s = acc[q]
        for j in range(skip):
            s[j] = 0
    for q in range(min(h, last + 1 - i)):
        _add_row(C[i + q], j0, acc[q], vectors)


@jit
def matmul_add(C, A, B):
    """C += A·B. Shapes: C (r, n), A (r, p), B (p, n).

    Register panels (_panel) cover C, in blocks of w columns and h rows (_panels
    picks the order). The last block of columns is moved left to end at column n and
    stores only its new columns. Each element is C + (A[i, 0]·B[0, j] +
    A[i, 1]·B[1, j] + ..., summed in that order).

    Copying each block of B into contiguous rows first (so that it stays in L1) was
    measured and was no faster. With everything in L1, one panel's loop is bound by the
    loads of both A and B, not of one kind: hoisting either out of it gained little
    (d8bb299 has the numbers).
    """
    if not panels_suit(C, A):
        _matmul_add_rows(C, A, B)
        return
    _panels(C, A, B, None, 0)


@jit
def panels_suit(C, A, finished=False):
    """True if C = A·B should run in register panels: C += A·B, or with finished=True
    the layer g(bias + A·B) that dense_forward forms in them. Shapes: C (r, n), A (r, p).
    """
    # A panel of mostly padding never pays. Nor, for C += A·B, does a sum shorter than the
    # panel's width: it does not repay zeroing the accumulators and adding them back into
    # C. A finished panel adds nothing back, and saves the row loop's bias fill and
    # separate activation pass, so it pays from half its width; shorter sums lost with
    # relu (549678a has the numbers).
    w = panel_width(A)
    k_min = w // 2 if finished else w
    return C.shape[0] >= PANEL_ROWS and C.shape[1] >= w and A.shape[1] >= k_min


@jit
def _panels(C, A, B, bias, code):
    """Register panels over all of C (see matmul_add), WIDE_PANEL_VECTORS vectors wide
    where C is at least that wide (wide_panels), else PANEL_VECTORS; bias and code as in
    _panel. Shapes: C (r, n), A (r, p), B (p, n), or B packed as _panel takes it, in
    blocks of the panels' width."""
    if wide_panels(C):
        _panels_of(C, A, B, bias, code, WIDE_PANEL_VECTORS)
    else:
        _panels_of(C, A, B, bias, code, PANEL_VECTORS)


@jit(inline="always")
def wide_panels(C):
    """True if products into C run in panels WIDE_PANEL_VECTORS vectors wide: C has at
    least that many columns (a block of columns is never wider than C). A B packed for
    _panels is packed in blocks of that width too (linear_backward_weights_tile)."""
    return C.shape[1] >= vectors_width(C, WIDE_PANEL_VECTORS)


@jit(inline="always")
def _panels_of(C, A, B, bias, code, vectors):
    """_panels with panels `vectors` vectors wide (a literal int, passed on to _panel), in
    the order ROW_PANELS_FIRST_BYTES picks.

    Every panel computes its own elements from A and B alone, so neither the order nor
    the width changes any bits. A row's last block of columns (moved left to end at column
    n) still follows the block whose columns it overlaps, in either order.
    """
    r, n = C.shape
    w = vectors_width(A, vectors)
    h = PANEL_HEIGHT
    if A.size * A.itemsize <= ROW_PANELS_FIRST_BYTES:
        for j_from in range(0, n, w):
            j0 = min(j_from, n - w)
            for i in range(0, r, h):
                _panel(C, A, B, i, j0, j_from - j0, bias, code, vectors)
    else:
        for i in range(0, r, h):
            for j_from in range(0, n, w):
                j0 = min(j_from, n - w)
                _panel(C, A, B, i, j0, j_from - j0, bias, code, vectors)


@jit
def _matmul_add_rows(C, A, B):
    """C += A·B, the vector loop along the rows of C. Shapes: C (r, n), A (r, p), B (p, n).

    For the products a register panel does not suit (see matmul_add). Each element is
    summed into C in the order p = 0, 1, 2, ...
    """
    wide_vectors()
    r, n = C.shape
    p = A.shape[1]
    p4 = p - p % 4
    r4 = r - r % 4
    # Four rows at a time share each load of B's rows: per vector of j, 8 loads, 4 stores
    # and 16 FMAs instead of 5 loads and a store per 4 FMAs, which bound the one-row loop
    # (5b1444d). Each element is the same expression either way.
    for i in range(0, r4, 4):
        c0, c1, c2, c3 = C[i], C[i + 1], C[i + 2], C[i + 3]
        for k in range(0, p4, 4):
            b0, b1, b2, b3 = B[k], B[k + 1], B[k + 2], B[k + 3]
            a00, a01, a02, a03 = A[i, k], A[i, k + 1], A[i, k + 2], A[i, k + 3]
            a10, a11, a12, a13 = A[i + 1, k], A[i + 1, k + 1], A[i + 1, k + 2], A[i + 1, k + 3]
            a20, a21, a22, a23 = A[i + 2, k], A[i + 2, k + 1], A[i + 2, k + 2], A[i + 2, k + 3]
            a30, a31, a32, a33 = A[i + 3, k], A[i + 3, k + 1], A[i + 3, k + 2], A[i + 3, k + 3]
            for j in range(n):
                c0[j] = c0[j] + a00 * b0[j] + a01 * b1[j] + a02 * b2[j] + a03 * b3[j]
                c1[j] = c1[j] + a10 * b0[j] + a11 * b1[j] + a12 * b2[j] + a13 * b3[j]
                c2[j] = c2[j] + a20 * b0[j] + a21 * b1[j] + a22 * b2[j] + a23 * b3[j]
                c3[j] = c3[j] + a30 * b0[j] + a31 * b1[j] + a32 * b2[j] + a33 * b3[j]
        for k in range(p4, p):
            b0 = B[k]
            a00, a10, a20, a30 = A[i, k], A[i + 1, k], A[i + 2, k], A[i + 3, k]
            for j in range(n):
                c0[j] = c0[j] + a00 * b0[j]
                c1[j] = c1[j] + a10 * b0[j]
                c2[j] = c2[j] + a20 * b0[j]
                c3[j] = c3[j] + a30 * b0[j]
    for i in range(r4, r):
        c = C[i]  # a row slice: unit-stride vector loads, never a gather
        for k in range(0, p4, 4):
            a0, a1, a2, a3 = A[i, k], A[i, k + 1], A[i, k + 2], A[i, k + 3]
            b0, b1, b2, b3 = B[k], B[k + 1], B[k + 2], B[k + 3]
            for j in range(n):
                c[j] = c[j] + a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j]
        for k in range(p4, p):
            a0 = A[i, k]
            b0 = B[k]
            for j in range(n):
                c[j] = c[j] + a0 * b0[j]


@jit
def row_sums_add(s, A):
    """s += Σ_cols A, the axis-1 sum. Shapes: s (r, 1), A (r, n)."""
    for i in range(A.shape[0]):
        s[i, 0] += row_sum(A[i])


@jit
def divide(G, m):
    """G = G·(1/m) in place, sums into means, as step.reduce_block forms them. Shapes: G (r, k)."""
    wide_vectors()
    inv = 1.0 / m  # see reduce_block
    for i in range(G.shape[0]):
        g = G[i]
        for j in range(g.shape[0]):
            g[j] *= inv


@jit
def _fill_bias(Z, b):
    for i in range(Z.shape[0]):
        Z[i, :] = b[i, 0]


@jit
def linear_forward(Z, W, X, b):
    """Z = W·X + b. Shapes: Z (r, T), W (r, k), X (k, T), b (r, 1).

    In register panels where dense_forward would use them, each finished with the bias
    (Z is not filled with it first): then dense_forward equals this call followed by
    activation_forward, bit for bit, for every shape. Elsewhere, in the row loop.
    """
    wide_vectors()
    if panels_suit(Z, W, True):
        # The code as an int64, not the literal 3: the same compiled _panels as
        # dense_forward's, not a second copy specialised to the constant.
        _panels(Z, W, X, b, np.int64(IDENTITY))
    else:
        _fill_bias(Z, b)
        _matmul_add_rows(Z, W, X)


@jit
def dense_forward(A, Z, W, X, b, code):
    """A = g(W·X + b), g the activation `code`; Z is scratch of A's shape, used only where
    the product does not run in register panels. Shapes: A, Z (r, T), W (r, k), X (k, T),
    b (r, 1); A and Z distinct.

    In panels, each block of W·X is finished (bias, activation) while still in registers
    (_panel), so Z is neither filled with the bias nor written and read back (faster
    than linear_forward then activation_forward; 806971a has the numbers). Otherwise it
    is those two calls. Both ways give the same bits:
    linear_forward uses panels for the same shapes (panels_suit(..., True)).
    """
    if panels_suit(A, W, True):
        _panels(A, W, X, b, code)
    else:
        linear_forward(Z, W, X, b)
        activation_forward(A, Z, code)


@jit
def linear_backward_weights(dW, db, dZ, X):
    """dW += dZ·Xᵀ and db += Σ_cols dZ (unnormalised: the caller divides by m).

    Shapes: dW (r, k), db (r, 1), dZ (r, T), X (k, T).
    """
    matmul_nt_add(dW, dZ, X)
    row_sums_add(db, dZ)


@jit(inline="always")
def linear_backward_weights_tile(dW, db, dZ, X, xt, transposed):
    """linear_backward_weights on one tile, by the faster product for its shape. From
    TRANSPOSE_MIN_K inputs, the sum over T is the inner dimension: register panels run
    over Xᵀ packed into the scratch xt (pack_transposed), or, where panels do not suit
    (panels_suit), the row loop over Xᵀ transposed into it. Narrower, dot products over T.

    Packed, each step of a panel's sum reads one run of w values of Xᵀ, where over Xᵀ
    itself it read w values from each of its rows, k values apart; the packing copy
    replaces the transpose. The panels sum each element as matmul_add(dW, dZ, Xᵀ) would.

    With transposed, dW is the sums kept transposed, dWᵀ (k, r), and the product is
    dWᵀ += X·dZᵀ over dZᵀ packed, r·T values where Xᵀ is k·T (planning.transposed_sums
    says when that pays). Each element is the same products summed in the same order as
    without, wherever both take panels for the same tiles (r at least a panel's width and
    k at least TRANSPOSE_MIN_K): the same bits.

    Shapes: dW (r, k) or, transposed, (k, r); db (r, 1), dZ (r, T), X (k, T) C-contiguous;
    xt (>= weights_scratch_size(k, T, dW),) or, transposed, (>= packed_size(r, T, dW),)
    flat scratch, overwritten.

    Inlined (config's note on compile time): its one call site is in step.chunk_gradients.
    """
    if transposed:
        A, B = X, dZ
    elif X.shape[0] < TRANSPOSE_MIN_K:
        linear_backward_weights(dW, db, dZ, X)
        return
    else:
        A, B = dZ, X
    # C += A·Bᵀ: one body for both orders.
    k, n = B.shape
    if panels_suit(dW, A):
        # Blocks as wide as the panels that read them (_panels).
        w = vectors_width(dW, WIDE_PANEL_VECTORS) if wide_panels(dW) else panel_width(dW)
        Bp = view(xt, (-(-k // w), n, w))
        pack_transposed(Bp, B)
        _panels(dW, A, Bp, None, 0)
    else:
        BT = view(xt, (n, k))
        transpose(BT, B)
        _matmul_add_rows(dW, A, BT)
    row_sums_add(db, dZ)


@jit
def weights_scratch_size(k, n, like):
    """The flat scratch linear_backward_weights_tile needs for X (k, n), in values of
    like's dtype: none below TRANSPOSE_MIN_K inputs; else Xᵀ in whole blocks of
    panel_width columns (pack_transposed)."""
    if k < TRANSPOSE_MIN_K:
        return 0
    return packed_size(k, n, like)


@jit
def packed_size(k, n, like):
    """The values of like's dtype that X (k, n) takes packed (pack_transposed): Xᵀ in whole
    blocks of panel columns, of either width (_panels)."""
    w = vectors_width(like, WIDE_PANEL_VECTORS)  # whole wide blocks hold whole narrow ones
    return n * -(-k // w) * w


@jit
def linear_backward_input(dX, WT, dZ):
    """dX = Wᵀ·dZ, given WT = Wᵀ. Shapes: dX (k, T), WT (k, r), dZ (r, T)."""
    dX[:, :] = 0
    matmul_add(dX, WT, dZ)


@jit(inline="always")
def hidden_backward(dZ, WT, dY, A, code):
    """dZ = (Wᵀ·dY) ∘ g'(A), the hidden layer's delta, given WT = Wᵀ; g' is the derivative
    of the activation `code`, from its output A. Shapes: dZ, A (k, T), WT (k, r), dY (r, T).

    Row by row: each row of Wᵀ·dY is scaled by g' while it is still in L1, instead of
    being written whole and read back (linear_backward_input, then
    activations.activation_backward). Each element is the same expression: the products'
    sum in the order p = 0, 1, ..., as _matmul_add_rows forms it, times g'.

    Inlined (config's note on compile time): its one call site is in step.chunk_gradients.
    """
    wide_vectors()
    p = WT.shape[1]
    p4 = p - p % 4
    for i in range(dZ.shape[0]):
        c = dZ[i]
        for j in range(c.shape[0]):
            c[j] = 0
        for k in range(0, p4, 4):
            a0, a1, a2, a3 = WT[i, k], WT[i, k + 1], WT[i, k + 2], WT[i, k + 3]
            b0, b1, b2, b3 = dY[k], dY[k + 1], dY[k + 2], dY[k + 3]
            for j in range(c.shape[0]):
                c[j] = c[j] + a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j]
        for k in range(p4, p):
            a0 = WT[i, k]
            b0 = dY[k]
            for j in range(c.shape[0]):
                c[j] = c[j] + a0 * b0[j]
        activation_derivative_times(c, A[i], code)


@jit
def pack_transposed(Bp, X):
    """Bp[J, t, c] = X[min(J·w, k − w) + c, t]: Xᵀ's columns in blocks of w =
    panel_width, each block stored t-major (w contiguous values per row), the last block
    moved left to end at column k as _panels moves it. Shapes: Bp (ceil(k / w), n, w),
    X (k, n) with k >= w.

    Block J is the transpose of w rows of X: transpose writes it.
    """
    k = X.shape[0]
    w = Bp.shape[2]
    for J in range(Bp.shape[0]):
        c0 = min(J * w, k - w)
        transpose(Bp[J], X[c0 : c0 + w])


@jit
def transpose(out, A):
    """out = Aᵀ. Shapes: out (n, r), A (r, n).

    Eight rows of A at a time: column j of those rows is 8 consecutive elements of row j
    of out, so reads stream along 8 rows and writes fill whole cache lines (several times
    faster than one element per row of out: 3aa3bfe).
    """
    r, n = A.shape
    r8 = r - r % 8
    for i in range(0, r8, 8):
        a0, a1, a2, a3, a4, a5, a6, a7 = A[i], A[i + 1], A[i + 2], A[i + 3], A[i + 4], A[i + 5], A[i + 6], A[i + 7]
        for j in range(n):
            o = out[j]
            o[i], o[i + 1], o[i + 2], o[i + 3] = a0[j], a1[j], a2[j], a3[j]
            o[i + 4], o[i + 5], o[i + 6], o[i + 7] = a4[j], a5[j], a6[j], a7[j]
    for i in range(r8, r):
        a = A[i]
        for j in range(n):
            out[j, i] = a[j]
