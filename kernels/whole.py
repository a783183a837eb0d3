"""The network on whole (rows, m) matrices, for the course API, which returns them.

Legend: n_x features, n_h hidden units, n_y outputs, m examples. X (n_x, m) and Y (n_y, m)
C-contiguous; W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1).

The classic course functions hand Z1, A1, Z2 and A2 back to the caller, so these keep every
(n_h, m) matrix that the fused step avoids. They are serial compositions of the same tile
kernels. Training itself (course.nn_model) goes through the fused step in descent.py.
"""

import numpy as np

from .config import jit
from .intrinsics import enter_flush_to_zero, restore_fp_mode, wide_vectors
from .activations import activation_backward, activation_forward, sigmoid_forward
from .products import (
    divide,
    linear_backward_input,
    linear_backward_weights,
    linear_forward,
)


@jit(python=True)
def forward(Z1, A1, Z2, A2, params, X, code):
    """Z1 = W1·X + b1, A1 = g(Z1), Z2 = W2·A1 + b2, A2 = sigmoid(Z2). Shapes: see legend."""
    W1, b1, W2, b2 = params
    fp_mode = enter_flush_to_zero()  # see intrinsics: subnormals are zero here
    linear_forward(Z1, W1, X, b1)
    activation_forward(A1, Z1, code)
    linear_forward(Z2, W2, A1, b2)
    sigmoid_forward(A2, Z2)
    restore_fp_mode(fp_mode)


@jit(python=True)
def backward(grads, params, A1, A2, X, Y, code):
    """Mean gradients into grads = (dW1, db1, dW2, db2) from the forward pass's A1, A2."""
    dW1, db1, dW2, db2 = grads
    W2 = params[2]
    n_h, m = A1.shape
    dZ2 = np.empty_like(A2)  # (n_y, m)
    _difference(dZ2, A2, Y)  # dZ2 = A2 - Y
    dA1 = np.empty_like(A1)  # (n_h, m)
    dZ1 = np.empty_like(A1)  # (n_h, m)
    fp_mode = enter_flush_to_zero()
    for g in grads:
        g[:, :] = 0
    linear_backward_weights(dW2, db2, dZ2, A1)  # m·dW2, m·db2
    linear_backward_input(dA1, np.ascontiguousarray(W2.T), dZ2)  # dA1 = W2ᵀ·dZ2
    activation_backward(dZ1, dA1, A1, code)  # dZ1 = dA1 ∘ g'(A1)
    linear_backward_weights(dW1, db1, dZ1, X)  # m·dW1, m·db1
    for g in grads:
        divide(g, m)
    restore_fp_mode(fp_mode)


@jit
def _difference(out, A, B):
    """out = A - B. Shapes: (r, n)."""
    wide_vectors()
    for i in range(A.shape[0]):
        o, a, b = out[i], A[i], B[i]
        for j in range(a.shape[0]):
            o[j] = a[j] - b[j]


@jit(python=True)
def bce_from_probabilities(A, Y):
    """(Σ -(y·log a + (1 - y)·log(1 - a)) / m, whether every a and y lies in [0, 1]) over A,
    Y (n_y, m), for callers that hold only A = sigmoid(Z). Each term is taken only where
    its weight is non-zero, so a label that matches a saturated output (a = 1, y = 1)
    costs 0, not 0·log 0 = NaN. The range test rides along (a NaN fails it), so that a
    caller checks its arguments and takes the cost in one compiled call; the cost means
    nothing where it fails."""
    total = 0.0
    in_range = True
    for i in range(A.shape[0]):
        for j in range(A.shape[1]):
            a, y = A[i, j], Y[i, j]
            in_range &= (0 <= a <= 1) & (0 <= y <= 1)
            if y > 0:
                total -= y * np.log(a)
            if y < 1:
                total -= (1 - y) * np.log(1 - a)
    return total / A.shape[1], in_range
