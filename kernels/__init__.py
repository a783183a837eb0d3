"""fastshallow's compiled kernels (shipped as fastshallow.kernels).

Modules, one concern each:
- elementary: exp, tanh, sigmoid, log1p as vectorisable scalar code;
- products: matrix products and axis-1 sums; activations; loss (output layers and losses);
- step: the fused forward/backward pass over tiles and chunks, and its drivers (each a
  parallel kernel and a serial one, for passes too small to share);
- columns: which examples a pass reads, from a dense or a sparse X;
- sparse: the first layer's products for a sparse X;
- descent: the update family (SGD, momentum, Nesterov, Adam) and the one driver loop;
- whole: the network on whole matrices, for the course API;
- probe: the machine's FMA peak, for `fastshallow bench`;
- checks: ranges and finiteness of input arrays, for fastshallow.validation;
- config (jit options), planning (tiles and chunks), intrinsics (LLVM-level helpers),
  numba_cache (damaged cache files, and the sources each cached kernel was compiled from).
Kernels write into arrays passed in (outputs first) and assume validated input: call them
through fastshallow.engine, which checks shapes, dtypes and values first.
"""

from . import activations, columns, descent, elementary, loss, products, sparse, step, whole
from .planning import plan

__all__ = ["activations", "columns", "descent", "elementary", "loss", "products", "sparse", "step", "whole", "plan"]
