"""The first layer's products for a sparse X (see columns.py), without densifying it.

A tile's n examples are walked one at a time, and each stored value x = X[k, j] touches
one row of n_h values: for the forward pass row k of W1ᵀ, for the weight gradient row k
of dW1ᵀ. Kept transposed, (n_x, n_h), both rows are contiguous, so every stored value is
one unit-stride multiply-add over n_h lanes; in W1's own (n_h, n_x) layout it would be
n_h loads n_x apart. So a pass transposes W1 once (shared by every chunk), each chunk
accumulates its dW1ᵀ and transposes it into its slab when it is done, and the tiles go
through (n, n_h) transposes of Z1 and dZ1. The transposes cost O(n_h·n_x) per chunk,
the products O(n_h·nnz), so sparse wins where nnz is well below n_x·m divided by the
dense product's advantage per value (README, Performance, has the measured crossover).

Shapes: W1T, G (n_x, n_h); Zt, Dt (n, n_h); Z (n_h, n); b (n_h, 1).
"""

from .columns import example_index
from .config import jit
from .intrinsics import wide_vectors


@jit
def sparse_forward_rows(Zt, W1T, X, cols, j0):
    """Zt[j, :] = Σ_p data[p]·W1T[indices[p], :] over the stored values p of example j0 + j:
    the tile's (W1·X)ᵀ."""
    wide_vectors()
    data, indices, indptr = X
    zero = Zt.dtype.type(0)
    for j in range(Zt.shape[0]):
        z = Zt[j]
        for i in range(z.shape[0]):
            z[i] = zero
        c = example_index(cols, j0 + j)
        for p in range(indptr[c], indptr[c + 1]):
            v, w = data[p], W1T[indices[p]]
            for i in range(z.shape[0]):
                z[i] += v * w[i]


@jit
def sparse_weight_sums(G, Dt, X, cols, j0):
    """G[indices[p], :] += data[p]·Dt[j, :] over the stored values p of example j0 + j: the
    tile's dZ1·Xᵀ, transposed, added to G."""
    wide_vectors()
    data, indices, indptr = X
    for j in range(Dt.shape[0]):
        d = Dt[j]
        c = example_index(cols, j0 + j)
        for p in range(indptr[c], indptr[c + 1]):
            v, g = data[p], G[indices[p]]
            for i in range(d.shape[0]):
                g[i] += v * d[i]


@jit
def add_bias(Z, b):
    """Z += b, b broadcast over the columns."""
    wide_vectors()
    for i in range(Z.shape[0]):
        z, bi = Z[i], b[i, 0]
        for j in range(z.shape[0]):
            z[j] += bi
