"""Results are identical bit for bit for 1, 2, 3 and 4 threads, and across repeated runs."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np

_SCRIPT = textwrap.dedent(
    """
    import hashlib, json, sys
    import numpy as np
    import fastshallow as fs

    def digest(*arrays):
        h = hashlib.sha256()
        for a in arrays:
            h.update(np.ascontiguousarray(a).tobytes())
        return h.hexdigest()

    out = {}
    for dtype in (np.float64, np.float32):
        rng = np.random.default_rng(5)
        # Eight chunks over four threads (so scratch goes by thread, not by chunk), a ragged
        # last tile, and big enough for the parallel path.
        X = rng.standard_normal((20, 9001)).astype(dtype)
        Y = (rng.random((3, 9001)) < 0.5).astype(np.uint8)
        for n in (1, 2, 3, 4, 4):  # 4 twice: repeated runs, too
            p = fs.init_params(20, 32, 3, seed=1, scale=0.3, dtype=dtype)
            costs = fs.train(p, X, Y, learning_rate=0.5, num_iterations=4, n_threads=n)
            J, g = fs.gradients(p, X, Y, n_threads=n)
            A2 = fs.forward(p, X, n_threads=n)
            c = fs.cost(p, X, Y, n_threads=n)
            key = f"{np.dtype(dtype).name}"
            out.setdefault(key, []).append(
                [n, digest(costs, *p.values()), digest(*g.values()), repr(J), digest(A2), repr(c)]
            )
    json.dump(out, sys.stdout)
    """
)


def test_the_bit_test_problem_has_more_chunks_than_threads():
    from fastshallow.kernels import plan

    for itemsize in (4, 8):
        chunks, _, slots, _ = plan(9001, 20, 32, 3, itemsize, 4)
        assert chunks > 4 and slots == 4


def test_threads_do_not_change_bits():
    env = dict(os.environ, NUMBA_NUM_THREADS="4")
    run = subprocess.run([sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    results = json.loads(run.stdout)
    for dtype, rows in results.items():
        assert [r[0] for r in rows] == [1, 2, 3, 4, 4]
        first = rows[0][1:]
        for n, *rest in rows[1:]:
            assert rest == first, f"{dtype}: {n} threads differ from 1 thread"


def test_thread_setting_is_restored():
    import numba

    import fastshallow as fs
    from helpers import network

    params, X, Y = network(3, 4, 1, 30)
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        fs.gradients(params, X, Y)  # default: every thread
        fs.train(params, X, Y, learning_rate=0.1, num_iterations=2, n_threads=numba.config.NUMBA_NUM_THREADS)
        assert numba.get_num_threads() == 1
    finally:
        numba.set_num_threads(previous)
    assert np.isfinite(fs.cost(params, X, Y))


def test_parallel_loops_stay_parallel():
    # Numba runs a prange loop serially, with only a NumbaPerformanceWarning at compile
    # time, when its body can leave the loop early (a raise inlined into it, say). That
    # warning is an error in every test (pyproject.toml), so a parallel kernel this
    # process compiled was checked then. One loaded from the cache was compiled earlier,
    # perhaps outside the suite: tools/check_parallel_loops.py compiles them all afresh
    # (minutes on 2 cores), and CI runs it after the suite.
    import warnings

    import pytest
    from numba.core.errors import NumbaPerformanceWarning

    from fastshallow.kernels import descent, step

    assert any(f[0] == "error" and f[2] is NumbaPerformanceWarning for f in warnings.filters)
    parallel = (step.evaluate, step.gradients, descent.descend_parallel)
    cached = [k.py_func.__name__ for k in parallel if not sum(k.stats.cache_misses.values())]
    if cached:
        pytest.skip(f"{', '.join(cached)} came from the cache: python tools/check_parallel_loops.py checks them")


_SERIAL_BEFORE_THE_POOL = textwrap.dedent(
    """
    # The serial kernel called directly, before anything has started Numba's threading
    # layer: no parallel kernel runs here, and the public API (whose thread handling starts
    # the layer first) is not called.
    import numpy as np
    from fastshallow.kernels import descent, planning
    from fastshallow.kernels.codes import Activation, Output

    n_x, n_h, m = 20, 64, 10000
    rng = np.random.default_rng(0)
    params = tuple(rng.standard_normal(s) * 0.1 for s in ((n_h, n_x), (n_h, 1), (1, n_h), (1, 1)))
    no_velocity = tuple(np.empty((0, 0)) for a in params)
    X = rng.standard_normal((n_x, m))
    Y = (rng.random((1, m)) < 0.5).astype(np.float64)
    plan = planning.plan(m, n_x, n_h, 1, 8, 2)
    costs = np.empty(2)
    rule = tuple(descent.Rule(descent.SGD, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0))  # as engine passes it
    no_weights = np.empty((0, 0))
    done, status = descent.descend_serial(params, no_velocity, no_velocity, X, Y, no_weights, None, 0,
                                          int(Activation.TANH), int(Output.SIGMOID), rule, costs, plan)
    print(plan[0] > plan[2], done, status == descent.OK)
    """
)


def test_serial_kernel_needs_no_threading_layer():
    # With more chunks than scratch slots, a chunk's scratch is its thread's, found by
    # thread id. The serial kernel asked for it too, and asking before the threading layer
    # has started crashed the process; it now uses one slot and never asks
    # (step.on_one_thread). The first run may compile descend_serial, which starts the layer;
    # the second loads it from the cache, which starts nothing: that run used to end in a
    # segfault.
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", _SERIAL_BEFORE_THE_POOL], capture_output=True, text=True,
                             timeout=600)
        assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-3000:]}"
        assert run.stdout.split() == ["True", "2", "True"]


_PARALLEL_FORWARD = "import numpy as np, fastshallow as fs; X = np.random.default_rng(0).standard_normal((2, 20000)); " \
    "fs.forward(fs.init_params(2, 64, 1, seed=0), X)"
_SERIAL_FORWARD = "import fastshallow as fs; X, _ = fs.datasets.load_planar_dataset(); " \
    "print(fs.forward(fs.init_params(2, 4, 1, seed=0), X).shape)"


def test_serial_calls_after_another_process_filled_the_cache(tmp_path):
    # One process runs a parallel forward pass, caching its kernels' callees (step.slot_of
    # among them, which links numba.get_thread_id). The next process makes only a small
    # call, whose serial kernel it compiles from those cached callees: without a started
    # threading layer LLVM found no get_thread_id and aborted the process
    # (threads.start_threading_layer).
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    for script in (_PARALLEL_FORWARD, _SERIAL_FORWARD):
        run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, f"exit {run.returncode}: {run.stderr[-3000:]}"
    assert run.stdout.split() == ["(1,", "400)"]


def test_a_pass_too_small_to_share_still_checks_n_threads():
    # A tiny pass runs on the calling thread whatever n_threads says (engine._run), but a
    # bad n_threads is still an error.
    import numpy as np
    import pytest

    import fastshallow as fs

    X, Y = fs.datasets.load_planar_dataset()
    params = fs.init_params(2, 4, 1, seed=0)
    for bad, error in ((0, ValueError), (fs.max_threads() + 1, ValueError), (1.5, TypeError)):
        for call in (lambda: fs.forward(params, X, n_threads=bad), lambda: fs.gradients(params, X, Y, n_threads=bad),
                     lambda: fs.cost(params, X, Y, n_threads=bad)):
            with pytest.raises(error, match="n_threads"):
                call()
    np.testing.assert_array_equal(fs.forward(params, X, n_threads=1), fs.forward(params, X))

