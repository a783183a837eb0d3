"""Every kernel equals its NumPy twin in fastshallow.reference, across shapes, dtypes and
input layouts (C, F, strided).

One table, KERNELS, lists each kernel with its reference and how to call it; the test
walks the table. Kernels write into outputs passed first; these are C-contiguous here, as
the fused step gives them.
"""

import numpy as np
import pytest
from numba import njit

from fastshallow import reference as ref
from fastshallow.kernels import activations as act
from fastshallow.kernels import loss, plan, products, sparse
from fastshallow.kernels.config import CACHE_LINE, PANEL_ROWS, WIDE_PANEL_VECTORS, entry, panel_columns
from fastshallow.kernels.intrinsics import borrowed, keep_alive
from fastshallow.kernels.planning import MAX_TILE, MIN_TILE, TILE_BUDGET
from fastshallow.kernels.codes import Activation
from fastshallow.kernels.step import chunk_tiles
from helpers import DTYPES, LAYOUTS, assert_close, in_layout

# (r, k, n): output rows, inner dimension, columns. Covers 1s; rows and columns that do
# and do not fill products.matmul_add's register panels (6 rows; with AVX-512, 32 or 64
# columns where C has at least that many, else 16 or 32), and matmul_nt_add's 4 × 4
# blocks, in each direction; C narrower than a panel. Columns left over after whole
# panels take a panel moved left: (8, 40, 33), (10, 20, 61), (19, 70, 150) and, in the
# narrow panels of float64, (9, 30, 24); in float32 (8, 40, 33) and (10, 20, 61) take the
# narrow panels. Inner dimensions from half a panel's width up to it run in panels only
# where the panel finishes a layer (linear_forward, dense_forward): (12, 10, 40) in
# float64, (10, 20, 61) in float32. (21, 400, 50) has an A of 8,400 values, over
# products.ROW_PANELS_FIRST_BYTES in both dtypes, so its panels go row panel by row
# panel, with a last block moved left and a last row panel of 3 rows (W·X and Wᵀ·dZ both
# have such an A). dW = dZ·Xᵀ (linear_backward_weights_tile) runs in panels over Xᵀ packed
# at (8, 40, 33), (19, 70, 150) and (21, 400, 50), each with a last block of columns moved
# left; at (5, 40, 20), too few rows for a panel, in the row loop over Xᵀ transposed.
SHAPES = [
    (1, 1, 1), (4, 2, 64), (7, 5, 13), (3, 17, 100), (9, 6, 300), (8, 40, 33), (10, 20, 61), (12, 10, 40),
    (19, 70, 150), (21, 400, 50), (5, 40, 20), (9, 30, 24),
]


def _rand(rng, shape, dtype, layout="C", positive=False):
    a = rng.standard_normal(shape)
    if positive:
        a = np.abs(a)
    return in_layout(a.astype(dtype), layout)


def _linear_forward(rng, r, k, n, dt, lay):
    W, X, b = _rand(rng, (r, k), dt, lay), _rand(rng, (k, n), dt, lay), _rand(rng, (r, 1), dt, lay)
    Z = np.empty((r, n), dt)
    products.linear_forward(Z, W, X, b)
    return Z, ref.linear_forward(W, X, b)


def _dense_forward(rng, r, k, n, dt, lay):
    # Each activation, finished in the panels' epilogue where they suit; the same bits as
    # the two calls it replaces (and makes where they do not suit).
    W, X, b = _rand(rng, (r, k), dt, lay), _rand(rng, (k, n), dt, lay), _rand(rng, (r, 1), dt, lay)
    got, expected = [], []
    for member in Activation:
        name, code = member.name.lower(), int(member)
        A, Z = np.empty((r, n), dt), np.empty((r, n), dt)
        products.dense_forward(A, Z, W, X, b, code)
        Z2, A2 = np.empty((r, n), dt), np.empty((r, n), dt)
        products.linear_forward(Z2, W, X, b)
        act.activation_forward(A2, Z2, code)
        np.testing.assert_array_equal(A, A2, err_msg=f"dense_forward {name} against its two calls")
        got.append(A)
        expected.append(ref.ACTIVATIONS[name][0](ref.linear_forward(W.astype(np.float64), X, b)))
    return np.vstack(got), np.vstack(expected)


def _linear_backward_weights(rng, r, k, n, dt, lay):
    dZ, X = _rand(rng, (r, n), dt, lay), _rand(rng, (k, n), dt, lay)
    dW, db = np.zeros((r, k), dt), np.zeros((r, 1), dt)
    products.linear_backward_weights(dW, db, dZ, X)
    return np.hstack([dW, db]), np.hstack(ref.linear_backward_weights(dZ, X))


def _linear_backward_weights_tile(rng, r, k, n, dt, lay):
    # All three of its paths: the table's shapes have inner dimensions k on both sides of
    # TRANSPOSE_MIN_K, and in panels or not. The scratch starts as NaN, so a read before
    # the write would show.
    dZ, X = _rand(rng, (r, n), dt, lay), _rand(rng, (k, n), dt, lay)
    dW, db = np.zeros((r, k), dt), np.zeros((r, 1), dt)
    xt = np.full(products.weights_scratch_size(k, n, dZ), np.nan, dt)
    products.linear_backward_weights_tile(dW, db, dZ, X, xt, False)
    return np.hstack([dW, db]), np.hstack(ref.linear_backward_weights(dZ, X))


def _linear_backward_weights_tile_transposed(rng, r, k, n, dt, lay):
    # The sums kept transposed, dWᵀ (k, r): in panels over dZᵀ packed and in the row loop.
    # NaN scratch, as above.
    dZ, X = _rand(rng, (r, n), dt, lay), _rand(rng, (k, n), dt, lay)
    dWT, db = np.zeros((k, r), dt), np.zeros((r, 1), dt)
    xt = np.full(products.packed_size(r, n, dZ), np.nan, dt)
    products.linear_backward_weights_tile(dWT, db, dZ, X, xt, True)
    dW, db_ref = ref.linear_backward_weights(dZ, X)
    return np.hstack([dWT.T, db]), np.hstack([dW, db_ref])


def _panel_width(dt):
    return panel_columns(8 * np.dtype(dt).itemsize)


def _block_width(columns, dt):
    """The width of the panels into a C with this many columns (products.wide_panels)."""
    wide = panel_columns(8 * np.dtype(dt).itemsize, WIDE_PANEL_VECTORS)
    return wide if columns >= wide else _panel_width(dt)


def _pack_transposed(rng, r, k, n, dt, lay):
    # k + w rows: pack_transposed takes at least a block's width.
    w = _panel_width(dt)
    X = _rand(rng, (k + w, n), dt, lay)
    Bp = np.full((-(-(k + w) // w), n, w), np.nan, dt)
    products.pack_transposed(Bp, X)
    return Bp, ref.pack_transposed(X, w)


def _matmul_add(rng, r, k, n, dt, lay):
    # Accumulates into C: start from ones. Covers full, clamped and shifted panels.
    A, B = _rand(rng, (r, k), dt, lay), _rand(rng, (k, n), dt, lay)
    C = np.ones((r, n), dt)
    products.matmul_add(C, A, B)
    return C, 1 + A.astype(np.float64) @ B


def _transpose(rng, r, k, n, dt, lay):
    A = _rand(rng, (r, n), dt, lay)
    out = np.empty((n, r), dt)
    products.transpose(out, A)
    return out, A.T


def _matmul_nt_add(rng, r, k, n, dt, lay):
    # Accumulates into C: start from ones. Covers the 4x4, 1x4 and single-dot paths.
    A, B = _rand(rng, (r, n), dt, lay), _rand(rng, (k, n), dt, lay)
    C = np.ones((r, k), dt)
    products.matmul_nt_add(C, A, B)
    return C, 1 + A.astype(np.float64) @ B.T


def _linear_backward_input(rng, r, k, n, dt, lay):
    W, dZ = _rand(rng, (r, k), dt), _rand(rng, (r, n), dt, lay)
    dX = np.full((k, n), np.nan, dt)  # overwritten, not accumulated
    products.linear_backward_input(dX, in_layout(W.T, lay), dZ)
    return dX, ref.linear_backward_input(W, dZ)


def _row_sums(rng, r, k, n, dt, lay):
    A = _rand(rng, (r, n), dt, lay)
    s = np.zeros((r, 1), dt)
    products.row_sums_add(s, A)
    return s, ref.row_sums(A)


def _activation(name, direction):
    fwd = getattr(act, f"{name}_forward")
    bwd = getattr(act, f"{name}_backward")
    ref_fwd, ref_bwd = ref.ACTIVATIONS[name]
    code = int(Activation[name.upper()])

    def run(rng, r, k, n, dt, lay):
        Z = _rand(rng, (r, n), dt, lay) * dt(3)
        A = np.empty((r, n), dt)
        if direction == "forward":
            fwd(A, Z)
            A2 = np.empty_like(A)
            act.activation_forward(A2, Z, code)  # the dispatcher agrees to the bit
            np.testing.assert_array_equal(A, A2)
            return A, ref_fwd(Z.astype(np.float64))
        A_in = in_layout(ref_fwd(Z).astype(dt), lay)
        dA = _rand(rng, (r, n), dt, lay)
        dZ = np.empty((r, n), dt)
        bwd(dZ, dA, A_in)
        dZ2 = np.empty_like(dZ)
        act.activation_backward(dZ2, dA, A_in, code)
        np.testing.assert_array_equal(dZ, dZ2)
        return dZ, ref_bwd(dA.astype(np.float64), A_in.astype(np.float64))

    return run


def _labels(rng, r, n, dt, lay):
    return in_layout((rng.random((r, n)) < 0.5).astype(dt), lay)


def _bce_forward(rng, r, k, n, dt, lay):
    Z, Y = _rand(rng, (r, n), dt, lay) * dt(10), _labels(rng, r, n, dt, lay)
    L = np.empty((r, n), dt)
    loss.bce_forward(L, Z, Y)
    return L, ref.bce_forward(Z.astype(np.float64), Y)


def _bce_backward(rng, r, k, n, dt, lay):
    Z, Y = _rand(rng, (r, n), dt, lay) * dt(10), _labels(rng, r, n, dt, lay)
    dZ = np.empty((r, n), dt)
    loss.bce_backward(dZ, Z, Y)
    return dZ, ref.bce_backward(Z.astype(np.float64), Y)


def _bce_forward_backward(rng, r, k, n, dt, lay):
    Z, Y = _rand(rng, (r, n), dt, lay) * dt(10), _labels(rng, r, n, dt, lay)
    L, dZ = np.empty((r, n), dt), np.empty((r, n), dt)
    loss.bce_forward_backward(L, dZ, Z, Y)
    total = loss.loss_sum(L)
    Z64 = Z.astype(np.float64)
    return (
        np.vstack([L, dZ, np.full((1, n), total, dt)]),
        np.vstack([ref.bce_forward(Z64, Y), ref.bce_backward(Z64, Y), np.full((1, n), ref.bce_forward(Z64, Y).sum())]),
    )


def _one_hot(rng, r, n, dt, lay):
    return in_layout((np.arange(r)[:, None] == rng.integers(0, r, n)).astype(dt), lay)


def _softmax_forward(rng, r, k, n, dt, lay):
    Z = _rand(rng, (r, n), dt, lay) * dt(10)
    A, stats = np.empty((r, n), dt), np.empty((2, n), dt)
    loss.softmax_forward(A, Z, stats)
    return A, ref.softmax_forward(Z.astype(np.float64))


def _ce_forward(rng, r, k, n, dt, lay):
    Z, Y = _rand(rng, (r, n), dt, lay) * dt(10), _one_hot(rng, r, n, dt, lay)
    L, stats = np.empty((r, n), dt), np.empty((2, n), dt)
    loss.ce_forward(L, Z, Y, stats)
    return L, ref.ce_forward(Z.astype(np.float64), Y)


def _ce_forward_backward(rng, r, k, n, dt, lay):
    Z, Y = _rand(rng, (r, n), dt, lay) * dt(10), _one_hot(rng, r, n, dt, lay)
    L, dZ, stats = np.empty((r, n), dt), np.empty((r, n), dt), np.empty((2, n), dt)
    loss.ce_forward_backward(L, dZ, Z, Y, stats)
    Z64 = Z.astype(np.float64)
    return np.vstack([L, dZ]), np.vstack([ref.ce_forward(Z64, Y), ref.ce_backward(Z64, Y)])


def _sparse_tile(rng, k, n, dt):
    """A CSC X (k, 3n) at 20% density, the kernels' tuple of it, and the n columns of one
    tile: every other column from n/2 (so both the index lookup and empty columns run)."""
    import scipy.sparse

    X = scipy.sparse.random(k, 3 * n, density=0.2, random_state=int(rng.integers(1 << 30)), format="csc", dtype=dt)
    cols = np.arange(n, dtype=np.int64) * 2 + n // 2
    return X, (X.data, X.indices, X.indptr), cols


def _sparse_forward_rows(rng, r, k, n, dt, lay):
    # (W1·X)ᵀ of a tile, with W1ᵀ (k, r) in any layout.
    X, Xs, cols = _sparse_tile(rng, k, n, dt)
    W1T = _rand(rng, (k, r), dt, lay)
    Zt = np.empty((n, r), dt)
    sparse.sparse_forward_rows(Zt, W1T, Xs, cols, 0)
    return Zt, ref.sparse_forward_rows(W1T.astype(np.float64), X.astype(np.float64), cols)


def _sparse_weight_sums(rng, r, k, n, dt, lay):
    X, Xs, cols = _sparse_tile(rng, k, n, dt)
    G, Dt = _rand(rng, (k, r), dt), _rand(rng, (n, r), dt, lay)
    expected = ref.sparse_weight_sums(G.astype(np.float64), Dt.astype(np.float64), X.astype(np.float64), cols)
    sparse.sparse_weight_sums(G, Dt, Xs, cols, 0)
    return G, expected


# Every activation of the one table (kernels/codes.py), by its canonical name.
ACTIVATION_NAMES_CANONICAL = [code.name.lower() for code in Activation]

KERNELS = {
    "linear_forward": _linear_forward,
    "dense_forward": _dense_forward,
    "linear_backward_weights": _linear_backward_weights,
    "linear_backward_weights_tile": _linear_backward_weights_tile,
    "linear_backward_weights_tile transposed": _linear_backward_weights_tile_transposed,
    "matmul_add": _matmul_add,
    "matmul_nt_add": _matmul_nt_add,
    "transpose": _transpose,
    "pack_transposed": _pack_transposed,
    "linear_backward_input": _linear_backward_input,
    "row_sums_add": _row_sums,
    "sparse_forward_rows": _sparse_forward_rows,
    "sparse_weight_sums": _sparse_weight_sums,
    **{f"{a}_{d}": _activation(a, d) for a in ACTIVATION_NAMES_CANONICAL for d in ("forward", "backward")},
    "bce_forward": _bce_forward,
    "bce_backward": _bce_backward,
    "bce_forward_backward": _bce_forward_backward,
    "softmax_forward": _softmax_forward,
    "ce_forward": _ce_forward,
    "ce_forward_backward": _ce_forward_backward,
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(KERNELS))
def test_kernel_matches_reference(name, dtype, layout):
    rng = np.random.default_rng(42)
    for r, k, n in SHAPES:
        comp, expected = KERNELS[name](rng, r, k, n, dtype, layout)
        assert comp.dtype == dtype, f"{name} returned {comp.dtype} for {np.dtype(dtype).name} input"
        assert_close(comp, expected, dtype, f"{name} (r, k, n) = {(r, k, n)}, {layout}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_packed_weight_product_sums_as_the_transposed_one(dtype):
    # Packing moves operands, never sums: dW = dZ·Xᵀ over Xᵀ packed has the bits of the
    # panels over Xᵀ itself (matmul_add), so the step's results did not change with it.
    # The scratch afterwards holds Xᵀ packed: that path ran.
    # The blocks are as wide as the panels into dW (r, k) that read them (in float32, k = 37
    # takes the narrow ones).
    rng = np.random.default_rng(3)
    w = _panel_width(dtype)
    for r, k, n in [(9, 530, 33), (16, 784, w), (21, 777, 130), (12, products.TRANSPOSE_MIN_K + 5, 40)]:
        dZ, X = _rand(rng, (r, n), dtype), _rand(rng, (k, n), dtype)
        dW, db = np.ones((r, k), dtype), np.ones((r, 1), dtype)
        xt = np.full(products.weights_scratch_size(k, n, dZ), np.nan, dtype)
        products.linear_backward_weights_tile(dW, db, dZ, X, xt, False)
        packed = ref.pack_transposed(X, _block_width(k, dtype))
        np.testing.assert_array_equal(xt[: packed.size].reshape(packed.shape), packed)
        dW2 = np.ones((r, k), dtype)
        products.matmul_add(dW2, dZ, np.ascontiguousarray(X.T))
        np.testing.assert_array_equal(dW, dW2, err_msg=f"(r, k, n) = {(r, k, n)}")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_panel_widths_give_the_same_bits(dtype):
    # A C at least as wide as a wide panel (AVX-512) runs in wide panels, a narrower one
    # in narrow panels: each element is the same sum in the same order either way, so C's
    # first columns come out the same bits from both, added into C or finishing a layer.
    rng = np.random.default_rng(11)
    narrow = _panel_width(dtype)
    wide = panel_columns(8 * np.dtype(dtype).itemsize, WIDE_PANEL_VECTORS)
    n_wide, n_narrow = wide + narrow // 2, max(narrow, wide - 3)  # the two widths where they differ
    A, B = _rand(rng, (13, 57), dtype), _rand(rng, (57, n_wide), dtype)
    b = _rand(rng, (13, 1), dtype)
    whole, part = np.ones((13, n_wide), dtype), np.ones((13, n_narrow), dtype)
    products.matmul_add(whole, A, B)
    products.matmul_add(part, A, np.ascontiguousarray(B[:, :n_narrow]))
    np.testing.assert_array_equal(whole[:, :n_narrow], part)
    Z, Zp = np.empty((13, n_wide), dtype), np.empty((13, n_narrow), dtype)
    products.dense_forward(Z, np.empty_like(Z), A, B, b, int(Activation.TANH))
    products.dense_forward(Zp, np.empty_like(Zp), A, np.ascontiguousarray(B[:, :n_narrow]), b, int(Activation.TANH))
    np.testing.assert_array_equal(Z[:, :n_narrow], Zp)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_weight_sums_kept_transposed_are_the_same_bits(dtype):
    # linear_backward_weights_tile forms the same products in the same order with its sums
    # kept transposed or not, wherever both take panels for the same tiles (r at least a
    # panel's width, k at least TRANSPOSE_MIN_K; planning.transposed_sums asks for both):
    # dWᵀ is dW transposed, bit for bit, in panels (n >= w), with a last block of dWᵀ's
    # columns moved left (r = w + 7), and in the row loop (a tile narrower than a panel).
    rng = np.random.default_rng(5)
    w = _panel_width(dtype)
    for r, k, n in [(w, 784, w), (w + 7, 530, 33), (2 * w, products.TRANSPOSE_MIN_K, 130), (w + 7, 200, w - 3)]:
        dZ, X = _rand(rng, (r, n), dtype), _rand(rng, (k, n), dtype)
        dW, db = np.ones((r, k), dtype), np.ones((r, 1), dtype)
        products.linear_backward_weights_tile(dW, db, dZ, X, np.empty(products.weights_scratch_size(k, n, dZ), dtype),
                                              False)
        dWT, dbT = np.ones((k, r), dtype), np.ones((r, 1), dtype)
        products.linear_backward_weights_tile(dWT, dbT, dZ, X, np.empty(products.packed_size(r, n, dZ), dtype), True)
        np.testing.assert_array_equal(dWT.T, dW, err_msg=f"(r, k, n) = {(r, k, n)}")
        np.testing.assert_array_equal(dbT, db)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_shapes_reach_both_panel_orders(dtype):
    # products._panels sweeps C in one of two orders, chosen by A's size in bytes. The
    # table must reach both with products that run in panels (matmul_add's rule).
    itemsize = np.dtype(dtype).itemsize
    w = _panel_width(dtype)
    in_panels = [r * k * itemsize for r, k, n in SHAPES if r >= PANEL_ROWS and k >= w and n >= w]
    assert min(in_panels) <= products.ROW_PANELS_FIRST_BYTES < max(in_panels), in_panels


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("classes", [10, 100, 1000])
def test_cross_entropy_holds_when_many_classes_share_the_softmax(classes, dtype):
    # The table's logits are spread (x10), so a column's Σ exp(z - max) stays near 1. Near-
    # equal logits push it towards the number of classes, where log_sum_exp's log must still
    # hold: log1p(s - 1), used before, was 4e-5 off at 10 classes and 8% at 100 (float64).
    rng = np.random.default_rng(7)
    Z = (rng.standard_normal((classes, 50)) * 0.01).astype(dtype)
    Y = _one_hot(rng, classes, 50, dtype, "C")
    Z64 = Z.astype(np.float64)
    L, dZ, stats = np.empty_like(Z), np.empty_like(Z), np.empty((2, 50), dtype)
    loss.ce_forward(L, Z, Y, stats)
    assert_close(L, ref.ce_forward(Z64, Y), dtype, f"ce_forward, {classes} classes")
    loss.ce_forward_backward(L, dZ, Z, Y, stats)
    assert_close(L, ref.ce_forward(Z64, Y), dtype, f"ce_forward_backward's L, {classes} classes")
    assert_close(dZ, ref.ce_backward(Z64, Y), dtype, f"ce_forward_backward's dZ, {classes} classes")


@pytest.mark.parametrize("shape", [(2, 4, 1), (50, 100, 1), (20, 64, 1), (784, 128, 10), (784, 1024, 10)])
def test_a_mini_batch_of_several_tiles_is_several_chunks(shape):
    # A mini-batch of a few hundred examples uses more than one core: as many chunks as its
    # tiles while all slabs fit in cache, else up to SHARED_CHUNKS within SLAB_VALUES.
    from fastshallow.kernels.planning import CACHED_SLABS, SHARED_CHUNKS, SLAB_VALUES, param_count

    for itemsize in (4, 8):
        for m in (200, 700, 5000):
            C, T = plan(m, *shape, itemsize, 4)[:2]
            n_params = param_count(*shape)
            n_tiles = -(-m // T)
            assert C <= n_tiles and C & (C - 1) == 0
            if n_tiles >= 2 and (2 * n_params * itemsize <= CACHED_SLABS or 2 * n_params <= SLAB_VALUES):
                assert C >= 2, (shape, itemsize, m)
            if n_params * itemsize * C > CACHED_SLABS:
                assert C * n_params <= SLAB_VALUES
            if m < 1024 and n_params * itemsize * 2 > CACHED_SLABS:
                assert C <= SHARED_CHUNKS


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scratch_rows_start_on_cache_lines(dtype):
    # Numba aligns new arrays to 32 bytes only; a 64-byte vector load from a row that is
    # not on a line touches two lines (see intrinsics.aligned_empty).
    from fastshallow.kernels.intrinsics import aligned_empty, aligned_slots
    from fastshallow.kernels.step import gradient_slabs, workspace

    like = np.zeros(1, dtype)
    for size in (0, 1, 7, 16, 1000):
        a = aligned_empty(size, like)
        assert a.shape == (size,) and a.dtype == dtype and a.ctypes.data % CACHE_LINE == 0
        slots = aligned_slots(3, size, like)
        assert slots.shape[0] == 3 and slots.shape[1] >= size
        assert size == 0 or all(slots[s].ctypes.data % CACHE_LINE == 0 for s in range(3))
    from fastshallow.kernels.step import DW1T_SUMS, W1T_SCRATCH, W2T_SCRATCH, XT_TILE

    for sparse_x, transposed in ((False, 0), (True, 0), (False, 1)):
        ws = workspace(3, 70, 19, 3, 128, like, sparse_x, np.int64(transposed))
        assert ws[W2T_SCRATCH].shape == (19, 3)  # W2ᵀ and W1ᵀ are shared by every slot
        assert ws[W1T_SCRATCH].shape == ((70, 19) if sparse_x else (0, 19))
        assert ws[DW1T_SUMS].shape[1] >= (70 * 19 if sparse_x or transposed else 0)
        if not sparse_x:  # the packed X tile, or dZ1 packed where the sums are transposed
            assert ws[XT_TILE].shape[1] >= products.packed_size(19 if transposed else 70, 128, like)
        for k, buf in enumerate(ws):
            if k not in (W2T_SCRATCH, W1T_SCRATCH):
                assert buf.shape[1] == 0 or all(buf[s].ctypes.data % CACHE_LINE == 0 for s in range(3))
        # The buffers are carved from one allocation (step.workspace): none may overlap.
        for k, a in enumerate(ws):
            for b in ws[k + 1 :]:
                assert not np.shares_memory(a, b)
    params = (np.zeros((70, 19), dtype), np.zeros((70, 1), dtype), np.zeros((3, 70), dtype), np.zeros((3, 1), dtype))
    assert gradient_slabs(2, params)[0].ctypes.data % CACHE_LINE == 0


@njit(cache=True)
def _through_borrowed(X, value):
    """Write value at every element of X through borrowed(X); return its data address,
    shape and strides as borrowed sees them, and its elements' sum."""
    b = borrowed(X)
    for i in range(b.shape[0]):
        row = b[i]  # a slice of a borrowed array, borrowed too
        for j in range(row.shape[0]):
            row[j] = value
    return b.ctypes.data, b.shape, b.strides, b.sum()


@njit(cache=True)
def _addresses_borrowed(A, pair):
    """The data addresses of borrowed(A, pair): several arguments, one a tuple."""
    b, (c, d) = borrowed(A, pair)
    return b.ctypes.data, c.ctypes.data, d.ctypes.data


@pytest.mark.parametrize("layout", LAYOUTS)
def test_borrowed_is_the_same_memory_in_the_same_layout(layout):
    X = in_layout(np.zeros((3, 5)), layout)
    address, shape, strides, total = _through_borrowed(X, 2.0)
    assert (address, shape, strides) == (X.ctypes.data, X.shape, X.strides)
    assert total == 30.0 and np.all(X == 2.0)  # written through to the caller's array
    B, C = np.zeros(4), np.zeros((2, 2), np.float32)
    assert _addresses_borrowed(X, (B, C)) == (X.ctypes.data, B.ctypes.data, C.ctypes.data)


@njit(cache=True)
def _read_borrowed_after_churn(n):
    """Sum a borrowed array after allocating and filling arrays of its owner's size; the
    owner is held by keep_alive. Were it freed at its last use before that (borrowed), the
    allocator would hand its block to the first of those arrays."""
    owner = np.ones(n)
    b = borrowed(owner)
    junk = 0.0
    for k in range(4):
        a = np.empty(n)
        a[:] = -1.0
        junk += a[k]
    total = b.sum()
    keep_alive(owner)
    return total, junk


def test_keep_alive_keeps_the_memory_of_a_borrowed_array():
    n = 10_000
    total, junk = _read_borrowed_after_churn(n)
    assert junk == -4.0 and total == n


def _entry_toy():
    """A fresh entry kernel (no cache): out[0] = sum of X's column j (through load_tile)
    times w."""
    from fastshallow.kernels.step import load_tile

    @entry("X cols", any_layout="X")
    @njit(cache=False)
    def toy(out, X, cols, w):
        tile = np.empty((X.shape[0], 1), X.dtype)
        load_tile(tile, X, cols, 0)
        out[0] = tile.sum() * w

    return toy


def test_entry_compiles_once_for_every_layout_and_again_for_a_new_dtype():
    toy = _entry_toy()
    X = np.arange(12.0).reshape(3, 4)
    cols = np.array([2])
    out = np.zeros(1)
    for layout in (*LAYOUTS, "read-only"):
        x = in_layout(X, layout.replace("read-only", "C"))
        x.flags.writeable = layout != "read-only"
        toy(out, x, cols, 2.0)
        assert out[0] == 2.0 * X[:, 2].sum(), layout
    assert len(toy.overloads) == 1
    (sig,) = toy.signatures
    assert sig[1].layout == "A" and not sig[1].mutable and not sig[2].mutable and sig[0].mutable
    out32 = np.zeros(1, np.float32)
    toy(out32, X.astype(np.float32), cols, 2.0)  # no signature converts: compiles one
    assert out32[0] == 2.0 * X[:, 2].sum() and len(toy.overloads) == 2


def test_call_runs_an_entry_through_its_dispatcher_once_it_has_compiled():
    from fastshallow.kernels.config import call

    toy = _entry_toy()
    X, cols, out = np.arange(12.0).reshape(3, 4), np.array([2]), np.zeros(1)
    assert toy.direct is toy  # nothing compiled yet: the entry picks the signature
    for layout in LAYOUTS:
        call(toy, (out, in_layout(X, layout), cols, 2.0))
        assert out[0] == 2.0 * X[:, 2].sum(), layout
    assert toy.direct is toy._dispatcher and len(toy.overloads) == 1
    out32 = np.zeros(1, np.float32)
    call(toy, (out32, X.astype(np.float32), cols, 2.0))  # the dispatcher refuses it; the entry compiles
    assert out32[0] == 2.0 * X[:, 2].sum() and len(toy.overloads) == 2


def test_an_entry_says_which_calls_it_has_compiled_for_without_compiling(monkeypatch):
    # The engine asks Entry.compiled before it picks a parallel kernel (engine._parallel_pays):
    # every layout and writability of the read arrays converts to the one signature.
    from fastshallow.kernels import config

    toy = _entry_toy()

    def compiled(args):
        return toy.compiled(toy.signature(args))

    X, cols, out = np.arange(12.0).reshape(3, 4), np.array([2]), np.zeros(1)
    args = (out, X, cols, 2.0)
    assert not compiled(args) and len(toy.overloads) == 0
    sig = toy.signature(args)
    toy(*args)
    assert toy.signatures == [sig.types]
    read_only = X.copy()
    read_only.flags.writeable = False
    for x in (*(in_layout(X, layout) for layout in LAYOUTS), read_only):
        assert compiled((out, x, cols, 2.0)) and toy.signature((out, x, cols, 2.0)) == sig
    args32 = (np.zeros(1, np.float32), X.astype(np.float32), cols, 2.0)
    assert not compiled(args32) and toy.signature(args32) != sig and len(toy.overloads) == 1
    # Without Numba's fingerprints (a private function), the same answers, by typing.
    monkeypatch.setattr(config, "_compute_fingerprint", None)
    assert toy.signature((out, np.asfortranarray(X), cols, 1.0)) is sig and compiled(args)
    assert not compiled(args32)


def test_entry_reraises_what_no_compile_can_fix_and_keeps_working():
    from numba.core.errors import TypingError

    toy = _entry_toy()
    X, cols, out = np.ones((3, 4)), np.array([0]), np.zeros(1)
    toy(out, X, cols, 1.0)
    with pytest.raises(TypingError):
        toy(out, np.ones(4), cols, 1.0)  # a 1-D X: its signature does not type
    toy(out, np.asfortranarray(X), cols, 3.0)
    assert out[0] == 9.0 and len(toy.overloads) == 1
    with pytest.raises(TypeError, match="no argument 'Z'"):
        entry("Z")(toy._dispatcher)


def test_a_kernel_compiled_only_for_kernels_runs_from_python_through_its_twin():
    import numba
    from fastshallow.kernels.config import CompiledOnly, python_twin

    kernel = products.row_sums_add
    assert isinstance(kernel, CompiledOnly)  # no Python wrapper: calling it directly would crash
    A = np.arange(12.0).reshape(3, 4)
    s = np.ones((3, 1))
    kernel(s, A)
    assert np.array_equal(s, 1 + A.sum(axis=1, keepdims=True))
    twin = python_twin(kernel)
    assert python_twin(kernel) is twin and not isinstance(twin, CompiledOnly)
    assert (numba.typeof(s), numba.typeof(A)) in twin.signatures  # the call compiled the twin
    # Its own name, so its own cache files: Numba's index does not tell a wrapped entry
    # from an unwrapped one, and loading the kernel's for the twin would crash again.
    assert twin.py_func.__qualname__ != kernel.py_func.__qualname__
    assert twin.py_func.__code__ is kernel.py_func.__code__


def test_every_kernel_the_package_calls_from_python_keeps_its_wrapper():
    # Each one missing here would run through its twin: a second compile of it, and of
    # nothing else, for the package's own calls. Found by reading the package's imports
    # of kernels and its attribute uses of the kernel modules it imports.
    import ast
    import importlib
    import pathlib

    import fastshallow
    from numba.core.dispatcher import Dispatcher
    from fastshallow.kernels.config import CompiledOnly, Entry

    def check(obj, where):
        if isinstance(obj, Entry):
            obj = obj._dispatcher
        if isinstance(obj, Dispatcher):
            assert not isinstance(obj, CompiledOnly), where
            checked.append(where)

    checked = []
    for path in pathlib.Path(fastshallow.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        modules = {}  # the names this file gives kernel modules
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and (node.module or "").startswith("kernels"):
                source = importlib.import_module("fastshallow." + node.module)
                for alias in node.names:
                    obj = getattr(source, alias.name)
                    if hasattr(obj, "__file__"):
                        modules[alias.asname or alias.name] = obj
                    else:
                        check(obj, f"{path.name}: {node.module}.{alias.name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in modules:
                check(getattr(modules[node.value.id], node.attr), f"{path.name}: {node.value.id}.{node.attr}")
    assert "engine.py: _descent.gradient_step" in checked and "validation.py: kernels.checks.scan_problem" in checked


@pytest.mark.parametrize("m", [1, 127, 128, 129, 400, 40 * 128 + 7, 10**6])
@pytest.mark.parametrize("shape", [(2, 4, 1), (20, 64, 1), (784, 128, 10), (784, 1024, 10)])
def test_chunks_cover_every_tile_once_and_depend_only_on_shapes(shape, m):
    for itemsize in (4, 8):
        C, T, S, transposed = plan(m, *shape, itemsize, 4)
        assert S == min(C, 4)
        per_line = CACHE_LINE // itemsize
        assert T <= MAX_TILE and T % per_line == 0  # full tiles' scratch rows start on lines
        n_tiles = -(-m // T)
        assert n_tiles <= -(-m // MIN_TILE)  # no more tiles than MIN_TILE-wide ones need
        assert (T - per_line) * n_tiles < m  # even tiles: a line narrower, and they'd not cover m
        assert C & (C - 1) == 0 and 1 <= C <= n_tiles
        ranges = [chunk_tiles(c, C, m, T) for c in range(C)]
        assert ranges[0][0] == 0 and ranges[-1][1] == n_tiles
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert all(t1 > t0 for t0, t1 in ranges)
        if transposed:  # sums kept transposed pay over two tiles or more
            assert all(t1 - t0 >= 2 for t0, t1 in ranges)


def test_tiles_fit_the_budget_unless_at_the_minimum_width():
    # The flower problem runs in one tile; wide networks fall back to the minimum width.
    C, T = plan(400, 2, 4, 1, 8, 2)[:2]
    assert C == 1 and T >= 400
    for n_x, n_h, n_y in [(2, 4, 1), (20, 64, 1), (784, 128, 10), (784, 1024, 10)]:
        T = plan(10_000, n_x, n_h, n_y, 8, 2)[1]
        scratch = (3 * n_h + 2 * n_x + 4 * n_y) * T * 8
        assert scratch <= TILE_BUDGET or T == MIN_TILE


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_first_not_finite_matches_reference(dtype):
    # Its arrays are the engine's C-contiguous parameters (W1, b1, W2, b2), so C layout
    # only; every array, and the first and last value of each, takes each bad value.
    from fastshallow.kernels.checks import first_not_finite

    rng = np.random.default_rng(4)
    for n_x, n_h, n_y in [(1, 1, 1), (2, 4, 1), (33, 17, 3)]:
        arrays = tuple(rng.standard_normal(s).astype(dtype) for s in ((n_h, n_x), (n_h, 1), (n_y, n_h), (n_y, 1)))
        assert first_not_finite(arrays) == ref.first_not_finite(arrays) == -1
        for i in range(4):
            for where in (0, -1):
                for bad in (np.nan, np.inf, -np.inf):
                    broken = tuple(a.copy() for a in arrays)
                    broken[i].flat[where] = bad
                    broken[3].flat[0] = np.nan if i < 3 else broken[3].flat[0]  # a later one too
                    assert first_not_finite(broken) == ref.first_not_finite(broken) == i, (n_x, n_h, n_y, i, bad)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=lambda d: np.dtype(d).name)
def test_scan_problem_matches_reference(dtype, layout):
    # X and Y in every layout (read-only too, through config.entry); the parameters in
    # kernel form. Shapes that fit and that do not, bad values in each array, and rows
    # longer than a few vectors' worth of lanes.
    from fastshallow.kernels.checks import scan_problem

    def same(params, X, Y):
        got, expected = scan_problem(params, X, Y), ref.scan_problem(params, X, Y)
        assert got[0] == expected[0] and got[3] == expected[3]
        np.testing.assert_array_equal(np.array(got[1:3]), np.array(expected[1:3]))
        return got[0]

    rng = np.random.default_rng(5)
    nothing = np.empty((0, 0), dtype)
    for n_x, n_h, n_y, m in [(1, 1, 1, 1), (3, 4, 2, 9), (2, 5, 3, 1001)]:
        shapes = ((n_h, n_x), (n_h, 1), (n_y, n_h), (n_y, 1))
        params = tuple(rng.standard_normal(s).astype(dtype) for s in shapes)
        X = in_layout((rng.standard_normal((n_x, m)) * 9).astype(dtype), layout)
        Y = in_layout(rng.random((n_y, m)).astype(dtype), layout)
        assert same(params, X, Y) == same(params, X, nothing) == -1
        assert same(params, in_layout(rng.standard_normal((n_x + 1, m)).astype(dtype), layout), Y) == -2
        assert same(params, X, Y[:, : m - 1] if m > 1 else np.ones((n_y + 1, 1), dtype)) == -2
        assert same(params[:1] + (np.zeros((n_h, 2), dtype),) + params[2:], X, Y) == -2
        for bad in (np.nan, np.inf):
            for i in range(4):
                broken = tuple(a.copy() for a in params)
                broken[i].flat[-1] = bad
                assert same(broken, X, Y) == i
            Xb, Yb = np.array(X, order="K"), np.array(Y, order="K")
            Xb[-1, -1], Yb[0, 0] = bad, -bad
            same(params, in_layout(Xb, layout), in_layout(Yb, layout))
        # Memory: apart above (separate arrays, the strided ones with rows reversed). X and
        # Y cut from one buffer: neighbours in C order, interleaved in the others. b1 and
        # X in one flat buffer: touching, then sharing b1's last value.
        both = in_layout(rng.random((n_x + n_y, m)).astype(dtype), layout)
        same(params, both[:n_x], both[n_x:])
        flat = rng.random(n_h + n_x * m).astype(dtype)
        for start, apart in ((n_h, True), (n_h - 1, False)):
            shared = (params[0], flat[:n_h].reshape(n_h, 1), params[2], params[3])
            X_flat = flat[start : start + n_x * m].reshape(n_x, m)
            assert same(shared, X_flat, Y) == -1 and scan_problem(shared, X_flat, Y)[3] is apart


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_value_range_matches_reference(dtype, layout):
    # kernels/checks.py compares floats as integer keys: each value whose key is special
    # (both zeros, both NaNs, both infinities, the extremes, subnormals) at the first,
    # a middle and the last position, so in a vector body and in the loop's remainder.
    from fastshallow.kernels.checks import value_range

    info = np.finfo(dtype)
    special = [np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, info.max, -info.max, info.smallest_subnormal,
               -info.smallest_subnormal, info.tiny]
    rng = np.random.default_rng(3)
    for shape in [(1, 1), (3, 7), (40, 33), (2, 1001)]:
        a = in_layout((rng.standard_normal(shape) * 50).astype(dtype), layout)
        assert value_range(a) == ref.value_range(a), (shape, layout)
        for value in special:
            for where in ((0, 0), (shape[0] // 2, shape[1] // 2), (-1, -1)):
                b = a.copy(order="K")
                b[where] = value
                got, expected = value_range(in_layout(b, layout)), ref.value_range(b)
                np.testing.assert_array_equal(got, expected, err_msg=f"{shape} {layout} {value} at {where}")
    assert value_range(np.empty((3, 0), dtype)) == (np.inf, -np.inf)
