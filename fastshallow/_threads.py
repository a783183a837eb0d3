"""Choosing how many of Numba's threads a call may use, and holding Ctrl-C back while a
result is being committed."""

import contextlib
import os
import signal
import threading

import numba

from ._validation import positive_int


def max_threads():
    """Every thread Numba's pool was started with (NUMBA_NUM_THREADS, by default the cores)."""
    return numba.config.NUMBA_NUM_THREADS


@contextlib.contextmanager
def using_threads(n_threads):
    """Run the body with n_threads threads (None: all of them); restore the caller's setting."""
    limit = max_threads()
    if n_threads is None:
        n = limit
    else:
        n = positive_int(n_threads, "n_threads")
        if n > limit:
            raise ValueError(
                f"n_threads must be between 1 and {limit} (NUMBA_NUM_THREADS); got {n}"
            )
    previous = numba.get_num_threads()
    numba.set_num_threads(n)
    try:
        yield n
    finally:
        numba.set_num_threads(previous)


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
