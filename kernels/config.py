"""Compilation options shared by every kernel: the floating-point contract, the jit
decorators, and the vector and cache-line sizes the kernels are written for.

Legend used across kernels/: n_x features, n_h hidden units, n_y outputs, m examples,
T examples per tile, C chunks. X is (n_x, m), Y is (n_y, m).
"""

import functools
import inspect
import threading
from types import FunctionType

import numba
from numba import njit, types
from numba.core.cpu_options import ParallelOptions
from numba.core.registry import CPUDispatcher

from .numba_cache import stamp_with_kernel_sources, tolerate_damaged_cache

try:  # private to Numba, hence optional: Entry.signature then types the arguments every time
    from numba._dispatcher import compute_fingerprint as _compute_fingerprint
except ImportError:
    _compute_fingerprint = None

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
# no_cfunc_wrapper: Numba otherwise also emits, for every kernel and every signature, a
# C-callable wrapper, used only when a compiled function is passed as a first-class
# function value, which no kernel is. Skipping it shortens a first run's compiling
# (084cc90 has the numbers). no_cpython_wrapper likewise skips the wrapper through which
# Python calls a kernel (it unboxes the arguments and boxes the result), built and
# optimised for every kernel and signature, a tenth of a first `fastshallow demo`'s time
# (the commit that added it has the numbers). Only the kernels Python calls keep it: the
# entries and those marked @jit(python=True). CompiledOnly says what a call from Python
# does to the others.
JIT = dict(cache=True, nogil=True, fastmath=FASTMATH, error_model="numpy", no_cfunc_wrapper=True,
           no_cpython_wrapper=True)

_warned_uncached = []


def _njit(fn, options):
    """njit(**options)(fn), falling back to no cache where nothing can hold one; a
    CompiledOnly dispatcher where options leave out Python's wrapper.

    With cache=True Numba looks for a writable folder (beside the package, then the user's
    cache folder, or NUMBA_CACHE_DIR) when the kernel is defined, and raises "no locator
    available" when there is none, as in a read-only container with a read-only home.
    The library must still import there: it compiles in every process instead, and warns
    once.
    """
    try:
        dispatcher = stamp_with_kernel_sources(tolerate_damaged_cache(njit(**options)(fn)))
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
        dispatcher = njit(**dict(options, cache=False))(fn)
    if options["no_cpython_wrapper"]:
        dispatcher.__class__ = CompiledOnly
    dispatcher.jit_options = options
    return dispatcher


class CompiledOnly(CPUDispatcher):
    """A kernel compiled without the wrapper through which Python calls it (see JIT): other
    kernels call it, Python should not. Numba would run a call from Python through the
    missing wrapper and crash; here it goes to the kernel's twin (python_twin) instead, so
    the tests, the benchmarks and anyone calling fastshallow.kernels by hand still can."""

    def __call__(self, *args, **kwargs):
        return python_twin(self)(*args, **kwargs)


@functools.cache
def python_twin(kernel):
    """A dispatcher of kernel's function with Python's wrapper, compiled and cached apart:
    its copy of the function has a name of its own, and Numba names a kernel's cache files
    after its function and does not tell wrapped from unwrapped entries apart. The
    functions it calls are still kernel's, compiled once for both."""
    fn = kernel.py_func
    twin = FunctionType(fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)
    twin.__qualname__ = fn.__qualname__ + ".from_python"
    twin.__module__, twin.__doc__, twin.__kwdefaults__ = fn.__module__, fn.__doc__, fn.__kwdefaults__
    return _njit(twin, dict(kernel.jit_options, no_cpython_wrapper=False))


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


# parallel=True also turns NumPy calls, slice assignments and array expressions in a
# kernel (and in all that is inlined into it) into parallel loops: each one a function of
# its own to compile, and a parallel region to start at run time. A pass's np.zeros of its
# C cost sums was one. The kernels want their prange loops only. (A ParallelOptions, not
# a dict: Numba empties a dict as it reads it, and would read the next compile's as
# "everything on".)
PRANGE_ONLY = ParallelOptions({
    "prange": True, "comprehension": False, "reduction": False, "inplace_binop": False,
    "setitem": False, "numpy": False, "stencil": False, "fusion": False,
})


def jit(fn=None, *, python=False, **overrides):
    """njit with the project's options; ``@jit`` or ``@jit(parallel=True)`` (prange loops
    only: PRANGE_ONLY). python=True for a kernel that Python calls (engine, validation)
    and that is not an entry: it keeps Python's wrapper (JIT)."""
    options = dict(JIT, **overrides)
    if python:
        options["no_cpython_wrapper"] = False
    if options.get("parallel") is True:
        options["parallel"] = PRANGE_ONLY
    if fn is None:
        return lambda f: _njit(f, options)
    return _njit(fn, options)


# For kernels that sum (see REDUCTION_FASTMATH): ``@reduction_jit``.
reduction_jit = jit(fastmath=REDUCTION_FASTMATH)


def entry(reads, any_layout=""):
    """For a kernel that Python calls (the engine's passes and drivers): compile it once
    for every layout and writability of the arrays it only reads. ``@entry("X Y cols",
    any_layout="X Y")`` above ``@jit``.

    Numba compiles a kernel afresh for each combination of its arguments' types, and an
    array's type holds its layout (C, F or strided) and whether it is read-only. So X in
    C order, X in F order, a strided view of X and a read-only X each cost a whole compile
    of a parallel pass, several seconds apiece. Here the arrays named in `reads` are typed
    read-only, and the 2-D ones named in `any_layout` also strided ("A"), whatever the
    caller passes: the kernel compiles once, and Numba's dispatcher converts the argument
    types to that signature at each call, at no cost (the data is not touched). Arrays in
    a tuple (a sparse X's three) keep their layout. A kernel reads an `any_layout` array
    only through step.load_tile, which takes a unit-stride row's fast path at run time.
    The parameters are not listed even where only read: typed read-only, every function
    that takes them would compile once more beside the training kernels' copy.
    """
    reads, any_layout = set(reads.split()), set(any_layout.split())
    return lambda dispatcher: Entry(dispatcher, reads, any_layout)


class Signature:
    """One signature of an entry kernel: its arguments' Numba types (`types`, the tuple
    Numba compiles and caches under), and whether the kernel had compiled it when last
    asked (Entry.compiled). One object per signature, hashed by identity: a tuple of
    Numba's types hashes in Python, 2.6 µs a lookup."""

    __slots__ = ("types", "compiled", "asked_at")

    def __init__(self, types):
        self.types, self.compiled, self.asked_at = types, False, -1


class Entry:
    """A dispatcher that compiles only signatures with the read-only and strided types of
    `entry`; any other attribute is the dispatcher's."""

    def __init__(self, dispatcher, reads, any_layout):
        names = list(inspect.signature(dispatcher.py_func).parameters)
        unknown = (reads | any_layout) - set(names)
        if unknown:
            raise TypeError(f"entry: {dispatcher.py_func.__name__} has no argument {sorted(unknown)[0]!r}")
        if isinstance(dispatcher, CompiledOnly):  # Python calls every entry: give it the wrapper
            dispatcher = _njit(dispatcher.py_func, dict(dispatcher.jit_options, no_cpython_wrapper=False))
        self._dispatcher = dispatcher
        self._roles = [(name in reads, name in any_layout) for name in names]
        self._lock = threading.Lock()
        self._by_fingerprint = {}  # signature(): the arguments' type fingerprint -> their Signature
        self._by_types = {}  # signature(): one Signature for each signature met
        # What call() runs: this entry until it has compiled a signature, then the
        # dispatcher itself, which converts the arguments to what is compiled.
        self.direct = self
        self.__doc__ = dispatcher.__doc__

    def __call__(self, *args):
        if self.direct is self:  # nothing compiled: Numba would compile these exact types; give it ours
            self._compile_for(args)
        try:
            return self._dispatcher(*args)
        except (TypeError, RuntimeError):
            # No compiled signature the arguments convert to (another dtype, a sparse X):
            # TypeError; or another thread was compiling one (_compile_for): RuntimeError.
            # Both come before the kernel runs (the kernels raise only ValueError), so
            # calling again is safe; if the signature was there, the error comes again.
            self._compile_for(args)
        return self._dispatcher(*args)

    def __getattr__(self, name):
        return getattr(self._dispatcher, name)

    def signature(self, args):
        """The Signature of a call with args: what it compiles, or converts to once
        compiled. Found by the arguments' type fingerprint: typing a pass's arguments with
        numba.typeof took 70 µs, the fingerprint 0.25 (the commit has the numbers)."""
        key = _fingerprint(args)
        found = self._by_fingerprint.get(key)  # never holds None: a missing fingerprint misses
        if found is None:
            types = tuple(_general_type(numba.typeof(a), *role) for a, role in zip(args, self._roles))
            found = self._by_types.setdefault(types, Signature(types))
            if key is not None:
                self._by_fingerprint[key] = found
        return found

    def compiled(self, sig):
        """True if this process has compiled (or loaded from the cache) the Signature sig
        (signature()), so that a call with it runs at once."""
        overloads = self._dispatcher.overloads
        if sig.asked_at != len(overloads):  # looked up again only after a compile
            sig.asked_at, sig.compiled = len(overloads), sig.types in overloads
        return sig.compiled

    def _compile_for(self, args):
        """Compile the signature that args convert to, unless it is compiled already."""
        sig = self.signature(args).types
        with self._lock:
            if sig in self._dispatcher.overloads:
                return
            # Numba's compile() refuses while compiling at call time is disabled.
            self._dispatcher.disable_compile(False)
            try:
                self._dispatcher.compile(sig)
            finally:
                if self._dispatcher.signatures:
                    self._dispatcher.disable_compile()  # from now on, calls convert to what is compiled
            self.direct = self._dispatcher  # only now: called with compiling on, it would specialise


def call(kernel, args):
    """kernel(*args) for an `entry` kernel, through its dispatcher once the entry has
    compiled: the entry's own Python call cost 0.24 µs, this one 0.05 (two kernel calls
    make a tiny problem's forward pass; the commit has the numbers). Whatever the
    dispatcher refuses (see Entry.__call__) goes to the entry, which compiles for it."""
    direct = kernel.direct
    if direct is kernel:
        return kernel(*args)
    try:
        return direct(*args)
    except (TypeError, RuntimeError):
        return kernel(*args)


def _fingerprint(args):
    """What Numba's dispatcher keys its own type lookups on: equal for arguments of equal
    types. None where this Numba lacks the function or it refuses an argument."""
    if _compute_fingerprint is None:
        return None
    try:
        return _compute_fingerprint(args)
    except NotImplementedError:  # a type it cannot fingerprint
        return None


def _general_type(t, read_only, any_layout):
    """t made read-only (read_only) and strided (any_layout, 2-D arrays), the most general
    type the dispatcher converts an argument of type t to; arrays in tuples keep their
    layout."""
    if not read_only:
        return t
    if isinstance(t, types.Array):
        strided = any_layout and t.ndim == 2
        return t.copy(layout="A" if strided else t.layout, readonly=True)
    if isinstance(t, types.BaseTuple):
        return types.Tuple([_general_type(e, True, False) for e in t])
    return t


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
# PANEL_VECTORS vectors wide. AVX2 has 16 registers: 6 × 2, 12 accumulators beside the
# two loads of B and a broadcast of A. There, 8 rows of two spilled; LLVM unrolled plain
# loops of 4 or 8 float64 into scalar FMAs (a41ade7, 1549c95); and 4 rows of two
# (float64) or 8 of one (float32) left the FMA units waiting (d28f1b0 has the numbers).
# AVX-512 has 32: a C at least WIDE_PANEL_VECTORS vectors wide runs in panels of 6 × 4,
# 24 accumulators beside four loads of B and a broadcast, ten loads for 24 FMAs where the
# 8 × 2 panels before took ten for 16 (faster on the Xeon, alone in L1 and in whole steps;
# the commit has the numbers); a narrower C in panels of 6 × 2. Both are written as
# explicit vector FMAs (intrinsics.vector_sweep). Which products run in panels at all
# (products.panels_suit) is decided by the narrow width, PANEL_VECTORS, on every target:
# the width of a panel changes which elements it computes together, never an element's
# sum, so results are the same bits with either panel.
PANEL_HEIGHT = 6
PANEL_VECTORS = 2
WIDE_PANEL_VECTORS = 4 if AVX512 else PANEL_VECTORS
# Products run in panels from this many rows of C on every target (panels_suit).
PANEL_ROWS = 8


def panel_columns(bitwidth, vectors=PANEL_VECTORS):
    """Columns of one register panel of `bitwidth`-bit values, `vectors` vectors wide
    (the narrow width by default: intrinsics.panel_width)."""
    return vectors * vector_lanes(bitwidth)


# A vector load that straddles two cache lines costs two, and Numba aligns new arrays to
# 32 bytes only: scratch rows start on a line (intrinsics.aligned_empty; the measurement
# is in cedbaee).
CACHE_LINE = 64
