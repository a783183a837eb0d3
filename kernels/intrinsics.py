"""LLVM-level helpers the kernels call: vector width, stack panels, aligned scratch,
unchecked views, borrowed arrays, floats read as integers, prefetching, and the
flush-to-zero mode.

Each is a small @intrinsic (or a jitted wrapper of one) that does what Numba's own
lowering cannot: they are the only place in kernels/ that writes LLVM IR.
"""

import platform

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import populate_array

from .config import CACHE_LINE, PANEL_HEIGHT, VECTOR_BITS, WIDE_PANEL_VECTORS, jit, panel_columns, vector_lanes


@intrinsic
def wide_vectors(typingctx):
    """Call first in a kernel whose loops should vectorise at VECTOR_BITS.

    Sets LLVM's "prefer-vector-width" on the function being compiled. It must be in the
    function that holds the loop: Numba vectorises each function when it compiles it,
    before any caller inlines it.
    """

    def codegen(context, builder, sig, args):
        # llvmlite validates attribute names against a fixed list that lacks string
        # attributes; the textual IR it prints accepts them, so add it to the set directly.
        set.add(builder.function.attributes, f'"prefer-vector-width"="{VECTOR_BITS}"')
        return context.get_dummy_value()

    return types.none(), codegen



def panel_width(A):
    """Columns of a narrow register panel for A's dtype: two vectors (16 float64 and 32
    float32 with AVX-512, 8 and 16 with AVX2), the width that decides which products run
    in panels (products.panels_suit)."""


# A compile-time constant per dtype, so that loops of this many iterations vectorise and
# unroll completely (see products._panel).
@overload(panel_width, inline="always")
def _panel_width(A):
    width = panel_columns(A.dtype.bitwidth)
    return lambda A: width


def vectors_width(A, vectors):
    """Columns of a register panel `vectors` vectors wide for A's dtype; vectors a literal
    int (products._panels passes the constant), so that the width is a compile-time
    constant too."""


@overload(vectors_width, inline="always")
def _vectors_width(A, vectors):
    if not isinstance(vectors, types.IntegerLiteral):
        return None  # Numba retries with the literal
    width = panel_columns(A.dtype.bitwidth, vectors.literal_value)
    return lambda A, vectors: width


@intrinsic
def vector_sweep(typingctx, acc, A, B, i, j0, vectors):
    """acc[q] += A[min(i + q, last), k]·B[k, j0 : j0 + w] for k = 0, 1, ... in order, for
    each of acc's PANEL_HEIGHT rows, in explicit vectors of vector_lanes elements, each sum
    one FMA: products._sweep. LLVM does not keep plain loops of such panels in registers
    (with AVX2, float64 rows of 8 became 32 scalar FMAs on stack slots; with AVX-512, 8
    rows of three vectors spilled); here the accumulators are vector registers for the
    whole loop. Shapes: acc (rows, w) C-contiguous, A (r, p) and B (p, n) C-contiguous,
    w = vectors · vector_lanes (vectors a literal int), j0 + w <= n."""
    if not all(isinstance(a, types.Array) and a.layout == "C" and a.ndim == 2 for a in (acc, A, B)):
        return None
    if not isinstance(vectors, types.IntegerLiteral):
        return None
    dtype = A.dtype
    bits = dtype.bitwidth
    rows, n_vec, lanes = PANEL_HEIGHT, vectors.literal_value, vector_lanes(bits)

    def codegen(context, builder, sig, args):
        acc_a, a_a, b_a = (context.make_array(t)(context, builder, v) for t, v in zip(sig.args[:3], args[:3]))
        i = context.cast(builder, args[3], sig.args[3], types.intp)
        j0 = context.cast(builder, args[4], sig.args[4], types.intp)
        fty = context.get_value_type(dtype)
        vty = ir.VectorType(fty, lanes)
        size = context.get_constant(types.intp, dtype.bitwidth // 8)
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vty, [vty] * 3),
                                             f"llvm.fma.v{lanes}f{bits}")
        a_rows, p = cgutils.unpack_tuple(builder, a_a.shape)
        a_row_stride = cgutils.unpack_tuple(builder, a_a.strides)[0]
        b_row_stride = cgutils.unpack_tuple(builder, b_a.strides)[0]
        last = builder.sub(a_rows, context.get_constant(types.intp, 1))
        byte_ptr = ir.IntType(8).as_pointer()

        def at(base, offset, ty):
            return builder.bitcast(builder.gep(builder.bitcast(base, byte_ptr), [offset]), ty.as_pointer())

        # Row q of A, and of acc, as element pointers; rows past A's last read its last.
        a_ptrs = []
        for q in range(rows):
            r = builder.add(i, context.get_constant(types.intp, q))
            r = builder.select(builder.icmp_signed(">", r, last), last, r)
            a_ptrs.append(at(a_a.data, builder.mul(r, a_row_stride), fty))
        slots = []
        for q in range(rows):
            for v in range(n_vec):
                slot = cgutils.alloca_once(builder, vty)  # entry block: promoted to a register
                src = at(acc_a.data, context.get_constant(types.intp, (q * n_vec + v) * lanes * (bits // 8)), vty)
                builder.store(builder.load(src, align=bits // 8), slot)
                slots.append(slot)
        b_start = builder.mul(j0, size)
        zeros = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
        with cgutils.for_range(builder, p) as loop:
            k = loop.index
            b_row = builder.add(builder.mul(k, b_row_stride), b_start)
            xs = [builder.load(at(b_a.data, builder.add(b_row, context.get_constant(types.intp, v * lanes * (bits // 8))), vty),
                               align=bits // 8) for v in range(n_vec)]
            for q in range(rows):
                y = builder.load(builder.gep(a_ptrs[q], [k]))
                y = builder.insert_element(ir.Constant(vty, ir.Undefined), y, ir.Constant(ir.IntType(32), 0))
                y = builder.shuffle_vector(y, ir.Constant(vty, ir.Undefined), zeros)
                for v in range(n_vec):
                    slot = slots[q * n_vec + v]
                    builder.store(builder.call(fma, [y, xs[v], builder.load(slot)]), slot)
        for q in range(rows):
            for v in range(n_vec):
                dst = at(acc_a.data, context.get_constant(types.intp, (q * n_vec + v) * lanes * (bits // 8)), vty)
                builder.store(builder.load(slots[q * n_vec + v]), dst, align=bits // 8)
        return context.get_dummy_value()

    return types.none(acc, A, B, i, j0, vectors), codegen


@intrinsic
def vector_add_row(typingctx, c, j0, s, vectors):
    """c[j0 : j0 + w] += s[:w], w = vectors_width(c, vectors) (a literal int), in explicit
    vector loads, adds and stores: a register panel's row of sums added into C
    (products._add_row). LLVM unrolls the plain loop of w elements completely and leaves it
    scalar, in both instruction sets: with AVX-512, 16 or 32 loads, adds and stores a row,
    against a panel's 128 steps of 16 FMAs when dW1 = dZ1·Xᵀ sums a tile of 128 examples.
    Each element gets the same one addition. Shapes: c (n,) and s (>= w,) C-contiguous, of
    one dtype, j0 + w <= n."""
    if not all(isinstance(a, types.Array) and a.layout == "C" and a.ndim == 1 for a in (c, s)) or c.dtype != s.dtype:
        return None
    if not isinstance(vectors, types.IntegerLiteral):
        return None
    bits = c.dtype.bitwidth
    n_vec, lanes = vectors.literal_value, vector_lanes(bits)

    def codegen(context, builder, sig, args):
        c_a = context.make_array(sig.args[0])(context, builder, args[0])
        s_a = context.make_array(sig.args[2])(context, builder, args[2])
        j0 = context.cast(builder, args[1], sig.args[1], types.intp)
        vty = ir.VectorType(context.get_value_type(c.dtype), lanes)
        start = builder.gep(c_a.data, [j0])
        for v in range(n_vec):
            offset = context.get_constant(types.intp, v * lanes)
            dst = builder.bitcast(builder.gep(start, [offset]), vty.as_pointer())
            src = builder.bitcast(builder.gep(s_a.data, [offset]), vty.as_pointer())
            total = builder.fadd(builder.load(dst, align=bits // 8), builder.load(src, align=bits // 8))
            builder.store(total, dst, align=bits // 8)
        return context.get_dummy_value()

    return types.none(c, j0, s, vectors), codegen


@intrinsic
def stack_panel(typingctx, like):
    """A pointer to the elements of the widest register panel (PANEL_HEIGHT rows of
    WIDE_PANEL_VECTORS vectors) of like's dtype on the stack, for products._panel's
    accumulators.

    Accumulators there, unlike ones in an array passed in, cannot alias any argument, so
    LLVM keeps them in registers across a loop. Memory from the heap escapes through the
    allocator's call and stays in memory, and with it every load and store of the sums.
    """
    dtype = like.dtype

    def codegen(context, builder, sig, args):
        size = PANEL_HEIGHT * panel_columns(dtype.bitwidth, WIDE_PANEL_VECTORS)
        return cgutils.alloca_once(builder, context.get_value_type(dtype), size=size)

    return types.CPointer(dtype)(like), codegen



@jit
def aligned_empty(size, like):
    """An uninitialised 1-D array of `size` elements of like's dtype, starting on a cache
    line. Slices of it stay on lines wherever their offset is a multiple of
    CACHE_LINE // itemsize elements."""
    per_line = CACHE_LINE // like.itemsize
    buf = np.empty(size + per_line, like.dtype)
    # Numba's allocations are at least 32-byte aligned, so the gap is whole elements.
    skip = (CACHE_LINE - buf.ctypes.data % CACHE_LINE) % CACHE_LINE // like.itemsize
    return buf[skip : skip + size]


@jit
def line_stride(size, like):
    """size elements of like's dtype rounded up to whole cache lines."""
    per_line = CACHE_LINE // like.itemsize
    return -(-size // per_line) * per_line


@jit
def carve_slots(buf, at, n_slots, size):
    """(rows, end): rows the (n_slots, line_stride(size)) view of the 1-D C-contiguous buf
    from element `at`, end the element after it. In a buf from aligned_empty, with `at`
    the end of an earlier carve (or 0), every row starts on a cache line."""
    stride = line_stride(size, buf)
    end = at + n_slots * stride
    return view(buf[at:end], (n_slots, stride)), end  # not reshape: see the note at view


@jit
def aligned_slots(n_slots, size, like):
    """An uninitialised (n_slots, ≥ size) array of like's dtype whose every row starts on
    a cache line (each row padded to whole lines)."""
    return carve_slots(aligned_empty(n_slots * line_stride(size, like), like), 0, n_slots, size)[0]


# ---------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------

# Numba's reshape validates the new shape through a general routine, and a tiny
# problem's step makes some twenty of them, for its tile views and flat parameter views
# (c56902d), and the workspace's thirteen buffers (c5591f3). `view` takes the view
# directly.


@intrinsic
def _view(typingctx, a, shape):
    """The first prod(shape) elements of the C-contiguous array a, as a C-contiguous array
    of that shape sharing a's memory. Unchecked: see view."""
    if not (isinstance(a, types.Array) and a.layout == "C"):
        return None
    if not (isinstance(shape, types.UniTuple) and isinstance(shape.dtype, types.Integer)):
        return None
    result = a.copy(ndim=shape.count, layout="C")

    def codegen(context, builder, sig, args):
        src = context.make_array(sig.args[0])(context, builder, args[0])
        out = context.make_array(sig.return_type)(context, builder)
        dims = [context.cast(builder, d, sig.args[1].dtype, types.intp) for d in cgutils.unpack_tuple(builder, args[1])]
        strides, step = [], src.itemsize
        for d in reversed(dims):
            strides.insert(0, step)
            step = builder.mul(step, d)
        populate_array(out, data=src.data, shape=dims, strides=strides, itemsize=src.itemsize,
                       meminfo=src.meminfo, parent=src.parent)
        return impl_ret_borrowed(context, builder, sig.return_type, out._getvalue())

    return result(a, shape), codegen


# Not inlined at Numba's level: its raise would then sit in the callers' prange bodies,
# and Numba runs a loop with more than one exit serially. LLVM inlines it anyway.
@jit
def view(a, shape):
    """a's first prod(shape) elements as a C-contiguous array of `shape` (a tuple of
    ints), sharing a's memory; a must be C-contiguous. Raises ValueError if a is too small
    or a dimension is negative."""
    n = 1
    for d in shape:
        if d < 0:
            raise ValueError("view: negative dimension")
        n *= d
    if n > a.size:
        raise ValueError("view: the array is smaller than the shape")
    return _view(a, shape)


@intrinsic
def unit_stride(typingctx, a):
    """The 1-D array a typed C-contiguous: the same data, length and stride. Unchecked:
    only for an a whose stride is its itemsize (a strided view's row that happens to be
    contiguous), so that loops over it compile to vector loads."""
    if not (isinstance(a, types.Array) and a.ndim == 1):
        return None

    def codegen(context, builder, sig, args):
        # Every layout has the same data model: only the type changes.
        return impl_ret_borrowed(context, builder, sig.return_type, args[0])

    return a.copy(layout="C")(a), codegen


def _borrowable(t):
    """True for an array, None (an optional array left out, passed through), or a tuple
    (nested or not) of those."""
    if isinstance(t, (types.Array, types.NoneType)):
        return True
    return isinstance(t, types.BaseTuple) and all(_borrowable(e) for e in t)


def _borrow(context, builder, typ, value):
    """The value of type typ (see _borrowable) with every array's meminfo and parent null."""
    if isinstance(typ, types.NoneType):
        return value
    if isinstance(typ, types.Array):
        src = context.make_array(typ)(context, builder, value)
        out = context.make_array(typ)(context, builder)
        populate_array(out, data=src.data, shape=src.shape, strides=src.strides, itemsize=src.itemsize,
                       meminfo=None, parent=None)
        return out._getvalue()
    items = [_borrow(context, builder, t, builder.extract_value(value, i)) for i, t in enumerate(typ)]
    return context.make_tuple(builder, typ, items)


@intrinsic
def borrowed(typingctx, *xs):
    """Each argument (an array, or a tuple of arrays) without its reference to the memory's
    owner: the same type, data, shape and strides. One argument gives it back; several,
    a tuple of them: ``A, B = borrowed(A, B)``.

    Numba counts the references to an array's memory with atomic instructions, at every
    slice and view and for every array passed to a function; in a tiny problem's step
    they were a large share of the time (54fe666). Nothing counts the
    references to a borrowed array or to its slices. The price: nothing keeps its memory
    alive either. So borrow only
    - a kernel's arguments, which its caller holds for the whole call, and
    - scratch the kernel allocated, kept alive with keep_alive after its last use;
    and never return a borrowed array to Python.

    In a parallel=True kernel, write to a borrowed array only inside the functions it
    calls. Numba's parallel pipeline deletes a write to an array it takes for a new one
    that nothing reads afterwards, and it does not know that a borrowed array is its
    argument's memory: `grads[3][:, :] = db2`, with grads borrowed, wrote nothing.
    """
    if not xs or not all(_borrowable(t) for t in xs):
        return None
    result = xs[0] if len(xs) == 1 else types.Tuple(xs)

    def codegen(context, builder, sig, args):
        # The arguments arrive packed in one tuple (a star-argument).
        items = [_borrow(context, builder, t, builder.extract_value(args[0], i)) for i, t in enumerate(xs)]
        return items[0] if len(xs) == 1 else context.make_tuple(builder, result, items)

    return result(types.StarArgTuple.from_types(xs)), codegen


@intrinsic
def keep_alive(typingctx, x):
    """A use of x that does nothing. Numba frees an array after the last use of the variable
    that holds it, so this call, after the last use of anything borrowed from x, keeps
    that valid (see borrowed)."""

    def codegen(context, builder, sig, args):
        return context.get_dummy_value()

    return types.none(x), codegen


# ---------------------------------------------------------------------------------------
# Floats as integers (kernels/checks.py compares them so)
# ---------------------------------------------------------------------------------------


def _int_of(t):
    """The signed integer type of the float type t's width."""
    return types.int64 if t.bitwidth == 64 else types.int32


def _flip_negative(builder, bits, width):
    """bits (an integer of `width` bits) with every bit but the sign flipped when the sign
    is set: a float's key from its bits, and its bits from its key."""
    ity = ir.IntType(width)
    sign = builder.ashr(bits, ir.Constant(ity, width - 1))  # all ones if negative, else zero
    return builder.xor(bits, builder.and_(sign, ir.Constant(ity, (1 << (width - 1)) - 1)))


@intrinsic
def float_key(typingctx, x):
    """(key, magnitude) of the float x, as signed integers of its width: its bit pattern
    with every bit but the sign flipped when the sign is set, which orders like the floats
    (NaN aside; see kernels/checks.py), and its bit pattern without the sign. In IR rather
    than in Python's operators: Numba widens 32-bit integers to 64 bits at each operation,
    which halved the vector lanes of a float32 scan."""
    if not isinstance(x, types.Float):
        return None
    result = types.UniTuple(_int_of(x), 2)

    def codegen(context, builder, sig, args):
        width = x.bitwidth
        bits = builder.bitcast(args[0], ir.IntType(width))
        magnitude = builder.and_(bits, ir.Constant(ir.IntType(width), (1 << (width - 1)) - 1))
        return context.make_tuple(builder, result, [_flip_negative(builder, bits, width), magnitude])

    return result(x), codegen


@intrinsic
def key_float(typingctx, key, like):
    """The float of like's dtype (like: an array) whose float_key is key: its inverse."""
    if not (isinstance(like, types.Array) and isinstance(like.dtype, types.Float) and key == _int_of(like.dtype)):
        return None
    dtype = like.dtype

    def codegen(context, builder, sig, args):
        bits = _flip_negative(builder, args[0], dtype.bitwidth)
        return builder.bitcast(bits, context.get_value_type(dtype))

    return dtype(key, like), codegen


# ---------------------------------------------------------------------------------------
# Prefetching
# ---------------------------------------------------------------------------------------


@intrinsic
def prefetch(typingctx, a, i, j):
    """Ask for the cache line holding a[i, j] (a 2-D array) to be brought into every
    cache level, without waiting for it. The indices must be in bounds; nothing is
    read."""
    if not (isinstance(a, types.Array) and a.ndim == 2):
        return None
    if not (isinstance(i, types.Integer) and isinstance(j, types.Integer)):
        return None

    def codegen(context, builder, sig, args):
        aryty = sig.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        inds = [context.cast(builder, v, t, types.intp) for v, t in zip(args[1:], sig.args[1:])]
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, inds)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = builder.module.declare_intrinsic("llvm.prefetch", fnty=fnty)
        # read (0), keep in all levels (locality 3), data cache (1)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.none(a, i, j), codegen


# ---------------------------------------------------------------------------------------
# Subnormal numbers
# ---------------------------------------------------------------------------------------

# x86 computes with subnormal numbers (below 2.2e-308 in float64, 1.2e-38 in float32) in
# microcode, many times slower (b0a3d11). The kernels set
# the MXCSR flags FTZ (results flush to zero) and DAZ (inputs read as zero) on entry and
# restore the caller's MXCSR on exit, so other code in the process keeps IEEE behaviour.
# Values that small are zero for this network's purposes. MXCSR is per thread: the calls
# sit in the functions each worker thread runs.
_FTZ_DAZ = 0x8040
_X86 = platform.machine().lower() in ("x86_64", "amd64")


def _mxcsr(builder, name, slot):
    fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    fn = cgutils.get_or_insert_function(builder.module, fnty, name)
    builder.call(fn, [builder.bitcast(slot, ir.IntType(8).as_pointer())])


@intrinsic
def enter_flush_to_zero(typingctx):
    """Set FTZ and DAZ on this thread; returns the previous MXCSR for restore_fp_mode."""

    def codegen(context, builder, sig, args):
        if not _X86:
            return ir.Constant(ir.IntType(32), 0)
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        _mxcsr(builder, "llvm.x86.sse.stmxcsr", slot)
        old = builder.load(slot)
        builder.store(builder.or_(old, ir.Constant(ir.IntType(32), _FTZ_DAZ)), slot)
        _mxcsr(builder, "llvm.x86.sse.ldmxcsr", slot)
        return old

    return types.int32(), codegen


@intrinsic
def restore_fp_mode(typingctx, old):
    """Put back the MXCSR enter_flush_to_zero returned."""

    def codegen(context, builder, sig, args):
        if _X86:
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(args[0], slot)
            _mxcsr(builder, "llvm.x86.sse.ldmxcsr", slot)
        return context.get_dummy_value()

    return types.none(types.int32), codegen
