"""fastshallow's compiled kernels (shipped as fastshallow.kernels).

Modules, one concern each: elementary (exp, tanh, sigmoid, log1p), products (matrix
products and axis-1 sums), activations, loss (sigmoid + binary cross-entropy), step (the
fused forward/backward pass and its parallel drivers), train (the compiled loop), whole
(the network on whole matrices, for the course API), sgd (the estimator's update), and
probe (the machine's FMA peak, for `fastshallow bench`).
Kernels write into arrays passed in (outputs first) and assume validated input: call them
through the public API in fastshallow, which checks shapes, dtypes and values first.
"""

from . import activations, elementary, loss, products, step, train, whole
from ._config import plan

__all__ = ["activations", "elementary", "loss", "products", "step", "train", "whole", "plan"]
