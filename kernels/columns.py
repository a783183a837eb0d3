"""Which examples a pass reads, and how X holds them.

X is either a dense (n_x, m) array, in any layout, or a sparse one: the tuple
(data, indices, indptr) of a CSC matrix of shape (n_x, m), so that example j's stored
features are indices[indptr[j] : indptr[j + 1]], with values data[...] (X's dtype;
indices and indptr int32 or int64). `cols` is None (every example, in order) or an int64
array of column indices: a mini-batch, or the training part of a split.

Each function here is resolved when compiling, from the types of X and cols, so the
dense, full-batch path carries no index loads and no branches for the others.
"""

from numba import types
from numba.extending import overload


def example_index(cols, j):
    """The column of X that holds example j: j itself, or cols[j]."""


def n_examples(X, cols):
    """How many examples the kernels see: X's columns, or len(cols)."""


def is_sparse(X):
    """True when X is the sparse tuple (data, indices, indptr), a constant when compiled.
    Code that must not be typed for the other kind of X tests isinstance(X, tuple)
    instead, which Numba settles while typing (step.first_layer_forward)."""


@overload(example_index, inline="always")
def _example_index(cols, j):
    if isinstance(cols, types.NoneType):
        return lambda cols, j: j
    return lambda cols, j: cols[j]


@overload(n_examples, inline="always")
def _n_examples(X, cols):
    if not isinstance(cols, types.NoneType):
        return lambda X, cols: cols.shape[0]
    if isinstance(X, types.BaseTuple):
        return lambda X, cols: X[2].shape[0] - 1
    return lambda X, cols: X.shape[1]


@overload(is_sparse, inline="always")
def _is_sparse(X):
    if isinstance(X, types.BaseTuple):
        return lambda X: True
    return lambda X: False
