"""A Ctrl-C during train never leaves params half-updated, and the costs are kept."""

import os
import signal
import threading

import numpy as np
import pytest

import fastshallow as fs
from helpers import network


@pytest.fixture
def python_ctrl_c():
    """Python's own Ctrl-C handler for the test, whatever the suite started with: a
    process started in the background by a shell without job control (as a CI script's
    `cmd &`) inherits SIGINT ignored, and Python then installs no handler."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def problem():
    """A problem whose 400 iterations take about a second, with its kernels loaded (one
    iteration first): the Ctrl-C, sent after 0.3 s, then lands in the compiled loop, not
    in a first call's compiling or loading from the cache."""
    params, X, Y = network(20, 64, 1, 20_000)
    fs.train({k: v.copy() for k, v in params.items()}, X, Y, learning_rate=0.1, num_iterations=1)
    return params, X, Y


def test_ctrl_c_during_train_leaves_a_whole_state_and_the_costs(python_ctrl_c):
    params, X, Y = problem()
    start = {k: v.copy() for k, v in params.items()}
    # A signal from another thread, as a user's Ctrl-C, while the compiled loop runs.
    timer = threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt) as info:
        fs.train(params, X, Y, learning_rate=0.1, num_iterations=400)
    timer.join()
    costs = info.value.costs
    assert costs.shape == (400,) and np.isfinite(costs).all()
    replay = {k: v.copy() for k, v in start.items()}
    replay_costs = fs.train(replay, X, Y, learning_rate=0.1, num_iterations=len(costs))
    np.testing.assert_array_equal(costs, replay_costs)
    for k in params:
        np.testing.assert_array_equal(params[k], replay[k])
    # The caller's handler is back in place.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_handler_of_the_callers_own_gets_the_ctrl_c_instead():
    # As the CLI does: a handler that only sets a flag. train must call it, not raise.
    params, X, Y = problem()
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        timer = threading.Timer(0.3, os.kill, args=(os.getpid(), signal.SIGINT))
        timer.start()
        costs = fs.train(params, X, Y, learning_rate=0.1, num_iterations=400)
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert calls == [signal.SIGINT] and costs.shape == (400,)
