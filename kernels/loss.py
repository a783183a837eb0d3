"""Output layer: sigmoid with binary cross-entropy, on (n_y, T) tiles of logits Z.

The loss of one element is computed from the logit z, never from a = sigmoid(z):

    -y·log(a) - (1 - y)·log(1 - a) = max(z, 0) - z·y + log1p(exp(-|z|))

The right side never takes the log of 0, so it stays finite when a rounds to 0 or 1
(|z| > 37 in float64, > 17 in float32), where the textbook form returns inf or NaN.
exp(-|z|) is in (0, 1], which is also all that sigmoid needs:
sigmoid(z) = 1/(1 + e) for z >= 0 and e/(1 + e) for z < 0, with e = exp(-|z|).

For sigmoid with cross-entropy the delta at the logits is simply A - Y: the 1/(a(1-a))
of the loss's derivative cancels sigmoid's a(1-a).
"""

from . import elementary as em
from ._config import jit, wide_vectors
from .products import row_sum


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
