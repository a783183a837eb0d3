"""Numba's threads: which threading layer, how many threads a call may use, and holding
Ctrl-C back while a result is being committed."""

import contextlib
import ctypes
import os
import signal
import sys
import threading

import numba

from .validation import positive_int

# Numba's threading layers, as they behave for a library inside other people's programs:
# - tbb: safe when several Python threads launch parallel kernels at once, and in children
#   of fork (a thread pool per process). The project depends on the tbb wheel for it.
# - omp (GNU): safe under threads, but a child forked after the parent ran a parallel
#   region is killed ("fork() called from a process already using GNU OpenMP").
# - workqueue: safe after fork, but aborts when two threads launch kernels at once.
# So fastshallow asks for tbb and, where tbb cannot be loaded, falls back to workqueue
# with a lock that lets one parallel call run at a time. NUMBA_THREADING_LAYER, if set,
# is respected, and so is a layer some other code has already started.
_WORKQUEUE_LOCK = threading.RLock()


def _tbb_loadable():
    """True if Numba's TBB pool can load, preloading the tbb wheel's library if needed.

    The wheel puts libtbb.so.12 in <prefix>/lib, which the loader does not search inside a
    virtual environment; loading it first, globally, satisfies Numba's extension.
    """
    try:
        from numba.np.ufunc import tbbpool  # noqa: F401

        return True
    except ImportError:
        pass
    if not sys.platform.startswith("linux"):
        return False
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix)):
        path = os.path.join(prefix, "lib", "libtbb.so.12")
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
                from numba.np.ufunc import tbbpool  # noqa: F401, F811

                return True
            except (OSError, ImportError):
                continue
    return False


def select_threading_layer():
    """Choose tbb (or the safe fallback) unless the user or earlier code already chose."""
    from numba.np.ufunc import parallel

    if parallel._is_initialized:
        return
    if os.environ.get("NUMBA_THREADING_LAYER"):
        # The user's choice stands, but Numba could not load the tbb wheel's library by
        # itself for "tbb" (or "safe", "threadsafe", "forksafe", which try tbb first):
        # make it loadable, which is harmless for any other layer.
        _tbb_loadable()
        return
    numba.config.THREADING_LAYER = "tbb" if _tbb_loadable() else "workqueue"


def _one_at_a_time():
    """The workqueue layer's lock, when that layer is running; otherwise nothing."""
    try:
        layer = numba.threading_layer()
    except ValueError:  # not started yet
        return contextlib.nullcontext()
    return _WORKQUEUE_LOCK if layer == "workqueue" else contextlib.nullcontext()


_started = False


def start_threading_layer():
    """Start Numba's threading layer, once per process, before a serial kernel runs.
    Kernels link numba.get_thread_id (step.slot_of; in the serial ones that branch is
    never taken), a symbol the started layer provides. Compiling such a kernel starts the
    layer, but a process that compiles one from callees another process cached finds no
    such symbol, and LLVM aborts it (tests/test_threads.py has the case). using_threads
    starts the layer for the parallel kernels."""
    global _started
    if not _started:
        numba.get_num_threads()
        _started = True


def max_threads():
    """Every thread Numba's pool was started with (NUMBA_NUM_THREADS, by default the cores)."""
    return numba.config.NUMBA_NUM_THREADS


def thread_count(n_threads):
    """The threads a call may use: n_threads checked against the pool, or all if None."""
    limit = max_threads()
    if n_threads is None:
        return limit
    n = positive_int(n_threads, "n_threads")
    if n > limit:
        raise ValueError(f"n_threads must be between 1 and {limit} (NUMBA_NUM_THREADS); got {n}")
    return n


class using_threads:
    """Run the body with n_threads threads (None: all of them); restore the caller's
    setting. ``with using_threads(n) as n:`` gives the count. A class rather than a
    generator-based context manager, which cost a microsecond a call."""

    __slots__ = ("n", "previous", "lock")

    def __init__(self, n_threads):
        self.n = thread_count(n_threads)

    def __enter__(self):
        self.previous = numba.get_num_threads()  # starts the threading layer
        self.lock = _one_at_a_time()
        self.lock.__enter__()
        if self.n != self.previous:  # the common case: nothing to set, or to restore
            numba.set_num_threads(self.n)
        return self.n

    def __exit__(self, *exc):
        try:
            if self.n != self.previous:
                numba.set_num_threads(self.previous)
        finally:
            self.lock.__exit__(*exc)


class _Held:
    """A Ctrl-C held back by deferred_interrupt, and the handler it was meant for."""

    def __init__(self, previous):
        self.previous = previous
        self.arrived = False

    def deliver(self, make_interrupt):
        """Hand a held Ctrl-C to the handler that was in place: Python's default raises
        make_interrupt() (a KeyboardInterrupt); a handler of the caller's own (such as the
        CLI's stop flag) is called; SIG_IGN drops it; SIG_DFL gets the signal again."""
        if not self.arrived:
            return
        if self.previous is signal.default_int_handler:
            raise make_interrupt()
        if callable(self.previous):
            self.previous(signal.SIGINT, None)
        elif self.previous == signal.SIG_DFL:
            os.kill(os.getpid(), signal.SIGINT)


class _NoHold:
    """deferred_interrupt's stand-in for a call too short to hold Ctrl-C back over: a
    Ctrl-C is raised at once, and .deliver() has nothing to hand on. Nothing changes when
    it is entered, and nothing ever marks its _Held as arrived, so one instance of each
    serves every call."""

    _nothing_held = _Held(None)

    def __enter__(self):
        return self._nothing_held

    def __exit__(self, *exc):
        return False


no_hold = _NoHold()


@contextlib.contextmanager
def deferred_interrupt():
    """Hold a Ctrl-C (SIGINT) back while the body runs; call .deliver() on what this yields
    afterwards.

    Compiled code cannot be interrupted, so Python delivers a Ctrl-C at the first bytecode
    after a kernel returns, which may fall between copying W1 and W2 back. Holding it over
    the kernel call and the copy-back means the caller's params always hold a whole state.
    Only the main thread receives signals; elsewhere nothing is held.
    """
    if threading.current_thread() is not threading.main_thread():
        yield _Held(None)
        return
    held = _Held(signal.getsignal(signal.SIGINT))

    def hold(signum, frame):
        held.arrived = True

    signal.signal(signal.SIGINT, hold)
    try:
        yield held
    finally:
        signal.signal(signal.SIGINT, held.previous)
