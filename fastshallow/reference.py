"""The NumPy reference: the network's equations, one per line, written to be obviously right.

This module is the oracle for every test and the baseline for every benchmark. Function
names mirror the kernels (fastshallow.kernels) and the public API, so a test reads
``ref = reference.f(...)`` beside ``comp = f(...)``. It allocates freely, with no tiling
and no fusion: full (n_h, m) matrices, as the classic NumPy code does.

Legend: n_x features, n_h hidden units, n_y outputs, m examples.
X (n_x, m), Y (n_y, m), W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1).
"""

import numpy as np

# ---------------------------------------------------------------------------------------
# Kernel twins
# ---------------------------------------------------------------------------------------


def linear_forward(W, X, b):
    """Z = W·X + b. W (r, k), X (k, m), b (r, 1) -> Z (r, m)."""
    return W @ X + b


def linear_backward_weights(dZ, X):
    """Unnormalised (dZ·Xᵀ, Σ_cols dZ). dZ (r, m), X (k, m) -> (r, k), (r, 1)."""
    return dZ @ X.T, dZ.sum(axis=1, keepdims=True)


def linear_backward_input(W, dZ):
    """Wᵀ·dZ. W (r, k), dZ (r, m) -> (k, m)."""
    return W.T @ dZ


def row_sums(A):
    """Σ_cols A. A (r, m) -> (r, 1)."""
    return A.sum(axis=1, keepdims=True)


def tanh_forward(Z):
    return np.tanh(Z)


def tanh_backward(dA, A):
    return dA * (1 - A**2)


def sigmoid_forward(Z):
    # exp(-z) overflows to inf for z < -709, and 1/(1 + inf) = 0 is then the right answer.
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-Z))


def sigmoid_backward(dA, A):
    return dA * A * (1 - A)


def relu_forward(Z):
    return np.maximum(Z, 0)


def relu_backward(dA, A):
    return dA * (A > 0)


ACTIVATIONS = {
    "tanh": (tanh_forward, tanh_backward),
    "sigmoid": (sigmoid_forward, sigmoid_backward),
    "relu": (relu_forward, relu_backward),
}


def bce_forward(Z, Y):
    """Elementwise binary cross-entropy of sigmoid(Z) against Y, from the logits:
    -y·log σ(z) - (1-y)·log(1-σ(z)) = log(1 + e^z) - y·z, finite for any finite z."""
    return np.logaddexp(0, Z) - Y * Z


def bce_backward(Z, Y):
    """d(loss)/dZ = sigmoid(Z) - Y."""
    return sigmoid_forward(Z) - Y


# ---------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------


def forward_cache(params, X, activation="tanh"):
    """The forward pass, keeping every intermediate: dict with Z1, A1, Z2, A2."""
    g, _ = ACTIVATIONS[activation]
    Z1 = linear_forward(params["W1"], X, params["b1"])  # (n_h, m)
    A1 = g(Z1)  # (n_h, m)
    Z2 = linear_forward(params["W2"], A1, params["b2"])  # (n_y, m)
    A2 = sigmoid_forward(Z2)  # (n_y, m)
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def forward(params, X, activation="tanh"):
    """A2 (n_y, m)."""
    return forward_cache(params, X, activation)["A2"]


def predict(params, X, threshold=0.5, activation="tanh"):
    return (forward(params, X, activation) > threshold).astype(np.uint8)


def cost(params, X, Y, activation="tanh"):
    """Mean over the m examples of the loss summed over the n_y outputs."""
    Z2 = forward_cache(params, X, activation)["Z2"]
    return float(np.sum(bce_forward(Z2, Y)) / X.shape[1])


def gradients(params, X, Y, activation="tanh"):
    """(cost, grads) with grads keys dW1, db1, dW2, db2."""
    _, g_backward = ACTIVATIONS[activation]
    m = X.shape[1]
    c = forward_cache(params, X, activation)
    dZ2 = bce_backward(c["Z2"], Y)  # (n_y, m)
    dW2 = dZ2 @ c["A1"].T / m  # (n_y, n_h)
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m  # (n_y, 1)
    dA1 = params["W2"].T @ dZ2  # (n_h, m)
    dZ1 = g_backward(dA1, c["A1"])  # (n_h, m)
    dW1 = dZ1 @ X.T / m  # (n_h, n_x)
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m  # (n_h, 1)
    J = float(np.sum(bce_forward(c["Z2"], Y)) / m)
    return J, {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def step(params, X, Y, learning_rate, activation="tanh"):
    """One gradient-descent step, in place; returns the cost before it."""
    J, grads = gradients(params, X, Y, activation)
    for name in ("W1", "b1", "W2", "b2"):
        params[name] -= learning_rate * grads["d" + name]
    return J


def train(params, X, Y, learning_rate=1.2, num_iterations=10000, activation="tanh"):
    """num_iterations steps in place; the cost before each, as an array."""
    return np.array([step(params, X, Y, learning_rate, activation) for _ in range(num_iterations)])
