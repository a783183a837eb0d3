"""Compilation options and the fixed work decomposition shared by every kernel.

Legend used across kernels/: n_x features, n_h hidden units, n_y outputs, m examples,
T examples per tile, C chunks. X is (n_x, m), Y is (n_y, m).
"""

import platform

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload
from numba.np.arrayobj import populate_array

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

# Tiles. A tile is T consecutive examples; every scratch buffer is (rows, T), so memory
# never grows with m. T is chosen per problem from its shapes and dtype (tile_width). The
# widest tile keeps one tile's scratch within TILE_BUDGET bytes, so that a small network
# runs in few tiles (a tiny problem in one), but is never narrower than MIN_TILE, where the
# dot products over T would be too short for the vector units. The m examples then share
# that many tiles evenly.
MIN_TILE = 128
MAX_TILE = 4096
TILE_BUDGET = 512 * 2**10

# The examples are split into C contiguous chunks of whole tiles; each chunk accumulates
# its own gradient slab and the slabs are added in chunk order. C is a function of the
# problem's shapes and dtype only (see plan), never of the thread count: that is what
# makes results identical bit for bit for any number of threads.
MAX_CHUNKS = 32
# Each chunk pays for zeroing and reducing a slab the size of the parameters, so a chunk
# gets at least this many examples (measured at the mnist size, 784-128-10 with
# m = 10,000: 32 chunks of 2-3 tiles spent 40 of 165 ms on slabs; 8 chunks, 10 of 135).
MIN_EXAMPLES_PER_CHUNK = 1024
# Upper bound on the values held by all gradient slabs together: two slabs of the
# 784-1024-10 network, which keeps its step within a tenth of NumPy's memory. Counted in
# values, not bytes, because NumPy's memory halves in float32 too (a byte budget gave
# float32 four slabs there, and 13% of NumPy's memory).
SLAB_VALUES = 2 * 2**20
# ...unless the slabs of one chunk per tile all fit in this many bytes: then zeroing and
# adding them stays in cache and costs little next to a tile's work, and a chunk may be a
# single tile. That lets a mini-batch of a few hundred examples use more than one core
# (the estimator's 200-example batches of a 50-100-1 network: 155 against 190 µs a batch
# on 2 threads, the same on 1).
CACHED_SLABS = 2**20
# The element-wise passes over parameters and gradient slabs (the slabs' reduction, the
# updates) see each C-contiguous array as one flat run of values, cut into blocks of this
# many, rather than as rows: a loop pays its set-up once per row, and with short rows that
# was most of the time (an SGD update of a 100 × 50 W1 took 4.8 µs row by row, 1.0 µs
# flat). Every value gets the same arithmetic either way. 512 cuts that W1 into 10 blocks,
# enough to share among threads.
BLOCK = 512
# W1's reduction and update run on the calling thread below this many values: the
# parallel loop's launch, and the cache lines it moves between cores, cost more than
# they share (a 100 × 50 W1 in float64: 3.8 µs on one thread, 5.7 µs on two).
PARALLEL_UPDATE_MIN = 2**15


def tile_width(m, n_x, n_h, n_y, itemsize):
    """Examples per tile.

    The widest tile is a multiple of 64 in [MIN_TILE, MAX_TILE] whose scratch, about
    (3·n_h + 2·n_x + 4·n_y)·T values, fits TILE_BUDGET. m needs n = ceil(m / widest)
    tiles, and T is m / n rounded up to whole cache lines (so that every row of a full
    tile's scratch starts on a line), so the tiles come out nearly equal: a 200-example
    batch in tiles of 104 and 96 rather than 128 and 72, which left one of two threads
    idle for a third of the batch (two 200-example chunks of a 50-100-1 network, float64:
    88 against 95 µs a batch).
    """
    per_example = (3 * n_h + 2 * n_x + 4 * n_y) * itemsize
    widest = max(MIN_TILE, min(MAX_TILE, TILE_BUDGET // per_example // 64 * 64))
    n_tiles = max(1, -(-m // widest))
    per_line = CACHE_LINE // itemsize
    return max(1, -(-m // (n_tiles * per_line))) * per_line


def param_count(n_x, n_h, n_y):
    """The network's parameters: W1 and b1, W2 and b2 (one gradient slab holds as many)."""
    return n_h * (n_x + 1) + n_y * (n_h + 1)


def plan(m, n_x, n_h, n_y, itemsize, pool_size):
    """(n_chunks, tile, n_slots) for a problem.

    n_chunks and tile depend only on the shapes and dtype: they decide every sum, so they
    must not depend on threads. n_chunks is a power of two (so it divides evenly over 2, 4,
    8... threads), at most one chunk per tile and at most MAX_CHUNKS; within that, at most
    one per MIN_EXAMPLES_PER_CHUNK examples and what SLAB_VALUES allows, or as many as
    CACHED_SLABS holds if that is more (and at least 1). A call's parallelism is capped at
    it.

    n_slots is how many copies of the tile scratch to allocate: one per chunk, or one per
    thread of Numba's pool (pool_size, NUMBA_NUM_THREADS) when that is fewer. Scratch is
    fully overwritten before it is read, so this changes memory, never results.
    """
    tile = tile_width(m, n_x, n_h, n_y, itemsize)
    n_tiles = -(-m // tile)
    n_params = param_count(n_x, n_h, n_y)  # one slab's values
    limit = min(n_tiles, m // MIN_EXAMPLES_PER_CHUNK, MAX_CHUNKS, SLAB_VALUES // n_params)
    cached = min(n_tiles, MAX_CHUNKS, CACHED_SLABS // (n_params * itemsize))
    limit = max(1, limit, cached)
    c = 1
    while c * 2 <= limit:
        c *= 2
    return c, tile, min(c, pool_size)


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
        return _tolerate_damaged_cache(njit(**options)(fn))
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


def _tolerate_damaged_cache(dispatcher):
    """Recompile, rather than fail, when this kernel's cache files are damaged.

    Numba unpickles its cache index and data as they are, so a file truncated by a full
    disk or a killed process makes every later process fail with an UnpicklingError on its
    first call. A damaged entry is treated as a miss: the index is reset (flush) and the
    kernel compiles again, overwriting it.
    """
    cache = getattr(dispatcher, "_cache", None)
    if cache is None or not hasattr(cache, "flush"):
        return dispatcher
    load, save = cache.load_overload, cache.save_overload

    def load_overload(*args, **kwargs):
        try:
            return load(*args, **kwargs)
        except Exception:  # any unreadable file: the same remedy
            cache.flush()
            return None

    def save_overload(*args, **kwargs):
        try:
            return save(*args, **kwargs)
        except Exception:
            cache.flush()
            return save(*args, **kwargs)

    cache.load_overload, cache.save_overload = load_overload, save_overload
    return dispatcher


def jit(fn=None, **overrides):
    """njit with the project's options; ``@jit`` or ``@jit(parallel=True)``."""
    options = dict(JIT, **overrides)
    if fn is None:
        return lambda f: _njit(f, options)
    return _njit(fn, options)


# For kernels that sum (see REDUCTION_FASTMATH): ``@reduction_jit``.
reduction_jit = jit(fastmath=REDUCTION_FASTMATH)

# Below this many multiply-adds per forward pass, n_h·(n_x + n_y)·m, fastshallow.train runs
# its loop on the calling thread: launching a parallel region (a few microseconds) costs
# more than a step of a problem this small. Serial and parallel give identical bits.
SERIAL_WORK = 2**18


# ---------------------------------------------------------------------------------------
# Vector width
# ---------------------------------------------------------------------------------------

# LLVM's tuning for recent Intel server cores ("prefer-256-bit") keeps its loop vectoriser
# to 256-bit registers even where AVX-512 is available. The kernels ask for 512 bits per
# function instead of through NUMBA_CPU_FEATURES, which would change every Numba function
# in the user's process. On a CPU without AVX-512 the request has no effect.
VECTOR_BITS = 512


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


def vector_lanes(bitwidth):
    """Elements of `bitwidth` bits in one VECTOR_BITS vector (8 float64, 16 float32)."""
    return VECTOR_BITS // bitwidth


# Register panels (products._panel) hold at most PANEL_ROWS rows of accumulators, each
# PANEL_VECTORS vectors wide.
PANEL_ROWS = 8
PANEL_VECTORS = 2


def panel_width(A):
    """Columns of one register panel for A's dtype (16 float64, 32 float32)."""


# A compile-time constant per dtype, so that loops of this many iterations vectorise and
# unroll completely (see products._panel).
@overload(panel_width, inline="always")
def _panel_width(A):
    width = PANEL_VECTORS * vector_lanes(A.dtype.bitwidth)
    return lambda A: width


@intrinsic
def stack_panel(typingctx, like):
    """A pointer to PANEL_ROWS · panel_width(like) elements of like's dtype on the stack
    (1 KiB), for products._panel's accumulators.

    Accumulators there, unlike ones in an array passed in, cannot alias any argument, so
    LLVM keeps them in registers across a loop. Memory from the heap escapes through the
    allocator's call and stays in memory, and with it every load and store of the sums.
    """
    dtype = like.dtype

    def codegen(context, builder, sig, args):
        size = PANEL_ROWS * PANEL_VECTORS * vector_lanes(dtype.bitwidth)
        return cgutils.alloca_once(builder, context.get_value_type(dtype), size=size)

    return types.CPointer(dtype)(like), codegen


# ---------------------------------------------------------------------------------------
# Alignment
# ---------------------------------------------------------------------------------------

# A vector load that straddles two cache lines costs two. Numba aligns new arrays to 32
# bytes only, so a 64-byte zmm load from one may straddle, depending on where the
# allocator put it: matmul_add at 128 × 784 by 784 × 128 in float64 ran at 79 GFLOP/s with
# its arrays on a line and at 57 with them 32 bytes off. Scratch rows start on a line.
CACHE_LINE = 64


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
def aligned_slots(n_slots, size, like):
    """An uninitialised (n_slots, ≥ size) array of like's dtype whose every row starts on
    a cache line (each row padded to whole lines)."""
    per_line = CACHE_LINE // like.itemsize
    stride = -(-size // per_line) * per_line
    return aligned_empty(n_slots * stride, like).reshape(n_slots, stride)


# ---------------------------------------------------------------------------------------
# Views
# ---------------------------------------------------------------------------------------

# Numba's reshape validates the new shape through a general routine: 16 ns a call, and a
# tiny problem's step (2-4-1, 400 examples, about 5 µs) made some twenty of them, for its
# tile views and flat parameter views. `view` takes the view directly.


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


def _borrowable(t):
    """True for an array, or a tuple (nested or not) of arrays."""
    if isinstance(t, types.Array):
        return True
    return isinstance(t, types.BaseTuple) and all(_borrowable(e) for e in t)


def _borrow(context, builder, typ, value):
    """The value of type typ (see _borrowable) with every array's meminfo and parent null."""
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
    slice and view and for every array passed to a function. In a tiny problem's step
    (2-4-1, 400 examples) they were a third of the time, by `perf`. Nothing counts the
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
# microcode: a gradients pass whose hidden layer held them ran 34x slower. The kernels set
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
