"""A probe of the machine's fused multiply-add peak, for `fastshallow bench`.

Legend: L lanes per vector (VECTOR_BITS / bits per element), A independent accumulators,
R rounds, P parallel workers.

The probe is what a matrix-product kernel could reach at best: A vector accumulators,
each updated R times with acc = acc·s + t, where no update waits on another accumulator.
An FMA has a latency of about 4 cycles and two can start per cycle, so at least 8 chains
must be in flight to keep both units busy; A = 16 leaves room for the loop's own overhead
and for cores with longer latency, and still fits AVX-512's 32 vector registers with s and
t. AVX2 has 16: there A = 12 (with s and t, 14 registers; no spills).

It is written with explicit LLVM vector FMAs (llvm.fma.v8f64 and the like) rather than
as a Python loop: whether LLVM vectorises a loop is exactly what the kernels' assembly
checks are about, and a probe that depended on it could under-report the peak.
"""

import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from .config import AVX512, jit, vector_lanes
from .intrinsics import wide_vectors

ACCUMULATORS = 16 if AVX512 else 12


@intrinsic
def _fma_chains(typingctx, rounds, s, t):
    """Run ACCUMULATORS independent chains of `rounds` vector FMAs acc = acc·s + t, from
    acc = t; returns the sum of every lane of every accumulator (so nothing is dead)."""
    if not isinstance(s, types.Float) or s != t:
        return None

    def codegen(context, builder, sig, args):
        n, s_val, t_val = args
        fty = context.get_value_type(sig.return_type)
        lanes = vector_lanes(sig.return_type.bitwidth)
        vty = ir.VectorType(fty, lanes)
        suffix = f"v{lanes}f{sig.return_type.bitwidth}"  # llvmlite names scalar intrinsics only
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3), f"llvm.fma.{suffix}")

        def splat(x):
            v = ir.Constant(vty, ir.Undefined)
            for lane in range(lanes):
                v = builder.insert_element(v, x, ir.Constant(ir.IntType(32), lane))
            return v

        sv, tv = splat(s_val), splat(t_val)
        # Entry-block slots, promoted to registers by LLVM's mem2reg.
        slots = [cgutils.alloca_once(builder, vty) for _ in range(ACCUMULATORS)]
        for slot in slots:
            builder.store(tv, slot)
        with cgutils.for_range(builder, n):
            for slot in slots:
                builder.store(builder.call(fma, [builder.load(slot), sv, tv]), slot)
        total = builder.load(slots[0])
        for slot in slots[1:]:
            total = builder.fadd(total, builder.load(slot))
        out = builder.extract_element(total, ir.Constant(ir.IntType(32), 0))
        for lane in range(1, lanes):
            out = builder.fadd(out, builder.extract_element(total, ir.Constant(ir.IntType(32), lane)))
        return out

    return s(types.int64, s, t), codegen


@jit
def fma_chains(rounds, s, t):
    """One worker's share: rounds · ACCUMULATORS · L multiply-adds; returns their lane sum."""
    wide_vectors()  # without it LLVM may split each 512-bit operation into two
    return _fma_chains(rounds, s, t)


@jit(parallel=True, python=True)
def fma_peak(out, rounds, s, t):
    """out[p] = fma_chains(rounds, s, t) for each of the P workers, in parallel.

    Shapes: out (P,). The caller times the call and counts
    2 · P · rounds · ACCUMULATORS · L flops.
    """
    for p in prange(out.shape[0]):
        out[p] = fma_chains(rounds, s, t)


def lanes(dtype):
    """L for a NumPy dtype: the elements in one vector."""
    return vector_lanes(8 * np.dtype(dtype).itemsize)
