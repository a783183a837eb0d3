"""The fixed decomposition of a pass over the examples: tiles, chunks and scratch slots.

Legend as in config.py. Everything here is a function of the problem's shapes and dtype,
never of the thread count: that is what makes results identical bit for bit for any
number of threads.
"""

import functools

from .config import CACHE_LINE, panel_columns
from .products import TRANSPOSE_MIN_K

# Tiles. A tile is T consecutive examples; every scratch buffer is (rows, T), so memory
# never grows with m. T is chosen per problem from its shapes and dtype (tile_width). The
# widest tile keeps one tile's scratch within TILE_BUDGET bytes, so that a small network
# runs in few tiles (a tiny problem in one), but is never narrower than MIN_TILE, where the
# dot products over T would be too short for the vector units. The m examples then share
# that many tiles evenly. A wider floor for wide networks (256 at 784-1024-10, where the
# products stream W1 and the dW1 slab once a tile) was no faster, interleaved in one
# process (the commit that says so has the numbers).
MIN_TILE = 128
MAX_TILE = 4096
TILE_BUDGET = 512 * 2**10

# The examples are split into C contiguous chunks of whole tiles; each chunk accumulates
# its own gradient slab and the slabs are added in chunk order. C is a function of the
# problem's shapes and dtype only (see plan), never of the thread count: that is what
# makes results identical bit for bit for any number of threads.
MAX_CHUNKS = 32
# Each chunk pays for zeroing and reducing a slab the size of the parameters, so a chunk
# gets at least this many examples (at the mnist size, 32 chunks of 2-3 tiles spent a
# quarter of the step on slabs; e205bd6 has the numbers).
MIN_EXAMPLES_PER_CHUNK = 1024
# Upper bound on the values held by all gradient slabs together: two slabs of the
# 784-1024-10 network, which keeps its step within a tenth of NumPy's memory. Counted in
# values, not bytes, because NumPy's memory halves in float32 too (3b2b793).
SLAB_VALUES = 2 * 2**20
# ...unless the slabs of one chunk per tile all fit in this many bytes: then zeroing and
# adding them stays in cache and costs little next to a tile's work, and a chunk may be a
# single tile. That lets a mini-batch of a few hundred examples use more than one core
# (d6e192a).
CACHED_SLABS = 2**20
# The element-wise passes over parameters and gradient slabs (the slabs' reduction, the
# updates) see each C-contiguous array as one flat run of values, cut into blocks of this
# many, rather than as rows: a loop pays its set-up once per row, and with short rows that
# was most of the time (c56902d). Every value gets the same arithmetic either way. 512
# cuts a 100 × 50 W1 into 10 blocks, enough to share among threads.
BLOCK = 512
# A pass too short for MIN_EXAMPLES_PER_CHUNK (a mini-batch of a network whose slabs
# outgrow CACHED_SLABS) still gets up to this many chunks of whole tiles, so that as many
# cores share it: at 784-128-10 in batches of 200 (two tiles), two chunks against one cost
# 2% on one thread and ran 1.70x faster on two (and 1.31x faster than splitting each
# tile's first-layer work over groups of W1's rows, one per thread, where the X tile
# crossed between the cores; that split, in 879120b, also added a fifth to the compile
# time of every parallel kernel, and was dropped).
SHARED_CHUNKS = 4
# dW1 = Σ dZ1·Xᵀ over a chunk's tiles runs, for each tile, in register panels over one
# operand transposed and packed (products.pack_transposed): Xᵀ, n_x·T values. A chunk may
# keep the transposed sums dW1ᵀ = Σ X·dZ1ᵀ instead, packing dZ1ᵀ (n_h·T values) and
# transposing dW1ᵀ into its slab once at the end (n_x·n_h values): the same products summed
# in the same order, so the same bits, when n_h is at least a panel wide (both products
# then run in panels for the same tiles). Over whole passes it was faster from n_x = 2·n_h
# (the mnist step 2-8% faster), as fast at n_x = 1.5·n_h and slower for wider networks;
# over one tile a chunk, the final transpose ate the gain (the commit has the numbers).
TRANSPOSED_MIN_RATIO = 2
TRANSPOSED_MIN_TILES = 2
# W1's reduction and update run on the calling thread below this many values: the
# parallel loop's launch, and the cache lines it moves between cores, cost more than
# they share (38c8469).
PARALLEL_UPDATE_MIN = 2**15


def tile_width(m, n_x, n_h, n_y, itemsize):
    """Examples per tile.

    The widest tile is a multiple of 64 in [MIN_TILE, MAX_TILE] whose scratch, about
    (3·n_h + 2·n_x + 4·n_y)·T values, fits TILE_BUDGET. m needs n = ceil(m / widest)
    tiles, and T is m / n rounded up to whole cache lines (so that every row of a full
    tile's scratch starts on a line), so the tiles come out nearly equal: a 200-example
    batch in tiles of 104 and 96 rather than 128 and 72, which left one of two threads
    idle for a third of the batch (d8c6641). Half lines would split it evenly (100 and
    100; float32 104 and 96 rather than 112 and 88), but rows off the lines made a
    thread's float64 passes slower by more than the better balance won (README,
    Performance).
    """
    per_example = (3 * n_h + 2 * n_x + 4 * n_y) * itemsize
    widest = max(MIN_TILE, min(MAX_TILE, TILE_BUDGET // per_example // 64 * 64))
    n_tiles = max(1, -(-m // widest))
    per_line = CACHE_LINE // itemsize
    return max(1, -(-m // (n_tiles * per_line))) * per_line


def transposed_sums(n_x, n_h, n_tiles, n_chunks, itemsize):
    """1 if every chunk keeps dW1 transposed (see TRANSPOSED_MIN_RATIO), else 0."""
    pays = n_x >= max(TRANSPOSE_MIN_K, TRANSPOSED_MIN_RATIO * n_h) and n_h >= panel_columns(8 * itemsize)
    return int(pays and n_tiles >= TRANSPOSED_MIN_TILES * n_chunks)


def param_count(n_x, n_h, n_y):
    """The network's parameters: W1 and b1, W2 and b2 (one gradient slab holds as many)."""
    return n_h * (n_x + 1) + n_y * (n_h + 1)


@functools.lru_cache(maxsize=1024)  # a pure function of its ints, asked on every call
def plan(m, n_x, n_h, n_y, itemsize, pool_size):
    """How a pass over the examples is cut: the plain tuple (n_chunks, tile, n_slots,
    transposed), n_chunks chunks of tiles of `tile` examples, with n_slots copies of the
    tile scratch; transposed is 1 where each chunk keeps its dW1 sums transposed
    (transposed_sums), else 0.
    A plain tuple, not a namedtuple: Numba types a namedtuple argument in Python on every
    call, which cost a kernel call 0.6-1.6 µs more (the commit has the numbers).

    n_chunks and tile depend only on the shapes and dtype: they decide every sum, so they
    must not depend on threads. n_chunks is a power of two (so it divides evenly over 2, 4,
    8... threads), at most one chunk per tile and at most MAX_CHUNKS; within that, at most
    one per MIN_EXAMPLES_PER_CHUNK examples and what SLAB_VALUES allows, or as many as
    CACHED_SLABS holds, or SHARED_CHUNKS within SLAB_VALUES, if that is more (and at
    least 1). A call's parallelism is capped at it.

    n_slots is how many copies of the tile scratch to allocate: one per chunk, or one per
    thread of Numba's pool (pool_size, NUMBA_NUM_THREADS) when that is fewer. Scratch is
    fully overwritten before it is read, so this changes memory, never results.
    """
    tile = tile_width(m, n_x, n_h, n_y, itemsize)
    n_tiles = -(-m // tile)
    n_params = param_count(n_x, n_h, n_y)  # one slab's values
    limit = min(n_tiles, m // MIN_EXAMPLES_PER_CHUNK, MAX_CHUNKS, SLAB_VALUES // n_params)
    cached = min(n_tiles, MAX_CHUNKS, CACHED_SLABS // (n_params * itemsize))
    shared = min(n_tiles, SHARED_CHUNKS, SLAB_VALUES // n_params)
    limit = max(1, limit, cached, shared)
    c = 1
    while c * 2 <= limit:
        c *= 2
    return c, tile, min(c, pool_size), transposed_sums(n_x, n_h, n_tiles, c, itemsize)



# Below this many multiply-adds per forward pass, n_h·(n_x + n_y)·m, fastshallow.train runs
# its loop on the calling thread: launching a parallel region (a few microseconds) costs
# more than a step of a problem this small. Serial and parallel give identical bits.
SERIAL_WORK = 2**18
