"""Output layers and their losses, on (n_y, T) tiles of logits Z (one column per example).

Four outputs (codes.Output), chosen by an integer code so that one compiled kernel
serves them all:
- SIGMOID: n_y independent sigmoids with binary cross-entropy (the seed's network for
  n_y = 1; multilabel targets for n_y > 1);
- SOFTMAX: a softmax over the n_y rows of each column, with categorical cross-entropy
  (multiclass targets; every column of Y sums to 1);
- IDENTITY: the logits themselves, with the squared error halved and averaged over the
  outputs (regression; also the decision functions, which want the logits);
- EXP: exp of the logits (a log link), with the Poisson loss (counts, Y >= 0).
Each output is the canonical link of its loss, so the delta at the logits is A - Y for
all four: the losses and deltas are scikit-learn's MLP ones.

Sigmoid. The loss of one element is computed from the logit z, never from a = sigmoid(z):

    -y·log(a) - (1 - y)·log(1 - a) = max(z, 0) - z·y + log1p(exp(-|z|))

The right side never takes the log of 0, so it stays finite when a rounds to 0 or 1
(|z| > 37 in float64, > 17 in float32), where the textbook form returns inf or NaN.
exp(-|z|) is in (0, 1], which is also all that sigmoid needs:
sigmoid(z) = 1/(1 + e) for z >= 0 and e/(1 + e) for z < 0, with e = exp(-|z|).

For sigmoid with cross-entropy the delta at the logits is simply A - Y: the 1/(a(1-a))
of the loss's derivative cancels sigmoid's a(1-a).

Softmax. With M = max_i z_i of a column and s = Σ_i exp(z_i - M) (so 1 <= s <= n_y),
log Σ_i exp(z_i) = M + log(s) without overflow, and the loss of element i is
y_i·(M + log(s) - z_i) >= 0: it sums over the column to -Σ_i y_i·log(softmax(z)_i), and
it is exactly 0 where y_i = 0, so no 0·inf appears. When Σ_i y_i = 1 the delta is
softmax(z) - y. The column statistics live in a (2, n) scratch `cs`: cs[0] the maximum M
(then M + log s), cs[1] the sum s (then 1/s).
"""

from . import elementary as em
from .config import jit
from .intrinsics import wide_vectors
from .activations import identity_forward, sigmoid_forward
from .codes import Output
from .products import row_sum

# The output codes are codes.Output's (one table for the whole project), as plain ints
# (see activations.py).
SIGMOID, SOFTMAX, IDENTITY, EXP = (int(o) for o in (Output.SIGMOID, Output.SOFTMAX, Output.IDENTITY, Output.EXP))


@jit
def bce_forward(L, Z, Y):
    """L = elementwise binary cross-entropy of the logits Z against Y. Shapes: L, Z, Y (r, n)."""
    wide_vectors()
    zero = Z.dtype.type(0)
    for i in range(Z.shape[0]):
        out = L[i]
        z = Z[i]
        y = Y[i]
        for j in range(z.shape[0]):
            e = em.exp(-abs(z[j]))
            out[j] = (z[j] if z[j] > zero else zero) - z[j] * y[j] + em.log1p(e)


@jit
def bce_backward(dZ, Z, Y):
    """dZ = sigmoid(Z) - Y. Shapes: dZ, Z, Y (r, n)."""
    wide_vectors()
    for i in range(Z.shape[0]):
        dz = dZ[i]
        z = Z[i]
        y = Y[i]
        for j in range(z.shape[0]):
            dz[j] = em.sigmoid(z[j]) - y[j]


@jit
def bce_forward_backward(L, dZ, Z, Y):
    """Both of the above with one exp per element. Shapes: L, dZ, Z, Y (r, n)."""
    wide_vectors()
    zero = Z.dtype.type(0)
    one = Z.dtype.type(1)
    for i in range(Z.shape[0]):
        out = L[i]
        dz = dZ[i]
        z = Z[i]
        y = Y[i]
        for j in range(z.shape[0]):
            zj = z[j]
            e = em.exp(-abs(zj))
            r = one / (one + e)
            positive = zj >= zero
            out[j] = (zj if positive else zero) - zj * y[j] + em.log1p(e)
            dz[j] = (r if positive else e * r) - y[j]


@jit
def loss_sum(L):
    """Σ of all elements of L: rows in order, each summed by products.row_sum.

    Returned in float64 whatever L's dtype, so a float32 cost does not lose digits over
    m examples. Shapes: L (r, n).
    """
    total = 0.0
    for i in range(L.shape[0]):
        total += row_sum(L[i])
    return total


@jit
def softmax_exp(E, Z, cs):
    """E = exp(Z - M) per column, with cs[0] = M the column maxima and cs[1] = Σ_rows E.

    Shapes: E, Z (r, n) with r >= 1, cs (2, n). Rows are walked in order with the columns
    as the vector lanes, so every loop is unit-stride in the row-major tiles.
    """
    wide_vectors()
    top, total = cs[0], cs[1]
    # Plain loops rather than slice assignments (top[:] = Z[0]), whose general
    # broadcasting code took seconds to compile for every caller of this kernel.
    z0 = Z[0]
    for j in range(z0.shape[0]):
        top[j] = z0[j]
        total[j] = 0
    for i in range(1, Z.shape[0]):
        z = Z[i]
        for j in range(z.shape[0]):
            top[j] = max(top[j], z[j])
    for i in range(Z.shape[0]):
        e = E[i]
        z = Z[i]
        for j in range(z.shape[0]):
            e[j] = em.exp(z[j] - top[j])
            total[j] += e[j]


@jit
def softmax_forward(A, Z, cs):
    """A = softmax of each column of Z. Shapes: A, Z (r, n), cs (2, n) scratch."""
    softmax_exp(A, Z, cs)
    inverse = cs[1]
    one = Z.dtype.type(1)
    for j in range(inverse.shape[0]):
        inverse[j] = one / inverse[j]
    for i in range(A.shape[0]):
        a = A[i]
        for j in range(a.shape[0]):
            a[j] *= inverse[j]


@jit
def log_sum_exp(cs):
    """cs[0] = M + log(s) and cs[1] = 1/s, from softmax_exp's cs[0] = M and cs[1] = s."""
    wide_vectors()
    top, total = cs[0], cs[1]
    one = top.dtype.type(1)
    for j in range(top.shape[0]):
        # s is in [1, r] (the maximum contributes exp(0)). A full log, not log1p(s - 1):
        # log1p's polynomial holds only up to s = 2.
        top[j] += em.log(total[j])
        total[j] = one / total[j]


@jit
def ce_from_lse(L, Z, Y, lse):
    """L = Y·(lse - Z) elementwise, lse (n,) the columns' log Σ exp. Shapes: L, Z, Y (r, n)."""
    wide_vectors()
    for i in range(Z.shape[0]):
        out = L[i]
        z = Z[i]
        y = Y[i]
        for j in range(z.shape[0]):
            out[j] = y[j] * (lse[j] - z[j])


@jit
def ce_forward(L, Z, Y, cs):
    """Elementwise categorical cross-entropy of softmax(Z) against Y (see the module
    docstring); summed over a column it is that example's loss. Shapes: L, Z, Y (r, n)."""
    softmax_exp(L, Z, cs)  # L is scratch here, overwritten below
    log_sum_exp(cs)
    ce_from_lse(L, Z, Y, cs[0])


@jit
def ce_forward_backward(L, dZ, Z, Y, cs):
    """ce_forward's L, and dZ = softmax(Z) - Y, with one exp per element."""
    softmax_exp(dZ, Z, cs)
    log_sum_exp(cs)
    ce_from_lse(L, Z, Y, cs[0])
    inverse = cs[1]
    for i in range(dZ.shape[0]):
        dz = dZ[i]
        y = Y[i]
        for j in range(dz.shape[0]):
            dz[j] = dz[j] * inverse[j] - y[j]


@jit
def se_forward(L, Z, Y):
    """L = (Z - Y)²/(2r): the squared error, halved and averaged over the r outputs as
    scikit-learn's squared_loss is. Shapes: L, Z, Y (r, n)."""
    wide_vectors()
    half = Z.dtype.type(0.5 / Z.shape[0])
    for i in range(Z.shape[0]):
        out, z, y = L[i], Z[i], Y[i]
        for j in range(z.shape[0]):
            d = z[j] - y[j]
            out[j] = half * d * d


@jit
def se_forward_backward(L, dZ, Z, Y):
    """se_forward's L, and dZ = Z - Y. (As scikit-learn's, the delta is not divided by r:
    with r > 1 outputs it is r times the derivative of the averaged loss.)"""
    wide_vectors()
    half = Z.dtype.type(0.5 / Z.shape[0])
    for i in range(Z.shape[0]):
        out, dz, z, y = L[i], dZ[i], Z[i], Y[i]
        for j in range(z.shape[0]):
            d = z[j] - y[j]
            out[j] = half * d * d
            dz[j] = d


@jit
def exp_forward(A, Z):
    """A = exp(Z): the inverse of the log link. Shapes: A, Z (r, n)."""
    wide_vectors()
    for i in range(Z.shape[0]):
        a, z = A[i], Z[i]
        for j in range(z.shape[0]):
            a[j] = em.exp(z[j])


@jit(inline="always")
def poisson_element(z, y, e, zero):
    """One element's Poisson loss y·log(y) - y - y·z + e, with e = exp(z): half the
    deviance, as scikit-learn's poisson_loss keeps it (y·log(y) is 0 at y = 0), from the
    logit z = log(prediction). zero is 0 in z's dtype."""
    y_log_y = y * em.log(y) if y > zero else zero
    return y_log_y - y - y * z + e


@jit
def poisson_forward(L, Z, Y):
    """L = poisson_element of each element. Shapes: L, Z, Y (r, n), Y >= 0."""
    wide_vectors()
    zero = Z.dtype.type(0)
    for i in range(Z.shape[0]):
        out, z, y = L[i], Z[i], Y[i]
        for j in range(z.shape[0]):
            out[j] = poisson_element(z[j], y[j], em.exp(z[j]), zero)


@jit
def poisson_forward_backward(L, dZ, Z, Y):
    """poisson_forward's L, and dZ = exp(Z) - Y, with one exp per element."""
    wide_vectors()
    zero = Z.dtype.type(0)
    for i in range(Z.shape[0]):
        out, dz, z, y = L[i], dZ[i], Z[i], Y[i]
        for j in range(z.shape[0]):
            e = em.exp(z[j])
            out[j] = poisson_element(z[j], y[j], e, zero)
            dz[j] = e - y[j]


@jit
def output_forward(A, Z, out, cs):
    """A = the output layer applied to the logits Z: sigmoid, softmax, identity or exp."""
    if out == SIGMOID:
        sigmoid_forward(A, Z)
    elif out == SOFTMAX:
        softmax_forward(A, Z, cs)
    elif out == EXP:
        exp_forward(A, Z)
    else:
        identity_forward(A, Z)  # a loop: see activations.identity_forward


@jit
def output_loss(L, Z, Y, out, cs):
    """L = the elementwise loss of output `out` from the logits Z (see codes.Output)."""
    if out == SOFTMAX:
        ce_forward(L, Z, Y, cs)
    elif out == IDENTITY:
        se_forward(L, Z, Y)
    elif out == EXP:
        poisson_forward(L, Z, Y)
    else:
        bce_forward(L, Z, Y)


@jit(inline="always")
def output_loss_backward(L, dZ, Z, Y, out, cs):
    """output_loss's L, and the delta at the logits dZ = A - Y. Inlined (config's note on
    compile time): its one call site is in step.chunk_gradients."""
    if out == SOFTMAX:
        ce_forward_backward(L, dZ, Z, Y, cs)
    elif out == IDENTITY:
        se_forward_backward(L, dZ, Z, Y)
    elif out == EXP:
        poisson_forward_backward(L, dZ, Z, Y)
    else:
        bce_forward_backward(L, dZ, Z, Y)
