"""Hidden-layer activations and their derivatives, on C-contiguous (n_h, T) tiles.

Each backward takes the activation's *output* A, not its input Z (tanh' = 1 - A²,
sigmoid' = A(1 - A), relu' = [A > 0]): the step keeps A1 for the backward pass and reuses
Z1's buffer for dA1.

Every kernel gives the right answer with its output aliased to an input (A is Z): each
element is read before it is written. It is slow, though: LLVM cannot prove the two
pointers apart and takes its scalar path, so the fused step never passes aliases.
"""

from . import elementary as em
from .codes import Activation
from .config import jit
from .intrinsics import wide_vectors

# The codes and names are codes.Activation's (one table for the whole project). Each
# ladder below has one branch per member; IDENTITY doubles as the linear layer's "no
# activation", where products.linear_forward finishes its panels with the bias alone.
# Plain ints, as the engine passes codes: a kernel called with an IntEnum member is typed
# apart, and compiled a second copy of all it calls (products._panels and _panel did).
TANH, SIGMOID, RELU, IDENTITY = (int(a) for a in (Activation.TANH, Activation.SIGMOID, Activation.RELU,
                                                  Activation.IDENTITY))


@jit
def tanh_forward(A, Z):
    """A = tanh(Z). Shapes: A, Z (r, n)."""
    wide_vectors()
    for i in range(Z.shape[0]):
        a = A[i]
        z = Z[i]
        for j in range(z.shape[0]):
            a[j] = em.tanh(z[j])


@jit
def tanh_backward(dZ, dA, A):
    """dZ = dA ∘ (1 - A²). Shapes: dZ, dA, A (r, n)."""
    wide_vectors()
    one = A.dtype.type(1)
    for i in range(A.shape[0]):
        dz = dZ[i]
        da = dA[i]
        a = A[i]
        for j in range(a.shape[0]):
            dz[j] = da[j] * (one - a[j] * a[j])


@jit
def sigmoid_forward(A, Z):
    """A = 1 / (1 + exp(-Z)). Shapes: A, Z (r, n)."""
    wide_vectors()
    for i in range(Z.shape[0]):
        a = A[i]
        z = Z[i]
        for j in range(z.shape[0]):
            a[j] = em.sigmoid(z[j])


@jit
def sigmoid_backward(dZ, dA, A):
    """dZ = dA ∘ A(1 - A). Shapes: dZ, dA, A (r, n)."""
    wide_vectors()
    one = A.dtype.type(1)
    for i in range(A.shape[0]):
        dz = dZ[i]
        da = dA[i]
        a = A[i]
        for j in range(a.shape[0]):
            dz[j] = da[j] * (a[j] * (one - a[j]))


@jit
def relu_forward(A, Z):
    """A = max(Z, 0). Shapes: A, Z (r, n)."""
    wide_vectors()
    zero = Z.dtype.type(0)
    for i in range(Z.shape[0]):
        a = A[i]
        z = Z[i]
        for j in range(z.shape[0]):
            # Written so that a NaN passes through (NaN > 0 is false would drop it).
            a[j] = zero if z[j] < zero else z[j]


@jit
def relu_backward(dZ, dA, A):
    """dZ = dA ∘ [A > 0]. Shapes: dZ, dA, A (r, n)."""
    wide_vectors()
    zero = A.dtype.type(0)
    for i in range(A.shape[0]):
        dz = dZ[i]
        da = dA[i]
        a = A[i]
        for j in range(a.shape[0]):
            dz[j] = da[j] if a[j] > zero else zero


@jit
def identity_forward(A, Z):
    """A = Z. Shapes: A, Z (r, n)."""
    # A loop, like its siblings: Numba's slice assignment (A[:, :] = Z) compiles its
    # general broadcasting machinery, seconds of a fresh environment's first call.
    wide_vectors()
    for i in range(Z.shape[0]):
        a, z = A[i], Z[i]
        for j in range(z.shape[0]):
            a[j] = z[j]


@jit
def identity_backward(dZ, dA, A):
    """dZ = dA ∘ 1. Shapes: dZ, dA, A (r, n)."""
    identity_forward(dZ, dA)


@jit
def activation_forward(A, Z, code):
    """A = g(Z) for the activation with the given code. Shapes: A, Z (r, n)."""
    if code == TANH:
        tanh_forward(A, Z)
    elif code == SIGMOID:
        sigmoid_forward(A, Z)
    elif code == RELU:
        relu_forward(A, Z)
    else:
        identity_forward(A, Z)


@jit(inline="always")
def bias_activation_forward(a, s, bias, code):
    """a = g(bias + s) for one row's stretch, with s (n,) the products' sums and bias a
    scalar: the layer finished where its block of W·X is still in registers (see
    products.dense_forward). Each element is the same expression as linear_forward's
    bias plus sum followed by activation_forward. Shapes: a, s (n,)."""
    wide_vectors()
    if code == TANH:
        for j in range(s.shape[0]):
            a[j] = em.tanh(bias + s[j])
    elif code == SIGMOID:
        for j in range(s.shape[0]):
            a[j] = em.sigmoid(bias + s[j])
    # The short bodies below run over a's length, which is known only at run time: over
    # s's, the panel's constant width, LLVM unrolled them completely and left them scalar
    # (tanh's and sigmoid's bodies are too long to unroll, and vectorise either way).
    elif code == RELU:
        zero = s.dtype.type(0)
        for j in range(a.shape[0]):
            z = bias + s[j]
            a[j] = zero if z < zero else z  # as relu_forward: NaN passes
    else:
        for j in range(a.shape[0]):
            a[j] = bias + s[j]


@jit(inline="always")
def activation_derivative_times(d, a, code):
    """d = d ∘ g'(a) in place, for one row: the same expression as activation_backward's
    with dA = dZ = d. Shapes: d, a (n,), distinct."""
    wide_vectors()
    one, zero = a.dtype.type(1), a.dtype.type(0)
    if code == TANH:
        for j in range(a.shape[0]):
            d[j] = d[j] * (one - a[j] * a[j])
    elif code == SIGMOID:
        for j in range(a.shape[0]):
            d[j] = d[j] * (a[j] * (one - a[j]))
    elif code == RELU:
        for j in range(a.shape[0]):
            d[j] = d[j] if a[j] > zero else zero
    # IDENTITY: g' = 1 leaves d as it is.


@jit
def activation_backward(dZ, dA, A, code):
    """dZ = dA ∘ g'(A) for the activation with the given code. Shapes: dZ, dA, A (r, n)."""
    if code == TANH:
        tanh_backward(dZ, dA, A)
    elif code == SIGMOID:
        sigmoid_backward(dZ, dA, A)
    elif code == RELU:
        relu_backward(dZ, dA, A)
    else:
        identity_backward(dZ, dA, A)
