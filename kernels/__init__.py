"""fastshallow's compiled kernels (shipped as fastshallow.kernels).

Modules, one concern each:
- elementary: exp, tanh, sigmoid, log1p as vectorisable scalar code;
- products: matrix products and axis-1 sums; activations; loss (output layers and losses);
- step: the fused forward/backward pass over tiles and chunks, and its parallel drivers;
- descent: the update family (SGD, momentum, Nesterov) and the one driver loop;
- whole: the network on whole matrices, for the course API;
- probe: the machine's FMA peak, for `fastshallow bench`;
- config (jit options), planning (tiles and chunks), intrinsics (LLVM-level helpers),
  numba_cache (damaged cache files).
Kernels write into arrays passed in (outputs first) and assume validated input: call them
through fastshallow.engine, which checks shapes, dtypes and values first.
"""

from . import activations, descent, elementary, loss, products, step, whole
from .planning import plan

__all__ = ["activations", "descent", "elementary", "loss", "products", "step", "whole", "plan"]
