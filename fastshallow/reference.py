"""The NumPy reference: the network's equations, one per line, written to be obviously right.

This module is the oracle for every test and the baseline for every benchmark. Function
names mirror the kernels (fastshallow.kernels) and the public API, so a test reads
``ref = reference.f(...)`` beside ``comp = f(...)``. It allocates freely, with no tiling
and no fusion: full (n_h, m) matrices, as the classic NumPy code does.

Legend: n_x features, n_h hidden units, n_y outputs, m examples.
X (n_x, m), Y (n_y, m), W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1).
"""

import numpy as np

from .kernels.codes import ACTIVATION_NAMES, OUTPUT_NAMES, Activation, Output

# ---------------------------------------------------------------------------------------
# Kernel twins
# ---------------------------------------------------------------------------------------


def linear_forward(W, X, b):
    """Z = W·X + b. W (r, k), X (k, m), b (r, 1) -> Z (r, m)."""
    return W @ X + b


def linear_backward_weights(dZ, X):
    """Unnormalised (dZ·Xᵀ, Σ_cols dZ). dZ (r, m), X (k, m) -> (r, k), (r, 1)."""
    return dZ @ X.T, dZ.sum(axis=1, keepdims=True)


def sparse_forward_rows(W1T, X, cols):
    """The twin of kernels/sparse.py's: (W1·X[:, cols])ᵀ for a SciPy sparse X (n_x, m).
    W1T (n_x, n_h) -> (len(cols), n_h)."""
    return np.asarray((X[:, cols].T @ W1T))


def sparse_weight_sums(G, Dt, X, cols):
    """The twin of kernels/sparse.py's: G + (Dtᵀ·X[:, cols]ᵀ)ᵀ = G + X[:, cols]·Dt.
    G (n_x, n_h), Dt (len(cols), n_h) -> (n_x, n_h)."""
    return G + np.asarray(X[:, cols] @ Dt)


def value_range(a):
    """The twin of kernels/checks.py's: (min, max) of a in float64, (NaN, NaN) if it holds a
    NaN, (inf, -inf) if it holds nothing."""
    a = np.asarray(a, np.float64)
    if a.size == 0:
        return np.inf, -np.inf
    return (np.nan, np.nan) if np.isnan(a).any() else (float(a.min()), float(a.max()))


def first_not_finite(arrays):
    """The twin of kernels/checks.py's: the index of the first array holding a NaN or inf, or -1."""
    return next((i for i, a in enumerate(arrays) if not np.isfinite(a).all()), -1)


def scan_problem(params, X, Y):
    """The twin of kernels/checks.py's: (verdict, (x_lo, x_hi), (y_lo, y_hi), apart) with
    verdict -2 for shapes that do not fit, the first non-finite parameter's index, or -1,
    and apart True when no two of the arrays may share memory (NumPy's bounds test)."""
    W1, b1, W2, b2 = params
    (n_h, n_x), n_y, m = W1.shape, W2.shape[0], X.shape[1]
    fits = (0 not in (n_h, n_x, n_y, m) and b1.shape == (n_h, 1) and W2.shape == (n_y, n_h)
            and b2.shape == (n_y, 1) and X.shape[0] == n_x and (Y.size == 0 or Y.shape == (n_y, m)))
    empty = (np.inf, -np.inf)
    if not fits:
        return -2, empty, empty, False
    arrays = [a for a in (*params, X, Y) if a.size]
    apart = not any(np.may_share_memory(a, b) for i, a in enumerate(arrays) for b in arrays[:i])
    return first_not_finite(params), value_range(X), value_range(Y), apart


def pack_transposed(X, w):
    """Xᵀ (n, k)'s columns in blocks of w, the last block ending at column k:
    (ceil(k / w), n, w). X (k, n), k >= w."""
    k = X.shape[0]
    return np.stack([X[c : c + w].T for c in np.minimum(np.arange(0, k, w), k - w)])


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


def identity_forward(Z):
    return Z.copy()


def identity_backward(dA, A):
    return dA.copy()


# The twins of each code of kernels/codes.py's table, reached by every name it gives.
_ACTIVATION_TWINS = {
    Activation.TANH: (tanh_forward, tanh_backward),
    Activation.SIGMOID: (sigmoid_forward, sigmoid_backward),
    Activation.RELU: (relu_forward, relu_backward),
    Activation.IDENTITY: (identity_forward, identity_backward),
}
ACTIVATIONS = {name: _ACTIVATION_TWINS[code] for name, code in ACTIVATION_NAMES.items()}


def bce_forward(Z, Y):
    """Elementwise binary cross-entropy of sigmoid(Z) against Y, from the logits:
    -y·log σ(z) - (1-y)·log(1-σ(z)) = log(1 + e^z) - y·z, finite for any finite z."""
    return np.logaddexp(0, Z) - Y * Z


def bce_backward(Z, Y):
    """d(loss)/dZ = sigmoid(Z) - Y."""
    return sigmoid_forward(Z) - Y


def softmax_forward(Z):
    """Softmax of each column. Z (r, m) -> (r, m); shifting by the maximum changes nothing
    mathematically and keeps exp from overflowing."""
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def ce_forward(Z, Y):
    """Elementwise categorical cross-entropy, -Y·log softmax(Z), from the logits: a column's
    sum is that example's loss. Z, Y (r, m) -> (r, m)."""
    top = Z.max(axis=0, keepdims=True)
    log_sum_exp = top + np.log(np.exp(Z - top).sum(axis=0, keepdims=True))
    return Y * (log_sum_exp - Z)


def ce_backward(Z, Y):
    """d(loss)/dZ = softmax(Z) - Y, for columns of Y that sum to 1."""
    return softmax_forward(Z) - Y


def se_forward(Z, Y):
    """Elementwise squared error, halved and averaged over the r outputs (scikit-learn's
    squared_loss): a column's sum is that example's loss. Z, Y (r, m)."""
    return 0.5 * (Z - Y) ** 2 / Z.shape[0]


def se_backward(Z, Y):
    """The delta at the logits, Z - Y (as scikit-learn's: not divided by r)."""
    return Z - Y


def exp_output(Z):
    return np.exp(Z)


def poisson_forward(Z, Y):
    """Elementwise Poisson loss of exp(Z) against counts Y: y·log(y) - y - y·z + exp(z),
    with y·log(y) = 0 at y = 0 (scikit-learn's poisson_loss)."""
    y_log_y = np.where(Y > 0, Y * np.log(np.where(Y > 0, Y, 1)), 0.0)
    return y_log_y - Y - Y * Z + np.exp(Z)


def poisson_backward(Z, Y):
    """d(loss)/dZ = exp(Z) - Y."""
    return np.exp(Z) - Y


# output -> (A2 from Z2, elementwise loss from Z2 and Y, dZ2 from Z2 and Y), for each
# output of kernels/codes.py's table.
_OUTPUT_TWINS = {
    Output.SIGMOID: (sigmoid_forward, bce_forward, bce_backward),
    Output.SOFTMAX: (softmax_forward, ce_forward, ce_backward),
    Output.IDENTITY: (identity_forward, se_forward, se_backward),
    Output.EXP: (exp_output, poisson_forward, poisson_backward),
}
OUTPUTS = {name: _OUTPUT_TWINS[code] for name, code in OUTPUT_NAMES.items()}


# ---------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------


def forward_cache(params, X, activation="tanh", output="sigmoid"):
    """The forward pass, keeping every intermediate: dict with Z1, A1, Z2, A2."""
    g, _ = ACTIVATIONS[activation]
    Z1 = linear_forward(params["W1"], X, params["b1"])  # (n_h, m)
    A1 = g(Z1)  # (n_h, m)
    Z2 = linear_forward(params["W2"], A1, params["b2"])  # (n_y, m)
    A2 = OUTPUTS[output][0](Z2)  # (n_y, m)
    return {"Z1": Z1, "A1": A1, "Z2": Z2, "A2": A2}


def forward(params, X, activation="tanh", output="sigmoid"):
    """A2 (n_y, m)."""
    return forward_cache(params, X, activation, output)["A2"]


def predict(params, X, threshold=0.5, activation="tanh", output="sigmoid"):
    A2 = forward(params, X, activation, output)
    if output in ("identity", "exp"):
        return A2
    if output == "softmax":
        return (np.arange(A2.shape[0])[:, None] == A2.argmax(axis=0)).astype(np.uint8)
    return (A2 > threshold).astype(np.uint8)


def cost(params, X, Y, activation="tanh", output="sigmoid"):
    """Mean over the m examples of the loss summed over the n_y outputs."""
    Z2 = forward_cache(params, X, activation, output)["Z2"]
    return float(np.sum(OUTPUTS[output][1](Z2, Y)) / X.shape[1])


def gradients(params, X, Y, activation="tanh", output="sigmoid", sample_weight=None):
    """(cost, grads) with grads keys dW1, db1, dW2, db2. sample_weight (m,): each
    example's loss and delta times its weight, the means over the weights' sum."""
    c = forward_cache(params, X, activation, output)
    return backward(params, c, X, Y, activation, output, sample_weight)


def backward(params, cache, X, Y, activation="tanh", output="sigmoid", sample_weight=None):
    """gradients() from forward_cache's cache: (cost, grads)."""
    _, g_backward = ACTIVATIONS[activation]
    _, loss, loss_backward = OUTPUTS[output]
    c = cache
    w = np.ones(X.shape[1]) if sample_weight is None else np.asarray(sample_weight, np.float64)  # (m,)
    m = w.sum()
    dZ2 = loss_backward(c["Z2"], Y) * w.astype(X.dtype)  # (n_y, m)
    dW2 = dZ2 @ c["A1"].T / m  # (n_y, n_h)
    db2 = np.sum(dZ2, axis=1, keepdims=True) / m  # (n_y, 1)
    dA1 = params["W2"].T @ dZ2  # (n_h, m)
    dZ1 = g_backward(dA1, c["A1"])  # (n_h, m)
    dW1 = dZ1 @ X.T / m  # (n_h, n_x)
    db1 = np.sum(dZ1, axis=1, keepdims=True) / m  # (n_h, 1)
    J = float(np.sum(loss(c["Z2"], Y) * w) / m)
    return J, {"dW1": dW1, "db1": db1, "dW2": dW2, "db2": db2}


def step(params, X, Y, learning_rate, activation="tanh", output="sigmoid"):
    """One gradient-descent step, in place; returns the cost before it."""
    J, grads = gradients(params, X, Y, activation, output)
    for name in ("W1", "b1", "W2", "b2"):
        params[name] -= learning_rate * grads["d" + name]
    return J


def train(params, X, Y, learning_rate=1.2, num_iterations=10000, activation="tanh", output="sigmoid"):
    """num_iterations steps in place; the cost before each, as an array."""
    return np.array([step(params, X, Y, learning_rate, activation, output) for _ in range(num_iterations)])


def _epoch(params, X, Y, order, batch_size, alpha, activation, output, update, sample_weight=None):
    """The batches of `order` (column indices) in turn: each batch's loss before its
    update (mean loss plus the L2 penalty alpha/(2b)·ΣW²), then update(g, k) with g the
    penalised mean gradients (alpha/b·W added to the weights') and k the batch's number.
    b is the batch's size, or its weights' sum; a batch of zero weight has loss 0 and no
    update. Returns the losses."""
    losses = []
    w = np.ones(X.shape[1]) if sample_weight is None else np.asarray(sample_weight, np.float64)  # (m,)
    for k, start in enumerate(range(0, len(order), batch_size)):
        cols = order[start : start + batch_size]
        b = w[cols].sum()
        if b == 0:
            losses.append(0.0)
            continue
        J, grads = gradients(params, X[:, cols], Y[:, cols], activation, output, w[cols])
        losses.append(J + 0.5 * alpha * (np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2)) / b)
        update({name: grads["d" + name] + (alpha / b * params[name] if name[0] == "W" else 0)
                for name in ("W1", "b1", "W2", "b2")}, k)
    return np.array(losses)


def sgd_epoch(params, velocity, X, Y, order, batch_size, learning_rate, momentum=0.0,
              nesterov=False, alpha=0.0, activation="tanh", output="sigmoid", sample_weight=None):
    """One epoch of mini-batch SGD with (Nesterov's) momentum, in place (the twin of
    kernels/descent.py's SGD, MOMENTUM and NESTEROV). Returns each batch's loss."""

    def update(g, k):
        for name, gk in g.items():
            velocity[name] = momentum * velocity[name] - learning_rate * gk
            params[name] += momentum * velocity[name] - learning_rate * gk if nesterov else velocity[name]

    return _epoch(params, X, Y, order, batch_size, alpha, activation, output, update, sample_weight)


def adam_epoch(params, moments, X, Y, order, batch_size, learning_rate, beta_1=0.9, beta_2=0.999,
               epsilon=1e-8, alpha=0.0, t=0, activation="tanh", output="sigmoid", sample_weight=None):
    """One epoch of mini-batch Adam, in place (the twin of kernels/descent.py's ADAM), with
    the moments (m, v) (two dicts like params) and t updates made before. Returns each
    batch's loss, and the new t (a batch of zero weight counts too, as in the kernels)."""
    m, v = moments

    def update(g, k):
        lr = learning_rate * np.sqrt(1 - beta_2 ** (t + k + 1)) / (1 - beta_1 ** (t + k + 1))
        for name, gk in g.items():
            m[name] = beta_1 * m[name] + (1 - beta_1) * gk
            v[name] = beta_2 * v[name] + (1 - beta_2) * gk**2
            params[name] -= lr * m[name] / (np.sqrt(v[name]) + epsilon)

    losses = _epoch(params, X, Y, order, batch_size, alpha, activation, output, update, sample_weight)
    return losses, t + len(losses)
