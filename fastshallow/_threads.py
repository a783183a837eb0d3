"""Choosing how many of Numba's threads a call may use."""

import contextlib

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
