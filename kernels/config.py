"""Compilation options shared by every kernel: the floating-point contract, the jit
decorators, and the vector and cache-line sizes the kernels are written for.

Legend used across kernels/: n_x features, n_h hidden units, n_y outputs, m examples,
T examples per tile, C chunks. X is (n_x, m), Y is (n_y, m).
"""

import numba
from numba import njit

from .numba_cache import tolerate_damaged_cache

# Floating-point contract for every kernel.
# - "contract" lets LLVM fuse a*b + c into one FMA; "nsz" ignores the sign of zero.
# - No "nnan"/"ninf": a NaN or inf must survive to the cost, where divergence is detected.
# - No "reassoc" by default: element-wise code (exp, tanh, the range reductions) depends on
#   the order written.
FASTMATH = {"contract", "nsz"}
# Reductions (dot products, row sums) add "reassoc", without which LLVM will not keep
# vector accumulators. The order of each sum is then the one the compiled loop fixes
# (lanes, unrolling) for this CPU: the same on every run and for any number of threads,
# because a thread count only decides which chunk runs where, never how a chunk sums.
REDUCTION_FASTMATH = FASTMATH | {"reassoc"}

# error_model="numpy" drops the zero-division check Numba puts on every float division
# under the default "python" model; that check alone stops a loop from vectorising.
JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy")

_warned_uncached = []


def _njit(fn, options):
    """njit(**options)(fn), falling back to no cache where nothing can hold one.

    With cache=True Numba looks for a writable folder (beside the package, then the user's
    cache folder, or NUMBA_CACHE_DIR) when the kernel is defined, and raises "no locator
    available" when there is none, as in a read-only container with a read-only home.
    The library must still import there: it compiles in every process instead, and warns
    once.
    """
    try:
        return tolerate_damaged_cache(njit(**options)(fn))
    except RuntimeError as exc:
        if not options.get("cache") or "no locator available" not in str(exc):
            raise
        if not _warned_uncached:
            _warned_uncached.append(True)
            import warnings

            warnings.warn(
                "fastshallow: no writable folder for Numba's cache (set NUMBA_CACHE_DIR to one); "
                "kernels will be compiled again in every process",
                RuntimeWarning,
                stacklevel=3,
            )
        return njit(**dict(options, cache=False))(fn)


# Compile time. Numba compiles a @jit function that another one calls as a library of its
# own, then links it into the caller's, and optimises and emits the whole linked module
# again at every level of calls: a middle function costs its whole subtree once more. So a
# middle function with one call site per kernel is inlined (``@jit(inline="always")``, at
# Numba's IR level). Inside a prange body, only one with no variable that is set to a
# constant and then updated: Numba's parfor pass hoists such a constant out of the loop
# (chunk_gradients' ``cost = 0.0``, inlined into chunk_sums' prange, made training
# diverge). An ``@overload(..., inline="always")``'s implementation is still compiled in
# full, to learn its return type, besides being inlined. The measurements are in the
# commit that added this note.


def jit(fn=None, **overrides):
    """njit with the project's options; ``@jit`` or ``@jit(parallel=True)``."""
    options = dict(JIT, **overrides)
    if fn is None:
        return lambda f: _njit(f, options)
    return _njit(fn, options)


# For kernels that sum (see REDUCTION_FASTMATH): ``@reduction_jit``.
reduction_jit = jit(fastmath=REDUCTION_FASTMATH)


def target_features():
    """The CPU features Numba compiles for: NUMBA_CPU_FEATURES when set, else this
    machine's (NUMBA_CPU_NAME alone changes the tuning, not the instruction set)."""
    if numba.config.CPU_FEATURES:
        return numba.config.CPU_FEATURES
    from llvmlite import binding

    return binding.get_host_cpu_features().flatten()


def target_has_avx512():
    """True when the code Numba generates may use AVX-512."""
    return "+avx512f" in target_features().split(",")


# The target's vector width. LLVM's tuning for recent Intel server cores ("prefer-256-bit")
# keeps its loop vectoriser to 256-bit registers even where AVX-512 is available, so the
# kernels ask for the full width per function (intrinsics.wide_vectors) rather than
# through NUMBA_CPU_FEATURES, which would change every Numba function in the user's
# process. Without AVX-512 (most laptops and many cloud instances; here, the features
# tools/avx2_env.py prints) the vectors, and everything sized by them, are 256 bits.
AVX512 = target_has_avx512()
VECTOR_BITS = 512 if AVX512 else 256


def vector_lanes(bitwidth):
    """Elements of `bitwidth` bits in one VECTOR_BITS vector (8 float64, 16 float32)."""
    return VECTOR_BITS // bitwidth


# Register panels (products._panel) hold PANEL_HEIGHT rows of accumulators, each
# PANEL_VECTORS vectors wide, in both dtypes. AVX-512 has 32 registers: 8 × 2, 16
# accumulators. AVX2 has 16: 6 × 2, 12 accumulators beside the two loads of B and a
# broadcast of A, in explicit vectors (intrinsics.vector_sweep). There, 8 rows of two
# spilled; LLVM unrolled plain loops of 4 or 8 float64 into scalar FMAs (a41ade7,
# 1549c95); and 4 rows of two (float64) or 8 of one (float32) left the FMA units waiting
# (d28f1b0 has the numbers).
PANEL_HEIGHT = 8 if AVX512 else 6
PANEL_VECTORS = 2
# The tallest panel of any target: the stack panel is sized by it, and products run in
# panels from that many rows of C on every target.
PANEL_ROWS = 8


# A vector load that straddles two cache lines costs two, and Numba aligns new arrays to
# 32 bytes only: scratch rows start on a line (intrinsics.aligned_empty; the measurement
# is in cedbaee).
CACHE_LINE = 64
