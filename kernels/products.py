"""Matrix products and axis-1 sums on C-contiguous tiles.

Legend: n_x features, n_h hidden units, n_y outputs, T examples in a tile.
Every product the network needs is one of three shapes:

    linear_forward              Z  = W·X + b      Z (r, T), W (r, k), X (k, T), b (r, 1)
    linear_backward_weights     dW += dZ·Xᵀ       dW (r, k), dZ (r, T), X (k, T)
                                db += Σ_cols dZ   db (r, 1)
    linear_backward_weights_xt  the same, given XT = Xᵀ (T, k)
    linear_backward_input       dX = Wᵀ·dZ        dX (k, T), WT (k, r), dZ (r, T)

The two first-layer products are the hot ones (r = n_h, k = n_x). Both go through
matmul_add, which keeps the vector loop over the contiguous last axis of the output, so
that it never reduces across vector lanes: every element C[i, j] is summed in the order
p = 0, 1, 2, ..., exactly as written, whatever the vector width. That order is what makes
results reproducible bit for bit without the "reassoc" fast-math flag. For dW1 this needs
the X tile transposed (linear_backward_weights_xt); the copy is small next to the product.

dW2 = dZ2·A1ᵀ has a small output (n_y, n_h) and would pay as much to transpose A1 as to
multiply, so it uses linear_backward_weights: a dot product per output element over
eight fixed lanes, combined in a fixed order.
"""

import numpy as np

from ._config import jit

# Width of a column panel of the output: the panel of each B row (8 * 256 bytes in float64)
# is reused across all rows of A while it is still in L1.
PANEL = 256
# Rows of B combined per pass over a row of C. Each pass reads C once and B four times per
# four FMAs; four B streams and one C stream stay under LLVM's limit on runtime alias
# checks, above which it gives up vectorising.
KBLOCK = 4


@jit
def matmul_add(C, A, B):
    """C += A·B, summing each element in order of the inner index.

    Shapes: C (r, n), A (r, p), B (p, n); all C-contiguous.
    """
    r, n = C.shape
    p = A.shape[1]
    p4 = p - p % KBLOCK
    for n0 in range(0, n, PANEL):
        n1 = min(n0 + PANEL, n)
        for i in range(r):
            c = C[i, n0:n1]  # a row slice: unit-stride vector loads, never a gather
            for k in range(0, p4, KBLOCK):
                a0 = A[i, k]
                a1 = A[i, k + 1]
                a2 = A[i, k + 2]
                a3 = A[i, k + 3]
                b0 = B[k, n0:n1]
                b1 = B[k + 1, n0:n1]
                b2 = B[k + 2, n0:n1]
                b3 = B[k + 3, n0:n1]
                for j in range(n1 - n0):
                    c[j] = c[j] + a0 * b0[j] + a1 * b1[j] + a2 * b2[j] + a3 * b3[j]
            for k in range(p4, p):
                a0 = A[i, k]
                b0 = B[k, n0:n1]
                for j in range(n1 - n0):
                    c[j] = c[j] + a0 * b0[j]


@jit
def _sum8(a):
    """Σ a[j] with eight independent lanes, combined in a fixed tree. Shapes: a (n,)."""
    n = a.shape[0]
    n8 = n - n % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = a.dtype.type(0)
    for j in range(0, n8, 8):
        s0 += a[j]
        s1 += a[j + 1]
        s2 += a[j + 2]
        s3 += a[j + 3]
        s4 += a[j + 4]
        s5 += a[j + 5]
        s6 += a[j + 6]
        s7 += a[j + 7]
    for j in range(n8, n):
        s0 += a[j]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@jit
def _dot8(a, b):
    """Σ a[j]·b[j] with eight independent lanes, combined in a fixed tree. Shapes: a, b (n,)."""
    n = a.shape[0]
    n8 = n - n % 8
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = a.dtype.type(0)
    for j in range(0, n8, 8):
        s0 += a[j] * b[j]
        s1 += a[j + 1] * b[j + 1]
        s2 += a[j + 2] * b[j + 2]
        s3 += a[j + 3] * b[j + 3]
        s4 += a[j + 4] * b[j + 4]
        s5 += a[j + 5] * b[j + 5]
        s6 += a[j + 6] * b[j + 6]
        s7 += a[j + 7] * b[j + 7]
    for j in range(n8, n):
        s0 += a[j] * b[j]
    return ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))


@jit
def matmul_nt_add(C, A, B):
    """C += A·Bᵀ, one fixed-order dot product per element.

    Shapes: C (r, k), A (r, n), B (k, n); all C-contiguous.
    """
    r, k = C.shape
    for i in range(r):
        for q in range(k):
            C[i, q] += _dot8(A[i], B[q])


@jit
def row_sums_add(s, A):
    """s += Σ_cols A, the axis-1 sum. Shapes: s (r, 1), A (r, n)."""
    for i in range(A.shape[0]):
        s[i, 0] += _sum8(A[i])


@jit
def linear_forward(Z, W, X, b):
    """Z = W·X + b. Shapes: Z (r, T), W (r, k), X (k, T), b (r, 1)."""
    for i in range(Z.shape[0]):
        Z[i, :] = b[i, 0]
    matmul_add(Z, W, X)


@jit
def linear_backward_weights(dW, db, dZ, X):
    """dW += dZ·Xᵀ and db += Σ_cols dZ (unnormalised: the caller divides by m).

    Shapes: dW (r, k), db (r, 1), dZ (r, T), X (k, T).
    """
    matmul_nt_add(dW, dZ, X)
    row_sums_add(db, dZ)


@jit
def linear_backward_weights_xt(dW, db, dZ, XT):
    """linear_backward_weights given the input tile already transposed, XT (T, k), so that
    the vector loop runs along the output's rows. Shapes: dW (r, k), db (r, 1), dZ (r, T)."""
    matmul_add(dW, dZ, XT)
    row_sums_add(db, dZ)


@jit
def linear_backward_input(dX, WT, dZ):
    """dX = Wᵀ·dZ, given WT = Wᵀ. Shapes: dX (k, T), WT (k, r), dZ (r, T)."""
    dX[:, :] = 0
    matmul_add(dX, WT, dZ)


@jit
def transpose(out, A):
    """out = Aᵀ. Shapes: out (n, r), A (r, n)."""
    r, n = A.shape
    for j in range(n):
        o = out[j]
        for i in range(r):
            o[i] = A[i, j]
